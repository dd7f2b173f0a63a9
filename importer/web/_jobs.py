"""The page's "check with Kantata", "send" and "undo": ``plan_file``, ``run_import`` and
``undo_run`` on the working copy of an upload, exactly as the CLI runs them.

A :class:`Recipe` is what the person chose (sheet, header row, columns, what to do with members
placed elsewhere); it becomes the CLI's options for the working copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from importer.core import DIFFERS, EXISTS, MISSING, NEW, STAGE_REMOTE, ApiSettings, ImportOptions
from importer.jobs import PLAN_FILE, ImportResult, Progress, plan_file, run_import, undo_run
from importer.web._checks import library_mapping
from importer.web._results import read_csv, who_and_where
from importer.web._words import plain

__all__ = ["PLAN_GROUPS", "Recipe", "Watch", "plan", "plan_rows", "plan_summary", "send", "undo"]

#: The groups of the check's answer, in the order the page shows them.
PLAN_GROUPS = ("create", "exists", "move", "add", "elsewhere", "fail", "invalid")
_REASONS_SHOWN = 6


@dataclass(frozen=True)
class Recipe:
    """What the person chose for an upload: how to read it and what to do with rows that differ.

    ``chosen`` maps every file header to a column of the schema or to ``IGNORE``; ``differs`` is
    the CLI's ``report`` / ``move`` / ``add``.
    """

    sheet: str | None
    header_row: int
    headers: tuple[str, ...]
    chosen: dict[str, str] = field(default_factory=dict)
    differs: str = "report"

    def options(self, **kwargs: Any) -> ImportOptions:
        """The CLI's options for the working copy (whose header is where it was)."""
        mapping = library_mapping(self.headers, self.chosen)
        return ImportOptions(
            sheet=self.sheet,
            mapping=mapping,
            header_row=self.header_row,
            differs=self.differs,
            **kwargs,
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "headers": list(self.headers)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recipe:
        return cls(
            sheet=data.get("sheet"),
            header_row=int(data.get("header_row") or 1),
            headers=tuple(data.get("headers", ())),
            chosen=dict(data.get("chosen", {})),
            differs=str(data.get("differs", "report")),
        )


def plan(
    path: Path,
    out: Path,
    recipe: Recipe,
    *,
    api: ApiSettings,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """``importer plan`` on the working copy ``path`` into ``out``; its answer in groups."""
    plan_file(path, api=api, out_dir=out, options=recipe.options(), transport=transport)
    return plan_summary(out, recipe.differs)


def _grouped(out: Path, differs: str) -> pd.DataFrame:
    """plan.csv's rows with their group (``PLAN_GROUPS``) and their detail in words."""
    frame = read_csv(out / PLAN_FILE)
    errors = read_csv(out / "errors.csv")
    failing = set(errors.loc[errors["error_stage"] == STAGE_REMOTE, "source_row"])
    fails = frame["source_row"].isin(failing)
    action = frame["action"]
    group = pd.Series("invalid", index=frame.index)
    group[action == NEW] = "create"
    group[action == EXISTS] = "exists"
    if differs in ("move", "add"):
        group[(action == DIFFERS) & ~fails] = differs
    else:
        group[action == DIFFERS] = "elsewhere"
    group[(action == MISSING) | ((action == DIFFERS) & fails & (differs != "report"))] = "fail"
    frame["group"] = group
    held = frame.get("existing_membership_id", pd.Series("", index=frame.index))
    frame["detail"] = [
        plain(d) or (f"membership {m} is there already" if m else "")
        for d, m in zip(frame["detail"], held, strict=True)
    ]
    return frame


def plan_summary(out: Path, differs: str) -> dict[str, Any]:
    """The counts of each group, and why rows would fail (the most common reasons first)."""
    frame = _grouped(out, differs)
    counts = {g: int((frame["group"] == g).sum()) for g in PLAN_GROUPS}
    failing = frame.loc[frame["group"] == "fail", "detail"]
    reasons = failing.value_counts(sort=True)
    shown = [{"text": str(t), "count": int(n)} for t, n in reasons.head(_REASONS_SHOWN).items()]
    return {
        "counts": counts,
        "reasons": shown,
        "more_reasons": max(0, len(reasons) - _REASONS_SHOWN),
        "differs": differs,
    }


def plan_rows(
    out: Path, differs: str, group: str, chosen: dict[str, str], offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The rows of one group: row, who, where, and what the check found."""
    frame = _grouped(out, differs)
    part = frame[frame["group"] == group]
    shown = part.iloc[offset : offset + limit]
    people = who_and_where(shown, chosen)
    rows = [
        {"row": int(r), "who": who, "where": where, "detail": str(detail)}
        for r, (who, where), detail in zip(
            shown["source_row"], people, shown["detail"], strict=True
        )
    ]
    return len(part), rows


class Watch(httpx.BaseTransport):
    """The HTTP transport of a send, counting requests and transient failures as they happen.

    ``run_import`` takes a transport (its public ``transport=``); this one is httpx's own with the
    pool the client would size, wrapped so the page can show retries while a run goes on
    (``ImportResult`` has the exact count at the end).
    """

    TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})

    def __init__(self, api: ApiSettings) -> None:
        pool = max(4, api.concurrency * 2)
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self._inner = httpx.HTTPTransport(limits=limits)
        self._lock = threading.Lock()
        self.requests = 0
        self.transient = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError:
            with self._lock:
                self.transient += 1
            raise
        if response.status_code in self.TRANSIENT:
            with self._lock:
                self.transient += 1
        return response

    def close(self) -> None:
        """Kept open across the run's clients; ``shut`` closes it."""

    def shut(self) -> None:
        self._inner.close()


def send(
    path: Path,
    out: Path,
    recipe: Recipe,
    *,
    api: ApiSettings,
    batch_size: int,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """``importer run`` on the working copy (resumes from ``out``'s journal, as the CLI).

    ``transport``: a ``Watch`` to follow the requests live (or any httpx transport).
    """
    return run_import(
        path,
        out_dir=out,
        options=recipe.options(batch_size=batch_size),
        api=api,
        transport=transport,
        progress=progress,
        cancel=cancel,
    )


def undo(
    results: Path,
    *,
    api: ApiSettings,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """``importer undo`` on a run's results folder."""
    return undo_run(results, api=api, transport=transport, progress=progress, cancel=cancel)
