"""What a job (``validate``, ``run``, ``plan``) gives back: exit codes, progress events, the
result object and the content of ``summary.json``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.core import EXIT_OK

PLAN_FILE = "plan.csv"  # plan's file: every row and its action

if TYPE_CHECKING:
    from importer.read import SourceInfo


@dataclass(frozen=True)
class Progress:
    """A progress event: ``phase`` is "validate", "classify", "send" or "report" (rows done of
    ``total``), or, while names are resolved, what is looked up: "users", "workspaces" (names
    searched of ``total``), "users (pages)" (pages of the full listing read), or "wait" (seconds
    waited of ``total``, with ``detail`` saying what follows: "then looking up 12 rows in
    doubt"). While sending, ``pace`` tells the pace learned so far, e.g. ``"12 in flight, ≤ 9.6
    req/s"`` (else ""). During a long step the latest event comes again at least every second
    or two (the same values), so a front-end can tell the job is alive."""

    phase: str
    done: int
    total: int | None
    pace: str = ""
    detail: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass
class ImportResult:
    """What a run did.

    Attributes:
        exit_code: 0 every row created (or valid, for ``validate``/dry runs); 1 some rows failed;
            3 the server refused the run (auth, unreachable); 130 interrupted (``cancel``).
        counts: rows by outcome (``rows``, ``created`` (new), ``already_existed`` (an identical
            membership was on the server already; also a success), ``failed_validation``,
            ``failed_remote``, ``not_processed``, ``valid``).
        out_dir: the results folder; ``files`` the files written in it, by name.
        summary: the content of ``summary.json``.
        fatal: the message of the error that stopped the run early, if any.
    """

    exit_code: int
    counts: dict[str, int]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    fatal: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


def summary_record(
    *,
    command: str,
    info: SourceInfo,
    sha: str,
    counts: dict[str, int],
    exit_code: int,
    timings: dict[str, float],
    started: datetime,
    extra: dict[str, Any],
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The content of ``summary.json``: the input, counts, exit code and timings. ``notes``
    follow the input's own (footer lines skipped, column choices)."""
    return {
        "command": command,
        "input": {
            "path": str(info.path),
            "sha256": sha,
            "format": info.format,
            "sheet": info.sheet,
            "encoding": info.encoding,
            "delimiter": info.delimiter,
            "header_row": info.header_row,
            "header_reason": info.header_reason,
        },
        "notes": [*info.notes, *notes],
        "counts": counts,
        "exit_code": exit_code,
        "status": {0: "ok", 1: "rows_failed", 3: "refused", 130: "interrupted"}.get(
            exit_code, "error"
        ),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        **extra,
    }
