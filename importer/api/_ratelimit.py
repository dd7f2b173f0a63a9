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

NAP_S = 0.2  # seconds a sender waiting for the rate sleeps at most before asking again


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
        self._refused = False  # a request was told to wait for a token since the last one left
        self._promised = 0.0  # the moment the latest waiting sender was told to come back
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds senders spent waiting here (for the summary)

    @property
    def rate(self) -> float | None:
        """The rate allowed now (learned from 429s, at most ``max_rps``; ``None``: unlimited)."""
        return self.learner.rate

    def acquire(self) -> None:
        """Block until one request may be sent."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            self._sleep(wait)

    def try_acquire(self) -> float:
        """Take a token if one is there (``0.0``: send now); else the seconds to wait before
        asking again (nothing taken). Never blocks: a simulator drives the limiter with it.

        A sender told to wait is given its own moment (one token after the previous one's) if
        that is near (NAP_S), else told to ask again then: dozens of waiting senders do not all
        wake for every token, and they see a rate that rose within NAP_S."""
        with self._lock:
            now = self._clock()
            rate = self.learner.rate
            if now >= self._resume_at and rate is not None:
                burst = 1.0 if self.learner.level is not None else self._burst
                self._tokens = min(burst, self._tokens + (now - self._last) * rate)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # float dust must not spin forever
                    self._tokens -= 1
                    # Bound by the rate: someone had to wait since the previous request left.
                    self.learner.sent(bound=self._refused)
                    self._refused = False
                    return 0.0
                self._refused = True
                ready = now + (1 - self._tokens) / rate
            elif now >= self._resume_at:
                self._last = now
                self.learner.sent(bound=False)
                return 0.0
            else:
                ready = self._resume_at
            slot = max(ready, self._promised)
            if rate is not None and slot - now <= NAP_S:
                self._promised = slot + 1 / rate
                wait = slot - now
            else:  # come back in a while (the rate may have risen by then), or after the pause
                wait = min(slot - now, max(ready - now, NAP_S))
            wait = max(wait, 1e-4)
            self.waited += wait
            return wait

    def pause(self, seconds: float) -> None:
        """The server refused a request (429): hold every sender for ``seconds`` (its
        ``Retry-After``) and learn a lower rate from it."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)
            self._tokens = min(self._tokens, 0.0)
            self._promised = self._resume_at  # moments promised before the pause are void
        self.learner.refused(seconds)

    def succeeded(self) -> None:
        """A request went through (feeds the rate learner)."""
        self.learner.accepted()
