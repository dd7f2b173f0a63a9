"""Pre-flight: importer plan / validate --remote ask the sandbox and create nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from importer import run_import
from importer.cli import app
from importer.config import ApiSettings, ImportOptions
from importer.errors import InputError
from importer.plan import plan_file
from importer.sandbox import SandboxServer

from .conftest import write_csv

runner = CliRunner()


def read(path: Path) -> pd.DataFrame:
    """A result CSV as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def mixed(tmp_path: Path) -> Path:
    """One row of each verdict: new, identical to the seed, conflicting with it, invalid."""
    return write_csv(
        tmp_path / "in.csv",
        [
            ["United Kingdom", "Engineering", "mateo.campbell@acme.example", "new"],
            ["United Kingdom", "Engineering", "olivia.smith@acme.example", "seeded at 105/202"],
            ["Germany", "Design", "liam.tanaka@acme.example", "seeded elsewhere"],
            ["Germany", "Operations", "priya.weber@acme.example", "ambiguous"],
        ],
        header=["Geography", "Department", "Email", "Notes"],
    )


def test_plan_gives_every_row_a_verdict_and_creates_nothing(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """create / exists / conflict / invalid, with counts, plan.csv and errors.csv; no POST."""
    result = plan_file(mixed(tmp_path), api=api, out_dir=tmp_path / "out")
    assert result.counts == {
        "rows": 4,
        "valid": 3,
        "failed_validation": 1,
        "would_create": 1,
        "already_exist": 1,
        "conflicts": 1,
    }
    assert result.exit_code == 1
    counters = sandbox.counters
    assert counters.create_requests == 0
    assert len(sandbox.memberships()) == 5
    assert counters.requests == 3  # organizations, users, memberships of the 3 valid users
    plan = read(tmp_path / "out" / "plan.csv")
    assert plan["action"].tolist() == ["create", "exists", "conflict", "invalid"]
    assert plan["Notes"].tolist()[0] == "new"
    assert plan.loc[0, ["geography_id", "department_id", "member_id"]].tolist() == [
        "105",
        "202",
        "10006",
    ]
    assert plan.loc[1, "existing_membership_id"] == "9001"
    assert plan.loc[2, "detail"] == (
        "User 10002 already has a membership (id 9002) in geography 105, department 202"
    )
    errors = read(tmp_path / "out" / "errors.csv")
    assert errors["source_row"].tolist() == ["4", "5"]
    assert errors["error_stage"].tolist() == ["remote", "validation"]


def test_what_plan_says_is_what_run_does(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """The rows planned as create are exactly the rows the run then creates."""
    src = mixed(tmp_path)
    planned = read(plan_file(src, api=api, out_dir=tmp_path / "p").files["plan.csv"])
    result = run_import(src, out_dir=tmp_path / "r", api=api)
    assert result.counts["created"] == int((planned["action"] == "create").sum())
    assert result.counts["already_existed"] == int((planned["action"] == "exists").sum())
    assert result.counts["failed_remote"] == int((planned["action"] == "conflict").sum())


@pytest.mark.parametrize("command", [["plan"], ["validate", "--remote"]])
def test_plan_commands(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Both spellings write plan.csv and print the counts; exit 1 when a row would fail."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    out = tmp_path / "out"
    args = [*command, str(mixed(tmp_path)), "--base-url", sandbox.base_url, "--out", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["command"] == " ".join(command)
    assert summary["counts"]["would_create"] == 1
    assert (out / "plan.csv").exists()
    assert sandbox.counters.create_requests == 0


def test_plan_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a token, plan stops at once with exit 3 and one line."""
    monkeypatch.delenv("KANTATA_API_TOKEN", raising=False)
    result = runner.invoke(app, ["plan", str(mixed(tmp_path))])
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        "error: no API token: set KANTATA_API_TOKEN or pass --token-file PATH"
    )


def test_plan_honours_the_input_limits(api: ApiSettings, tmp_path: Path) -> None:
    """plan opens the file with the same limits as run and validate (max_rows here)."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, 10011, "User"]])
    with pytest.raises(InputError, match="rows"):
        plan_file(src, api=api, out_dir=tmp_path / "o", options=ImportOptions(max_rows=1))
