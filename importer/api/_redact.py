"""Keep the API token out of logs and messages.

The token only ever travels in the ``Authorization`` header, added at send time
(``client._BearerAuth``); nothing in the importer prints or logs it. This module is the second
line of defence:

* :func:`redact` removes registered secrets and anything shaped like a bearer credential from a
  text: used on server replies before they become error messages (a misconfigured proxy or a debug
  error page may echo the request's headers back);
* :class:`RedactingFilter` does the same to every log record of httpx/httpcore (and ours), so
  ``logging.basicConfig(level=logging.DEBUG)`` in a script using the library shows no token, even
  if a future httpcore logged request headers. :func:`install_log_redaction` attaches it; the
  client calls it.

Secrets shorter than 8 characters are not replaced literally (they would blank out ordinary
words); the ``Bearer ...`` / ``Authorization: ...`` patterns still catch them in headers.

A piece of a secret is a secret too: a server (or a proxy) that cuts its own text may leave the
token's first or last characters at the cut. :func:`redact` also masks every run of
``FRAGMENT`` or more characters found inside a registered secret. :func:`server_text` is the one
way server text is kept (error messages, reports, the journal): redacted first, then cut, so a
cut never splits a secret into a part the redaction no longer recognises.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = [
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "register_secret",
    "server_text",
]

MASK = "<redacted>"
LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "importer",
)
_MIN_LITERAL = 8
FRAGMENT = 6  # a run this long found inside a secret is masked wherever it appears
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[^\s'\",;)\]}]+"),
    re.compile(
        r"""(?i)(\bauthorization\b['"]?\s*[:=,]\s*(?:b?['"])?)(?!b['"]|bearer\b)[^\s'"][^'"\r\n,;)\]}]*"""
    ),
)
_secrets: set[str] = set()
_grams: frozenset[str] = frozenset()  # every FRAGMENT-long substring of every secret
_lock = threading.Lock()
_installed = False


def register_secret(secret: str) -> None:
    """Remember ``secret`` (a token) so :func:`redact` and the log filter remove it."""
    global _grams
    if len(secret) >= _MIN_LITERAL:
        with _lock:
            _secrets.add(secret)
            _grams = frozenset(
                s[i : i + FRAGMENT] for s in _secrets for i in range(len(s) - FRAGMENT + 1)
            )


def _mask_fragments(text: str, grams: frozenset[str]) -> str:
    """``text`` with every run of characters covered by a secret's FRAGMENT-grams masked."""
    covered_to = -1  # end (exclusive) of the run being masked
    spans: list[list[int]] = []
    for i in range(len(text) - FRAGMENT + 1):
        if text[i : i + FRAGMENT] in grams:
            if spans and i <= covered_to:
                spans[-1][1] = covered_to = i + FRAGMENT
            else:
                spans.append([i, i + FRAGMENT])
                covered_to = i + FRAGMENT
    for start, end in reversed(spans):
        text = text[:start] + MASK + text[end:]
    return text


def redact(text: str) -> str:
    """``text`` without registered secrets, pieces of them, or bearer credentials."""
    secrets, grams = tuple(_secrets), _grams
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if grams:
        text = _mask_fragments(text, grams)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def server_text(text: object, limit: int) -> str:
    """Server text as it may be kept: secrets removed first, then cut to ``limit`` characters.

    Args:
        text: what the server sent (a ``str``; anything else is shown as its ``repr``).
        limit: the most characters kept (an ellipsis marks a cut).

    Returns:
        The text, redacted (see :func:`redact`), whitespace runs folded to one space, at most
        ``limit`` characters long.
    """
    raw = text if isinstance(text, str) else repr(text)
    longest = max((len(s) for s in tuple(_secrets)), default=0)
    # Only a window of the text can reach the result: the limit plus room for a secret that
    # straddles it (a piece of it left at the window's end is masked as a fragment).
    end = 2 * (limit + longest) + 64
    cleaned = redact(" ".join(raw[:end].split()))
    if len(raw) > end:  # a piece of a secret too short to be masked may end the window
        cleaned = cleaned[:-FRAGMENT]
    return cleaned if len(cleaned) <= limit else cleaned[: max(0, limit - 1)] + "…"


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach one :class:`RedactingFilter` to the loggers of httpx, httpcore and the importer.

    A logger's filters see only the records logged on that very logger, so each httpcore
    module's logger gets it. Idempotent.
    """
    global _installed
    with _lock:
        if _installed:
            return
        shared = RedactingFilter()
        for name in LOGGERS:
            logging.getLogger(name).addFilter(shared)
        _installed = True
