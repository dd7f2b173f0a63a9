"""Where retries are reported: our log, never stderr.

stamina's default hook logs ``stamina.retry_scheduled`` at WARNING on the ``stamina`` logger; with
no logging configured, Python's last-resort handler prints that bare line on stderr (in cron mail,
under ``--quiet --json``, from the library, which must never print). :func:`install` replaces
stamina's hooks, once per process, with one that logs a readable line at INFO on
``importer.retry``: shown when the application configures logging (a log file, a verbose
handler), silent otherwise. The counts are in the summary (``retries``).
"""

from __future__ import annotations

import logging

import stamina.instrumentation as instrumentation

__all__ = ["LOGGER_NAME", "install"]

LOGGER_NAME = "importer.retry"
_logger = logging.getLogger(LOGGER_NAME)
_installed = False


def _log_retry(details: instrumentation.RetryDetails) -> None:
    _logger.info(
        "retry %d in %.1f s after: %s",
        details.retry_num,
        details.wait_for,
        details.caused_by,
    )


def install() -> None:
    """Send stamina's retry events to the ``importer.retry`` logger (idempotent)."""
    global _installed
    if not _installed:
        instrumentation.set_on_retry_hooks([_log_retry])
        _installed = True
