"""What a drop-folder pass reports: one :class:`FileResult` per file, a :class:`DropResult`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.core import EXIT_REMOTE, printable
from importer.drop._complete import Waiting

FILE_IMPORTED, FILE_ROWS_FAILED, FILE_DUPLICATE = "imported", "rows_failed", "duplicate"
FILE_FAILED, FILE_REFUSED, FILE_INTERRUPTED = "failed", "refused", "interrupted"
FILE_IN_DOUBT = "in_doubt"  # the import ran; some rows' outcome is unknown: stays in processing/
FILE_REMOTE = "remote_error"  # a remote folder's file could not be fetched: stays in processing/
#: What one run did, as the ``status`` of its JSON line.
RUN_BUSY, RUN_IDLE, RUN_WAITING, RUN_HANDLED = "busy", "nothing to do", "waiting", "handled"
RUN_ERROR = "error"  # the run could not start (configuration, folder, token): see ``error``


@dataclass(frozen=True)
class FileResult:
    """What happened to one dropped file.

    Attributes:
        name: the file's name in the inbox.
        outcome: ``imported``, ``rows_failed``, ``duplicate``, ``failed``, ``refused``,
            ``interrupted`` or ``in_doubt``.
        exit_code: the import's own exit code (0, 1, 2 unreadable, 3 refused, 130; 0 for a
            duplicate).
        sha256: the content's hash.
        path: where the file is now.
        results: its results folder (for a duplicate: ``None``; see ``duplicate_of``).
        counts: rows by outcome, as in ``summary.json``.
        resumed: the import continued an earlier, unfinished one.
        duplicate_of: the results folder of the earlier import of the same content.
        error: why the file failed or was refused.
    """

    name: str
    outcome: str
    exit_code: int
    sha256: str
    path: Path | str
    results: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    duplicate_of: Path | None = None
    error: str | None = None
    started_at: str = ""
    finished_at: str = ""

    def describe(self) -> str:
        """One line for a person: ``members.csv: rows_failed (3 of 120 rows failed) -> ...``."""
        counts = self.counts
        bad = sum(counts.get(k, 0) for k in ("failed_validation", "failed_remote", "not_processed"))
        detail = {
            FILE_IMPORTED: f"{counts.get('created', 0)} of {counts.get('rows', 0)} rows created",
            FILE_ROWS_FAILED: f"{bad} of {counts.get('rows', 0)} rows failed",
            FILE_DUPLICATE: f"already imported, see {self.duplicate_of}",
            FILE_INTERRUPTED: "interrupted; the next run resumes it",
            FILE_IN_DOUBT: (
                f"{counts.get('not_processed', 0)} of {counts.get('rows', 0)} rows still in "
                "doubt; the file stays in processing/ and the next run finishes it"
            ),
        }.get(self.outcome, self.error or "")
        where = f"; results: {self.results}" if self.results else ""
        return printable(f"{self.name}: {self.outcome} ({detail}){where}")

    def to_json(self) -> dict[str, Any]:
        """The record printed as one JSON line per file."""
        return {
            "file": self.name,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "sha256": self.sha256,
            "path": str(self.path),
            "results": str(self.results) if self.results else None,
            "counts": self.counts,
            "resumed": self.resumed,
            "duplicate_of": str(self.duplicate_of) if self.duplicate_of else None,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass
class DropResult:
    """What one pass (or a whole ``watch``) did.

    Attributes:
        root: the drop folder.
        files: one result per file handled, in order.
        waiting: inbox files left for the next run (still being written, no trigger file,
            a temporary name ...), each with the reason.
        busy: another run held the folder's lock; nothing was done.
        lock_owner: who held it (``busy``), or whose stale lock was taken over.
        seen: how many inbox files the run looked at.
        started_at, finished_at: UTC, ISO 8601.
        error: why the run could not start (configuration, folder, token), with
            ``error_exit_code``; the front-end fills these in (the library raises instead).
    """

    root: Path | str
    files: list[FileResult] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    busy: bool = False
    lock_owner: str | None = None
    seen: int = 0
    started_at: str = ""
    finished_at: str = ""
    error: str | None = None
    error_exit_code: int = 0
    remote_error: str | None = None

    @property
    def status(self) -> str:
        """``busy``, ``nothing to do``, ``waiting`` (only files not complete yet) or
        ``handled`` (at least one file was handled: see ``files``), or ``error``."""
        if self.error is not None:
            return RUN_ERROR
        if self.busy:
            return RUN_BUSY
        if self.files:
            return RUN_HANDLED
        return RUN_WAITING if self.waiting else RUN_IDLE

    @property
    def exit_code(self) -> int:
        """130 a file was interrupted; 3 the server refused; 1 a file failed or had failed rows;
        0 otherwise (including nothing to do and ``busy``); a run that could not start: its
        ``error_exit_code``."""
        if self.error is not None:
            return self.error_exit_code
        outcomes = {f.outcome for f in self.files}
        if FILE_INTERRUPTED in outcomes:
            return 130
        if FILE_REFUSED in outcomes:
            return 3
        if self.remote_error is not None or FILE_REMOTE in outcomes:
            return EXIT_REMOTE
        return 1 if outcomes & {FILE_FAILED, FILE_ROWS_FAILED, FILE_IN_DOUBT} else 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        """The run's one JSON line: status, exit code, every file handled, the files left."""
        return {
            "folder": str(self.root),
            "status": self.status,
            "exit_code": self.exit_code,
            "files": [f.to_json() for f in self.files],
            "waiting": [w.to_json() for w in self.waiting],
            "lock_owner": self.lock_owner,
            **({"remote_error": printable(self.remote_error)} if self.remote_error else {}),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            **({"error": printable(self.error)} if self.error is not None else {}),
        }


def write_json_line(record: DropResult | FileResult | dict[str, Any], stream: Any) -> None:
    """Write ``record`` (its ``to_json()``) as one JSON line to a text stream and flush it."""
    data = record if isinstance(record, dict) else record.to_json()
    stream.write(json.dumps(data, default=str) + "\n")
    stream.flush()
