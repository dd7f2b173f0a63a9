"""The shared limiter: a rate ceiling, and a 429 pause that holds every sender."""

from __future__ import annotations

import pytest

from importer.api._ratelimit import NAP_S, RateLimiter


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
    """A Retry-After pause delays the next acquire, and the rate drops below the ceiling."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limiter.acquire()
        limiter.succeeded()
    limiter.pause(3.0)
    limiter.acquire()
    assert clock.now >= 3.0
    assert limiter.rate is not None
    assert limiter.rate < 10


def test_no_ceiling_still_honours_pause() -> None:
    """Without max_rps only the server's pauses slow the client."""
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    assert clock.now == 0.0
    limiter.pause(2.5)
    limiter.acquire()
    assert clock.now == 2.5


def test_no_ceiling_learns_a_rate_from_a_429() -> None:
    """Unlimited until the first 429; then half the rate it was sending at (a slow start may
    have overshot by twice), from which it searches upward."""
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(40):  # 20 accepted a second for two seconds
        limiter.acquire()
        limiter.succeeded()
        clock.sleep(0.05)
    assert limiter.rate is None
    limiter.pause(1.0)
    assert limiter.rate is not None
    assert 9 <= limiter.rate <= 11


def test_waiting_senders_are_spread_over_the_tokens() -> None:
    """Senders told to wait are each given their own moment, one token apart (not all woken
    for every token), up to NAP_S ahead; the rest ask again within NAP_S."""
    clock = FakeClock()
    limiter = RateLimiter(10, burst=1, clock=clock, sleep=clock.sleep)
    assert limiter.try_acquire() == 0.0
    waits = [limiter.try_acquire() for _ in range(5)]
    assert waits[:2] == pytest.approx([0.1, 0.2])
    assert all(w == pytest.approx(NAP_S) for w in waits[2:])


def test_rate_recovers_after_successes() -> None:
    """Successes bring the rate back up, never above the ceiling."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.pause(0)
    for _ in range(1000):
        limiter.acquire()
        limiter.succeeded()
    assert limiter.rate == 10
