"""A client-side limiter shared by every request of a run (thread-safe).

Why hand-written: one limiter for rate and a client-wide back-off after 429; no library does both.

Two jobs: keep the request rate under ``max_rps`` (a token bucket), and make the *whole client*
slow down when the server says 429: a ``Retry-After`` pauses every sender, not just the one that
was refused, and each 429 lowers the rate a little (recovering slowly on success), so a big import
settles just under the server's ceiling instead of storming it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token bucket plus a shared pause.

    Args:
        max_rps: requests per second allowed (``None``: no ceiling, only 429 pauses apply).
        burst: tokens the bucket holds (default: ``max(1, max_rps)``).
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
        self._ceiling = max_rps
        self._rate = max_rps
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
        """The current allowed rate (lowered after 429s)."""
        return self._rate

    def acquire(self) -> None:
        """Block until one request may be sent."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._resume_at - now
                if wait <= 0 and self._rate is not None:
                    self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
                    self._last = now
                    if self._tokens >= 1 - 1e-9:  # float dust must not spin forever
                        self._tokens -= 1
                        return
                    wait = (1 - self._tokens) / self._rate
                elif wait <= 0:
                    return
                self.waited += wait
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (a 429's ``Retry-After``); lower the rate 20 %."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)
            if self._rate is not None:
                self._rate = max(self._rate * 0.8, 0.1)
            self._tokens = min(self._tokens, 0.0)

    def succeeded(self) -> None:
        """A request went through: creep back toward the ceiling (+1 % per success)."""
        if self._rate is None or self._ceiling is None or self._rate >= self._ceiling:
            return
        with self._lock:
            self._rate = min(self._ceiling, self._rate * 1.01)
