"""The pipeline end to end over real HTTP: every input row ends up in exactly one place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from importer import ImportOptions
from importer.core import ApiSettings
from importer.jobs import run_import, validate_file
from importer.sandbox import SandboxServer

from ..conftest import settings_for, write_csv

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def read(path: Path) -> pd.DataFrame:
    """A result CSV as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def expected_verdicts(notes: pd.Series) -> pd.Series:
    """The sample's Notes column says which rows must fail, and at which stage."""
    verdict = pd.Series("created", index=notes.index)
    verdict[notes.str.startswith("ERROR") & ~notes.str.contains("(server)", regex=False)] = (
        "validation"
    )
    verdict[notes.str.contains("(server)", regex=False) | notes.str.contains("conflict")] = "remote"
    return verdict


@pytest.mark.parametrize("sample", ["people.xlsx", "people.csv"])
def test_sample_gives_the_right_verdict_for_every_row(
    sample: str, sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """Messy workbook and its BOM/';' CSV twin: each row created or failed as its Notes say."""
    src = shutil.copy(SAMPLES / sample, tmp_path / sample)
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    success, errors = read(tmp_path / "out" / "success.csv"), read(tmp_path / "out" / "errors.csv")
    assert set(success["source_row"]).isdisjoint(errors["source_row"])
    both = pd.concat(
        [success.assign(verdict="created"), errors.assign(verdict=errors["error_stage"])]
    ).set_index("source_row")
    assert both["verdict"].to_dict() == expected_verdicts(both["Notes"]).to_dict()
    assert len(both) == result.counts["rows"] == 42
    # Blank rows are skipped but numbering stays Excel's: the row after the middle blank is 15.
    assert "15" in set(success["source_row"])
    assert "14" not in set(both.index)
    assert result.exit_code == 1
    stored = {m["member_id"]: m["id"] for m in sandbox.memberships()}
    assert all(
        stored[m] == i
        for m, i in zip(
            success["Member ID"].str.replace(r"\.0$", "", regex=True),
            success["organization_membership_id"],
            strict=True,
        )
    )
    assert set(errors.columns[:8]) == {
        "sheet",
        "source_row",
        "Geography ID",
        " Dept ID",
        "Member ID",
        "member type",
        "Employee",
        "Notes",
    }
    assert (tmp_path / "out" / "errors.xlsx").exists() == sample.endswith(".xlsx")


def test_rerun_of_a_finished_import_creates_nothing_twice(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """Running the same file again: every row is 'already existed', nothing duplicated."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10030)])
    first = run_import(src, out_dir=tmp_path / "a", api=api)
    second = run_import(src, out_dir=tmp_path / "b", api=api)
    assert first.counts["created"] == second.counts["already_existed"] == 20
    assert second.counts["created"] == 0
    assert len(sandbox.memberships()) == 25
    assert (
        read(tmp_path / "a" / "success.csv")["organization_membership_id"].tolist()
        == read(tmp_path / "b" / "success.csv")["organization_membership_id"].tolist()
    )


def test_bad_token_stops_run_and_unsent_rows_are_not_processed(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """401: exit 3; valid rows are 'not_processed', invalid ones stay validation errors."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, "x", "User"]])
    api = ApiSettings(base_url=sandbox.base_url, token="wrong-token")
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 3
    assert "token" in (result.fatal or "")
    errors = read(tmp_path / "out" / "errors.csv").set_index("source_row")
    assert errors.loc["2", "error_stage"] == "not_processed"
    assert errors.loc["3", "error_stage"] == "validation"
    assert len(sandbox.memberships()) == 5
    assert "wrong-token" not in "".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in (tmp_path / "out").iterdir()
        if p.suffix != ".xlsx"
    )


def test_dry_run_sends_nothing_and_writes_exact_payloads(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """--dry-run: no request reaches the server; payloads.jsonl holds the bodies, <= batch size."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "user"] for m in range(10010, 10015)])
    result = run_import(
        src, out_dir=tmp_path / "out", api=api, options=ImportOptions(dry_run=True, batch_size=2)
    )
    assert sandbox.counters.requests == 0
    lines = [json.loads(x) for x in (tmp_path / "out" / "payloads.jsonl").read_text().splitlines()]
    assert [len(x["body"]["organization_memberships"]) for x in lines] == [2, 2, 1]
    assert lines[0]["body"]["organization_memberships"][0] == {
        "geography_id": 105,
        "department_id": 202,
        "member_id": 10010,
        "member_type": "User",
    }
    assert lines[0]["rows"] == [2, 3]
    assert result.exit_code == 0
    assert result.counts["would_send"] == 5


def test_small_batches_with_unknown_references_spread_out(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """--batch-size 7, an unknown geography in 3 rows: those fail before any write (missing
    reference), every good row is created once, and no create carries a bad row.

    (Splitting a batch the server refuses is covered in test_send.py, in every bulk mode.)
    """
    sandbox.set_knobs(bulk_mode="partial-error")
    rows = [[105, 202, m, "User"] for m in range(10010, 10060)]
    for i in (3, 17, 40):
        rows[i][0] = 999
    src = write_csv(tmp_path / "in.csv", rows)
    result = run_import(
        src,
        out_dir=tmp_path / "out",
        api=settings_for(sandbox, concurrency=3),
        options=ImportOptions(batch_size=7),
    )
    assert result.counts["created"] == 47
    assert result.counts["already_existed"] == 0
    assert result.counts["failed_remote"] == 3
    assert len(sandbox.memberships()) == 52
    assert result.summary["batches"] == 7  # 47 rows in 7s
    counters = sandbox.counters
    assert counters.create_requests == 7
    assert counters.largest_batch == 7
    assert set(counters.by_status) == {200}
    errors = read(tmp_path / "out" / "errors.csv")
    assert errors["source_row"].tolist() == ["5", "19", "42"]
    assert set(errors["error_field"]) == {"geography_id"}
    assert set(errors["error_message"]) == {"geography 999 not found on the account"}


def test_validate_writes_errors_only_and_touches_no_network(tmp_path: Path) -> None:
    """validate: errors.csv lists bad rows with input as written; no success file."""
    src = write_csv(
        tmp_path / "in.csv", [[105, 202, 10010, "User"], [" 105", "=1+2", "abc", "User"]]
    )
    result = validate_file(src, out_dir=tmp_path / "out")
    errors = read(tmp_path / "out" / "errors.csv")
    assert result.counts == {"rows": 2, "valid": 1, "failed_validation": 1}
    assert errors.loc[0, "department_id"] == "'=1+2"  # formula escaped in the output
    assert errors.loc[0, "error_field"] == "department_id; member_id"
    assert not (tmp_path / "out" / "success.csv").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["input"]["sha256"]
    assert summary["counts"]["failed_validation"] == 1


def test_errors_file_resubmitted_after_fixing(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """An errors.csv, corrected, is a valid input again (report columns are extras)."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, "-10011", "User"]])
    run_import(src, out_dir=tmp_path / "a", api=api)
    errors = read(tmp_path / "a" / "errors.csv")
    errors.loc[0, "member_id"] = "10011"
    errors.to_csv(tmp_path / "fixed.csv", index=False)
    again = run_import(tmp_path / "fixed.csv", out_dir=tmp_path / "b", api=api)
    assert again.exit_code == 0
    assert again.counts["created"] == 1
