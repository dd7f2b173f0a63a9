"""The importer's exception tree.

::

    ImporterError                      base of everything the library raises on purpose
      ├─ InputError                    unreadable file, unknown sheet, bad header      -> exit 2
      ├─ SchemaDefinitionError         our schema file is broken, not the user's data
      ├─ JournalError                  the run journal refuses (changed input, ...)    -> exit 2
      └─ ApiError(status)              the server answered something we cannot use
           ├─ TransientApiError        timeouts, connection errors, 429, 5xx; retried
           │    ├─ RateLimitedError(retry_after)
           │    └─ OutcomeUnknownError the request may have been applied (reply lost)
           ├─ RejectedBatchError       4xx other than 401/403/408/429: split, never re-sent as-is
           ├─ BadResponseError         2xx that is not what the API promises
           ├─ FatalApiError            stops the run, rows kept for the next one         -> exit 3
           │    ├─ AuthError           401/403: the token is refused
           │    ├─ UnreachableError    no request to the host ever succeeded
           │    ├─ ServerWaitError     the server asked to wait longer than we will
           │    └─ RedirectedError     3xx: the base URL is not the API
      Cancelled                        Ctrl-C / SIGTERM / cancel event while waiting   -> exit 130

Every message is written for the person running the tool: it names the file, sheet, row and
column where they apply and says what to do next.
"""

from __future__ import annotations

import re
from typing import Any


class ImporterError(Exception):
    """Base class of every error the importer raises on purpose."""

    exit_code = 1


class InputError(ImporterError):
    """The input could not be read: missing file, unknown sheet, bad header, unreadable bytes."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class SchemaDefinitionError(ImporterError):
    """The row schema shipped with the importer is broken (a bug in the tool, not in the data)."""

    exit_code = 4


class JournalError(ImporterError):
    """The run journal in the output folder does not belong to this input."""

    exit_code = 2


class ApiError(ImporterError):
    """The server's answer cannot be used as it is."""

    exit_code = 3

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class TransientApiError(ApiError):
    """A failure worth retrying: timeouts, connection errors, 429, 502/503/504."""


class RateLimitedError(TransientApiError):
    """HTTP 429; ``retry_after`` is the server's requested pause in seconds, if it gave one."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int = 429
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class OutcomeUnknownError(TransientApiError):
    """The request was sent but no reply arrived: the server may or may not have applied it."""


class RejectedBatchError(ApiError):
    """The server refused the request (400/404/409/422 ...).

    ``messages`` are its own words; ``fields`` the ``field`` of each error where the server gave
    one (docs/kantata-api.md § Basics: validation errors carry a ``field``), else "".
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        messages: list[str],
        fields: list[str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.messages = messages
        self.fields = fields if fields is not None else [""] * len(messages)


class BadResponseError(ApiError):
    """A reply that is not what the API documents (HTML page, truncated JSON, missing objects)."""


class FatalApiError(ApiError):
    """An answer that stops the run (no later request would fare better); rows are kept."""


class AuthError(FatalApiError):
    """HTTP 401/403: the token is missing, wrong, expired or lacks permission. Stops the run."""


class UnreachableError(FatalApiError):
    """No request to the host has succeeded in this run and retrying it has not helped."""


class ServerWaitError(FatalApiError):
    """The server asked (``Retry-After``) to wait longer than the client is willing to."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class RedirectedError(FatalApiError):
    """HTTP 3xx: the base URL points somewhere that is not the API (the request was not applied
    there; rows sent with it stay in doubt and are looked up by the next run)."""


class Cancelled(ImporterError):
    """A wait was cut short by Ctrl-C / SIGTERM (the run's cancel event)."""

    exit_code = 130


def damaged_journal_message(path: str, exc: BaseException) -> str:
    """The one line for a journal SQLite cannot read (truncated, overwritten, not SQLite)."""
    return (
        f"{path} is damaged ({exc}); run the same command with --restart to start afresh. "
        "--restart forgets what earlier runs sent: the next run looks up what already exists "
        "on the server before it sends those rows again"
    )


# C0/C1 controls, DEL, line/paragraph separators, bidi and other invisible format characters.
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` safe for one log line or message: control characters shown escaped.

    A file name holding a line break or a terminal escape sequence would otherwise forge log
    lines or rewrite the terminal; it is shown as ``\\n``, ``\\x1b``, ``\\u202e`` instead.
    """

    def escape(m: re.Match[str]) -> str:
        code = ord(m.group())
        return {10: "\\n", 13: "\\r", 9: "\\t"}.get(code) or (
            f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        )

    return _UNPRINTABLE.sub(escape, text)
