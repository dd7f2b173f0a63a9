"""Every message of the library that gives command-line advice is said in the page's words.

The library words its messages for the command line ("run the same `importer run` command
again first", "--map ...", "check KANTATA_API_TOKEN"). Any of them can reach the page (a read
error, a check's reason, a row's outcome, an undo's refusal): the page gives its own advice
instead (its buttons and steps), or none. This test reads the library's source, so a message
added tomorrow is held to it too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.web._words import plain

LIBRARY = Path(__file__).resolve().parents[2] / "importer"
#: Front-ends and the sandbox word their own messages; the template's instructions are written
#: in a workbook, never shown on the page.
NOT_TO_THE_PAGE = {"cli", "web", "sandbox", "drop", "jobs/_template.py", "jobs/_workbook.py"}
#: Strings that are not messages (summary.json's "command", names of settings).
NOT_MESSAGES = {"command", "run --dry-run", "undo --dry-run", "--map", "TOKEN_ENV",
                "KANTATA_API_TOKEN", "KANTATA_BASE_URL"}  # fmt: skip
#: Advice for the command line: an option, a command, an environment variable, a results folder.
ADVICE = re.compile(
    r"(?<![\w-])--[a-z]|\bcommand\b|`importer|\bimporter (run|undo|plan|validate|doctor|serve|"
    r"drop|template)\b|KANTATA_|TOKEN_ENV|\brun (it )?again\b|\brun the same\b|\bout folder\b",
    re.IGNORECASE,
)


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """The string literals of ``path`` but its docstrings; an f-string with ``X`` for each
    value it formats (a message as a person could read it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            yield (
                node.lineno,
                "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values),
            )
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def _advice() -> list[tuple[str, str]]:
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        where = path.relative_to(LIBRARY).as_posix()
        if where.split("/")[0] in NOT_TO_THE_PAGE or where in NOT_TO_THE_PAGE:
            continue
        found += [
            (f"{where}:{line}", text)
            for line, text in _texts(path)
            if ADVICE.search(text) and text not in NOT_MESSAGES
        ]
    return found


MESSAGES = _advice()


def test_the_scan_finds_the_librarys_advice() -> None:
    """The scan reads what it should (a scan that finds nothing would prove nothing)."""
    said = " | ".join(text for _, text in MESSAGES)
    assert len(MESSAGES) >= 30, MESSAGES
    for known in ("same `importer run` command again first", "--force", "--map", "--sheet",
                  "KANTATA_API_TOKEN / --token-file", "run again to resume"):  # fmt: skip
        assert known in said, known


@pytest.mark.parametrize(("where", "message"), MESSAGES, ids=[w for w, _ in MESSAGES])
def test_every_message_with_command_line_advice_is_said_in_the_pages_words(
    where: str, message: str
) -> None:
    """No option, command, environment variable or results folder is left, and something is
    said (a message is never cut to nothing). A piece added to a message (``"; run with
    --move ..."``) is read after a fact."""
    words = plain("X" + message if message[:1] in ";.:," else message)
    assert words.strip(), f"{where}: {message!r} is cut to nothing"
    assert not ADVICE.search(words), f"{where}: {message!r} -> {words!r}"


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("3 rows of that run are still in doubt (e.g. row 5): run the same `importer run` "
         "command again first (it settles them), then undo",
         "3 rows of that run are still in doubt (e.g. row 5): go on with the send first "
         "(“Go on from where it stopped”: it settles them), then undo"),
        ("sent, but the outcome is still unknown after repeated attempts (timeout); run the "
         "same command again: it looks these rows up before sending anything",
         "sent, but the outcome is still unknown after repeated attempts (timeout); go on from "
         "where it stopped (“Go on from where it stopped”): these rows are looked up before "
         "anything is sent again"),
        ("not sent (the server stopped answering); run again to resume",
         "not sent (the server stopped answering); go on from where it stopped (“Go on from "
         "where it stopped”) to send them"),
        ("the server refused the API token (HTTP 401): Unauthorized. Check KANTATA_API_TOKEN / "
         "--token-file and the token's permissions",
         "the server refused the API token (HTTP 401): Unauthorized. Start the importer again "
         "with a valid API token, one allowed to change memberships"),
        ("membership 9 was updated since the run (b, the run saw a); use --force to undo anyway",
         "membership 9 was updated since the run (b, the run saw a); so it was left as it is"),
        ("the column names may be on row 5 ('Name', 'Mail'): try --header-row 5",
         "the column names may be on row 5 ('Name', 'Mail'): click row 5 above"),
        ("x.xlsx: the first sheet, 'A', has no header row with the expected columns; sheets "
         "'B', 'C' have: choose one with --sheet \"B\"",
         "x.xlsx: the first sheet, 'A', has no header row with the expected columns; sheets "
         "'B', 'C' have: choose one in the sheet tabs above"),
        ("--header-row must be at least 1, got 0", "the header row must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_advice_becomes_what_to_do_on_the_page(message: str, words: str) -> None:
    """Where the page has a way to do what the advice says, it says that way."""
    assert plain(message) == words
