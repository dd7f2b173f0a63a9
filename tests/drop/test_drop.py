"""Drop-folder mode: each complete file imported exactly once, crash resume, locks, config."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.core import FolderLock, InputError
from importer.drop import (
    DropConfig,
    FileResult,
    ensure_layout,
    load_drop_config,
    process_drop_folder,
    watch,
)
from importer.sandbox import SandboxServer

from ..conftest import write_csv, write_xlsx
from ..waiting import CHILD_START_S, wait_for

runner = CliRunner()


def rows(members: range) -> list[list[Any]]:
    """One valid membership row per member."""
    return [[105, 202, m, "User"] for m in members]


def config_for(server: SandboxServer, **kwargs: Any) -> DropConfig:
    """A DropConfig pointing at ``server``; files count as complete at once."""
    kwargs.setdefault("stable_seconds", 0)
    return DropConfig.of(base_url=server.base_url, token=server.token, **kwargs)


def write_toml(root: Path, server: SandboxServer, **extra: Any) -> Path:
    """``root/importer.toml`` for ``server`` (the token comes from the environment)."""
    settings = {"base_url": server.base_url, "stable_seconds": 0, **extra}
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path = root / "importer.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def members_of(server: SandboxServer, members: range) -> list[int]:
    """The member ids in ``members`` that hold a membership on the server, with repeats."""
    return [int(m["member_id"]) for m in server.memberships() if int(m["member_id"]) in members]


def drop_cmd(root: Path, *args: str) -> list[str]:
    """``python -m importer.cli drop ROOT ...``."""
    return [sys.executable, "-m", "importer.cli", "drop", str(root), *args]


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON records of a drop run's output (one per run or pass)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def file_records(text: str) -> list[dict[str, Any]]:
    """The per-file records inside the JSON lines of a drop run's output."""
    return [f for record in json_lines(text) for f in record["files"]]


def test_good_and_bad_file_go_to_done_and_failed_with_results(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """One good file, one without required columns: done/ and failed/, results for both, exit 1."""
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "good.csv", rows(range(10010, 10030)))
    (tmp_path / "inbox" / "bad.csv").write_text("geography_id,member_id\n105,10031\n")
    seen: list[FileResult] = []
    result = process_drop_folder(tmp_path, config=config_for(sandbox), on_file=seen.append)
    assert [f.outcome for f in result.files] == [f.outcome for f in seen]
    by_name = {f.name: f for f in result.files}
    assert by_name["good.csv"].outcome == "imported"
    assert by_name["bad.csv"].outcome == "failed"
    assert "department_id" in (by_name["bad.csv"].error or "")
    assert result.exit_code == 1
    assert (tmp_path / "done" / "good.csv").is_file()
    assert (tmp_path / "failed" / "bad.csv").is_file()
    assert "department_id" in (tmp_path / "failed" / "bad.csv.error.txt").read_text()
    assert not any((tmp_path / "inbox").iterdir())
    assert not any((tmp_path / "processing").iterdir())
    for f in result.files:
        assert f.results is not None
        assert f.results.parent == tmp_path / "results"
        assert f.results.name.startswith(Path(f.name).stem + "-")
        summary = json.loads((f.results / "summary.json").read_text())
        assert summary["exit_code"] == f.exit_code
    assert by_name["good.csv"].counts["created"] == 20
    assert sorted(members_of(sandbox, range(10010, 10032))) == list(range(10010, 10030))


def test_rows_failed_file_goes_to_done_and_exit_code_is_1(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A file with one bad row among good ones is imported (done/), reported rows_failed."""
    (tmp_path / "inbox").mkdir()
    write_csv(
        tmp_path / "inbox" / "mixed.csv", [*rows(range(10010, 10013)), [999, 202, 10014, "User"]]
    )
    result = process_drop_folder(tmp_path, config=config_for(sandbox))
    [only] = result.files
    assert (only.outcome, only.exit_code, result.exit_code) == ("rows_failed", 1, 1)
    assert only.counts["created"] == 3
    assert only.path == tmp_path / "done" / "mixed.csv"
    assert (only.results or tmp_path).joinpath("errors.csv").is_file()


def test_same_content_dropped_again_is_skipped_with_note(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The same bytes again, under another name: no request, done/ with a note to the results."""
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "members.csv", rows(range(10010, 10020)))
    first = process_drop_folder(tmp_path, config=config_for(sandbox))
    earlier = first.files[0].results
    write_csv(tmp_path / "inbox" / "members-copy.csv", rows(range(10010, 10020)))
    write_csv(tmp_path / "inbox" / "members.csv", rows(range(10010, 10020)))  # same name too
    sandbox.reset_counters()
    again = process_drop_folder(tmp_path, config=config_for(sandbox))
    assert sandbox.counters.requests == 0
    assert [f.outcome for f in again.files] == ["duplicate", "duplicate"]
    assert {f.duplicate_of for f in again.files} == {earlier}
    assert again.exit_code == 0
    done = sorted(p.name for p in (tmp_path / "done").iterdir())
    assert "members-copy.csv" in done
    assert "members-copy.csv.duplicate.txt" in done
    assert len([n for n in done if n.startswith("members-2") and n.endswith(".csv")]) == 1
    note = (tmp_path / "done" / "members-copy.csv.duplicate.txt").read_text()
    assert str(earlier) in note
    assert len(list((tmp_path / "results").iterdir())) == 1
    assert sorted(members_of(sandbox, range(10010, 10020))) == list(range(10010, 10020))


def test_oldest_file_first(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Files are imported in mtime order, not name order."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i, name in enumerate(["c.csv", "a.csv", "b.csv"]):
        write_csv(inbox / name, rows(range(10010 + 10 * i, 10015 + 10 * i)))
        os.utime(inbox / name, (1_700_000_000 + i, 1_700_000_000 + i))
    result = process_drop_folder(tmp_path, config=config_for(sandbox))
    assert [f.name for f in result.files] == ["c.csv", "a.csv", "b.csv"]


def test_configured_sheet_applies_to_workbooks_not_csv(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """sheet = "Members" reads that sheet of a workbook; a CSV drop still imports."""
    (tmp_path / "inbox").mkdir()
    header = ["geography_id", "department_id", "member_id", "member_type"]
    write_xlsx(
        tmp_path / "inbox" / "book.xlsx",
        {"Cover": [["nothing here"]], "Members": [header, *rows(range(10010, 10013))]},
    )
    write_csv(tmp_path / "inbox" / "plain.csv", rows(range(10020, 10023)))
    result = process_drop_folder(tmp_path, config=config_for(sandbox, sheet="Members"))
    assert {f.name: f.outcome for f in result.files} == {
        "book.xlsx": "imported",
        "plain.csv": "imported",
    }
    assert len(members_of(sandbox, range(10010, 10023))) == 6


def test_refused_run_keeps_the_file_and_the_next_run_resumes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Wrong token: exit 3, the file waits in processing/; with the right token it is resumed."""
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "a.csv", rows(range(10010, 10020)))
    write_csv(tmp_path / "inbox" / "b.csv", rows(range(10020, 10030)))
    os.utime(tmp_path / "inbox" / "b.csv", (time.time() + 5, time.time() + 5))
    bad = DropConfig.of(base_url=sandbox.base_url, token="wrong", stable_seconds=0)
    refused = process_drop_folder(tmp_path, config=bad)
    assert [(f.name, f.outcome) for f in refused.files] == [("a.csv", "refused")]
    assert refused.exit_code == 3
    assert [p.name for p in (tmp_path / "processing").iterdir()] == ["a.csv"]
    assert (tmp_path / "inbox" / "b.csv").is_file()  # not started after the refusal
    good = process_drop_folder(tmp_path, config=config_for(sandbox))
    assert [(f.name, f.outcome, f.resumed) for f in good.files] == [
        ("a.csv", "imported", True),
        ("b.csv", "imported", False),
    ]
    assert good.files[0].results == refused.files[0].results
    assert len(members_of(sandbox, range(10010, 10030))) == 20


def test_watch_picks_up_files_as_they_arrive(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--watch: a file dropped while watching is imported on the next poll; cancel stops it."""
    (tmp_path / "inbox").mkdir()
    cancel = threading.Event()
    seen: list[FileResult] = []

    def on_file(record: FileResult) -> None:
        seen.append(record)
        if len(seen) == 2:
            cancel.set()

    config = config_for(sandbox, poll_seconds=0.1)
    thread = threading.Thread(
        target=watch, kwargs={"root": tmp_path, "config": config, "cancel": cancel,
                              "on_file": on_file},
    )  # fmt: skip
    thread.start()
    try:
        for name, members in (("one.csv", range(10010, 10015)), ("two.csv", range(10020, 10025))):
            part = write_csv(tmp_path / "inbox" / f"{name}.part", rows(members))
            part.rename(tmp_path / "inbox" / name)  # atomic, as the README asks of uploaders
            handled = len(seen) + 1
            wait_for(lambda n=handled: len(seen) >= n, timeout=20, what=f"{name} imported")
        thread.join(timeout=20)
        assert not thread.is_alive(), "the watcher did not stop after two files"
    finally:
        cancel.set()
        thread.join(timeout=20)
    assert [(f.name, f.outcome) for f in seen] == [("one.csv", "imported"), ("two.csv", "imported")]


def test_watch_command_stops_cleanly_on_sigterm(sandbox: SandboxServer, tmp_path: Path) -> None:
    """`drop --watch` imports a file dropped later, then exits 0 on SIGTERM (systemd stop)."""
    write_toml(tmp_path, sandbox, poll_seconds=0.2)
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    proc = subprocess.Popen(drop_cmd(tmp_path, "--watch"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        inbox, done = tmp_path / "inbox", tmp_path / "done" / "late.csv"
        wait_for(inbox.is_dir, timeout=CHILD_START_S, what="the watcher to make inbox/")
        part = write_csv(inbox / "late.csv.part", rows(range(10010, 10015)))
        part.rename(inbox / "late.csv")  # atomic, as the README asks of uploaders
        wait_for(done.exists, timeout=20, what="done/late.csv")
        proc.send_signal(signal.SIGTERM)
        out, errs = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, errs
    assert [(r["file"], r["outcome"]) for r in file_records(out)] == [("late.csv", "imported")]
    assert [r["status"] for r in json_lines(out)] == ["handled"]  # idle passes write no line


def test_file_finished_but_not_moved_is_not_imported_again(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Died between recording the outcome and the move: the next run only moves the file."""
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "a.csv", rows(range(10010, 10015)))
    first = process_drop_folder(tmp_path, config=config_for(sandbox))
    os.rename(tmp_path / "done" / "a.csv", tmp_path / "processing" / "a.csv")
    sandbox.reset_counters()
    again = process_drop_folder(tmp_path, config=config_for(sandbox))
    assert sandbox.counters.requests == 0
    [record] = again.files
    assert (record.outcome, record.resumed, record.results) == (
        "imported",
        True,
        first.files[0].results,
    )
    assert record.path == tmp_path / "done" / "a.csv"


def test_files_in_the_folder_itself_are_pointed_at_the_inbox(tmp_path: Path) -> None:
    """Files dropped next to inbox/ instead of into it: a warning says where they belong."""
    write_csv(tmp_path / "members.csv", rows(range(10010, 10012)))
    with pytest.warns(UserWarning, match="inbox"):
        ensure_layout(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensure_layout(tmp_path)  # once the layout exists, no more warnings


def test_two_concurrent_drop_processes_import_each_file_once(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Two `importer drop` processes at once on one folder: every file and row exactly once."""
    sandbox.set_knobs(latency_ms=15)
    write_toml(tmp_path, sandbox, batch_size=10, concurrency=1)
    (tmp_path / "inbox").mkdir()
    files = {f"f{i}.csv": range(10010 + 40 * i, 10050 + 40 * i) for i in range(3)}
    for name, members in files.items():
        write_csv(tmp_path / "inbox" / name, rows(members))
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    procs = [
        subprocess.Popen(drop_cmd(tmp_path), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    records = [r for out, _ in outputs for r in file_records(out)]
    assert sorted(r["file"] for r in records) == sorted(files)
    assert {r["outcome"] for r in records} == {"imported"}
    assert any("busy" in errs for _, errs in outputs), outputs  # one of them found it locked
    statuses = sorted(r["status"] for out, _ in outputs for r in json_lines(out))
    assert statuses == ["busy", "handled"]  # one line per run, busy told apart
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == sorted(files)
    assert len(list((tmp_path / "results").iterdir())) == 3
    everyone = range(10010, 10130)
    assert sorted(members_of(sandbox, everyone)) == list(everyone)


def test_killed_run_resumes_on_next_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    """kill -9 mid-file: the file stays in processing/; the next run resumes it, rows once."""
    sandbox.set_knobs(latency_ms=40)
    limit = sandbox.config.request_time_limit_s  # the batch in flight is looked up after it
    write_toml(tmp_path, sandbox, batch_size=5, concurrency=1, server_time_limit=limit)
    (tmp_path / "inbox").mkdir()
    members = range(10006, 10196)
    write_csv(tmp_path / "inbox" / "nightly.csv", rows(members))
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    proc = subprocess.Popen(drop_cmd(tmp_path), env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(
            lambda: sandbox.counters.objects_created >= 30,
            timeout=CHILD_START_S,
            what="30 created",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert out == ""  # no line: the file was not finished
    assert 30 <= sandbox.counters.objects_created < len(members)
    assert [p.name for p in (tmp_path / "processing").iterdir()] == ["nightly.csv"]
    [results] = (tmp_path / "results").iterdir()
    sandbox.set_knobs(latency_ms=0)
    again = subprocess.run(drop_cmd(tmp_path), env=env, capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"took over a stale lock left by pid {proc.pid}" in again.stderr
    [record] = file_records(again.stdout)
    assert (record["outcome"], record["resumed"]) == ("imported", True)
    assert record["results"] == str(results)
    assert record["counts"]["created"] == len(members)
    summary = json.loads((results / "summary.json").read_text())
    assert summary["resumed_done"] > 0
    assert sorted(members_of(sandbox, members)) == list(members)
    assert [p.name for p in (tmp_path / "done").iterdir()] == ["nightly.csv"]


def test_cli_log_file_quiet_and_exit_code(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--log-file gets the JSON lines, stdout stays empty, --quiet: only problems on stderr."""
    write_toml(tmp_path, sandbox)
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "good.csv", rows(range(10010, 10015)))
    (tmp_path / "inbox" / "bad.csv").write_bytes(b"")
    log = tmp_path / "drop.jsonl"
    args = ["drop", str(tmp_path), "--log-file", str(log), "--quiet"]
    result = runner.invoke(app, args, env={"KANTATA_API_TOKEN": sandbox.token})
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("bad.csv: failed")
    assert "good.csv" not in result.stderr
    [run] = json_lines(log.read_text())
    assert (run["status"], run["exit_code"]) == ("handled", 1)
    records = {r["file"]: r for r in run["files"]}
    assert records["good.csv"]["outcome"] == "imported"
    assert records["bad.csv"]["outcome"] == "failed"
    assert sandbox.token not in log.read_text()


def test_every_run_writes_one_json_line_busy_idle_or_files(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """busy, nothing to do, handled, error: one JSON line each; --quiet silent on success."""
    write_toml(tmp_path, sandbox)
    env = {"KANTATA_API_TOKEN": sandbox.token}
    ensure_layout(tmp_path)
    holder = FolderLock(tmp_path / ".importer" / "lock")
    assert holder.acquire()
    try:
        busy = runner.invoke(app, ["drop", str(tmp_path)], env=env)
    finally:
        holder.release()
    [line] = json_lines(busy.stdout)
    assert (busy.exit_code, line["status"], line["files"]) == (0, "busy", [])
    assert str(os.getpid()) in line["lock_owner"]
    idle = runner.invoke(app, ["drop", str(tmp_path)], env=env)
    assert [r["status"] for r in json_lines(idle.stdout)] == ["nothing to do"]
    write_csv(tmp_path / "inbox" / "good.csv", rows(range(10010, 10013)))
    quiet = runner.invoke(app, ["drop", str(tmp_path), "--quiet"], env=env)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert (tmp_path / "done" / "good.csv").is_file()
    (tmp_path / "inbox" / "bad.csv").write_bytes(b"")
    failing = runner.invoke(app, ["drop", str(tmp_path), "--quiet"], env=env)
    [line] = json_lines(failing.stdout)  # a run that needs a look is printed even with --quiet
    assert (failing.exit_code, line["status"]) == (1, "handled")
    assert line["files"][0]["file"] == "bad.csv"
    (tmp_path / "importer.toml").write_text("concurency = 4\n")
    log = tmp_path / "drop.jsonl"
    broken = runner.invoke(app, ["drop", str(tmp_path), "--log-file", str(log)], env=env)
    [line] = json_lines(log.read_text())
    assert (broken.exit_code, line["status"], line["exit_code"]) == (2, "error", 2)
    assert "concurency" in line["error"]


@pytest.mark.parametrize(
    ("toml", "env", "needle"),
    [
        ("concurency = 4\n", {"KANTATA_API_TOKEN": "t"}, "concurency"),
        ("concurrency = 'four'\n", {"KANTATA_API_TOKEN": "t"}, "concurrency must be int"),
        ("base_url = [\n", {"KANTATA_API_TOKEN": "t"}, "not valid TOML"),
        ("", {"KANTATA_API_TOKEN": "t", "KANTATA_DROP_MAX_RPS": "fast"}, "MAX_RPS"),
        ("token_file = 'missing'\n", {}, "token file"),
    ],
    ids=["unknown-key", "wrong-type", "bad-toml", "bad-env", "missing-token-file"],
)
def test_configuration_problems_exit_2(
    tmp_path: Path, toml: str, env: dict[str, str], needle: str
) -> None:
    """A broken config, variable or token file: exit 2 and one line naming the problem."""
    (tmp_path / "importer.toml").write_text(toml)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KANTATA_")}
    result = subprocess.run(drop_cmd(tmp_path), env={**clean, **env}, capture_output=True,
                            text=True, timeout=30, check=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    [line] = json_lines(result.stdout)  # even a run that cannot start writes its line
    assert (line["status"], line["exit_code"]) == ("error", 2)


def test_no_token_exits_3_like_run(tmp_path: Path) -> None:
    """No token configured at all: exit 3 (the server cannot be asked), as ``importer run``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KANTATA_")}
    result = subprocess.run(drop_cmd(tmp_path), env=clean, capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "no API token" in result.stderr
    assert "Traceback" not in result.stderr
    people = tmp_path / "people.csv"
    people.write_text("geography_id,department_id,member_id,member_type\n101,201,1,User\n")
    run = subprocess.run(
        [sys.executable, "-m", "importer.cli", "run", str(people)],
        env=clean, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr


def test_config_file_and_environment_overrides(tmp_path: Path) -> None:
    """Defaults < importer.toml in the folder < environment; token_file is relative to the file."""
    (tmp_path / "secret").write_text("file-token\n")
    (tmp_path / "secret").chmod(0o600)
    (tmp_path / "importer.toml").write_text(
        'base_url = "https://example.test/api/v1"\n'
        'token_file = "secret"\nsheet = "Members"\nconcurrency = 8\nmax_rps = 5\n'
        '[mapping]\n"Org Unit" = "geography_id"\n'
    )
    plain = load_drop_config(tmp_path, env={})
    api, options = plain.settings.api, plain.settings.options
    assert (api.base_url, plain.token, options.sheet) == (
        "https://example.test/api/v1",
        "file-token",
        "Members",
    )
    assert (api.concurrency, api.max_rps, options.mapping) == (
        8,
        5.0,
        {"Org Unit": "geography_id"},
    )
    assert plain.source == (tmp_path / "importer.toml").resolve()
    assert "file-token" not in repr(plain)
    env = {
        "KANTATA_BASE_URL": "http://127.0.0.1:9/api/v1",
        "KANTATA_API_TOKEN": "env-token",
        "KANTATA_DROP_CONCURRENCY": "2",
        "KANTATA_DROP_MAPPING": "Dept=department_id",
        "KANTATA_DROP_STABLE_SECONDS": "",  # empty: unset
    }
    over = load_drop_config(tmp_path, env=env)
    assert (
        over.settings.api.base_url,
        over.token,
        over.settings.api.concurrency,
        over.settings.options.sheet,
    ) == (
        "http://127.0.0.1:9/api/v1",
        "env-token",
        2,
        "Members",
    )
    assert over.settings.options.mapping == {"Dept": "department_id"}
    assert over.stable_seconds == 30.0
    assert over.api_settings().concurrency == 2
    assert over.import_options().sheet == "Members"
    other = tmp_path / "elsewhere.toml"
    other.write_text("batch_size = 50\n")
    assert load_drop_config(tmp_path, path=other, env={}).settings.options.batch_size == 50
    with pytest.raises(InputError, match="not found"):
        load_drop_config(tmp_path, path=tmp_path / "nope.toml", env={})


def test_token_in_config_file_warns_unless_private(tmp_path: Path) -> None:
    """token = "..." in a world-readable config warns; in a chmod 600 file it does not."""
    path = tmp_path / "importer.toml"
    path.write_text('token = "in-file"\n')
    path.chmod(0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        assert load_drop_config(tmp_path, env={}).token == "in-file"
    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_drop_config(tmp_path, env={}).token == "in-file"


def test_flock_is_exclusive_and_names_its_owner(tmp_path: Path) -> None:
    """A second holder is refused while the first holds the lock, and learns who holds it."""
    first, second = FolderLock(tmp_path / "lock"), FolderLock(tmp_path / "lock")
    assert first.acquire()
    assert not second.acquire()
    owner = second.owner()
    assert owner is not None
    assert (owner.pid, owner.host) == (os.getpid(), socket.gethostname())
    first.release()
    assert second.acquire()
    assert second.took_over is None  # released cleanly: nothing stale
    second.release()


def test_soft_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    """Soft mode: a lock left by a dead pid on this host is broken; a live or remote one is not."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path = tmp_path / "lock"

    def plant(pid: int, host: str) -> None:
        record = {"pid": pid, "host": host, "started_at": "2025-01-01T00:00:00+00:00"}
        lock_path.write_text(json.dumps(record))

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        plant(alive.pid, socket.gethostname())
        assert not FolderLock(lock_path, mode="soft").acquire()
        plant(dead.pid, "some-other-host")
        assert not FolderLock(lock_path, mode="soft").acquire()
    finally:
        alive.kill()
        alive.wait()
    plant(dead.pid, socket.gethostname())
    lock = FolderLock(lock_path, mode="soft")
    assert lock.acquire()
    assert lock.took_over is not None
    assert lock.took_over.pid == dead.pid
    assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    assert not FolderLock(lock_path, mode="soft").acquire()
    lock.release()
    assert not lock_path.exists()


def test_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    """A drop folder that does not exist is refused, not created."""
    with pytest.raises(InputError, match="drop folder not found"):
        process_drop_folder(tmp_path / "nope", config=DropConfig.of(token="t"))
    assert not (tmp_path / "nope").exists()
