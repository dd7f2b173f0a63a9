"""What a command shows while it works, on stderr: a live bar in a terminal, plain lines
otherwise (cron, a pipe, a CI log), and nothing with ``--quiet``.

The library calls back at least every second or two (``importer.jobs``' heartbeat), so both
can rely on hearing from the job:

* in a terminal, a bar per step (rows done of all, time, the pace found), shown once the
  command has taken more than a moment; a wait for replies in doubt counts down live;
* without a terminal, a line at least every ``every`` seconds (``--progress-every``, default
  30): ``progress: send 1,200/4,000 (12 in flight, ≤ 9.6 req/s) [0:01:23]``; a wait says so
  the moment it starts, then how long is left at each line.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:  # the jobs (and the data stack) load only when a command runs one
    from importer.jobs import Progress as ProgressEvent

__all__ = ["PROGRESS_EVERY_S", "ProgressView"]

PROGRESS_EVERY_S = 30.0  # without a terminal: a progress line at least this often
_WAIT = "wait"


class ProgressView:
    """The ``progress`` callback of a command: a live bar, or lines, or nothing (``quiet``).

    Args:
        console: where to show it (stderr).
        quiet: show nothing.
        every: seconds between lines when ``console`` is not a terminal.
        delay: seconds before the live bar appears (a short run shows none).
    """

    def __init__(
        self,
        console: Console,
        *,
        quiet: bool,
        every: float = PROGRESS_EVERY_S,
        delay: float = 1.5,
    ) -> None:
        self.console = console
        self.quiet = quiet
        self.every = every
        self.delay = delay
        self.live = console.is_terminal
        self.t0 = time.monotonic()
        self.last_line = self.t0
        self.waiting = False
        self.bar: Progress | None = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if self.live:
            self._show(event)
        else:
            self._line(event)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()

    # -- without a terminal: lines ------------------------------------------------------------
    def _line(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        starts = event.phase == _WAIT and not self.waiting
        self.waiting = event.phase == _WAIT
        if not starts and now - self.last_line < self.every:
            return
        self.last_line = now
        elapsed = timedelta(seconds=int(now - self.t0))
        if starts:
            text = f"waiting {event.total or 0} s for the server's time limit, {event.detail}"
        elif event.phase == _WAIT:
            left = max((event.total or 0) - event.done, 0)
            text = f"waiting: {left} s left, {event.detail}"
        else:
            text = event.phase + (f" {event.done:,}" if event.done or event.total else "")
            text += f"/{event.total:,}" if event.total else ""
            text += f" ({event.pace})" if event.pace else ""
        self.console.print(
            f"progress: {text} [{elapsed}]", markup=False, highlight=False, soft_wrap=True
        )

    # -- in a terminal: a live bar ------------------------------------------------------------
    def _show(self, event: ProgressEvent) -> None:
        if time.monotonic() - self.t0 < self.delay and event.phase != _WAIT:
            return
        if self.bar is None:
            self.bar = Progress(
                TextColumn("{task.description:>9}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[pace]}"),  # the pace found; a wait's countdown
                console=self.console,
                transient=True,
            )
            self.bar.start()
        extra = event.pace
        if event.phase == _WAIT:
            extra = f"{max((event.total or 0) - event.done, 0)} s left, {event.detail}"
        if event.phase not in self.tasks:
            self.tasks[event.phase] = self.bar.add_task(event.phase, total=event.total, pace="")
        self.bar.update(
            self.tasks[event.phase], completed=event.done, total=event.total, pace=extra
        )
