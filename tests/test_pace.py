"""The pace controllers: in-flight limit (AIMD on latency) and the rate learned from 429s."""

from __future__ import annotations

import heapq
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.api import ConcurrencyLimit, RateLearner
from importer.jobs import run_import
from importer.sandbox import SandboxConfig, SandboxServer

from .conftest import big_seed, settings_for, write_csv


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(rate: float, latency: float, seconds: float, ceiling: int = 16) -> tuple[int, int]:
    """Senders against a model of the sandbox's limit (a token bucket of ``rate``/s holding one
    second, ``Retry-After`` rounded up to whole seconds); returns (requests sent, 429s)."""
    clock = Clock()
    learner = RateLearner(None, clock=clock)
    limit = ConcurrencyLimit(ceiling)
    tokens, last, resume, next_send, in_flight = max(1.0, rate), 0.0, 0.0, 0.0, 0
    sent = refused = 0
    events = [(0.0, i, "want") for i in range(ceiling)]
    while events:
        t, i, kind = heapq.heappop(events)
        clock.now = t
        if t > seconds:
            break
        if kind == "want":
            allowed = learner.rate
            at = max(t, resume, next_send if allowed is not None else t)
            if in_flight >= limit.limit:
                at = max(at, t + 0.01)
            if at > t:
                heapq.heappush(events, (at, i, "want"))
                continue
            if allowed is not None:
                next_send = t + 1 / allowed
            sent += 1
            in_flight += 1
            heapq.heappush(events, (t + latency, i, "answer"))
            continue
        in_flight -= 1
        tokens, last = min(max(1.0, rate), tokens + (t - last) * rate), t
        if tokens >= 1:
            tokens -= 1
            learner.accepted()
            limit.answered(latency)
        else:
            refused += 1
            retry_after = max(1, math.ceil((1 - tokens) / rate))
            learner.refused(retry_after)
            resume = max(resume, t + retry_after)
        heapq.heappush(events, (t, i, "want"))
    return sent, refused


@pytest.mark.parametrize(
    ("rate", "latency"), [(10, 0.1), (2, 0.3), (10, 0.02), (1, 0.3), (0.5, 0.1)]
)
def test_learned_rate_uses_the_limit_with_few_429s(rate: float, latency: float) -> None:
    """Against a rate-limited server: >= 95 % of the allowed rate, <= 5 + 1 per 10 s 429s."""
    seconds = 200.0
    sent, refused = simulate(rate, latency, seconds)
    assert sent >= 0.95 * rate * seconds
    assert refused <= 5 + seconds / 10


def test_in_flight_grows_to_the_ceiling_while_latency_holds() -> None:
    """Steady latency: the limit climbs from its start to the ceiling, and stays there."""
    limit = ConcurrencyLimit(16)
    assert limit.limit == 2
    for _ in range(200):
        limit.answered(0.1)
    assert limit.limit == 16


def test_rising_latency_cuts_the_limit() -> None:
    """Latency jumping to four times its usual (a queue on the server) brings the limit down;
    once the new latency is the usual, growth resumes."""
    limit = ConcurrencyLimit(16)
    for _ in range(100):
        limit.answered(0.1)
    for _ in range(10):
        limit.answered(0.4)
    assert limit.limit < 16
    assert limit.cuts > 0
    for _ in range(300):
        limit.answered(0.4)
    assert limit.limit == 16


def test_overload_cuts_and_growth_resumes() -> None:
    """503s cut the limit by a quarter each window; answers then grow it again."""
    limit = ConcurrencyLimit(16)
    for _ in range(100):
        limit.answered(0.05)
    limit.overloaded()
    assert limit.limit == 12
    for _ in range(500):
        limit.answered(0.05)
    assert limit.limit == 16


@settings(max_examples=200, deadline=None)
@given(
    ceiling=st.integers(1, 32),
    events=st.lists(st.one_of(st.floats(0.0, 30.0), st.none()), max_size=300),
)
def test_in_flight_stays_within_floor_and_ceiling(ceiling: int, events: list[float | None]) -> None:
    """Whatever the latencies and overloads, 1 <= limit <= ceiling."""
    limit = ConcurrencyLimit(ceiling)
    for event in events:
        if event is None:
            limit.overloaded()
        else:
            limit.answered(event)
        assert 1 <= limit.limit <= ceiling


@settings(max_examples=200, deadline=None)
@given(
    ceiling=st.one_of(st.none(), st.floats(0.1, 500.0)),
    events=st.lists(
        st.tuples(st.floats(0.0, 5.0), st.one_of(st.none(), st.floats(0.0, 60.0))), max_size=300
    ),
)
def test_rate_never_passes_the_ceiling(
    ceiling: float | None, events: list[tuple[float, float | None]]
) -> None:
    """Whatever the server answers, the rate is unlimited only before a 429, positive, and
    never above the user's ceiling."""
    clock = Clock()
    learner = RateLearner(ceiling, clock=clock)
    refused = False
    for step, retry_after in events:
        clock.now += step
        if retry_after is None:
            learner.accepted()
        else:
            learner.refused(retry_after)
            refused = True
        rate = learner.rate
        if ceiling is None and not refused:
            assert rate is None
        else:
            assert rate is not None
            assert rate > 0
            assert ceiling is None or rate <= ceiling


def test_run_against_a_rate_limited_server_learns_its_pace(tmp_path: Path) -> None:
    """No --max-rps, a server allowing 3 requests/s: every row created, few 429s, and the
    summary tells the rate that was learned."""
    n = 1000
    config = SandboxConfig(
        seed=big_seed(tmp_path / "seed.json", n),
        random_seed=3,
        request_time_limit_s=1.0,
        rate=3,
        latency_ms=100,
    )
    src = write_csv(tmp_path / "in.csv", [[105, 202, 20001 + i, "User"] for i in range(n)])
    with SandboxServer(config) as server:
        result = run_import(src, out_dir=tmp_path / "out", api=settings_for(server), options=None)
        refused = server.counters.rate_limited
    assert result.exit_code == 0, result.summary
    assert result.counts["created"] == n
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    seconds = summary["timings_s"]["send"]
    assert refused <= 5 + seconds / 10
    assert summary["requests_by_kind"]["rate_limited"] == refused
    assert summary["pace"]["in_flight_ceiling"] == 16
