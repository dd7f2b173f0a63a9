"""The drop folder's ledger: which content (sha256) was imported, where its results are.

A SQLite file, ``DIR/.importer/ledger.sqlite``, written only while the folder lock is held:

* ``files``: one row per content (sha256): the status (``processing``, ``done``, ``failed``), the
  results folder (relative to the drop folder), attempts, the last outcome. A file is marked
  ``processing`` with its results folder *before* it leaves the inbox, so a run that dies at any
  point is resumed with the same results folder (and so the same run journal).
* ``events``: one row per file handled (imported, duplicate, failed ...), for audits.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LEDGER_FILE = "ledger.sqlite"
LEDGER_PROCESSING, LEDGER_DONE, LEDGER_FAILED = "processing", "done", "failed"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    results_dir TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    exit_code INTEGER,
    counts TEXT,
    final_path TEXT,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger knows about one content."""

    sha256: str
    name: str
    status: str
    results_dir: str
    attempts: int
    outcome: str | None
    exit_code: int | None
    counts: dict[str, int] = field(default_factory=dict)
    final_path: str | None = None
    first_seen: str = ""
    updated_at: str = ""


class Ledger:
    """The ledger of one drop folder. Open with :meth:`open`; a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> Ledger:
        """Open (or create) ``state_dir/ledger.sqlite``."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / LEDGER_FILE
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        return cls(conn, path)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def get(self, sha256: str) -> LedgerEntry | None:
        """The entry of this content, if it was ever seen."""
        row = self._conn.execute(
            "SELECT sha256, name, status, results_dir, attempts, outcome, exit_code, counts,"
            " final_path, first_seen, updated_at FROM files WHERE sha256=?",
            (sha256,),
        ).fetchone()
        if row is None:
            return None
        values = list(row)
        values[7] = json.loads(values[7]) if values[7] else {}
        return LedgerEntry(*values)

    def begin(self, sha256: str, name: str, results_dir: str) -> None:
        """Mark the content ``processing`` with its results folder (before it is moved)."""
        now = _now()
        self._conn.execute(
            "INSERT INTO files (sha256, name, status, results_dir, attempts, first_seen,"
            " updated_at) VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT(sha256) DO UPDATE SET"
            " name=excluded.name, status=excluded.status, results_dir=excluded.results_dir,"
            " attempts=attempts+1, outcome=NULL, exit_code=NULL, updated_at=excluded.updated_at",
            (sha256, name, LEDGER_PROCESSING, results_dir, now, now),
        )

    def attempted(self, sha256: str, outcome: str, exit_code: int) -> None:
        """Record an attempt that leaves the file ``processing`` (refused, interrupted)."""
        self._conn.execute(
            "UPDATE files SET outcome=?, exit_code=?, updated_at=? WHERE sha256=?",
            (outcome, exit_code, _now(), sha256),
        )

    def finish(
        self,
        sha256: str,
        *,
        status: str,
        outcome: str,
        exit_code: int,
        counts: dict[str, int],
        final_path: str,
    ) -> None:
        """Mark the content ``done`` or ``failed`` (before the file is moved there)."""
        self._conn.execute(
            "UPDATE files SET status=?, outcome=?, exit_code=?, counts=?, final_path=?,"
            " updated_at=? WHERE sha256=?",
            (status, outcome, exit_code, json.dumps(counts), final_path, _now(), sha256),
        )

    def event(self, sha256: str, name: str, outcome: str, record: dict[str, Any]) -> None:
        """Append one handled file to the history."""
        self._conn.execute(
            "INSERT INTO events (at, sha256, name, outcome, record) VALUES (?, ?, ?, ?, ?)",
            (_now(), sha256, name, outcome, json.dumps(record, default=str)),
        )
