"""Pre-flight: importer plan / validate --remote ask the sandbox and create nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.core import ApiSettings, ImportOptions, InputError
from importer.jobs import plan_file, run_import
from importer.sandbox import SandboxServer

from ..conftest import write_csv

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
            ["Germany", "Operationz", "priya.weber@acme.example", "no such department"],
        ],
        header=["Geography", "Department", "Email", "Notes"],
    )


def test_plan_gives_every_row_a_verdict_and_creates_nothing(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """new / exists / differs / invalid, with counts, plan.csv and errors.csv; no POST."""
    result = plan_file(mixed(tmp_path), api=api, out_dir=tmp_path / "out")
    assert result.counts == {
        "rows": 4,
        "valid": 3,
        "failed_validation": 1,
        "new": 1,
        "exists": 1,
        "differs": 1,
        "missing_reference": 0,
    }
    assert result.exit_code == 1
    counters = sandbox.counters
    assert counters.create_requests == 0
    assert len(sandbox.memberships()) == 5
    # names: organizations, users by email; plan: organizations, memberships (one page),
    # the user holding nothing by id
    assert counters.requests == 5
    assert set(counters.by_status) == {200}
    plan = read(tmp_path / "out" / "plan.csv")
    assert plan["action"].tolist() == ["new", "exists", "differs", "invalid"]
    assert plan["Notes"].tolist()[0] == "new"
    assert plan.loc[0, ["geography_id", "department_id", "member_id"]].tolist() == [
        "105",
        "202",
        "10006",
    ]
    assert plan.loc[1, "existing_membership_id"] == "9001"
    assert plan.loc[2, "existing_membership_id"] == "9002"
    assert plan.loc[2, "detail"] == (
        "User Liam Tanaka <liam.tanaka@acme.example> (10002) already holds membership 9002 "
        "(geography United Kingdom (105), department Engineering (202))"
    )
    assert plan.loc[3, "detail"].startswith("department 'Operationz' not found")
    errors = read(tmp_path / "out" / "errors.csv")
    assert errors["source_row"].tolist() == ["4", "5"]
    assert errors["error_stage"].tolist() == ["remote", "validation"]


def test_what_plan_says_is_what_run_does(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """The rows planned as new are exactly the rows the run then creates (and so on)."""
    src = mixed(tmp_path)
    planned = read(plan_file(src, api=api, out_dir=tmp_path / "p").files["plan.csv"])
    result = run_import(src, out_dir=tmp_path / "r", api=api)
    assert result.counts["created"] == int((planned["action"] == "new").sum()) == 1
    assert result.counts["already_existed"] == int((planned["action"] == "exists").sum()) == 1
    assert result.counts["failed_remote"] == int(
        planned["action"].isin(["differs", "missing reference"]).sum()
    )
    assert result.counts["failed_validation"] == int((planned["action"] == "invalid").sum())
    success = read(tmp_path / "r" / "success.csv")
    planned_ok = planned[planned["action"].isin(["new", "exists"])]
    assert success["source_row"].tolist() == planned_ok["source_row"].tolist()
    assert success["status"].tolist() == ["created", "existed"]


@pytest.mark.parametrize("move", [False, True])
def test_plan_fails_each_row_as_run_does_in_the_same_words(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path, move: bool
) -> None:
    """One rule for a row whose member holds another membership: plan's errors.csv has the
    rows and messages that run's errors.csv then has (report, and --move)."""
    src = mixed(tmp_path)
    options = ImportOptions(differs="move" if move else "report")
    plan_file(src, api=api, out_dir=tmp_path / "p", options=options)
    run_import(src, out_dir=tmp_path / "r", api=api, options=options)
    columns = ["source_row", "error_stage", "error_field", "error_message"]
    planned, ran = read(tmp_path / "p" / "errors.csv"), read(tmp_path / "r" / "errors.csv")
    assert planned[columns].to_dict("records") == ran[columns].to_dict("records")
    assert len(ran) == (1 if move else 2)


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
    assert summary["counts"]["new"] == 1
    assert summary["counts"]["differs"] == 1
    assert (out / "plan.csv").exists()
    assert sandbox.counters.create_requests == 0


def test_plan_reports_missing_references_and_the_move_mode(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """Unknown or wrong-type organizations, unknown and disabled users, unknown workspaces are
    ``missing reference``; off-project users and archived workspaces are found (``new``);
    ``--move`` makes a differs row of a member holding one membership succeed."""
    src = write_csv(
        tmp_path / "in.csv",
        [
            [999, 202, 10010, "User"],  # no such geography
            [105, 105, 10011, "User"],  # 105 is a geography, not a department
            [105, 202, 99999, "User"],  # no such user
            [105, 202, 10211, "User"],  # disabled
            [105, 202, 10201, "User"],  # on no project with the caller: still on the account
            [105, 202, 50041, "Workspace"],  # archived: still there
            [105, 202, 59999, "Workspace"],  # no such workspace
            [106, 203, 10002, "User"],  # holds 105/202
        ],
    )
    result = plan_file(src, api=api, out_dir=tmp_path / "out")
    plan = read(tmp_path / "out" / "plan.csv")
    missing = "missing reference"
    assert plan["action"].tolist() == [*[missing] * 4, "new", "new", missing, "differs"]
    assert plan["detail"].tolist()[:4] == [
        "geography 999 not found on the account",
        "department 105 is a Geography (United Kingdom), not a Department",
        "no user 99999 on the account",
        "user 10211 (Adele Keane <adele.keane@acme.example>) is disabled on the account",
    ]
    assert plan.loc[6, "detail"] == "no workspace 59999 on the account"
    assert result.counts["missing_reference"] == 5
    assert result.summary["counts"]["differs"] == 1
    assert sandbox.counters.create_requests == 0
    errors = read(tmp_path / "out" / "errors.csv")
    assert errors["source_row"].tolist() == ["2", "3", "4", "5", "8", "9"]
    moved = plan_file(src, api=api, out_dir=tmp_path / "m", options=ImportOptions(differs="move"))
    assert read(tmp_path / "m" / "errors.csv")["source_row"].tolist() == [
        "2",
        "3",
        "4",
        "5",
        "8",
    ]
    assert moved.counts == result.counts  # the words do not change, only what fails


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
