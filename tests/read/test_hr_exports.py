"""Exports shaped like those of HR systems import with no help, or fail with one line that
leads to the fix: header rows found by content, HR column names in five languages, suggestions
that never offer an HR number as a Kantata user id, footer lines skipped."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from importer import ApiSettings
from importer.cli._app import app
from importer.core import InputError
from importer.jobs import run_import
from importer.read import choose_header_row, header_scorer, match_headers, suggest_columns
from importer.sandbox import SandboxServer

from .. import hr_exports as hr

runner = CliRunner()
STAFF = hr.people(12)

#: export -> (writer, the header's row as Excel numbers it)
EXPORTS: dict[str, tuple[Callable[[Path, Sequence[hr.Person]], Path], str, int]] = {
    "adp": (hr.adp_csv, "csv", 4),
    "workday": (hr.workday_xlsx, "xlsx", 5),
    "successfactors": (hr.successfactors_xlsx, "xlsx", 4),
    "bamboohr": (hr.bamboohr_csv, "csv", 1),
    "personio": (hr.personio_xlsx, "xlsx", 1),
    "hibob": (hr.hibob_csv, "csv", 1),
    "ukg": (hr.ukg_csv, "csv", 3),
    "rippling": (hr.rippling_csv, "csv", 1),
}


def _write(name: str, tmp_path: Path) -> tuple[Path, int]:
    if name in hr.LANGUAGE_HEADERS:
        return hr.language_csv(tmp_path / f"{name}.csv", STAFF, name), 1
    writer, suffix, header_row = EXPORTS[name]
    return writer(tmp_path / f"{name}.{suffix}", STAFF), header_row


@pytest.mark.parametrize("name", [*EXPORTS, *hr.LANGUAGE_HEADERS])
def test_hr_export_imports_with_no_help(
    name: str, api: ApiSettings, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Each export, as its HR system lays it out, creates every member in its place by name."""
    src, header_row = _write(name, tmp_path)
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 0, (result.fatal, result.summary.get("notes"))
    assert result.counts["created"] == len(STAFF)
    assert result.summary["input"]["header_row"] == header_row
    assert result.summary["input"]["header_reason"].startswith(f"row {header_row}: it names 3")
    held = {int(m["member_id"]): m for m in sandbox.memberships()}
    orgs = {o["name"]: str(o["id"]) for o in json.loads(hr.SEED.read_text())["organizations"]}
    for person in STAFF:  # each in the department and geography its row names
        assert held[person.user_id]["department_id"] == orgs[person.department]
        assert held[person.user_id]["geography_id"] == orgs[person.geography]


def test_nightly_roster_with_a_total_line_exits_0(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADP's CSV with three title lines and "Total: 12 starters" last: exit 0, both said."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    src = hr.adp_csv(tmp_path / "adp.csv", STAFF, footer=f"Total: {len(STAFF)} starters")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(src), "--base-url", sandbox.base_url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "note: header found on row 4: it names 3 expected columns" in result.stderr
    footer_row = 4 + len(STAFF) + 1
    note = f"skipped the footer line on row {footer_row} ('Total: 12 starters'): not a member"
    assert f"note: {note}" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["rows"] == len(STAFF)
    assert note in summary["notes"]
    assert summary["input"]["header_reason"] == "row 4: it names 3 expected columns"


def test_workday_footer_in_a_workbook_is_skipped(api: ApiSettings, tmp_path: Path) -> None:
    """A Workday workbook ending in "Generated on ...": the line is not a failed row."""
    src = hr.workday_xlsx(tmp_path / "wd.xlsx", STAFF, footer="Generated on 2026-11-30 04:00")
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 0, result.summary
    assert result.counts["rows"] == len(STAFF)
    assert any("footer line on row 18" in n for n in result.summary["notes"])


def _unknown_labels(path: Path) -> Path:
    """The ADP file with every header label replaced by words no alias knows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = "Nom,Code A,Code B,Etat,Debut,Poste,Bereich,Ort,Kontakt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_header_found_by_shape_when_no_label_is_known(tmp_path: Path) -> None:
    """Labels no alias knows, under three title lines: row 4 is still taken, by its shape,
    and the message says which columns hold what, judged from their values."""
    src = _unknown_labels(hr.adp_csv(tmp_path / "adp.csv", STAFF))
    result = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "headers found on row 4: 'Nom', 'Code A'" in line
    assert f"'Kontakt' holds e-mail addresses (e.g. {STAFF[0].email!r})" in line
    assert '--map "Kontakt=member_email"' in line


def test_no_header_found_names_the_row_to_try(tmp_path: Path) -> None:
    """Nothing names a column or looks like a header (two rows of data): the message names
    the row most like one and the exact --header-row, which then leads on."""
    src = tmp_path / "odd.csv"
    src.write_text(
        "Org report\nOrt,Bereich,Kennung,Art\n105,202,10010,User\n105,202,10011,User\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert (
        "the column names may be on row 2 ('Ort', 'Bereich', 'Kennung', …): try --header-row 2"
    ) in result.stderr
    again = runner.invoke(
        app, ["validate", str(src), "--header-row", "2", "--out", str(tmp_path / "p")]
    )
    assert again.exit_code == 2
    assert "headers found on row 2: 'Ort', 'Bereich', 'Kennung', 'Art'" in again.stderr
    assert "--header-row" not in again.stderr


def _rows(*lines: str) -> list[list[str]]:
    return [line.split(",") if line else [] for line in lines]


@pytest.mark.parametrize(
    ("rows", "row", "reason"),
    [
        (  # SuccessFactors: a title, a date line, group headings, then the header
            _rows(
                "Employee Data Export", "Generated on 2026-11-30", "Personal,,,Job",
                "Person,First Name,Last Name,Department", "1,Ada,Lovelace,Engineering",
                "2,Alan,Turing,Design", "3,Grace,Hopper,Sales",
            ),
            4,
            "it names 1 expected column",
        ),
        (  # labels nobody knows, under a title: the shape decides
            _rows("New Hires", "", "Alpha,Beta,Gamma", "1,x@y.example,2024-01-01",
                  "2,z@y.example,2024-01-02", "3,w@y.example,2024-01-03"),
            3,
            "3 short labels above rows of consistent data",
        ),
        (  # a data row holding "Workspace" never displaces a header of unknown labels
            _rows("Org Unit,Dep,Who,Kind", "105,202,50001,Workspace", "105,202,50002,Workspace",
                  "105,202,50003,Workspace"),
            1,
            "4 short labels above rows of consistent data",
        ),
        (  # a table of text only: the first of its rows
            _rows("Name,Unit,Place", "Ada,Core,Berlin", "Alan,Core,London", "Grace,Ops,Paris"),
            1,
            "3 short labels above rows of consistent data",
        ),
    ],
)  # fmt: skip
def test_header_row_is_chosen_by_what_rows_say_and_look_like(
    rows: list[list[str]], row: int, reason: str
) -> None:
    """Names first, then the shape of a header, earliest on a tie; the reason is one line."""
    choice = choose_header_row(rows, header_scorer())
    assert choice is not None
    assert (choice.row, choice.reason) == (row, reason)


def test_alias_clash_and_header_reason_reach_the_summary(api: ApiSettings, tmp_path: Path) -> None:
    """HiBob with 'Site' and 'Country': the site is the geography, a note says so."""
    src = tmp_path / "bob.csv"
    rows = [[*hr.HIBOB_HEADER, "Country"]]
    rows += [[1, p.name, p.email, p.department, p.geography, "", "Utopia"] for p in STAFF]
    src.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n", encoding="utf-8")
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 0, result.summary
    assert result.summary["notes"] == [
        "took 'Site' for geography, not 'Country' (choose with --map \"Country=geography\")"
    ]


# --- suggestions that cannot misplace people ----------------------------------------------

HR_NUMBERS = [
    "Employee ID", "Employee #", "Employee Number", "EmployeeID", "Emp No", "Personalnummer",
    "Personal-Nr.", "Mitarbeiter-ID", "Matricule", "Worker ID", "Associate ID", "File Number",
    "Badge ID", "Payroll ID", "Person ID External", "Número de empleado", "Personeelsnummer",
    "Staff ID", "HR ID", "Legajo",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    header=st.sampled_from(HR_NUMBERS),
    ids=st.lists(st.integers(1, 10**7), min_size=1, max_size=5),
    others=st.sampled_from([["geography_id", "department_id"], ["Location", "Department"]]),
)
def test_hr_numbers_are_never_proposed_as_member_id(
    header: str, ids: list[int], others: list[str]
) -> None:
    """Whatever its number looks like, an HR number is never offered as member_id; the
    message says it is none and what to add instead."""
    headers = [*others, header]
    samples = [["105", "202", str(i)] for i in ids]
    for s in suggest_columns(headers, samples):
        assert s.column != "member_id"
    with pytest.raises(InputError) as info:
        match_headers(headers, where="x.csv", samples=samples)
    message = str(info.value)
    assert "=member_id" not in message
    assert f"{header!r} is an HR number, not a Kantata user id" in message
    assert "e-mail addresses (member_email)" in message


@pytest.mark.parametrize(
    ("values", "column"),
    [(["Engineering", "Sales"], "department"), (["202", "204"], "department_id")],
)
def test_names_go_to_the_name_column_judged_from_values(values: list[str], column: str) -> None:
    """A header like 'department' holding names is `department`, never `department_id`."""
    headers = ["Geo ID", "Org Department", "Work Email"]
    samples = [["105", v, "a@b.example"] for v in values]
    found = {s.header: s for s in suggest_columns(headers, samples)}
    assert found["Org Department"].column == column
    assert not found["Org Department"].sure
    assert found["Work Email"].column == "member_email"
    assert found["Work Email"].sure
    with pytest.raises(InputError, match=f'--map "Org Department={column}"'):
        match_headers(headers, where="x.csv", samples=samples)


def test_workday_without_an_email_column_leads_to_the_fix(tmp_path: Path) -> None:
    """Workday with --header-row 5 and no e-mail column: 'Employee ID' is named an HR number,
    and the one line says to add the users' e-mail addresses."""
    src = hr.workday_xlsx(tmp_path / "wd.xlsx", STAFF)
    import openpyxl

    wb = openpyxl.load_workbook(src)
    ws = wb.active
    assert ws is not None
    ws.delete_cols(7)
    wb.save(src)
    result = runner.invoke(
        app, ["validate", str(src), "--header-row", "5", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "'Employee ID' is an HR number, not a Kantata user id" in line
    assert "Employee ID=member_id" not in line
    assert "add a column of the users' e-mail addresses (member_email)" in line


def test_suggestions_carry_samples_for_every_column(tmp_path: Path) -> None:
    """One suggestion per header, in order, each with a few of its values (the web page's
    column step)."""
    from importer.read import open_table

    table = open_table(hr.adp_csv(tmp_path / "adp.csv", STAFF))
    found = suggest_columns(table.info.headers, table.info.samples)
    assert [s.header for s in found] == hr.ADP_HEADER
    by = {s.header: s for s in found}
    assert by["Home Department Description"].column == "department"
    assert by["Home Department Description"].samples == ("Engineering", "Design", "Sales")
    assert by["Associate ID"].column is None
    assert by["Associate ID"].reason == "is an HR number, not a Kantata user id"


def test_header_on_row_1_gets_no_note(tmp_path: Path) -> None:
    """BambooHR's header (no-break spaces) on row 1: taken, and nothing to say about it."""
    src = hr.bamboohr_csv(tmp_path / "b.csv", STAFF)
    text = src.read_text(encoding="utf-8")
    assert next(csv.reader(io.StringIO(text)))[0] == "Employee\xa0#"
    result = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "o")])
    assert "header found" not in result.stderr
