"""Names instead of IDs: resolution through the sandbox's list endpoints, over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from importer import ImportOptions, InputError
from importer.cli._app import app
from importer.core import ApiSettings
from importer.jobs import run_import, validate_file
from importer.read import read_mapping_file
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import big_seed, settings_for, write_csv

NAMES = ["Geography", "Department", "Email"]


def read(path: Path) -> pd.DataFrame:
    """A result CSV as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def messages(out: Path) -> dict[str, str]:
    """errors.csv as {source_row: error_message}."""
    errors = read(out / "errors.csv")
    return dict(zip(errors["source_row"], errors["error_message"], strict=True))


def test_names_and_emails_only_import_correctly(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """Names, emails and workspace titles (any case, extra spaces) become the right IDs."""
    src = write_csv(
        tmp_path / "hr.csv",
        [
            ["EMEA", "Engineering", "mateo.campbell@acme.example", ""],
            [" united   kingdom ", "DESIGN", "Priya.Weber@ACME.example", ""],
            ["Americas", "Sales", "", "erp  migration"],
        ],
        header=["Geography", "Department", "Email", "Project"],
    )
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 0, read(tmp_path / "out" / "errors.csv").to_dict("records")
    assert result.counts["created"] == 3
    stored = {
        (m["member_id"], m["member_type"]): (m["geography_id"], m["department_id"])
        for m in sandbox.memberships()
    }
    assert stored[("10006", "User")] == ("102", "202")
    assert stored[("10007", "User")] == ("105", "203")
    assert stored[("50002", "Workspace")] == ("103", "204")
    success = read(tmp_path / "out" / "success.csv")
    assert success[
        ["geography_id", "department_id", "member_id", "member_type"]
    ].values.tolist() == [
        ["102", "202", "10006", "User"],
        ["105", "203", "10007", "User"],
        ["103", "204", "50002", "Workspace"],
    ]
    assert result.summary["name_columns"]["member_email"] == "Email"
    assert result.summary["lookup_requests"] == 3  # organizations, users, workspaces: one each


def test_unknown_and_ambiguous_names_are_row_errors_listing_candidates(
    api: ApiSettings, tmp_path: Path
) -> None:
    """No match, several matches, a name from the other tree: each row says what to choose.

    Organization names are unique on an account (docs/kantata-api.md § Lookups); a workspace title
    is not, archived workspaces included: 50043 (archived) is another "Website Redesign".
    """
    src = write_csv(
        tmp_path / "hr.csv",
        [
            ["EMEA", "Operations", "", "Website Redesign"],
            ["EMEA", "Enginering", "priya.weber@acme.example", ""],
            ["EMEA", "EMEA", "ethan.young@acme.example", ""],
            ["Atlantis", "Design", "nobody@acme.example", ""],
            ["EMEA", "Design", "aiko.schmidt@acme.example", ""],
        ],
        header=[*NAMES, "Project"],
    )
    result = validate_file(src, out_dir=tmp_path / "out", api=api)
    assert result.counts == {"rows": 5, "valid": 1, "failed_validation": 4}
    got = messages(tmp_path / "out")
    assert got["2"] == (
        "workspace 'Website Redesign' is ambiguous: 50001 (Website Redesign), "
        "50043 (Website Redesign); use member_id"
    )
    assert got["3"].startswith("department 'Enginering' not found; did you mean 202 (Engineering")
    assert "'EMEA' is a geography: 102 (EMEA, under Global)" in got["4"]
    assert got["5"].startswith("geography 'Atlantis' not found; member_email 'nobody@acme.example'")
    errors = read(tmp_path / "out" / "errors.csv")
    assert errors.loc[3, "error_field"] == "Geography; Email [member_email]"
    assert "6" not in got


def test_workspace_title_shared_by_two_is_ambiguous(api: ApiSettings, tmp_path: Path) -> None:
    """'Data Platform' names two workspaces: the error lists both IDs."""
    src = write_csv(
        tmp_path / "ws.csv",
        [["EMEA", "Engineering", "Data Platform"]],
        header=["geo", "dept", "project"],
    )
    validate_file(src, out_dir=tmp_path / "out", api=api)
    assert messages(tmp_path / "out")["2"] == (
        "workspace 'Data Platform' is ambiguous: 50039 (Data Platform), 50040 (Data Platform); "
        "use member_id"
    )


def test_an_id_beside_a_name_wins_and_must_agree(api: ApiSettings, tmp_path: Path) -> None:
    """With both, the ID is used: an agreeing name (any case/spacing) passes, another fails."""
    src = write_csv(
        tmp_path / "both.csv",
        [
            ["EMEA", "Engineering", 202, "mateo.campbell@acme.example"],
            ["EMEA", "service  OPERATIONS", 210, "priya.weber@acme.example"],
            ["EMEA", "Design", 202, "ethan.young@acme.example"],
            ["EMEA", "", 204, "aiko.schmidt@acme.example"],
        ],
        header=["Geography", "Department", "department_id", "Email"],
    )
    result = validate_file(src, out_dir=tmp_path / "out", api=api)
    assert result.counts["failed_validation"] == 1
    assert messages(tmp_path / "out")["4"] == (
        "department 'Design' (203) does not match department_id 202 (Engineering, under "
        "Company); correct or clear one of them"
    )


def test_member_type_follows_the_name_column(api: ApiSettings, tmp_path: Path) -> None:
    """An email means User, a title Workspace; a contradicting type or both names is an error."""
    src = write_csv(
        tmp_path / "mixed.csv",
        [
            ["EMEA", "Design", "mateo.campbell@acme.example", "", ""],
            ["EMEA", "Design", "", "CRM Rollout", "workspace"],
            ["EMEA", "Design", "priya.weber@acme.example", "", "Workspace"],
            ["EMEA", "Design", "ethan.young@acme.example", "CRM Rollout", ""],
            ["EMEA", "Design", "", "", ""],
        ],
        header=["Geography", "Department", "Email", "Project", "member_type"],
    )
    result = validate_file(src, out_dir=tmp_path / "out", api=api)
    assert result.counts["valid"] == 2
    got = messages(tmp_path / "out")
    assert got["4"] == (
        "member_type 'Workspace' does not match member_email (a User); correct or clear one of them"
    )
    assert got["5"] == "member_email and workspace are both given; keep one"
    assert got["6"] == "member_email or workspace is required"


def test_names_without_a_token(tmp_path: Path) -> None:
    """Names replacing IDs need the API (InputError); names beside IDs are left unchecked."""
    names_only = write_csv(tmp_path / "n.csv", [["EMEA", "Design", "a@b.c"]], header=NAMES)
    with pytest.raises(InputError, match="KANTATA_API_TOKEN"):
        validate_file(names_only, out_dir=tmp_path / "o1")
    beside = write_csv(
        tmp_path / "b.csv",
        [[105, 202, 10010, "User", "anything@acme.example"]],
        header=["geography_id", "department_id", "member_id", "member_type", "Email"],
    )
    result = validate_file(beside, out_dir=tmp_path / "o2")
    assert result.exit_code == 0
    assert result.summary["names_checked"] is False


def test_lookup_requests_stay_bounded_on_10000_rows(tmp_path: Path) -> None:
    """10,000 rows of names: one listing of organizations, users 200 addresses a request
    (``by_email_addresses``); not a request per row."""
    seed = big_seed(tmp_path / "seed.json", 10_000)
    geos, depts = ["EMEA", "Americas", "APAC", "Germany"], ["Engineering", "Design", "Sales"]
    rows = [[geos[i % 4], depts[i % 3], f"load.{20001 + i}@acme.example"] for i in range(10_000)]
    with SandboxServer(SandboxConfig(seed=seed)) as server:
        api = settings_for(server)
        counts = []
        for n in (10_000, 4_000):
            src = write_csv(tmp_path / f"big{n}.csv", rows[:n], header=NAMES)
            server.reset_counters()
            t0 = time.perf_counter()
            result = validate_file(src, out_dir=tmp_path / f"out{n}", api=api)
            elapsed = time.perf_counter() - t0
            assert result.counts["valid"] == n
            counts.append(server.counters.requests)
            assert result.summary["lookup_requests"] == server.counters.requests
        assert counts == [1 + 50, 1 + 20]  # organizations + one request per 200 addresses
        assert elapsed < 10


def test_a_few_names_are_looked_up_one_by_one(tmp_path: Path) -> None:
    """Against a big directory, three emails cost one by_email_addresses search, no listing."""
    seed = big_seed(tmp_path / "seed.json", 10_000)
    rows = [["EMEA", "Design", f"load.{i}@acme.example"] for i in (20001, 25000, 29999)]
    src = write_csv(tmp_path / "few.csv", rows, header=NAMES)
    with SandboxServer(SandboxConfig(seed=seed)) as server:
        result = validate_file(src, out_dir=tmp_path / "out", api=settings_for(server))
        assert result.counts["valid"] == 3
        assert server.counters.requests == 1 + 1  # organizations, one by_email_addresses


def test_mapping_file_points_headers_at_name_columns(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """A TOML mapping file names the columns the built-in matching does not know."""
    src = write_csv(
        tmp_path / "odd.csv",
        [["EMEA", "Finance", "kwame.murphy@acme.example"]],
        header=["Site", "Team", "Who"],
    )
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[columns]\n"Site" = "geography"\n"Team" = "department"\n"Who" = "member_email"\n',
        encoding="utf-8",
    )
    options = ImportOptions(mapping=read_mapping_file(mapping))
    result = run_import(src, out_dir=tmp_path / "out", api=api, options=options)
    assert result.counts["created"] == 1
    assert ("10010", "206") in {(m["member_id"], m["department_id"]) for m in sandbox.memberships()}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[columns]\n"Team" = "dept_name"\n', "unknown column 'dept_name'"),
        ('"Team" = "department"\n', "needs a [columns] table"),
        ("[columns\n", "not valid TOML"),
    ],
)
def test_bad_mapping_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, needle: str
) -> None:
    """An unknown target or a malformed mapping file: exit 2 with a one-line error."""
    monkeypatch.delenv("KANTATA_API_TOKEN", raising=False)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    args = ["validate", str(src), "--map-file", str(tmp_path / "m.toml")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
