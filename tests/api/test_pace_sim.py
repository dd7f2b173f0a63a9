"""The rate learner against simulated servers (``pace_sim``: a fake clock, a token-bucket
server with latency; the importer's own controllers). Deterministic and fast: the design is
checked here; ``benchmarks/_pace.py`` confirms it against the real sandbox."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.api import RateLearner

from .pace_sim import SimResult, simulate

SECONDS = 150.0
WARM_S = 30.0  # the first seconds are the learning; the targets hold after them


def per_10s(count: int, result: SimResult) -> float:
    return count / ((result.seconds - WARM_S) / 10)


# The matrix (allowed rate x burst x latency), bursts of 5 and 20: at least 90 % of the
# allowed rate after the first 30 s, at most one 429 per 10 s on average. A burst of 1 is apart
# (below): every request's arrival must then keep the server's spacing.
IN_FLIGHT_429S = pytest.mark.xfail(
    strict=True,
    reason="30 requests in flight (100/s x 300 ms): each probe that finds the limit unchanged "
    "is refused for 2-3 of them, and a probe every ~17 s (to follow a raised limit within 30 s) "
    "makes 1.3-1.5 per 10 s (the README, Finding the server's pace)",
)
MATRIX = [
    pytest.param(rate, burst, latency, marks=[IN_FLIGHT_429S] if rate * latency >= 30 else [])
    for rate in (2.0, 10.0, 30.0, 100.0)
    for burst in (5.0, 20.0)
    for latency in (0.02, 0.1, 0.3)
]


@pytest.mark.parametrize(("rate", "burst", "latency"), MATRIX)
def test_every_kind_of_limit_is_used_with_few_429s(
    rate: float, burst: float, latency: float
) -> None:
    result = simulate(rate, burst, latency, SECONDS)
    assert result.rate(WARM_S) >= 0.9 * rate
    assert per_10s(result.refusals(WARM_S), result) <= 1.0


@pytest.mark.parametrize("rate", [2.0, 10.0, 30.0, 100.0])
def test_a_burst_of_one_is_probed_no_oftener(rate: float) -> None:
    """A server that refuses any two requests closer than 1/rate: with no jitter, at least 85 %
    of its rate, and a refusal episode at most every 10 s (each refuses about half the requests
    in flight then: the README's figures)."""
    result = simulate(rate, 1.0, 0.02, SECONDS, jitter=0.0)
    assert result.rate(WARM_S) >= 0.85 * rate
    assert per_10s(result.episodes(WARM_S), result) <= 1.0


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    rate=st.floats(1.0, 150.0),
    burst=st.floats(1.0, 30.0),
    latency=st.floats(0.01, 0.4),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(1, 1000),
)
def test_never_stuck_and_few_refusals(
    rate: float, burst: float, latency: float, jitter: float, seed: int
) -> None:
    """Whatever the limit, after 30 s no 20-s stretch falls below 70 % of the allowed rate (a
    burst of 1 with jitter is the worst case), the rate is cut at most once per 10 s on
    average, and each cut's 429s are at most the requests in flight then. Jitter: up to 2 % of
    the server's spacing (a busy machine's threads), exponentially distributed."""
    jitter = jitter * min(0.002, 0.02 / rate)
    result = simulate(rate, burst, latency, 90.0, jitter=jitter, seed=seed)
    for start in range(int(WARM_S), 70, 5):
        assert result.rate(start, start + 20) >= 0.7 * rate, start
    episodes = result.episodes(WARM_S)
    assert per_10s(episodes, result) <= 1.0
    assert result.refusals(WARM_S) <= episodes * (2 + rate * latency)


@pytest.mark.parametrize(
    ("rate", "burst", "latency"),
    [(2.0, 5.0, 0.3), (10.0, 5.0, 0.1), (30.0, 20.0, 0.3), (100.0, 5.0, 0.02), (100.0, 20.0, 0.1)],
)
def test_a_limit_that_changes_is_followed_within_30s(
    rate: float, burst: float, latency: float
) -> None:
    """Halved at 60 s: within 30 s at least 90 % of the new limit with at most one 429 in the
    next 10 s; then tripled at 120 s: within 30 s at least 90 % of it."""
    halved, tripled = 60.0, 120.0
    result = simulate(
        rate,
        burst,
        latency,
        180.0,
        changes=[(halved, rate / 2, burst), (tripled, rate * 1.5, burst)],
    )

    def settled(t: float) -> bool:
        return result.rate(t, t + 5) >= 0.45 * rate and result.refusals(t, t + 10) <= 1

    assert any(settled(halved + i / 2) for i in range(61))
    assert result.first_time_at(0.9, rate * 1.5, tripled) - tripled <= 30


@pytest.mark.parametrize(("rate", "burst", "latency"), [(10.0, 5.0, 0.1), (100.0, 20.0, 0.3)])
def test_a_resumed_run_learns_as_fast_as_a_fresh_one(
    rate: float, burst: float, latency: float
) -> None:
    """A run that starts where another just spent the server's bucket (a resumed run right
    after the interrupted one) reaches 90 % of the limit about as soon as a fresh one."""
    fresh = simulate(rate, burst, latency, 60.0)
    resumed = simulate(rate, burst, latency, 60.0, empty=True)
    reached = fresh.first_time_at(0.9, rate, 0.0)
    assert reached <= WARM_S
    assert resumed.first_time_at(0.9, rate, 0.0) <= reached + 5


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_learned_rate_keeps_probing_upward() -> None:
    """After a 429 and nothing refused since, the rate holds below the level for a quiet while,
    then climbs past it and grows ever faster: above the level within 15 s, three times it
    within 30 s (the fault this replaced: the first 429's level held for 2,000 requests)."""
    clock = Clock()
    learner = RateLearner(clock=clock)
    for _ in range(100):  # a slow start at 100 requests a second
        learner.sent(bound=False)
        learner.accepted()
        clock.now += 0.01
    learner.refused(1.0)
    first = learner.rate
    assert first is not None
    assert first < 100
    rates = []
    for _ in range(300):
        clock.now += 0.1
        learner.accepted()
        rates.append(learner.rate or 0.0)
    assert max(rates[:20]) == pytest.approx(first)  # held through the pause
    assert max(rates[:150]) > 1.5 * first
    learner.refused(1.0)
    level = learner.level
    assert level is not None
    held = learner.rate
    assert held is not None
    assert held < level
    rates = []
    for _ in range(300):
        clock.now += 0.1
        learner.sent()
        learner.accepted()
        rates.append(learner.rate or 0.0)
    assert rates[50] < level  # quiet a while
    assert max(rates[:150]) > level
    assert max(rates) > 3 * level


def test_a_429_while_holding_cuts_deeper_each_time() -> None:
    """Refused again and again while holding (the limit fell): each cut is deeper."""
    clock = Clock()
    learner = RateLearner(clock=clock)
    for _ in range(50):
        learner.sent(bound=False)
        clock.now += 0.01
    learner.refused(1.0)
    clock.now += 1.5
    rates = [learner.rate or 0.0]
    for _ in range(4):
        learner.sent()
        learner.refused(1.0)
        clock.now += 1.5
        rates.append(learner.rate or 0.0)
    ratios = [b / a for a, b in itertools.pairwise(rates)]
    assert all(r < 1 for r in ratios)
    assert ratios == sorted(ratios, reverse=True)
