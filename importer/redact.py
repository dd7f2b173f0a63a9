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
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[^\s'\",;)\]}]+"),
    re.compile(
        r"""(?i)(\bauthorization\b['"]?\s*[:=,]\s*(?:b?['"])?)(?!b['"]|bearer\b)[^\s'"][^'"\r\n,;)\]}]*"""
    ),
)
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret(secret: str) -> None:
    """Remember ``secret`` (a token) so :func:`redact` and the log filter remove it."""
    if len(secret) >= _MIN_LITERAL:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` without registered secrets or bearer credentials."""
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def server_text(text: str, limit: int) -> str:
    """A piece of server text to keep (in a message, a report, the journal): redacted *first*,
    then cut to ``limit`` characters, and a cut that ends inside a secret loses that fragment."""
    text = redact(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for secret in tuple(_secrets):
        for k in range(len(secret) - 1, 3, -1):
            if cut.endswith(secret[:k]):
                return cut[:-k] + MASK
    return cut


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
