"""The run journal: a SQLite file in the results folder that makes a run resumable, exactly once.

Every valid row is recorded before anything is sent. A request's rows are marked *in flight*
(committed, with the time the request left, and for a move the place the member held before)
before the request leaves, and their outcome is committed as soon as it is known. So at any
moment — Ctrl-C, a crash, ``kill -9`` — the journal says for each row: not sent yet, maybe
applied (in flight: the reply never arrived), created/moved (with the membership's id), already
there, or failed (with the server's reason). Running the same command again resumes from there:
done rows are not sent again; rows in doubt are looked up once the server can no longer be
executing their request (``sent_at`` + the server's time limit), and only the absent are re-sent.

The journal belongs to one input *and one server*: it stores the file's identity (sha256, sheet,
mapping) and the server's (base URL and the token's user/account membership, never the token),
and refuses another of either unless told to restart. A results folder is locked by the process
using it (``fcntl.flock``: released by the kernel when the process dies, so ``kill -9`` leaves
no stale lock).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from importer.core import STAGE_NOT_PROCESSED, FolderLock, JournalError

JOURNAL_FILE = "journal.sqlite"
LOCK_FILE = ".importer.lock"
# The states of a row in the journal (``rows.state``).
ROW_PENDING, ROW_IN_FLIGHT, ROW_CREATED, ROW_FAILED, ROW_MOVED, ROW_EXISTED = 0, 1, 2, 3, 4, 5
ROW_DONE = (ROW_CREATED, ROW_FAILED, ROW_MOVED, ROW_EXISTED)
_FINAL = f"{ROW_CREATED}, {ROW_MOVED}, {ROW_EXISTED}"  # a membership in place: never undone
# What an in-flight request was doing (``rows.kind``).
KIND_CREATE, KIND_MOVE = "create", "move"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    row INTEGER PRIMARY KEY,
    state INTEGER NOT NULL DEFAULT 0,
    batch INTEGER,
    kind TEXT,
    sent_at REAL,
    membership_id TEXT,
    member_id INTEGER,
    member_type TEXT,
    geography_id INTEGER,
    department_id INTEGER,
    prev_geography_id INTEGER,
    prev_department_id INTEGER,
    server_updated_at TEXT,
    note TEXT,
    stage TEXT,
    field TEXT,
    message TEXT,
    updated_at TEXT
);
"""
_COLUMNS = (
    "row, state, batch, kind, sent_at, membership_id, member_id, member_type, geography_id,"
    " department_id,"
    " prev_geography_id, prev_department_id, server_updated_at, note, stage, field, message"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunLock:
    """An exclusive lock on a results folder, held while a run (or an undo) uses it: a
    :class:`importer.core.FolderLock` on ``OUT/.importer.lock`` (released by the kernel
    however its owner dies)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_FILE
        self._lock = FolderLock(self.path)

    def acquire(self) -> None:
        """Take the lock or raise ``JournalError`` naming the process that holds it."""
        if not self._lock.acquire():
            owner = self._lock.owner()
            holder = f"pid {owner.pid}" if owner is not None else "another process"
            raise JournalError(
                f"{self.path.parent} is in use by another importer run ({holder}); wait for it "
                "to finish, or use another --out folder"
            )

    def release(self) -> None:
        """Let the folder go (closing the descriptor releases the flock)."""
        self._lock.release()


@dataclass(frozen=True)
class WrittenRow:
    """A row whose membership a finished run created or moved, as its journal recorded it."""

    row: int
    moved: bool  # False: created
    membership_id: str
    geography_id: int | None
    department_id: int | None
    prev_geography_id: int | None  # a move: where the membership was before
    prev_department_id: int | None
    server_updated_at: str | None


class Journal:
    """Per-row state of one import, on disk. Thread-safe.

    Use :meth:`open`; close with :meth:`close` (or as a context manager). A finished run's
    journal is read, without opening it for writing, by :meth:`written` and :meth:`in_doubt`.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: RunLock) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self._folder_lock = lock

    @classmethod
    def open(cls, out_dir: Path, *, identity: dict[str, str], restart: bool = False) -> Journal:
        """Open (or create) the journal in ``out_dir`` for the input described by ``identity``.

        Args:
            out_dir: the results folder (locked until :meth:`close`).
            identity: what makes a run the same run: at least ``sha256``; also sheet, mapping.
            restart: throw away the folder's journal (even one of another input or server) and
                start afresh.

        Raises:
            JournalError: the folder is in use by another run, or holds the journal of a
                different input and not ``restart``.
        """
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out_dir)
        lock.acquire()
        try:
            path = out_dir / JOURNAL_FILE
            if restart:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise JournalError(
                    f"{path} is damaged ({exc}); if you know what the earlier run sent, run "
                    "again with --restart (rows are then looked up on the server before "
                    "anything is written)"
                ) from exc
            wanted = json.dumps(identity, sort_keys=True)
            if "identity" not in stored:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("identity", wanted), ("created_at", _now())],
                )
            elif stored["identity"] != wanted:
                conn.close()
                before = json.loads(stored.get("identity", "{}"))
                raise JournalError(
                    f"{out_dir} holds the results of a different import "
                    f"(input sha256 {before.get('sha256', '?')[:12]}…, now "
                    f"{identity.get('sha256', '?')[:12]}…; or another sheet/mapping). "
                    "Use another --out folder, or --restart to start this folder afresh"
                )
        except BaseException:
            lock.release()
            raise
        return cls(path, conn, lock)

    @staticmethod
    def written(out_dir: Path) -> list[WrittenRow]:
        """The rows the run in ``out_dir`` created or moved, by row (read-only).

        Raises:
            JournalError: ``out_dir`` holds no journal, it cannot be read, or rows of that run
                are still in doubt (the same ``importer run`` settles them first).
        """
        path = out_dir / JOURNAL_FILE
        if not path.exists():
            raise JournalError(f"{out_dir} holds no run journal ({JOURNAL_FILE}): nothing to undo")
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
                got = conn.execute(
                    "SELECT row, state, membership_id, geography_id, department_id,"
                    " prev_geography_id, prev_department_id, server_updated_at FROM rows"
                    " WHERE state IN (?, ?, ?) ORDER BY row",
                    (ROW_CREATED, ROW_MOVED, ROW_IN_FLIGHT),
                ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{path} cannot be read ({exc})") from exc
        doubt = [r[0] for r in got if r[1] == ROW_IN_FLIGHT]
        if doubt:
            raise JournalError(
                f"{len(doubt)} rows of that run are still in doubt (e.g. row {doubt[0]}): run "
                "the same `importer run` command again first (it settles them), then undo"
            )
        return [
            WrittenRow(row, state == ROW_MOVED, str(mid), geo, dept, pgeo, pdept, updated)
            for row, state, mid, geo, dept, pgeo, pdept, updated in got
        ]

    @staticmethod
    def in_doubt(out_dir: Path) -> bool:
        """The journal in ``out_dir`` has rows in flight (sent, outcome unknown), or cannot be
        read (so nothing can be said to be settled); ``False`` when there is no journal."""
        path = out_dir / JOURNAL_FILE
        if not path.exists():
            return False
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
                found = conn.execute(
                    "SELECT 1 FROM rows WHERE state=? LIMIT 1", (ROW_IN_FLIGHT,)
                ).fetchone()
        except sqlite3.Error:
            return True
        return found is not None

    def bind_server(self, server: dict[str, str], *, describe: str) -> None:
        """Tie the journal to the server it runs against, or refuse another one.

        Raises:
            JournalError: the journal's rows were sent to another server (a sandbox rehearsal
                can never stand for the real import).
        """
        wanted = json.dumps(server, sort_keys=True)
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='server'").fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO meta VALUES ('server', ?), ('server_text', ?)", (wanted, describe)
                )
                return
        if row[0] != wanted:
            text = self.meta("server_text") or "another server"
            raise JournalError(
                f"{self.path.parent} holds the results of a run against {text}, not {describe}; "
                "use another --out folder, or --restart to start afresh against this server"
            )

    def meta(self, key: str) -> str | None:
        """A value stored in the journal's meta table."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self._folder_lock.release()

    def send_refused_again(self) -> int:
        """Make the rows the server refused pending again; return how many.

        For a resubmitted errors file edited since the last run: its fixed rows are sent again
        (an unchanged one is refused again, nothing more). Created rows stay created.
        """
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE rows SET state={ROW_PENDING}, stage=NULL, field=NULL, message=NULL"
                " WHERE state=?",
                (ROW_FAILED,),
            )
            return int(cursor.rowcount)

    def register(self, rows: np.ndarray) -> None:
        """Record the valid rows (those already known keep their state)."""
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT OR IGNORE INTO rows (row) VALUES (?)", ((int(r),) for r in rows)
            )
            self._conn.execute("COMMIT")

    def state_of_rows(self) -> pd.Series:
        """Every recorded row's state (an int8 Series indexed by row): what a run needs of a
        big journal, without its text columns."""
        with self._lock:
            rows = self._conn.execute("SELECT row, state FROM rows ORDER BY row").fetchall()
        array = np.asarray(rows, dtype="int64").reshape(-1, 2)
        return pd.Series(array[:, 1].astype("int8"), index=pd.Index(array[:, 0], name="row"))

    def rows_in_flight(self) -> np.ndarray:
        """The rows whose request left and whose outcome is not known (sorted)."""
        state = self.state_of_rows()
        in_flight: np.ndarray = state.index[state.to_numpy() == ROW_IN_FLIGHT].to_numpy()
        return in_flight

    def states(self) -> pd.DataFrame:
        """Every recorded row, indexed by row, with every column of the ``rows`` table."""
        with self._lock:
            frame = pd.read_sql_query(f"SELECT {_COLUMNS} FROM rows", self._conn)
        return frame.set_index("row")

    def _update(self, sql: str, params: Sequence[tuple[object, ...]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(sql, params)
            self._conn.execute("COMMIT")

    def in_flight(
        self,
        rows: Sequence[int],
        batch: int,
        *,
        kind: str = KIND_CREATE,
        places: Sequence[tuple[int, int]] | None = None,
        moves: Sequence[tuple[str, int | None, int | None]] | None = None,
        members: Sequence[tuple[int, str]] | None = None,
    ) -> float:
        """Committed before a request leaves: these rows may be applied from now on.

        Args:
            rows: the request's rows.
            batch: the batch number (for messages).
            kind: ``create`` or ``move``.
            places: the (geography, department) each row asks for.
            moves: for a move, (membership id, previous geography, previous department) per row,
                recorded before the request leaves so ``undo`` can put it back.
            members: (member_id, member_type) per row.

        Returns:
            ``sent_at``: the time (epoch seconds) recorded as the request's departure.
        """
        sent_at = time.time()
        now = _now()
        places = places or [(None, None)] * len(rows)  # type: ignore[list-item]
        moves = moves or [(None, None, None)] * len(rows)  # type: ignore[list-item]
        members = members or [(None, None)] * len(rows)  # type: ignore[list-item]
        self._update(
            "UPDATE rows SET state=?, batch=?, kind=?, sent_at=?, geography_id=?,"
            " department_id=?, membership_id=COALESCE(?, membership_id),"
            " prev_geography_id=COALESCE(?, prev_geography_id),"
            " prev_department_id=COALESCE(?, prev_department_id),"
            " member_id=COALESCE(?, member_id), member_type=COALESCE(?, member_type),"
            " updated_at=?"
            f" WHERE row=? AND state NOT IN ({_FINAL})",
            [
                (ROW_IN_FLIGHT, batch, kind, sent_at, *p, *m, *w, now, r)
                for r, p, m, w in zip(rows, places, moves, members, strict=True)
            ],
        )
        return sent_at

    def created(
        self,
        rows: Sequence[int],
        ids: Sequence[str],
        note: str = "",
        *,
        state: int = ROW_CREATED,
        updated: Sequence[str | None] | None = None,
    ) -> None:
        """Rows whose membership is in place: ``state`` created (default), moved or existed."""
        now = _now()
        updated = updated or [None] * len(rows)
        self._update(
            "UPDATE rows SET state=?, membership_id=?, note=?, server_updated_at=?, stage=NULL,"
            " field=NULL, message=NULL, updated_at=? WHERE row=?",
            [(state, i, note, u, now, r) for r, i, u in zip(rows, ids, updated, strict=True)],
        )

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None:
        # A row not processed (never sent, or its outcome still unknown) keeps its state for the
        # next run: in flight rows are looked up before anything is re-sent. Only a server's
        # refusal (or a row that the server's state makes impossible) is final.
        if stage == STAGE_NOT_PROCESSED:
            self._update(
                "UPDATE rows SET stage=?, field=?, message=?, updated_at=? WHERE row=?"
                f" AND state IN ({ROW_PENDING}, {ROW_IN_FLIGHT})",
                [(stage, field, message, _now(), r) for r in rows],
            )
            return
        now = _now()
        self._update(
            "UPDATE rows SET state=?, stage=?, field=?, message=?, updated_at=?"
            f" WHERE row=? AND state NOT IN ({_FINAL})",
            [(ROW_FAILED, stage, field, message, now, r) for r in rows],
        )

    def failed_each(
        self, rows: Sequence[int], stage: str, fields: Sequence[str], messages: Sequence[str]
    ) -> None:
        """Final failures with a field and message per row (one transaction)."""
        now = _now()
        self._update(
            "UPDATE rows SET state=?, stage=?, field=?, message=?, updated_at=?"
            f" WHERE row=? AND state NOT IN ({_FINAL})",
            [
                (ROW_FAILED, stage, f, m, now, r)
                for r, f, m in zip(rows, fields, messages, strict=True)
            ],
        )

    def release(self, rows: Sequence[int]) -> None:
        """Rows in doubt that a look-up (made after the server's time limit) showed absent:
        back to pending, to be sent again."""
        self._update(
            f"UPDATE rows SET state={ROW_PENDING}, sent_at=NULL, updated_at=? WHERE row=?"
            f" AND state={ROW_IN_FLIGHT}",
            [(_now(), r) for r in rows],
        )

    def set_meta(self, values: dict[str, Any]) -> None:
        """Store facts about the run (e.g. the ``differs`` mode) in the meta table."""
        self._update(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [(k, json.dumps(v)) for k, v in values.items()],
        )
