"""The exit codes of every command (``summary.json`` ``exit_code``, the process's status)."""

from __future__ import annotations

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_REMOTE",
    "EXIT_ROWS_FAILED",
]

EXIT_OK = 0  # every row created, found or valid
EXIT_ROWS_FAILED = 1  # some rows failed: errors.csv says why
EXIT_INPUT = 2  # the input (or the configuration) could not be used
EXIT_REFUSED = 3  # the server refused the run: token, unreachable, asked to wait too long
EXIT_REMOTE = 5  # importer drop URL: the remote folder failed (unreachable, host key, login)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: what was done is kept for the next run
