"""What the page says: names of the columns a file column can be read as, the plan and the
outcomes in words, and the library's messages without their command-line advice.

The library words its messages for the command line ("run with --move to move it"); a page
offers those choices as buttons, so :func:`plain` takes the advice out and leaves the fact.
"""

from __future__ import annotations

import re

from importer.core import load_row_schema

__all__ = [
    "IGNORE",
    "NEEDED",
    "OUTCOMES",
    "TARGETS",
    "TONES",
    "UNDO_OUTCOMES",
    "needed_words",
    "plain",
    "target_choices",
]

#: The choice that leaves a file column out of the import.
IGNORE = "ignore"

#: Each schema column and name column as a person calls it (tests/web check every schema
#: column has one).
TARGETS: dict[str, str] = {
    "member_email": "Person's e-mail",
    "member_id": "Member (Kantata user or project id)",
    "member_type": "Member type (User or Workspace)",
    "workspace": "Project (title)",
    "department": "Department (name)",
    "department_id": "Department (Kantata id)",
    "geography": "Geography (name)",
    "geography_id": "Geography (Kantata id)",
}

#: What a required column that no file column provides is called in "still needed: ...".
NEEDED: dict[str, str] = {
    "geography_id": "the geography (its name or Kantata id)",
    "department_id": "the department (its name or Kantata id)",
    "member_id": "the member (a person's e-mail, a project title or a Kantata id)",
    "member_type": "the member type (User or Workspace), or an e-mail or project column",
}

#: A row's outcome in ``success.csv`` (``status``) or its failure stage, in words.
OUTCOMES: dict[str, str] = {
    "created": "created",
    "existed": "already there",
    "moved": "moved",
    "validation": "not sent: a problem in the file",
    "remote": "refused by Kantata",
    "not_processed": "not sent (stopped before it)",
    "ignored": "ignored (you chose not to send it)",
}

#: A row's state in ``undo.csv``, in words (the row was changed by the run, then undone).
UNDO_OUTCOMES: dict[str, str] = {
    "deleted": "undone (deleted)",
    "moved back": "undone (moved back)",
    "already gone": "undone (it was already gone)",
    "refused": "undo refused",
    "failed": "undo failed",
    "pending": "not undone yet",
    "in flight": "undo in doubt (it is checked again when you undo again)",
}


#: How an outcome is shown: "ok" (in place), "bad" (not in place), "" (neither: left out).
TONES: dict[str, str] = {
    **dict.fromkeys(
        [OUTCOMES[k] for k in ("created", "existed", "moved")]
        + [UNDO_OUTCOMES[k] for k in ("deleted", "moved back", "already gone")],
        "ok",
    ),
    OUTCOMES["ignored"]: "",
    UNDO_OUTCOMES["pending"]: "",
}


def target_choices() -> list[dict[str, str]]:
    """The choices of the "read as" list, in the schema's order: value and label."""
    spec = load_row_schema()
    names = [*(a.name for a in spec.alternates), *spec.column_names]
    ordered = [n for n in TARGETS if n in names] + [n for n in names if n not in TARGETS]
    return [{"value": n, "label": TARGETS.get(n, n)} for n in ordered]


def needed_words(missing: list[str]) -> list[str]:
    """``missing_columns`` in words."""
    return [NEEDED.get(name, name) for name in missing]


#: Schema names in the library's messages, as the page words them.
_NAMES = {
    "member_email": "e-mail",
    "member_id": "member id",
    "member_type": "member type",
    "geography_id": "geography id",
    "department_id": "department id",
}
_NAME = re.compile(r"\b(" + "|".join(_NAMES) + r")\b")
_FLAG = re.compile(r"--[a-z][a-z-]*")
_PAREN = re.compile(r"\s*\([^()]*--[a-z][^()]*\)")
_CONNECTORS = (": ", ", or ", " or ", ", ", " (")

#: What to do in place of what the library advises on the command line: the page's own buttons
#: and steps, or, for what only whoever started the importer can change (its token, its server),
#: that. Tried in order, before the advice left (a flag and the rest of its clause) is cut.
#: tests/web/test_web_words.py reads every message of the library that gives such advice and
#: checks the page words it.
RESUME = "“Go on from where it stopped”"
_AGAIN = (
    "send the file again from its page: a new send looks up what is in Kantata before it writes"
)
_COLUMNS_STEP = "in the Columns step"
_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (
            r"run the same `importer run` command again first \(it settles them\), then undo",
            f"go on with the send first ({RESUME}: it settles them), then undo",
        ),
        (
            r"run the same command again: it looks these rows up before sending anything",
            f"go on from where it stopped ({RESUME}): these rows are looked up before anything "
            "is sent again",
        ),
        (r"run again to resume", f"go on from where it stopped ({RESUME}) to send them"),
        (
            r"check --base-url and the network, then run the same command again",
            "check the network and the server address the importer was started with, then try "
            "again",
        ),
        (r": run again later$", ": try again later"),
        (
            r"\. Check --base-url \([^)]*\)",
            ". Check the server address the importer was started with",
        ),
        (
            r"\. Check KANTATA_API_TOKEN / --token-file and the token's permissions",
            ". Start the importer again with a valid API token, one allowed to change memberships",
        ),
        (
            r"check KANTATA_API_TOKEN / --token-file",
            "start the importer again with a valid API token",
        ),
        (
            r"set KANTATA_API_TOKEN or pass --token-file \(or try --sandbox\)",
            "this page was started without an API token, so they cannot be looked up",
        ),
        (r"; use --force to undo anyway", "; so it was left as it is"),
        (
            r"; --move moves a member's only membership: this one holds several, fix by hand",
            "; only a member's one membership can be moved: this member holds several, change "
            "it in Kantata by hand",
        ),
        (r'choose one with --sheet "[^"]*"', "choose one in the sheet tabs above"),
        (r"use --sheet ('[^']*'|\S+)", "choose it in the sheet tabs above"),
        (r"try --header-row (\d+)", r"click row \1 above"),
        (
            r"give the number of the row holding the column names, as Excel shows it",
            "click the row that holds the column names",
        ),
        (
            r'name the column that holds ([\w ]+): --map "[^"]*"( for names, --map "[^"]*" for '
            r"Kantata ids)?",
            rf"choose the column that holds \1 {_COLUMNS_STEP}",
        ),
        (r': if so, --map "[^"]*"', f": if so, choose it {_COLUMNS_STEP}"),
        (r' with --map "[^"]*"', f" {_COLUMNS_STEP}"),
        (
            r"Raise the budget with --max-memory-mb \(if the machine has the memory\), or save",
            "Save",
        ),
        (r"raise the limit if the machine has the memory, or save", "save"),
        (r"([Ss])ave the sheet as CSV and import that", r"\1ave the sheet as CSV and upload that"),
        (r"another importer run", "another run"),
        (
            r"; if you know what the earlier run sent, run again with --restart \([^)]*\)",
            f"; {_AGAIN}",
        ),
        (r"; run the same command with --restart to start afresh\..*$", f"; {_AGAIN}"),
        (r"\. Use another --out folder, or --restart to start this folder afresh$", ""),
        (r"; use another --out folder, or --restart to start afresh against this server$", ""),
        (r", or use another --out folder$", ""),
        (r"; choose another --out folder$", ""),
    )
)

#: A setting the library names by its option, at the start of a message, in words.
_SETTINGS = {
    "--header-row": "the header row",
    "--batch-size": "the batch size",
    "--max-rows": "the row limit",
    "--max-file-mb": "the file size limit",
    "--max-memory-mb": "the memory limit",
    "--read-timeout": "the time allowed to read a file",
    "--base-url": "the server address",
}
_SETTING = re.compile(r"^(" + "|".join(_SETTINGS) + r")\b")


def plain(message: str | None) -> str:
    """``message`` as the page says it: the library's command-line advice becomes what to do
    on the page (``_ADVICE``); other advice with a flag goes (parentheses naming a flag, and the
    rest of a clause from where it starts giving advice with a flag; a clause that is advice
    only goes whole), the fact stays. Schema names become words (``member_email`` ->
    ``e-mail``).

    >>> plain("User 7 holds membership 9 (geography 1); run with --move to move it")
    'User 7 holds membership 9 (geography 1)'
    """
    if not message:
        return ""
    text = _SETTING.sub(lambda m: _SETTINGS[m.group(1)], message)
    for pattern, words in _ADVICE:
        text = pattern.sub(words, text)
    text = _PAREN.sub("", text)
    kept = []
    for clause in text.split("; "):
        flag = _FLAG.search(clause)
        if flag is None:
            kept.append(clause)
            continue
        head = clause[: flag.start()]
        cut = max(head.rfind(c) for c in _CONNECTORS)
        if cut > 0:
            kept.append(clause[:cut].rstrip(" ,:"))
    text = "; ".join(k for k in kept if k.strip()).strip()
    return _NAME.sub(lambda m: _NAMES[m.group(1)], text)
