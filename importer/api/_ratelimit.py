"""A client-side limiter shared by every request of a run (thread-safe).

Why hand-written: one limiter for a learned rate and a client-wide back-off after 429; no library
does both.

Two jobs: keep the request rate under what the server accepts (a token bucket whose rate is
*learned* by :class:`~importer.send.RateLearner` from the server's 429s, never above ``max_rps``),
and make the *whole client* slow down when the server says 429: a ``Retry-After`` pauses every
sender, not just the one that was refused. So a big import settles just under the server's
ceiling instead of storming it, without anyone knowing that ceiling beforehand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from importer.api._pace import RateLearner


class RateLimiter:
    """Token bucket at the learned rate, plus a shared pause.

    Args:
        max_rps: a ceiling on requests per second (``None``: only what the server's 429s teach).
        burst: tokens the bucket holds while the server has not refused anything (default:
            ``max(1, max_rps)``); once it has, one (requests evenly spaced).
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        max_rps: float | None = None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_rps is not None and max_rps <= 0:
            raise ValueError("max_rps must be > 0")
        self.learner = RateLearner(max_rps, clock=clock)
        self._burst = burst if burst is not None else max(1.0, max_rps or 1.0)
        self._tokens = self._burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._resume_at = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds senders spent waiting here (for the summary)

    @property
    def rate(self) -> float | None:
        """The rate allowed now (learned from 429s, at most ``max_rps``; ``None``: unlimited)."""
        return self.learner.rate

    def acquire(self) -> None:
        """Block until one request may be sent."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._resume_at - now
                rate = self.learner.rate
                if wait <= 0 and rate is not None:
                    burst = 1.0 if self.learner.level is not None else self._burst
                    self._tokens = min(burst, self._tokens + (now - self._last) * rate)
                    self._last = now
                    if self._tokens >= 1 - 1e-9:  # float dust must not spin forever
                        self._tokens -= 1
                        return
                    wait = (1 - self._tokens) / rate
                elif wait <= 0:
                    self._last = now
                    return
                self.waited += wait
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """The server refused a request (429): hold every sender for ``seconds`` (its
        ``Retry-After``) and learn a lower rate from it."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)
            self._tokens = min(self._tokens, 0.0)
        self.learner.refused(seconds)

    def succeeded(self) -> None:
        """A request went through (feeds the rate learner)."""
        self.learner.accepted()
