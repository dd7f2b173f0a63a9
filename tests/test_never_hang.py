"""Never hang: a huge Retry-After ends the run cleanly; Ctrl-C and SIGTERM work in every state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from importer.jobs import run_import
from importer.sandbox import SandboxConfig, SandboxServer

from .conftest import settings_for, write_csv


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


def _start(sandbox: SandboxServer, src: Path, out: Path) -> subprocess.Popen[str]:
    cmd = [
        sys.executable, "-m", "importer.cli", "run", str(src), "--out", str(out),
        "--base-url", sandbox.base_url, "--batch-size", "1", "--concurrency", "2",
        "--server-time-limit", "1",
    ]  # fmt: skip
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    return subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, text=True)


def _wait_for_requests(sandbox: SandboxServer, n: int) -> None:
    deadline = time.monotonic() + 30
    while sandbox.counters.requests < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_ctrl_c_wakes_a_long_wait_for_the_server(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Waiting out a 300 s Retry-After: one Ctrl-C ends the run within seconds, exit 130."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10030)])
    sandbox.set_knobs(rate=0.5, retry_after_s=300)
    proc = _start(sandbox, src, tmp_path / "out")
    _wait_for_requests(sandbox, 5)
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130


def test_second_ctrl_c_stops_at_once_while_requests_are_in_flight(tmp_path: Path) -> None:
    """Requests taking 20 s each: the first Ctrl-C waits for them, the second does not."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10030)])
    with SandboxServer(SandboxConfig(request_time_limit_s=60)) as slow:
        proc = _start(slow, src, tmp_path / "out")
        _wait_for_requests(slow, 4)  # identity, organizations, probe, users: then the creates
        slow.set_knobs(latency_ms=20000)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None  # the first one waits for the requests in flight
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 3
        assert proc.returncode == 130


def test_sigterm_while_requests_are_slow_stops_cleanly(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """SIGTERM during slow requests: requests in flight finish, results written, exit 130."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10060)])
    sandbox.set_knobs(latency_ms=200)
    proc = _start(sandbox, src, tmp_path / "out")
    _wait_for_requests(sandbox, 6)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert (tmp_path / "out" / "summary.json").exists()
