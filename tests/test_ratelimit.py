"""The shared limiter: a rate ceiling, and a 429 pause that holds every sender."""

from __future__ import annotations

from importer.ratelimit import RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_ceiling_spaces_requests() -> None:
    """At 10 req/s with a burst of 1, 11 requests take one second."""
    clock = FakeClock()
    limiter = RateLimiter(10, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(11):
        limiter.acquire()
    assert abs(clock.now - 1.0) < 1e-6


def test_pause_holds_everyone_and_lowers_rate() -> None:
    """A Retry-After pause delays the next acquire and cuts the rate by 20 %."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.pause(3.0)
    limiter.acquire()
    assert clock.now >= 3.0
    assert limiter.rate == 8.0


def test_no_ceiling_still_honours_pause() -> None:
    """Without max_rps only the server's pauses slow the client."""
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    assert clock.now == 0.0
    limiter.pause(2.5)
    limiter.acquire()
    assert clock.now == 2.5


def test_rate_recovers_after_successes() -> None:
    """Successes creep the rate back up, never above the ceiling."""
    limiter = RateLimiter(10)
    limiter.pause(0)
    for _ in range(100):
        limiter.succeeded()
    assert limiter.rate == 10
