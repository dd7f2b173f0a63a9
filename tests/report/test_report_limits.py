"""Reports that cannot hold everything lose the overflow, never the run's results."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.core import EXCEL_COLUMNS
from importer.report._xlsx import XlsxSheetWriter
from importer.sandbox import SandboxServer

from ..conftest import HEADER

runner = CliRunner()


def test_a_header_in_every_excel_column_keeps_the_results(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16,384 headers: rows are created, errors.csv has all columns, errors.xlsx the first ones."""
    columns = [*HEADER, *(f"extra{i}" for i in range(EXCEL_COLUMNS - len(HEADER)))]
    rows = [[105, 202, 10010, "User"], [105, 202, 10011, "User"], ["nope", 202, 10012, "User"]]
    book = tmp_path / "wide.xlsx"
    with XlsxSheetWriter(book, "Members", columns, numeric=()) as writer:
        writer.append(
            [[str(r[i]) for r in rows] if i < 4 else ["x"] * len(rows) for i in range(len(columns))]
        )
    out = tmp_path / "out"
    before = len(sandbox.memberships())
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    result = runner.invoke(
        app, ["run", str(book), "--out", str(out), "--base-url", sandbox.base_url, "--json"]
    )
    assert result.exit_code == 1, result.output
    assert len(sandbox.memberships()) == before + 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["created"] == 2
    assert summary["counts"]["failed_validation"] == 1
    assert any("leaves out the last 8 input columns" in w for w in summary["warnings"])
    with (out / "errors.csv").open(encoding="utf-8-sig", newline="") as fh:
        header, row = list(csv.reader(fh))
    assert len(header) == EXCEL_COLUMNS + 8  # sheet, source_row, 3 names, 3 error columns
    assert header[-1] == "error_message"
    assert row[-3] == "validation"
    with zipfile.ZipFile(out / "errors.xlsx") as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert re.search(r'<c r="XFD1"[^>]*><is><t>error_message</t>', sheet)
    assert 'r="XFE' not in sheet
