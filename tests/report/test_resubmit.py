"""Fix and resubmit: errors.csv / errors.xlsx, edited, go straight back into importer run."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd

from importer.core import ApiSettings
from importer.jobs import run_import, validate_file
from importer.sandbox import SandboxServer

from ..conftest import write_csv, write_xlsx


def read(path: Path) -> pd.DataFrame:
    """A result CSV as text."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def edit_xlsx(path: Path, fixes: dict[str, dict[str, str]]) -> None:
    """Set cells of an errors.xlsx by the row's Email and the column's header, as a person would."""
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws is not None
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        email = row[header.index("Email")].value
        for column, value in fixes.get(str(email), {}).items():
            row[header.index(column)].value = value
    wb.save(path)


def test_edited_errors_xlsx_resubmitted_completes_the_import(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """A script fixes errors.xlsx; run on it creates the rest and names each original row."""
    src = write_xlsx(
        tmp_path / "people.xlsx",
        {
            "Members": [
                ["Geography", "Department", "Email", "Notes"],
                ["EMEA", "Engineering", "mateo.campbell@acme.example", "fine"],
                ["EMEA", "Operationz", "priya.weber@acme.example", "+1 555 0100"],
                ["Germany", "Design", "nobody@acme.example", "-typo"],
                ["Germany", "Design", "liam.tanaka@acme.example", "seeded at 105/202"],
            ]
        },
    )
    first = run_import(src, out_dir=tmp_path / "r1", api=api)
    assert first.counts["created"] == 1
    assert first.counts["failed_validation"] + first.counts["failed_remote"] == 3
    errors_xlsx = tmp_path / "r1" / "errors.xlsx"
    edit_xlsx(
        errors_xlsx,
        {
            "priya.weber@acme.example": {"Department": "Finance"},
            "nobody@acme.example": {"Email": "ethan.young@acme.example"},
            "liam.tanaka@acme.example": {
                "Geography": "United Kingdom",
                "Department": "Engineering",
            },
        },
    )
    second = run_import(errors_xlsx, out_dir=tmp_path / "r2", api=api)
    assert second.exit_code == 0, read(tmp_path / "r2" / "errors.csv").to_dict("records")
    assert second.counts["created"] == 2
    assert second.counts["already_existed"] == 1
    assert second.summary["resubmission"] is True
    success = read(tmp_path / "r2" / "success.csv")
    assert list(success.columns[:8]) == [
        "sheet",
        "source_row",
        "original_sheet",
        "original_row",
        "Geography",
        "Department",
        "Email",
        "Notes",
    ]
    assert "error_message" not in success.columns
    assert success["sheet"].unique().tolist() == ["errors"]
    assert success["original_sheet"].unique().tolist() == ["Members"]
    assert success["original_row"].tolist() == ["3", "4", "5"]
    assert success["Notes"].tolist() == ["'+1 555 0100", "'-typo", "seeded at 105/202"]
    assert success["department_id"].tolist() == ["206", "203", "202"]
    stored = {(m["member_id"], m["department_id"]) for m in sandbox.memberships()}
    assert {("10007", "206"), ("10008", "203")} <= stored


def test_errors_csv_rounds_keep_the_first_row_numbers_and_the_original_text(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """Two rounds of errors.csv: rows keep their first row number; escaped cells read back."""
    src = write_csv(
        tmp_path / "in.csv",
        [["105", 202, 10010, "User", "ok"], ["+105", 202, "-10011", "User", "=2+2"]],
        header=["geography_id", "department_id", "member_id", "member_type", "Notes"],
    )
    run_import(src, out_dir=tmp_path / "r1", api=api)
    round1 = read(tmp_path / "r1" / "errors.csv")
    assert round1.loc[0, "geography_id"] == "'+105"  # escaped for spreadsheets
    run_import(tmp_path / "r1" / "errors.csv", out_dir=tmp_path / "r2", api=api)
    round2 = read(tmp_path / "r2" / "errors.csv")
    assert round2.loc[0, ["source_row", "original_row"]].tolist() == ["2", "3"]
    assert round2.loc[0, ["geography_id", "member_id", "Notes"]].tolist() == [
        "'+105",
        "'-10011",
        "'=2+2",
    ]
    round2.loc[0, "member_id"] = "10011"
    round2.to_csv(tmp_path / "fixed.csv", index=False)
    final = run_import(tmp_path / "fixed.csv", out_dir=tmp_path / "r3", api=api)
    assert final.exit_code == 0
    success = read(tmp_path / "r3" / "success.csv")
    assert success.loc[0, ["original_row", "member_id"]].tolist() == ["3", "10011"]
    assert ("10011", "105") in {(m["member_id"], m["geography_id"]) for m in sandbox.memberships()}


def test_a_workbook_nul_cell_does_not_make_the_errors_file_unreadable(tmp_path: Path) -> None:
    """``_x0000_`` in a workbook's XML is a NUL once read; errors.csv must still be readable."""
    book = write_xlsx(
        tmp_path / "people.xlsx",
        {
            "Members": [
                ["geography_id", "department_id", "member_id", "member_type", "Notes"],
                [101, 201, "_x0000_", "User", "a_x0000_b"],
                [101, 201, 20001, "User", "fine"],
            ]
        },
    )
    first = validate_file(book, out_dir=tmp_path / "first")
    assert first.counts["failed_validation"] == 1
    errors_csv = tmp_path / "first" / "errors.csv"
    assert b"\x00" not in errors_csv.read_bytes()
    again = validate_file(errors_csv, out_dir=tmp_path / "again")  # not refused as unreadable
    assert again.counts == {"rows": 1, "valid": 0, "failed_validation": 1}
