"""Never lose a row, never create one twice: faults, journal, resume, interrupts (real HTTP)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from importer import ImportOptions, JournalError
from importer.jobs import Progress, run_import
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import big_seed, settings_for, write_csv
from ..waiting import wait_for

N = 3000


def read(path: Path) -> pd.DataFrame:
    """A result CSV as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture
def volume_sandbox(tmp_path: Path) -> SandboxServer:
    """A sandbox seeded with 3,000 extra users (ids 20001..23000)."""
    server = SandboxServer(
        SandboxConfig(
            seed=big_seed(tmp_path / "seed.json", N), random_seed=11, request_time_limit_s=1.0
        )
    )
    server.start()
    yield server
    server.stop()


def volume_file(tmp_path: Path, n: int = N) -> Path:
    """n valid rows for users 20001..20000+n."""
    return write_csv(tmp_path / "big.csv", [[105, 202, 20001 + i, "User"] for i in range(n)])


def assert_each_once(server: SandboxServer, n: int) -> None:
    """The server holds one membership per imported member, no duplicates."""
    members = [int(m["member_id"]) for m in server.memberships() if int(m["member_id"]) > 20000]
    assert len(members) == len(set(members)) == n


def test_3000_rows_through_503s_lost_replies_and_rate_limit(
    volume_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """20 % 503s, 10 % replies lost after commit, 429 + Retry-After: all created exactly once."""
    volume_sandbox.set_knobs(fail_rate=0.2, drop_after_commit=0.1, rate=40)
    src = volume_file(tmp_path)
    # 150 creates: a 10 % drop rate cannot miss them all (30 creates of 100 did, 1 run in ~25).
    result = run_import(
        src,
        out_dir=tmp_path / "out",
        api=settings_for(volume_sandbox),
        options=ImportOptions(batch_size=20),
    )
    assert result.exit_code == 0, result.summary
    assert_each_once(volume_sandbox, N)
    success = read(tmp_path / "out" / "success.csv")
    assert len(success) == N
    assert success["source_row"].astype(int).tolist() == list(range(2, N + 2))
    counters = volume_sandbox.counters
    assert counters.failed > 0
    assert counters.dropped > 0
    assert result.summary["reconciled"] >= counters.dropped


def test_finished_import_rerun_sends_no_create(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Same command, same --out: the journal says all done; no create request is sent."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10040)])
    api = settings_for(sandbox)
    first = run_import(src, out_dir=tmp_path / "out", api=api)
    before = read(tmp_path / "out" / "success.csv")
    sandbox.reset_counters()
    second = run_import(src, out_dir=tmp_path / "out", api=api)
    assert sandbox.counters.create_requests == 0
    assert second.counts["created"] == first.counts["created"] == 30
    assert second.summary["resumed_done"] == 30
    assert read(tmp_path / "out" / "success.csv").equals(before)


def test_changed_input_in_same_out_is_refused_unless_restart(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A different file (sha256) in a folder with a journal: refused; --restart starts afresh."""
    api = settings_for(sandbox)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    run_import(src, out_dir=tmp_path / "out", api=api)
    write_csv(src, [[105, 202, 10011, "User"]])
    with pytest.raises(JournalError, match="--restart"):
        run_import(src, out_dir=tmp_path / "out", api=api)
    again = run_import(src, out_dir=tmp_path / "out", api=api, options=ImportOptions(restart=True))
    assert again.counts["created"] == 1


def test_cancel_stops_cleanly_and_rerun_completes(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Interrupt after the first batch: exit 130, rest not_processed; a re-run finishes the job."""
    sandbox.set_knobs(latency_ms=20)
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10110)])
    api = settings_for(sandbox, concurrency=1)
    cancel = threading.Event()

    def progress(event: Progress) -> None:
        if event.phase == "send" and event.done >= 10:
            cancel.set()

    options = ImportOptions(batch_size=10)
    first = run_import(
        src, out_dir=tmp_path / "out", api=api, options=options, progress=progress, cancel=cancel
    )
    assert first.exit_code == 130
    assert 10 <= first.counts["created"] < 100
    assert first.counts["created"] + first.counts["not_processed"] == 100
    errors = read(tmp_path / "out" / "errors.csv")
    assert set(errors["error_stage"]) == {"not_processed"}
    second = run_import(src, out_dir=tmp_path / "out", api=api, options=options)
    assert second.exit_code == 0
    assert second.counts["created"] == 100
    assert len(sandbox.memberships()) == 105


def test_concurrency_cap_is_held(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--concurrency 3: the server never sees more than 3 requests at once."""
    sandbox.set_knobs(latency_ms=60)
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10070)])
    result = run_import(
        src,
        out_dir=tmp_path / "out",
        api=settings_for(sandbox, concurrency=3),
        options=ImportOptions(batch_size=5),
    )
    assert result.exit_code == 0
    assert 2 <= sandbox.counters.concurrency_peak <= 3


@pytest.mark.parametrize("per_member", ["one", "many"])
def test_sigkill_mid_run_then_same_command_recovers(tmp_path: Path, per_member: str) -> None:
    """kill -9 in the middle of a faulty run; the same command again: every row exactly once,
    also on an account that accepts several memberships per member (where a premature re-send
    would create a duplicate)."""
    seed = big_seed(tmp_path / "seed.json", N)
    config = SandboxConfig(
        seed=seed, random_seed=11, request_time_limit_s=1.0, memberships_per_member=per_member
    )
    with SandboxServer(config) as volume_sandbox:
        _sigkill_and_recover(volume_sandbox, tmp_path)


def _sigkill_and_recover(volume_sandbox: SandboxServer, tmp_path: Path) -> None:
    volume_sandbox.set_knobs(latency_ms=30, fail_rate=0.1, drop_after_commit=0.05)
    n = 1500
    src = volume_file(tmp_path, n)
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "importer.cli", "run", str(src), "--out", str(out), "--quiet",
        "--base-url", volume_sandbox.base_url, "--batch-size", "20", "--concurrency", "2",
        "--server-time-limit", "1",
    ]  # fmt: skip
    env = {**os.environ, "KANTATA_API_TOKEN": volume_sandbox.token}
    with subprocess.Popen(cmd, env=env) as proc:
        try:
            wait_for(
                lambda: volume_sandbox.counters.objects_created >= 300,
                timeout=60,
                what="300 rows created",
            )
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    created_before = volume_sandbox.counters.objects_created
    assert 300 <= created_before < n
    again = subprocess.run(cmd, env=env, timeout=120, check=False)
    assert again.returncode == 0
    assert_each_once(volume_sandbox, n)
    assert len(read(out / "success.csv")) == n
