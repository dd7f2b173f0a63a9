"""Never hang: a huge Retry-After ends the run cleanly; Ctrl-C and SIGTERM work in every state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from importer.jobs import run_import
from importer.sandbox import SandboxConfig, SandboxServer

from .conftest import settings_for, write_csv
from .waiting import CHILD_START_S, Lines, settles, wait_for


def test_a_huge_retry_after_ends_the_run_with_exit_3(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Retry-After: 100000: exit 3 at once, rows kept as not_processed, the wait named."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10020)])
    api = settings_for(sandbox)
    sandbox.set_knobs(rate=0.2, retry_after_s=100000)
    started = time.monotonic()
    result = run_import(src, api=api, out_dir=tmp_path / "out")
    assert time.monotonic() - started < 30
    assert result.exit_code == 3
    assert result.fatal is not None
    assert "asked to wait 27.8 h" in result.fatal
    assert result.counts["not_processed"] == 10
    sandbox.set_knobs(rate=None, retry_after_s=None)
    again = run_import(src, api=api, out_dir=tmp_path / "out")
    assert again.exit_code == 0
    assert again.counts["created"] == 10


@contextmanager
def _start(
    sandbox: SandboxServer, src: Path, out: Path
) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """``importer run`` in a child process and its stderr, read line by line; killed at the end."""
    cmd = [
        sys.executable, "-m", "importer.cli", "run", str(src), "--out", str(out),
        "--base-url", sandbox.base_url, "--batch-size", "1", "--concurrency", "2",
        "--server-time-limit", "1",
    ]  # fmt: skip
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    with subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        stderr = Lines(proc.stderr)
        try:
            yield proc, stderr
        finally:
            proc.kill()
            proc.wait(timeout=10)
            stderr.join(timeout=10)  # before the stream is closed under the reading thread


def _requests_reach(sandbox: SandboxServer, n: int) -> None:
    wait_for(lambda: sandbox.counters.requests >= n, timeout=CHILD_START_S, what=f"{n} requests")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_ctrl_c_wakes_a_long_wait_for_the_server(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Told to wait 300 s (Retry-After): one Ctrl-C ends the run within seconds, exit 130.

    The bucket holds one request: the identity look-up goes through, the next request gets the
    429, and the run waits; no further request comes. Ctrl-C is sent once the run has settled
    into that wait (the 429 answered and every thread of it asleep), and the summary shows it
    had started waiting the 300 s.
    """
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10030)])
    sandbox.set_knobs(rate=0.5, retry_after_s=300)
    with _start(sandbox, src, tmp_path / "out") as (proc, stderr):
        wait_for(
            lambda: sandbox.counters.rate_limited, timeout=CHILD_START_S, what="the run's first 429"
        )
        wait_for(settles(proc.pid), timeout=30, what="the run to settle into its wait")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        assert time.monotonic() - started < 10
        assert proc.returncode == 130, stderr.join(5)
    assert sandbox.counters.requests == 2  # nothing was sent while told to wait
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["rate_limit_wait_s"] >= 300  # Ctrl-C came during the wait, not before it


def test_second_ctrl_c_stops_at_once_while_requests_are_in_flight(tmp_path: Path) -> None:
    """Requests taking 20 s each: the first Ctrl-C waits for them, the second does not."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10030)])
    with (
        SandboxServer(SandboxConfig(request_time_limit_s=60)) as slow,
        _start(slow, src, tmp_path / "out") as (proc, stderr),
    ):
        _requests_reach(slow, 4)  # identity, organizations, probe, users: then the creates
        slow.set_knobs(latency_ms=20000)
        before = slow.counters.requests  # each request begun after this one is slow
        wait_for(lambda: slow.counters.requests > before, timeout=30, what="a slow create")
        proc.send_signal(signal.SIGINT)
        stderr.wait_for("stopping: waiting for requests in flight", timeout=20)
        assert proc.poll() is None  # the first one waits for the requests in flight
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 3
        assert proc.returncode == 130, stderr.join(5)


def test_sigterm_while_requests_are_slow_stops_cleanly(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """SIGTERM during slow requests: requests in flight finish, results written, exit 130."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10060)])
    sandbox.set_knobs(latency_ms=200)
    with _start(sandbox, src, tmp_path / "out") as (proc, stderr):
        wait_for(
            lambda: sandbox.counters.create_requests, timeout=CHILD_START_S, what="the first create"
        )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 130, stderr.join(5)
        assert "stopping" in stderr.join(5)
    assert (tmp_path / "out" / "summary.json").exists()
