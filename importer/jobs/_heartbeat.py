"""Progress that keeps coming during long steps: a job's callback hears from it at least every
:data:`BEAT_S` seconds, and a wait for replies in doubt counts down.

A step (classifying thousands of members, a page of look-ups on a slow server, the wait until
the server can no longer be executing a request whose reply was lost) may send no event of its
own for minutes. :class:`Heartbeat` wraps the caller's callback: it passes every event on, and a
thread repeats the latest one whenever :data:`BEAT_S` seconds have gone by without an event (before
the first, a ``read`` event: the file is being opened); during a wait it sends a ``wait`` event
each beat with the seconds waited and left. The callback is never called twice at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from types import TracebackType

from importer.jobs._result import Progress, ProgressCallback

__all__ = ["BEAT_S", "WAIT_PHASE", "Heartbeat"]

BEAT_S = 1.0  # the callback hears from the job at least this often (plus its own run time)
WAIT_PHASE = "wait"


class Heartbeat:
    """A progress callback that is called at least every ``beat`` seconds while open.

    Use as a context manager around a job; pass the instance where a ``ProgressCallback`` is
    expected, and call :meth:`waiting` when the job starts to wait.
    """

    def __init__(
        self, callback: ProgressCallback, beat: float = BEAT_S, *, first: str = "read"
    ) -> None:
        self._callback = callback
        self._beat = beat
        self._first = first  # the phase said before the job's first event (reading the file)
        self._lock = threading.Lock()
        self._calling = threading.Lock()  # the callback is never called twice at once
        self._last: Progress | None = None
        self._sent_at = time.monotonic()
        self._wait: tuple[float, float, str] | None = None  # started, seconds, what follows
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def __call__(self, event: Progress) -> None:
        with self._lock:
            if event.phase != WAIT_PHASE:
                self._wait = None
            self._last = event
            self._sent_at = time.monotonic()
        with self._calling:
            self._callback(event)

    def waiting(self, seconds: float, detail: str) -> None:
        """The job waits ``seconds`` (then does ``detail``): a ``wait`` event now, and one each
        beat, ``done``/``total`` in whole seconds, until the wait is over or another event
        comes."""
        with self._lock:
            self._wait = (time.monotonic(), seconds, detail)
        self._emit_wait()

    def _emit_wait(self) -> bool:
        with self._lock:
            if self._wait is None:
                return False
            started, seconds, detail = self._wait
        waited = time.monotonic() - started
        if waited >= seconds:
            with self._lock:
                self._wait = None
            return False
        self(Progress(WAIT_PHASE, int(waited), round(seconds), detail=detail))
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._beat / 4):
            with self._lock:
                quiet_for = time.monotonic() - self._sent_at
                last = self._last
            if quiet_for < self._beat:
                continue
            if self._emit_wait():
                continue
            self(dataclasses.replace(last) if last is not None else Progress(self._first, 0, None))
