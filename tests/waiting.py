"""Waiting in tests without giving up silently.

A test that waits for something (a request to reach the sandbox, a file to appear, a line on a
child's stderr) calls :func:`wait_for`. If the thing never comes, the test fails right there with
an ``AssertionError`` naming what it waited for and for how long, instead of going on as if it
had come and failing later with a message about something else (or, worse, passing).

Never ``time.sleep(n)`` to let something happen: wait for the thing itself. A short sleep is
only right for checking that something does *not* happen, and then it comes after waiting for
the positive event that shows the other side really ran.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

# How long a wait that includes starting a child Python (which imports pandas) may take before it
# counts as never: on a two-core machine shared with other work, over 20 s has been seen.
CHILD_START_S = 60.0


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
) -> T:
    """Call ``condition`` until it returns something truthy; return that.

    Raises ``AssertionError("... never came ...")`` naming ``what`` once ``timeout`` seconds
    have passed. ``condition`` is checked one last time at the deadline, so a slow machine that
    got there just in time still passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; it never came")
        time.sleep(interval)


class Lines:
    """Collects a child process's text stream line by line, in a thread, so a test can wait
    for a line without blocking on ``readline`` forever (the thread ends at end of stream)."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._lines.append(line)

    @property
    def text(self) -> str:
        """Everything read so far."""
        with self._lock:
            return "".join(self._lines)

    def wait_for(self, needle: str, *, timeout: float) -> str:
        """Wait until a line containing ``needle`` was read; that line."""

        def found() -> str | None:
            with self._lock:
                return next((line for line in self._lines if needle in line), None)

        try:
            return wait_for(found, timeout=timeout, what=f"a line with {needle!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the lines read: {self.text!r}") from None

    def join(self, timeout: float) -> str:
        """Wait for the end of the stream (the child closed it); everything read."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream stayed open {timeout:g} s"
        return self.text


# -- a child process's state, from Linux's /proc (tests using these skip elsewhere) ------------


def threads_asleep(pid: int) -> bool:
    """Every thread of process ``pid`` is asleep (state S in /proc/PID/task/*/stat)."""
    try:
        stats = [p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/stat")]
    except FileNotFoundError:  # a thread ended while being read
        return False
    return bool(stats) and all(stat.rpartition(")")[2].split()[0] == "S" for stat in stats)


def settles(pid: int, polls: int = 5) -> Callable[[], bool]:
    """A condition for :func:`wait_for`: every thread of ``pid`` found asleep ``polls`` times in
    a row (the process has reached a wait: for a reply, a lock, a timer)."""
    streak = 0

    def settled() -> bool:
        nonlocal streak
        streak = streak + 1 if threads_asleep(pid) else 0
        return streak >= polls

    return settled


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
