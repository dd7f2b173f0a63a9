"""The run journal: a SQLite file in the output folder that makes a run resumable.

Every valid row is recorded before anything is sent. A batch's rows are marked *in flight*
(committed) before its request leaves, and their outcome is committed as soon as it is known. So
at any moment — Ctrl-C, a crash, ``kill -9`` — the journal says for each row: not sent yet, maybe
sent (in flight: the reply never arrived), created (with its id), or failed (with the server's
reason). Running the same command again resumes from there: created rows are not sent again,
rows in doubt are looked up on the server before anything is re-sent, the rest are sent.

The journal belongs to one input: it stores the file's sha256 (and the sheet and header mapping)
and refuses a different file unless told to restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from importer.errors import JournalError, damaged_journal_message
from importer.outcomes import STAGE_NOT_PROCESSED

JOURNAL_FILE = "journal.sqlite"
PENDING, IN_FLIGHT, CREATED, FAILED = 0, 1, 2, 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    row INTEGER PRIMARY KEY,
    state INTEGER NOT NULL DEFAULT 0,
    batch INTEGER,
    membership_id TEXT,
    note TEXT,
    stage TEXT,
    field TEXT,
    message TEXT,
    updated_at TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal:
    """Per-row state of one import, on disk. Thread-safe; usable as an ``OutcomeSink``.

    Use :meth:`open`; close with :meth:`close` (or as a context manager).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, out_dir: Path, *, identity: dict[str, str], restart: bool = False) -> Journal:
        """Open (or create) the journal in ``out_dir`` for the input described by ``identity``.

        Args:
            out_dir: the results folder.
            identity: what makes a run the same run: at least ``sha256``; also sheet, mapping.
            restart: throw away a journal that belongs to another input (or this one) and start
                afresh.

        Raises:
            JournalError: the folder holds the journal of a different input and not ``restart``.
        """
        path = out_dir / JOURNAL_FILE
        if restart:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            conn.execute("SELECT count(*) FROM rows").fetchone()  # walks the table: truncation
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc):
                raise  # a full disk, a read-only folder: not the journal's fault
            raise JournalError(damaged_journal_message(str(path), exc)) from None
        wanted = json.dumps(identity, sort_keys=True)
        if not stored:
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("identity", wanted), ("created_at", _now())],
            )
        elif stored.get("identity") != wanted:
            conn.close()
            before = json.loads(stored.get("identity", "{}"))
            raise JournalError(
                f"{out_dir} holds the results of a different import "
                f"(input sha256 {before.get('sha256', '?')[:12]}…, now "
                f"{identity.get('sha256', '?')[:12]}…; or another sheet/mapping). "
                "Use another --out folder, or --restart to start this folder afresh"
            )
        return cls(path, conn)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def resumed(self) -> bool:
        """True when the journal already held rows before this run registered any."""
        return bool(self._conn.execute("SELECT 1 FROM rows LIMIT 1").fetchone())

    def register(self, rows: np.ndarray) -> None:
        """Record the valid rows (those already known keep their state)."""
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT OR IGNORE INTO rows (row) VALUES (?)", ((int(r),) for r in rows)
            )
            self._conn.execute("COMMIT")

    def states(self) -> pd.DataFrame:
        """Every recorded row: state, batch, membership_id, note, stage, field, message."""
        with self._lock:
            frame = pd.read_sql_query(
                "SELECT row, state, batch, membership_id, note, stage, field, message FROM rows",
                self._conn,
            )
        return frame.set_index("row")

    def _update(self, sql: str, params: Sequence[tuple[object, ...]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(sql, params)
            self._conn.execute("COMMIT")

    def in_flight(self, rows: Sequence[int], batch: int) -> None:
        """Committed before a request leaves: these rows may be created from now on."""
        now = _now()
        self._update(
            "UPDATE rows SET state=?, batch=?, updated_at=? WHERE row=? AND state!=?",
            [(IN_FLIGHT, batch, now, r, CREATED) for r in rows],
        )

    def created(self, rows: Sequence[int], ids: Sequence[str], note: str = "") -> None:
        now = _now()
        self._update(
            "UPDATE rows SET state=?, membership_id=?, note=?, stage=NULL, field=NULL,"
            " message=NULL, updated_at=? WHERE row=?",
            [(CREATED, i, note, now, r) for r, i in zip(rows, ids, strict=True)],
        )

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None:
        # A row not processed (never sent, or its outcome still unknown) stays "in flight" for the
        # next run, which looks it up before re-sending; only a server's refusal is final.
        state = IN_FLIGHT if stage == STAGE_NOT_PROCESSED else FAILED
        now = _now()
        self._update(
            "UPDATE rows SET state=?, stage=?, field=?, message=?, updated_at=?"
            " WHERE row=? AND state!=?",
            [(state, stage, field, message, now, r, CREATED) for r in rows],
        )
