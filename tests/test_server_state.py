"""Knowing what the server holds: classification, moves, undo, a journal bound to its server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from importer import ImportOptions, JournalError
from importer.core import ApiSettings
from importer.jobs import plan_file, run_import, undo_run
from importer.sandbox import SandboxConfig, SandboxServer

from .conftest import settings_for, write_csv
from .waiting import CHILD_START_S, wait_for

# Seeded memberships (importer/sandbox/seed.json): users 10001..10005 in geography 105,
# department 202.
ROSTER = [
    [105, 202, 10001, "User"],  # exists
    [105, 203, 10002, "User"],  # differs (held at 105/202)
    [105, 202, 10010, "User"],  # new
    [999, 202, 10011, "User"],  # missing reference: geography
    [105, 202, 99999, "User"],  # missing reference: user
    [105, 202, 10211, "User"],  # missing reference: a disabled user
]


def read(path: Path) -> pd.DataFrame:
    """A result CSV as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def held(server: SandboxServer, member: int) -> list[tuple[int, int]]:
    """(geography, department) of every membership the member holds on the server."""
    return [
        (int(m["geography_id"]), int(m["department_id"]))
        for m in server.memberships()
        if int(m["member_id"]) == member
    ]


@pytest.mark.parametrize("differs", ["report", "move", "add"])
@pytest.mark.parametrize("per_member", ["one", "many"])
def test_plan_counts_equal_what_run_does(tmp_path: Path, differs: str, per_member: str) -> None:
    """plan's four words, then run: the same counts, and only what changed is written."""
    with SandboxServer(
        SandboxConfig(memberships_per_member=per_member, request_time_limit_s=1.0)
    ) as server:
        api = settings_for(server)
        src = write_csv(tmp_path / "roster.csv", ROSTER)
        options = ImportOptions(differs=differs)
        plan = plan_file(src, api=api, out_dir=tmp_path / "plan", options=options)
        assert plan.counts["new"] == 1
        assert plan.counts["exists"] == 1
        assert plan.counts["differs"] == 1
        assert plan.counts["missing_reference"] == 3
        server.reset_counters()
        result = run_import(src, api=api, out_dir=tmp_path / "run", options=options)
        if differs == "add" and per_member == "one":
            # The account refuses a second membership: the server says why, the row fails.
            assert result.counts["created"] == 1
            assert result.counts["failed_remote"] == 4
        else:
            assert result.counts["created"] == 1 + (differs == "add")
            assert result.counts["moved"] == (differs == "move")
            assert result.counts["failed_remote"] == 3 + (differs == "report")
        assert result.counts["already_existed"] == 1
        by_kind = result.summary["requests_by_kind"]
        # A one-membership account refuses the added row: its batch is split (1 + 2 requests).
        assert by_kind["creates"] == (3 if differs == "add" and per_member == "one" else 1)
        assert by_kind["moves"] == (differs == "move")
        expected = {"move": [(105, 203)], "report": [(105, 202)]}.get(
            differs, [(105, 202), (105, 203)] if per_member == "many" else [(105, 202)]
        )
        assert sorted(held(server, 10002)) == sorted(expected)


def test_missing_references_say_why(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Unknown geography, unknown user, disabled user: each row names its reason."""
    src = write_csv(tmp_path / "roster.csv", ROSTER)
    run_import(src, api=settings_for(sandbox), out_dir=tmp_path / "out")
    errors = read(tmp_path / "out" / "errors.csv").set_index("source_row")
    assert "geography 999 not found" in errors.loc["5", "error_message"]
    assert "no user 99999 on the account" in errors.loc["6", "error_message"]
    assert "is disabled on the account" in errors.loc["7", "error_message"]
    assert "already holds membership" in errors.loc["3", "error_message"]
    assert "--move" in errors.loc["3", "error_message"]


def test_a_new_hire_on_no_project_is_found(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A user who shares no project with the token's user (10201) is on the account."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10201, "User"]])
    result = run_import(src, api=settings_for(sandbox), out_dir=tmp_path / "out")
    assert result.counts["created"] == 1


def test_undo_deletes_what_was_created_and_moves_back_what_was_moved(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """undo reverses a run, touches nothing that already existed, and is idempotent."""
    api = settings_for(sandbox)
    src = write_csv(tmp_path / "roster.csv", ROSTER[:3])
    before = sorted((m["member_id"], m["id"]) for m in sandbox.memberships())
    run = run_import(src, api=api, out_dir=tmp_path / "out", options=ImportOptions(differs="move"))
    assert (run.counts["created"], run.counts["moved"]) == (1, 1)
    dry = undo_run(tmp_path / "out", api=api, dry_run=True)
    assert dry.counts["would_undo"] == 2
    assert held(sandbox, 10002) == [(105, 203)]
    undone = undo_run(tmp_path / "out", api=api)
    assert undone.exit_code == 0
    assert undone.counts["undone"] == 2
    assert held(sandbox, 10002) == [(105, 202)]
    assert sorted((m["member_id"], m["id"]) for m in sandbox.memberships()) == before
    again = undo_run(tmp_path / "out", api=api)
    assert again.summary["requests_by_kind"]["deletes"] == 0
    assert again.summary["requests_by_kind"]["moves"] == 0
    rows = read(tmp_path / "out" / "undo.csv")
    assert set(rows["status"]) == {"undone"}


def test_undo_refuses_a_membership_changed_since_unless_forced(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A membership moved by someone else after the run is not undone without --force."""
    api = settings_for(sandbox)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    run_import(src, api=api, out_dir=tmp_path / "out")
    (mid,) = [m["id"] for m in sandbox.memberships() if int(m["member_id"]) == 10010]
    moved = httpx.put(  # someone else moves it after the run
        f"{sandbox.base_url}/organization_memberships/{mid}",
        json={"organization_membership": {"geography_id": 106, "department_id": 203}},
        headers={"Authorization": f"Bearer {sandbox.token}"},
    )
    assert moved.status_code == 200
    refused = undo_run(tmp_path / "out", api=api)
    assert refused.exit_code == 1
    assert refused.counts["refused"] == 1
    assert held(sandbox, 10010) == [(106, 203)]
    forced = undo_run(tmp_path / "out", api=api, force=True)
    assert forced.counts["undone"] == 1
    assert held(sandbox, 10010) == []


def test_a_journal_belongs_to_its_server(tmp_path: Path) -> None:
    """A rehearsal on one server never stands for another: refused unless --restart."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    with SandboxServer(SandboxConfig(request_time_limit_s=1.0)) as first:
        run_import(src, api=settings_for(first), out_dir=tmp_path / "out")
    with SandboxServer(SandboxConfig(request_time_limit_s=1.0)) as second:
        api = settings_for(second)
        with pytest.raises(JournalError, match="against http"):
            run_import(src, api=api, out_dir=tmp_path / "out")
        again = run_import(
            src, api=api, out_dir=tmp_path / "out", options=ImportOptions(restart=True)
        )
        assert again.counts["created"] == 1
        assert held(second, 10010) == [(105, 202)]
        assert str(second.base_url) in again.summary["server"]


def test_a_results_folder_is_used_by_one_run_at_a_time(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A second run on a folder in use exits 2 at once, naming the process holding it."""
    sandbox.set_knobs(latency_ms=300)
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10060)])
    cmd = [
        sys.executable, "-m", "importer.cli", "run", str(src), "--out", str(tmp_path / "out"),
        "--base-url", sandbox.base_url, "--batch-size", "1", "--concurrency", "1", "--quiet",
        "--server-time-limit", "1",
    ]  # fmt: skip
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    first = subprocess.Popen(cmd, env=env)
    try:
        wait_for(
            lambda: sandbox.counters.create_requests, timeout=CHILD_START_S, what="the first create"
        )
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "in use by another importer run" in second.stderr
    finally:
        first.kill()
        first.wait(timeout=10)


def test_sandbox_runs_start_over_and_keep_their_exit_status(tmp_path: Path) -> None:
    """The README's first command ends the same way however often it is run."""
    src = tmp_path / "people.xlsx"
    src.write_bytes((Path(__file__).parent.parent / "sample_data" / "people.xlsx").read_bytes())
    cmd = [sys.executable, "-m", "importer.cli", "run", str(src), "--sandbox"]
    codes = []
    for _ in range(2):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        codes.append(done.returncode)
        assert "starts over" in done.stderr
    assert codes == [1, 1]


def test_summary_counts_requests_by_kind(sandbox: SandboxServer, tmp_path: Path) -> None:
    """summary.json says how many lookups, creates, moves, deletes, retries and splits."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10020)])
    result = run_import(src, api=settings_for(sandbox), out_dir=tmp_path / "out")
    kinds = result.summary["requests_by_kind"]
    assert set(kinds) >= {"lookups", "creates", "moves", "deletes", "retries", "splits"}
    assert kinds["creates"] == 1
    assert kinds["lookups"] <= 5  # identity, organizations, membership probe, users by id
    assert (
        sum(kinds[k] for k in ("lookups", "creates", "moves", "deletes"))
        == result.summary["requests"]
    )


def test_rerunning_a_finished_roster_costs_lookups_only(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The nightly roster again into a fresh folder: everything exists, no write is sent."""
    api = settings_for(sandbox)
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10110)])
    run_import(src, api=api, out_dir=tmp_path / "first")
    sandbox.reset_counters()
    again = run_import(src, api=api, out_dir=tmp_path / "second")
    assert again.counts["already_existed"] == 100
    assert sandbox.counters.create_requests == 0
    assert again.summary["requests"] <= 5


def test_doctor_reports_the_account(tmp_path: Path) -> None:
    """doctor: ready against the sandbox; lists ignored and several memberships are told."""
    from importer.jobs import check_account

    with SandboxServer(
        SandboxConfig(member_id_lists="ignored", memberships_per_member="many")
    ) as server:
        report = check_account(settings_for(server))
    assert report.ready
    assert report.exit_code == 0
    assert report.organizations == {"Geography": 8, "Department": 10}
    assert report.member_id_lists == "ignored"
    assert report.several_memberships.startswith("yes")
    with SandboxServer(SandboxConfig()) as server:
        bad = check_account(ApiSettings(base_url=server.base_url, token="wrong"))
    assert bad.exit_code == 3
    assert not bad.token_ok


def test_doctor_cli_exit_codes(sandbox: SandboxServer) -> None:
    """importer doctor: exit 0 when ready, 3 with a refused token (one line, even --quiet)."""
    cmd = [sys.executable, "-m", "importer.cli", "doctor", "--base-url", sandbox.base_url]
    ok = subprocess.run(
        [*cmd, "--json"],
        env={**os.environ, "KANTATA_API_TOKEN": sandbox.token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert '"ready": true' in ok.stdout
    bad = subprocess.run(
        [*cmd, "--quiet"],
        env={**os.environ, "KANTATA_API_TOKEN": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 3
    assert "refused the API token" in bad.stderr


def test_rows_reported_as_differing_are_moved_by_the_same_command_with_move(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A row reported (differs) is decided anew when run again with --move, same folder."""
    api = settings_for(sandbox)
    src = write_csv(tmp_path / "in.csv", [[105, 203, 10002, "User"]])
    first = run_import(src, api=api, out_dir=tmp_path / "out")
    assert first.counts["failed_remote"] == 1
    second = run_import(
        src, api=api, out_dir=tmp_path / "out", options=ImportOptions(differs="move")
    )
    assert second.counts["moved"] == 1
    assert held(sandbox, 10002) == [(105, 203)]


def test_drop_folder_config_chooses_what_to_do_with_differing_rows(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """differs = "move" in importer.toml moves the member, as run --move does."""
    from importer.drop import load_drop_config, process_drop_folder

    root = tmp_path / "drop"
    (root / "inbox").mkdir(parents=True)
    (root / "importer.toml").write_text(
        f'base_url = "{sandbox.base_url}"\nstable_seconds = 0\ndiffers = "move"\n',
        encoding="utf-8",
    )
    write_csv(root / "inbox" / "roster.csv", [[105, 203, 10002, "User"]])
    config = load_drop_config(root, env={"KANTATA_API_TOKEN": sandbox.token})
    assert config.settings.options.differs == "move"
    result = process_drop_folder(root, config=config)
    assert [f.outcome for f in result.files] == ["imported"]
    assert held(sandbox, 10002) == [(105, 203)]
