"""Feedback while a command works: progress lines without a terminal (every --progress-every
seconds), a countdown on waits for replies in doubt, nothing with --quiet but a failure's
reason; the library's callback hears from a run during its long steps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from importer.jobs import Progress, run_import
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import settings_for, write_csv
from ..waiting import wait_for

LIMIT_S = 3.0  # the stand-in server's time limit: how long replies in doubt are waited for


def _doubtful_server() -> SandboxServer:
    """Every write is committed, and its reply lost: the run must wait, then look rows up."""
    return SandboxServer(
        SandboxConfig(drop_after_commit=1.0, request_time_limit_s=LIMIT_S, random_seed=5)
    )


def _cli(server: SandboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    """``importer run`` in a child process, stdout and stderr to pipes (no terminal)."""
    env = {**os.environ, "KANTATA_API_TOKEN": server.token}
    return subprocess.run(
        [sys.executable, "-m", "importer.cli", "run", *args, "--base-url", server.base_url,
         "--server-time-limit", str(LIMIT_S), "--batch-size", "2"],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )  # fmt: skip


def test_without_a_terminal_a_wait_is_said_and_counted_down(tmp_path: Path) -> None:
    """No terminal: a line when the wait for replies in doubt starts, then lines (here every
    second) with the seconds left; the run then ends well."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10016)])
    with _doubtful_server() as server:
        proc = _cli(server, str(src), "--out", str(tmp_path / "o"), "--progress-every", "1")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("progress: ")]
    starts = [line for line in lines if "for the server's time limit" in line]
    assert starts, proc.stderr
    assert "then looking up 6 rows in doubt" in starts[0]
    assert any(" s left, then looking up" in line for line in lines), proc.stderr
    assert proc.stdout == ""


def test_default_progress_says_when_a_wait_starts(tmp_path: Path) -> None:
    """With the default of a line every 30 s, the start of a wait is still said at once."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    with _doubtful_server() as server:
        proc = _cli(server, str(src), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"^progress: waiting \d+ s for the server's time limit, then looking up 1 row in doubt "
        r"\[0:00:\d\d\]$",
        proc.stderr,
        re.MULTILINE,
    ), proc.stderr


def test_quiet_silences_progress(tmp_path: Path) -> None:
    """--quiet: no progress line, no table, through the same wait."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    with _doubtful_server() as server:
        proc = _cli(server, str(src), "--out", str(tmp_path / "o"), "-q", "--progress-every", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_library_callback_counts_a_wait_down(tmp_path: Path) -> None:
    """run_import's callback keeps coming during the wait: 'wait' events, seconds waited
    rising, what follows in ``detail``; the latest event repeats while a step is long."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10014)])
    events: list[Progress] = []
    with _doubtful_server() as server:
        api = settings_for(server, server_time_limit=LIMIT_S)
        result = run_import(src, out_dir=tmp_path / "o", api=api, progress=events.append)
    assert result.exit_code == 0, result.fatal
    waits = [e for e in events if e.phase == "wait"]
    assert len(waits) >= 2, events
    assert (waits[0].total or 0) >= LIMIT_S - 1
    assert waits[-1].done > waits[0].done
    assert {e.detail for e in waits} == {"then looking up 4 rows in doubt"}
    assert events[-1].phase == "report"


def test_heartbeat_repeats_the_latest_event_and_says_something_first() -> None:
    """Before any event: 'read'; after one: that event again while nothing new comes; the
    callback is called from one thread at a time."""
    import threading

    from importer.jobs._heartbeat import Heartbeat

    events: list[Progress] = []
    inside = threading.Lock()

    def callback(event: Progress) -> None:
        assert inside.acquire(blocking=False), "called twice at once"
        events.append(event)
        inside.release()

    def until(count: int) -> None:
        wait_for(lambda: len(events) >= count, timeout=10, what=f"{count} heartbeats")

    with Heartbeat(callback, beat=0.05) as beat:
        until(2)
        beat(Progress("validate", 10, None))
        until(5)
    assert [e.phase for e in events[:2]] == ["read", "read"]
    assert {(e.phase, e.done) for e in events[2:]} == {("validate", 10)}
