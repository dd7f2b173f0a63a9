"""importer template: a workbook that opens, guides, and imports once filled in."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from importer import InputError
from importer.cli._app import app
from importer.core import ApiSettings
from importer.jobs import run_import, write_template
from importer.sandbox import SandboxServer

runner = CliRunner()


def validations(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, str]:
    """The sheet's data validations as {cell range: formula}."""
    return {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}


def test_template_without_token_has_headers_instructions_and_dropdown(tmp_path: Path) -> None:
    """Members (name headers, member_type dropdown) and Instructions; no reference sheets."""
    path = write_template(tmp_path / "t.xlsx", rows=100)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Members", "Instructions"]
    members = wb["Members"]
    header = [c.value for c in members[1]]
    assert header == ["geography", "department", "member_email", "workspace", "member_type"]
    assert validations(members) == {"E2:E101": '"User,Workspace"'}
    text = "\n".join(str(r[0]) for r in wb["Instructions"].iter_rows(values_only=True) if r[0])
    assert "member_email: Email address of the user" in text
    assert "importer run FILE" in text


def test_template_with_token_lists_organizations(api: ApiSettings, tmp_path: Path) -> None:
    """With a token: Geographies and Departments (id, name, parent, path) feed dropdowns."""
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", api=api, rows=50))
    assert wb.sheetnames == ["Members", "Instructions", "Geographies", "Departments"]
    depts = list(wb["Departments"].iter_rows(values_only=True))
    assert depts[0] == ("id", "name", "parent", "path", "note")
    assert [r[0] for r in depts[1:]] == list(range(201, 211))
    assert depts[-1][:4] == (
        210,
        "Service Operations",
        "Professional Services",
        "Company > Professional Services > Service Operations",
    )
    assert not depts[-1][4]  # names are unique on an account (docs/kantata-api.md § Lookups)
    assert [r[1] for r in wb["Geographies"].iter_rows(min_row=2, values_only=True)][:2] == [
        "Global",
        "EMEA",
    ]
    assert validations(wb["Members"]) == {
        "E2:E51": '"User,Workspace"',
        "A2:A51": "Geographies!$B$2:$B$9",
        "B2:B51": "Departments!$B$2:$B$11",
    }


def test_filled_in_template_imports(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """The template, filled in with names by a script, imports as it is."""
    path = write_template(tmp_path / "t.xlsx", api=api)
    wb = openpyxl.load_workbook(path)
    wb["Members"].append(["Germany", "Marketing", "kwame.murphy@acme.example", None, None])
    wb["Members"].append(["Singapore", "Sales", None, "ERP Migration", "Workspace"])
    wb.save(path)
    result = run_import(path, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 0
    assert result.counts["created"] == 2
    stored = {
        (m["member_id"], m["geography_id"], m["department_id"]) for m in sandbox.memberships()
    }
    assert {("10010", "106", "205"), ("50002", "108", "204")} <= stored


def test_id_template_and_bad_name(tmp_path: Path) -> None:
    """--ids writes the ID headers; a name that is not .xlsx is refused."""
    wb = openpyxl.load_workbook(write_template(tmp_path / "ids.xlsx", ids=True))
    assert [c.value for c in wb["Members"][1]] == [
        "geography_id",
        "department_id",
        "member_id",
        "member_type",
    ]
    with pytest.raises(InputError, match=r"\.xlsx"):
        write_template(tmp_path / "t.csv")


def test_template_command(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """importer template with a token in the environment writes the reference sheets."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    out = tmp_path / "members.xlsx"
    result = runner.invoke(app, ["template", str(out), "--base-url", sandbox.base_url])
    assert result.exit_code == 0, result.output
    assert "with the organization lists" in result.stderr
    assert "Departments" in openpyxl.load_workbook(out).sheetnames
