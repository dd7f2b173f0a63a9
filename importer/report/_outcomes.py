"""Where each row ended up: the record the reporter turns into files.

``Outcomes`` is the in-memory store (thread-safe); the run journal offers the same methods backed
by SQLite. Storage is columnar (lists of ints/strings appended per batch), so a million rows cost
tens of megabytes, not a million Python objects.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from importer.core import OUTCOME_COLUMNS, STATUS_CREATED, STATUS_FAILED


class OutcomeSink(Protocol):
    """What the sender reports into."""

    def created(
        self,
        rows: Sequence[int],
        ids: Sequence[str],
        note: str = "",
        *,
        status: str = STATUS_CREATED,
    ) -> None: ...

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None: ...


class Outcomes:
    """Per-row outcomes of a run, kept in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._created_rows: list[int] = []
        self._created_ids: list[str] = []
        self._created_notes: dict[int, str] = {}
        self._created_status: dict[int, str] = {}
        self._failed: list[pd.DataFrame] = []
        self._failed_small: list[tuple[int, str, str, str]] = []

    def created(
        self,
        rows: Sequence[int],
        ids: Sequence[str],
        note: str = "",
        *,
        status: str = STATUS_CREATED,
    ) -> None:
        """Rows whose membership is in place (``status``: created, existed or moved)."""
        with self._lock:
            self._created_rows.extend(rows)
            self._created_ids.extend(ids)
            if note:
                self._created_notes.update(dict.fromkeys(rows, note))
            if status != STATUS_CREATED:
                self._created_status.update(dict.fromkeys(rows, status))

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None:
        with self._lock:
            self._failed_small.extend((r, stage, field, message) for r in rows)

    def failed_frame(self, errors: pd.DataFrame, stage: str) -> None:
        """Record many failures at once: ``errors`` indexed by row with error_field/_message."""
        if errors.empty:
            return
        frame = pd.DataFrame(
            {
                "error_stage": stage,
                "error_field": errors["error_field"].to_numpy(),
                "error_message": errors["error_message"].to_numpy(),
            },
            index=errors.index.to_numpy(dtype="int64"),
        )
        with self._lock:
            self._failed.append(frame)

    def done_rows(self) -> np.ndarray:
        """Every row with an outcome (sorted)."""
        return np.sort(self.frame().index.to_numpy(dtype="int64"))

    def frame(self) -> pd.DataFrame:
        """All outcomes, one row per source row (sorted), columns ``OUTCOME_COLUMNS`` (text)."""
        with self._lock:
            rows = np.asarray(self._created_rows, dtype="int64")
            created = pd.DataFrame(
                {
                    "status": [
                        self._created_status.get(r, STATUS_CREATED) for r in self._created_rows
                    ]
                    if self._created_status
                    else STATUS_CREATED,
                    "organization_membership_id": np.asarray(self._created_ids, dtype=object),
                    "note": [self._created_notes.get(r, "") for r in self._created_rows]
                    if self._created_notes
                    else "",
                },
                index=pd.Index(rows),
            )
            small = pd.DataFrame(
                self._failed_small,
                columns=["row", "error_stage", "error_field", "error_message"],
            )
            small = small.set_index(small["row"].astype("int64")).drop(columns="row")
            failed = pd.concat([*self._failed, small])
        failed.insert(0, "status", STATUS_FAILED)
        out = pd.concat([created, failed])
        # A row is created or failed, never both; should a re-check ever report both, the
        # creation is the truth (the server holds it).
        out = out[~out.index.duplicated(keep="first")].sort_index()
        out = out.reindex(columns=OUTCOME_COLUMNS).astype(object).fillna("").astype("str")
        out.index.name = "source_row"
        return out
