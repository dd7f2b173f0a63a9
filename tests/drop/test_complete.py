"""A drop folder never imports a partial file, and imports a complete one in the same run.

Completeness is observed within the run (size and mtime unchanged across a wait), a CSV whose
last line has no line end is not complete, a workbook without its zip end record is not
complete, and with ``trigger`` set a file waits for its trigger file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.drop import DropConfig, process_drop_folder
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import HEADER, bundled_seed_path, write_csv, write_xlsx
from ..waiting import CHILD_START_S, wait_for


def rows(members: range) -> list[list[Any]]:
    """One valid membership row per member."""
    return [[105, 202, m, "User"] for m in members]


def config_for(server: SandboxServer, **kwargs: Any) -> DropConfig:
    """A DropConfig pointing at ``server``."""
    kwargs.setdefault("stable_seconds", 0)
    kwargs.setdefault("wait_seconds", 0)
    return DropConfig.of(base_url=server.base_url, token=server.token, **kwargs)


def members_of(server: SandboxServer) -> list[int]:
    """Every member id holding a membership on the server, with repeats."""
    return [int(m["member_id"]) for m in server.memberships()]


@pytest.fixture
def sandbox_2815(tmp_path: Path) -> Iterator[SandboxServer]:
    """A sandbox whose account has users 2815 and 28150 (a cut line turns one into the other)."""
    seed = json.loads(bundled_seed_path().read_text(encoding="utf-8"))
    seed["users"] += [
        {"id": i, "full_name": f"User {i}", "email_address": f"user.{i}@acme.example"}
        for i in (2815, 28150)
    ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    with SandboxServer(SandboxConfig(seed=path, random_seed=7, request_time_limit_s=1.0)) as s:
        yield s


WRITER = textwrap.dedent(
    """
    import sys, time
    path, pause = sys.argv[1], float(sys.argv[2])
    with open(path, "w", encoding="utf-8") as f:
        f.write("member_type,geography_id,department_id,member_id\\n")
        for m in range(10010, 10040):
            f.write(f"User,105,202,{m}\\n")
        f.write("User,105,202,2815")      # the upload pauses mid-number ...
        f.flush()
        open(path + ".half", "w").close()
        time.sleep(pause)                 # ... longer than stable_seconds
        f.write("0\\n")                   # ... and ends: 28150
        for m in range(10040, 10050):
            f.write(f"User,105,202,{m}\\n")
    """
)


def test_an_upload_that_pauses_longer_than_stable_seconds_is_imported_whole(
    sandbox_2815: SandboxServer, tmp_path: Path
) -> None:
    """Half a file, cut mid-number, unchanged for 4x stable_seconds: the run, started when
    the half had been still for longer than stable_seconds, waits for the rest."""
    warm = tmp_path / "warm-up"  # import the machinery first: its loading takes seconds
    (warm / "inbox").mkdir(parents=True)
    write_csv(warm / "inbox" / "w.csv", rows(range(10001, 10002)))
    assert process_drop_folder(warm, config=config_for(sandbox_2815)).files
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target = inbox / "nightly.csv"
    stable = 0.5
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(4 * stable)])
    try:
        half = inbox / "nightly.csv.half"
        wait_for(half.exists, timeout=CHILD_START_S, what="the writer's first half")
        half.unlink()
        time.sleep(1.5 * stable)  # the half has been unchanged for longer than stable_seconds
        config = config_for(sandbox_2815, stable_seconds=stable, wait_seconds=30)
        result = process_drop_folder(tmp_path, config=config)
    finally:
        writer.wait(timeout=20)
    [only] = result.files
    assert (only.name, only.outcome) == ("nightly.csv", "imported")
    assert only.counts["rows"] == 41
    held = members_of(sandbox_2815)
    assert 2815 not in held
    assert held.count(28150) == 1
    assert sorted(m for m in held if 10010 <= m < 10050) == list(range(10010, 10050))
    assert only.counts["created"] == 41


def test_a_complete_file_is_imported_in_the_run_that_sees_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A file that arrived a moment ago is watched for stable_seconds and imported, not left."""
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "fresh.csv", rows(range(10010, 10015)))
    result = process_drop_folder(
        tmp_path, config=config_for(sandbox, stable_seconds=0.5, wait_seconds=5)
    )
    assert [(f.name, f.outcome) for f in result.files] == [("fresh.csv", "imported")]
    assert result.waiting == []
    assert result.status == "handled"


def test_a_file_still_growing_is_taken_once_it_stops(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Lines appended every 0.1 s for 1.5 s (stable_seconds 0.5): every line is imported."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "growing.csv"
    path.write_text(",".join(HEADER) + "\n")
    members = range(10010, 10025)

    def grow() -> None:
        for m in members:
            with path.open("a") as f:
                f.write(f"105,202,{m},User\n")
            time.sleep(0.1)

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        config = config_for(sandbox, stable_seconds=0.5, wait_seconds=20)
        result = process_drop_folder(tmp_path, config=config)
    finally:
        writer.join()
    [only] = result.files
    assert (only.outcome, only.counts["created"]) == ("imported", len(members))


def test_a_csv_without_a_final_line_end_waits_and_says_why(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Unchanged but its last line unended: left in the inbox, stuck, with the reason."""
    (tmp_path / "inbox").mkdir()
    cut = tmp_path / "inbox" / "cut.csv"
    cut.write_text(",".join(HEADER) + "\n105,202,10010,User\n105,202,1001")
    sandbox.reset_counters()
    result = process_drop_folder(
        tmp_path, config=config_for(sandbox, stable_seconds=0.2, wait_seconds=0.6)
    )
    assert result.files == []
    [waiting] = result.waiting
    assert (waiting.name, waiting.stuck) == ("cut.csv", True)
    assert "line end" in waiting.reason
    assert result.status == "waiting"
    assert cut.is_file()
    assert sandbox.counters.requests == 0
    lenient = config_for(sandbox, require_line_end=False)
    assert [f.outcome for f in process_drop_folder(tmp_path, config=lenient).files] == [
        "rows_failed"  # 1001 is no user of the account
    ]


def test_a_truncated_workbook_waits_for_its_end(sandbox: SandboxServer, tmp_path: Path) -> None:
    """An xlsx without its zip end record is not complete; once whole it is imported."""
    (tmp_path / "inbox").mkdir()
    whole = write_xlsx(tmp_path / "book.xlsx", {"Members": [HEADER, *rows(range(10010, 10013))]})
    data = whole.read_bytes()
    (tmp_path / "inbox" / "book.xlsx").write_bytes(data[: len(data) - 30])
    config = config_for(sandbox, wait_seconds=0.3)
    first = process_drop_folder(tmp_path, config=config)
    assert first.files == []
    assert "zip end record" in first.waiting[0].reason
    (tmp_path / "inbox" / "book.xlsx").write_bytes(data)
    second = process_drop_folder(tmp_path, config=config)
    assert [(f.name, f.outcome) for f in second.files] == [("book.xlsx", "imported")]


@pytest.mark.parametrize("trigger", ["done", ".ok"])
def test_trigger_files_announce_a_complete_upload(
    sandbox: SandboxServer, tmp_path: Path, trigger: str
) -> None:
    """trigger = "done": name.csv waits for name.csv.done, then goes at once, trigger along."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    suffix = trigger if trigger.startswith(".") else "." + trigger
    write_csv(inbox / "a.csv", rows(range(10010, 10013)))
    write_csv(inbox / "b.csv", rows(range(10020, 10023)))
    (inbox / f"b.csv{suffix}").write_bytes(b"")
    config = config_for(sandbox, trigger=trigger, stable_seconds=60, wait_seconds=0.3)
    result = process_drop_folder(tmp_path, config=config)
    assert [(f.name, f.outcome) for f in result.files] == [("b.csv", "imported")]
    assert [(w.name, w.reason) for w in result.waiting] == [
        ("a.csv", f"waiting for its trigger file a.csv{suffix}")
    ]
    assert sorted(p.name for p in inbox.iterdir()) == ["a.csv"]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["b.csv", f"b.csv{suffix}"]
    (inbox / f"a.csv{suffix}").write_bytes(b"")
    again = process_drop_folder(tmp_path, config=config)
    assert [(f.name, f.outcome) for f in again.files] == [("a.csv", "imported")]
    assert not any(inbox.iterdir())


def test_temporary_and_hidden_names_are_never_taken(sandbox: SandboxServer, tmp_path: Path) -> None:
    """.part/.tmp uploads wait with a reason, hidden files are ignored; a rename is taken."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_csv(inbox / "upload.csv.part", rows(range(10030, 10035)))
    write_csv(inbox / "big.xlsx.tmp", rows(range(10040, 10045)))
    write_csv(inbox / ".rsync-tmp.csv", rows(range(10050, 10055)))
    config = config_for(sandbox, stable_seconds=0.2, wait_seconds=3)

    def finish_upload() -> None:
        time.sleep(0.5)
        (inbox / "upload.csv.part").rename(inbox / "upload.csv")

    renamer = threading.Thread(target=finish_upload)
    renamer.start()
    result = process_drop_folder(tmp_path, config=config)
    renamer.join()
    assert [(f.name, f.outcome) for f in result.files] == [("upload.csv", "imported")]
    assert [w.name for w in result.waiting] == ["big.xlsx.tmp"]
    assert "upload in progress" in result.waiting[0].reason
    assert sorted(p.name for p in inbox.iterdir()) == [".rsync-tmp.csv", "big.xlsx.tmp"]
    assert not {10040, 10050} & set(members_of(sandbox))
