"""The pace controllers: in-flight limit (AIMD on latency) and the rate learned from 429s."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from importer.api import ConcurrencyLimit, RateLearner
from importer.api._pace import DEFAULT_CEILING
from importer.jobs import run_import
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import big_seed, settings_for, write_csv


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
    assert summary["pace"]["in_flight_ceiling"] == DEFAULT_CEILING
