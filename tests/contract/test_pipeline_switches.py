"""The whole pipeline against the sandbox's defaults, each undocumented behaviour flipped alone,
and the two combinations that matter most (docs/kantata-api.md § Not documented — design for both).

Each scenario runs, over real HTTP: ``plan`` then ``run`` of a file with names (emails,
department names, a workspace title) and IDs, with rows that exist, differ, are new or refer to
nothing; an interrupted run resumed; ``template``; a drop-folder pass. It asserts every row's
outcome and that no membership exists twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from importer import ImportOptions
from importer.drop import DropConfig, process_drop_folder
from importer.jobs import Progress, plan_file, run_import, write_template
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import settings_for, write_csv

SWITCHES: list[dict[str, Any]] = [
    {},
    {"bulk_mode": "partial"},
    {"bulk_mode": "partial-error"},
    {"memberships_per_member": "many"},
    {"member_id_lists": "ignored"},
    {"member_id_lists": "refused"},
    {"retry_after": False, "rate": 40},
    {"validation_status": 400},
    {"bulk_mode": "partial", "memberships_per_member": "many"},
    {"member_id_lists": "ignored", "memberships_per_member": "many"},
]
HEADER = ["department", "geography_id", "member_email", "workspace", "member_id", "member_type"]


def _ids(switch: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in switch.items()) or "defaults"


def roster(path: Path) -> Path:
    """Names and IDs; rows that exist, differ, are new, or refer to nothing."""
    rows = [
        ["", 105, "", "", 10001, "User"],  # exists (seeded at 105/202)
        ["", 105, "", "", 10002, "User"],  # differs: department 203, holds 202
        ["Engineering", 105, "olivia.smith@acme.example", "", "", ""],  # 10001 again: invalid
        ["", 105, "", "", 10010, "User"],  # new
        ["", 105, "", "", 10011, "User"],  # new
        ["", 999, "", "", 10012, "User"],  # missing reference: geography
        ["", 105, "", "ERP Migration", "", ""],  # a workspace by title: new
        ["", 105, "", "", 10211, "User"],  # missing reference: disabled user
    ]
    # Department IDs for the ID rows: 202 (held by 10001), 203 (10002 holds 202), 202 new ones.
    departments = ["202", "203", "", "202", "202", "202", "202", "202"]
    lines = [",".join([*HEADER, "department_id"])]
    for row, dept in zip(rows, departments, strict=True):
        lines.append(",".join(str(c) for c in row) + "," + dept)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def duplicates(server: SandboxServer) -> list[tuple[int, str, int, int]]:
    """Memberships that exist more than once (same member, same place)."""
    seen = Counter(
        (int(m["member_id"]), m["member_type"], int(m["geography_id"]), int(m["department_id"]))
        for m in server.memberships()
    )
    return [k for k, n in seen.items() if n > 1]


@pytest.mark.parametrize("switch", SWITCHES, ids=_ids)
def test_plan_then_run_under_every_switch(switch: dict[str, Any], tmp_path: Path) -> None:
    """plan's counts are run's; each row ends where it should; nothing exists twice."""
    config = SandboxConfig(random_seed=3, request_time_limit_s=1.0, **switch)
    with SandboxServer(config) as server:
        api = settings_for(server)
        src = roster(tmp_path / "roster.csv")
        plan = plan_file(src, api=api, out_dir=tmp_path / "plan")
        assert plan.counts["exists"] == 1, plan.summary
        assert plan.counts["differs"] == 1
        assert plan.counts["missing_reference"] == 2
        assert plan.counts["new"] == 3
        assert plan.counts["failed_validation"] == 1  # 10001 twice (by id and by email)
        result = run_import(src, api=api, out_dir=tmp_path / "run")
        assert result.counts["created"] == plan.counts["new"]
        assert result.counts["already_existed"] == plan.counts["exists"]
        assert result.counts["failed_remote"] == 3
        assert result.counts["not_processed"] == 0
        assert duplicates(server) == []
        errors = pd.read_csv(tmp_path / "run" / "errors.csv", dtype=str, keep_default_na=False)
        assert sorted(errors["source_row"].astype(int)) == [3, 4, 7, 9]


@pytest.mark.parametrize("switch", SWITCHES, ids=_ids)
def test_an_interrupted_run_resumes_exactly_once(switch: dict[str, Any], tmp_path: Path) -> None:
    """Stopped after a few batches, the same command finishes: every row once, all counted."""
    config = SandboxConfig(random_seed=5, request_time_limit_s=1.0, **switch)
    with SandboxServer(config) as server:
        api = settings_for(server, concurrency=1)
        src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10060)])
        cancel = threading.Event()

        def progress(event: Progress) -> None:
            if event.phase == "send" and event.done >= 10:
                cancel.set()

        options = ImportOptions(batch_size=5)
        first = run_import(
            src, api=api, out_dir=tmp_path / "out", options=options, cancel=cancel,
            progress=progress,
        )  # fmt: skip
        assert first.exit_code == 130
        second = run_import(src, api=api, out_dir=tmp_path / "out", options=options)
        assert second.exit_code == 0
        assert second.counts["created"] == 50
        assert duplicates(server) == []


@pytest.mark.parametrize("switch", SWITCHES[:6], ids=_ids)
def test_template_and_drop_under_every_switch(switch: dict[str, Any], tmp_path: Path) -> None:
    """template lists both trees; a drop-folder pass imports a file exactly once."""
    config = SandboxConfig(random_seed=9, request_time_limit_s=1.0, **switch)
    with SandboxServer(config) as server:
        api = settings_for(server)
        write_template(tmp_path / "t.xlsx", api=api)
        assert (tmp_path / "t.xlsx").stat().st_size > 0
        root = tmp_path / "drop"
        (root / "inbox").mkdir(parents=True)
        write_csv(root / "inbox" / "a.csv", [[105, 202, m, "User"] for m in range(10010, 10020)])
        drop_config = DropConfig.of(
            base_url=server.base_url, token=server.token, stable_seconds=0, server_time_limit=1.0
        )
        result = process_drop_folder(root, config=drop_config)
        assert [f.outcome for f in result.files] == ["imported"]
        assert duplicates(server) == []
        assert len([m for m in server.memberships() if 10010 <= int(m["member_id"]) < 10020]) == 10
