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


def plain(message: str | None) -> str:
    """``message`` without command-line advice: parentheses naming a flag go, and so does the
    rest of a clause from where it starts giving advice with a flag (a clause that is advice
    only goes whole). Schema names become words (``member_email`` -> ``e-mail``).

    >>> plain("User 7 holds membership 9 (geography 1); run with --move to move it")
    'User 7 holds membership 9 (geography 1)'
    """
    if not message:
        return ""
    text = _PAREN.sub("", message)
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
