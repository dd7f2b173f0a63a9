"""Finding the server's pace without being told it: how many requests in flight, how many a second.

Nobody knows their account's rate limit (Kantata publishes it only to customers, and it may
change), so the importer learns both numbers while it runs; ``--concurrency`` and ``--max-rps``
are *ceilings* on what it learns, not settings. Two small controllers, pure (no I/O, the clock
injected) so they can be tested alone:

* :class:`ConcurrencyLimit` -- how many requests may be in flight: it grows while latency holds
  (fast at first, like TCP's slow start, then by one per window of answers) and is cut
  multiplicatively when the server is overloaded (503, time-outs) or recent latency jumps well
  above its long-run average (a queue building on the server: the gradient of Netflix's
  concurrency limiter, after TCP Vegas).
* :class:`RateLearner` -- how many requests a second: unlimited until the server first answers
  429; then the rate that the server *accepted* just before refusing (its limit, measured from
  the spacing of accepted requests between two refusals) becomes the level to stay under. The rate
  goes back quickly to just below that level after a refusal, then creeps above it slowly, so a
  limit that was raised is found again, at the cost of one refusal now and then.

The client feeds both on every answered request (latency, 429, 503); the send pool asks
:attr:`ConcurrencyLimit.limit`, the client's token bucket asks :attr:`RateLearner.rate`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_CEILING = 16  # in flight at most when the user gives no --concurrency


class ConcurrencyLimit:
    """AIMD on requests in flight, with latency as the early signal of a queue.

    Args:
        ceiling: never more in flight than this (``--concurrency``).
        initial: where to start (a few: a rate-limited server sees few refusals at the start).
        tolerance: recent latency above ``tolerance`` times the long-run average means a queue
            building (a latency that rises slowly as more is in flight does not: on a busy
            server throughput still grows then).
        floor: never fewer than this.
    """

    def __init__(
        self,
        ceiling: int = DEFAULT_CEILING,
        *,
        initial: int = 2,
        tolerance: float = 2.0,
        floor: int = 1,
    ) -> None:
        if ceiling < 1 or floor < 1:
            raise ValueError("ceiling and floor must be at least 1")
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.tolerance = tolerance
        self._limit = float(min(max(initial, self.floor), ceiling))
        self._lock = threading.Lock()
        self._long: float | None = None  # long-run average latency
        self._smooth: float | None = None  # recent latency
        self._since_cut = 0  # answers since the last cut (one cut per window of answers)
        self._growing_fast = True  # slow start: until the first sign of overload
        self.cuts = 0

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return int(self._limit)

    def answered(self, latency: float) -> None:
        """A request got an answer (not a 429/503) after ``latency`` seconds."""
        latency = max(latency, 1e-4)
        with self._lock:
            self._long = _ewma(self._long, latency, 0.05)
            self._smooth = _ewma(self._smooth, latency, 0.3)
            self._since_cut += 1
            if self._smooth > self.tolerance * self._long and self._since_cut >= self._limit:
                self._cut(0.9)
                return
            step = 0.5 if self._growing_fast else 1.0 / self._limit
            self._limit = min(float(self.ceiling), self._limit + step)

    def overloaded(self) -> None:
        """The server said it is overloaded (503) or a request timed out: cut by a quarter."""
        with self._lock:
            if self._since_cut >= min(self._limit, 4):
                self._cut(0.75)

    def _cut(self, factor: float) -> None:
        self._limit = max(float(self.floor), self._limit * factor)
        self._since_cut = 0
        self._growing_fast = False
        self.cuts += 1


def _ewma(average: float | None, value: float, alpha: float) -> float:
    return value if average is None else (1 - alpha) * average + alpha * value


class RateLearner:
    """The request rate a server accepts, learned from its 429 refusals.

    Args:
        ceiling: never faster than this (``--max-rps``; ``None``: no ceiling of the user's).
        window: seconds of accepted requests looked at to measure the server's rate.
        clock: injectable for tests.
    """

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("ceiling must be > 0")
        self.ceiling = ceiling
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted: deque[float] = deque()
        self._learned: float | None = None  # our own rate, below the server's level
        self._level: float | None = None  # the rate at which the server refused
        self._measure_from = clock()  # accepted requests before this are not measured
        self._last = clock()
        self._quiet_until = 0.0  # refusals until then belong to the same overshoot
        self._refused_at = clock()
        self.refusals = 0

    @property
    def rate(self) -> float | None:
        """Requests a second allowed now (``None``: unlimited)."""
        learned, ceiling = self._learned, self.ceiling
        if learned is None:
            return ceiling
        return learned if ceiling is None else min(learned, ceiling)

    @property
    def level(self) -> float | None:
        """The server's limit as measured at the last refusal (``None``: never refused)."""
        return self._level

    def accepted(self) -> None:
        """A request went through: count it; move the rate toward (then past) the level."""
        with self._lock:
            now = self._clock()
            self._accepted.append(now)
            while self._accepted and self._accepted[0] < now - self.window:
                self._accepted.popleft()
            dt, self._last = max(0.0, now - self._last), now
            if self._learned is None or self._level is None:
                return
            target = 0.97 * self._level
            if self._learned < target:  # back to just under the level within ~2 s
                self._learned += (target - self._learned) * min(1.0, dt / 2.0)
            else:  # then probe above it: 0.5 % a second, faster the longer nothing is refused
                calm = max(1.0, (now - self._refused_at) / 15.0)
                self._learned *= 1.0 + 0.005 * calm * calm * min(dt, 1.0)
            if self.ceiling is not None:
                self._learned = min(self._learned, self.ceiling)

    def refused(self, retry_after: float | None = None) -> None:
        """The server answered 429 (``retry_after``: its ``Retry-After``, seconds)."""
        with self._lock:
            now = self._clock()
            self.refusals += 1
            pause = retry_after if retry_after is not None else 1.0
            if now < self._quiet_until:  # requests already in flight at the last refusal
                return
            start = max(self._measure_from, now - self.window)
            span = now - start
            count = sum(1 for t in self._accepted if t >= start)
            # A server's bucket holds about a second of requests: over less than a second, what
            # it accepted is a burst, not its rate.
            measured = max(count, 1) / max(span, 1.0)
            current = self._learned
            # Refused while sending at ``current``: the server's rate is below it, and above
            # what it accepted (which includes our own slower moments).
            level = measured if current is None else min(current, max(measured, 0.97 * current))
            self._level = max(0.1, level)
            self._learned = max(0.1, 0.9 * self._level)
            if self.ceiling is not None:
                self._learned = min(self._learned, self.ceiling)
            self._measure_from = now + pause
            self._quiet_until = now + pause + 0.5
            self._refused_at = now + pause
            self._last = now + pause


def describe(limit: int, rate: float | None) -> str:
    """``"12 in flight, ≤ 9.6 req/s"`` for progress output."""
    text = f"{limit} in flight"
    return text if rate is None else f"{text}, ≤ {rate:.3g} req/s"


__all__ = ["DEFAULT_CEILING", "ConcurrencyLimit", "RateLearner", "describe"]
