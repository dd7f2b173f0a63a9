"""Files as HR systems and people make them, and a quiet tool that still explains itself."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from importer import ApiSettings
from importer.cli._app import app
from importer.core import InputError, default_out_dir
from importer.jobs import run_import
from importer.sandbox import SandboxConfig, SandboxServer

from ..conftest import settings_for, write_csv

runner = CliRunner()


def test_quiet_run_with_wrong_token_says_why_on_stderr(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run -q` (and `-q --json`) with a refused token: exit 3 and the one-line reason."""
    monkeypatch.setenv("KANTATA_API_TOKEN", "wrong-token")
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    for extra in (["-q"], ["-q", "--json"]):
        out = tmp_path / f"o{len(extra)}"
        args = ["run", str(src), "--base-url", sandbox.base_url, "--out", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 3, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: the server refused the API token (HTTP 401)")


def test_retries_never_print_on_stderr(tmp_path: Path) -> None:
    """A run whose requests are retried (503s) prints nothing on stderr under -q --json."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10016)])
    with SandboxServer(SandboxConfig(fail_rate=0.5, random_seed=3)) as server:
        env = {**os.environ, "KANTATA_API_TOKEN": server.token}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "importer.cli",
                "run",
                str(src),
                "-q",
                "--json",
                "--base-url",
                server.base_url,
                "--batch-size",
                "1",
                "--concurrency",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert '"retries": 0' not in proc.stdout  # the run did retry ...
    assert proc.stderr == ""  # ... and said nothing about it on stderr


def test_retries_go_to_the_importer_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each retry is one readable INFO line on the importer.retry logger, none on stamina's."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10016)])
    caplog.set_level(logging.DEBUG)
    with SandboxServer(SandboxConfig(fail_rate=0.5, random_seed=3)) as server:
        result = run_import(src, out_dir=tmp_path / "o", api=settings_for(server, concurrency=1))
    retries = result.summary["retries"]
    assert retries > 0
    mine = [r for r in caplog.records if r.name == "importer.retry"]
    assert len(mine) == retries
    assert "server busy (HTTP 503)" in mine[0].getMessage()
    assert not [r for r in caplog.records if r.name == "stamina"]


def test_library_reads_the_environment_like_the_cli(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_import with no api= (the README example) uses $KANTATA_BASE_URL and the token."""
    monkeypatch.setenv("KANTATA_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    assert ApiSettings.from_env(concurrency=2).base_url == sandbox.base_url
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    result = run_import(src, out_dir=tmp_path / "o")
    assert result.exit_code == 0, result.fatal
    assert result.summary["base_url"] == sandbox.base_url
    assert len(sandbox.memberships()) == 6


def test_same_stem_inputs_get_their_own_results(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """people.csv then people.xlsx in one folder: two results folders, both runs succeed."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    csv_file = write_csv(tmp_path / "people.csv", [[105, 202, 10010, "User"]])
    from ..conftest import HEADER, write_xlsx

    xlsx_file = write_xlsx(tmp_path / "people.xlsx", {"M": [HEADER, [105, 202, 10011, "User"]]})
    for src in (csv_file, xlsx_file):
        result = runner.invoke(app, ["run", str(src), "--base-url", sandbox.base_url, "-q"])
        assert result.exit_code == 0, result.output
    assert default_out_dir(csv_file) == tmp_path / "people.csv-results"
    assert (tmp_path / "people.csv-results" / "success.csv").exists()
    assert (tmp_path / "people.xlsx-results" / "success.csv").exists()


ID_HEADER = ["Geography ID", "Department ID", "Member ID", "Member Type"]


def _validate(args: list[str]) -> tuple[int, str, dict[str, object], str]:
    """Run `importer validate --json`; exit code, stderr, summary and errors.csv text."""
    result = runner.invoke(app, ["validate", *args, "--json"])
    summary = json.loads(result.stdout) if result.stdout.strip() else {}
    out = Path(args[args.index("--out") + 1])
    errors = (
        (out / "errors.csv").read_text(encoding="utf-8") if (out / "errors.csv").exists() else ""
    )
    return result.exit_code, result.stderr, summary, errors


def _report_book(path: Path, *, merged_title: bool = False) -> Path:
    """A Workday/BambooHR custom report: a title, a date line, then the header on row 3."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Report"
    ws.append(["Organization Memberships - custom report"])
    ws.append(["Generated 2026-11-30 04:00 by HR Admin"])
    ws.append(ID_HEADER)
    ws.append([105, 202, 10010, "User"])
    ws.append([105, 202, "ten", "User"])
    ws.append([106, 203, 10011, "User"])
    if merged_title:
        ws.merge_cells("A1:D1")
    wb.save(path)
    return path


@pytest.mark.parametrize("merged_title", [False, True])
def test_header_below_a_title_and_date_line_is_found(tmp_path: Path, merged_title: bool) -> None:
    """A custom report's header on row 3 is found, said, and rows keep Excel's numbers."""
    src = _report_book(tmp_path / "report.xlsx", merged_title=merged_title)
    code, stderr, summary, errors = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 1, stderr
    assert summary["input"]["header_row"] == 3  # type: ignore[index]
    assert summary["notes"] == ["header found on row 3: it names 4 expected columns"]
    assert summary["input"]["header_reason"] == "row 3: it names 4 expected columns"  # type: ignore[index]
    assert summary["counts"] == {"rows": 3, "valid": 2, "failed_validation": 1}
    bad = list(csv.DictReader(io.StringIO(errors)))
    assert [(r["source_row"], r["error_message"]) for r in bad] == [
        ("5", "member_id must be a whole number, got 'ten'")
    ]
    table = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "p")])
    assert "note: header found on row 3: it names 4 expected columns" in table.stderr


def test_header_below_a_title_in_csv_and_header_row_option(tmp_path: Path) -> None:
    """CSV too; --header-row N takes row N (here the data row below, so nothing matches)."""
    src = tmp_path / "report.csv"
    src.write_text(
        "Organization Memberships - custom report\n"
        "Generated 2026-11-30\n"
        + ",".join(ID_HEADER)
        + "\n105,202,10010,User\n105,202,10011,Usr\n",
        encoding="utf-8",
    )
    code, stderr, summary, errors = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 1, stderr
    assert summary["input"]["header_row"] == 3  # type: ignore[index]
    assert [r["source_row"] for r in csv.DictReader(io.StringIO(errors))] == ["5"]
    code, stderr, summary, _ = _validate(
        [str(src), "--header-row", "3", "--out", str(tmp_path / "p")]
    )
    assert code == 1
    assert summary["notes"] == []
    code, stderr, _, _ = _validate([str(src), "--header-row", "4", "--out", str(tmp_path / "q")])
    assert code == 2
    assert "looks like data ('105', '202', ...)" in stderr
    code, stderr, _, _ = _validate([str(src), "--header-row", "40", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "row 40 (--header-row) is empty or beyond the end" in stderr


def test_sep_line_sets_the_delimiter_and_is_not_a_row(tmp_path: Path) -> None:
    """`sep=;` first (as Excel writes it): ';' is used, the line skipped, rows as Excel shows."""
    src = tmp_path / "people.csv"
    src.write_text(
        "sep=;\r\ngeography_id;department_id;member_id;member_type\r\n"
        "105;202;10010,5;User\r\n105;202;10011;User\r\n",
        encoding="utf-8",
    )
    code, stderr, summary, errors = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 1, stderr
    assert summary["input"]["delimiter"] == ";"  # type: ignore[index]
    assert summary["input"]["header_row"] == 1  # type: ignore[index]
    assert summary["counts"] == {"rows": 2, "valid": 1, "failed_validation": 1}
    bad = list(csv.DictReader(io.StringIO(errors)))
    assert [(r["source_row"], r["error_message"]) for r in bad] == [
        ("2", "member_id must be a whole number, got '10010,5'")
    ]


def _with_instructions(path: Path, *data_sheets: str) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Instructions"
    ws.append(["How to fill in this workbook"])
    ws.append(["One row per member; see the Members sheet."])
    for name in data_sheets:
        sheet = wb.create_sheet(name)
        sheet.append(ID_HEADER)
        sheet.append([105, 202, 10010, "User"])
    wb.save(path)
    return path


def test_instructions_sheet_first_takes_the_only_matching_sheet(tmp_path: Path) -> None:
    """No --sheet and the first sheet is Instructions: the one sheet with a header is read."""
    src = _with_instructions(tmp_path / "book.xlsx", "Members")
    code, stderr, summary, _ = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 0, stderr
    assert summary["input"]["sheet"] == "Members"  # type: ignore[index]
    assert summary["notes"] == [
        "sheet 'Instructions' has no header row with the expected columns; read sheet "
        "'Members', the only one that has (choose with --sheet)"
    ]


def test_instructions_sheet_first_with_two_candidates_names_sheet_option(tmp_path: Path) -> None:
    """Two sheets could be the data: the message names them and the --sheet to use."""
    src = _with_instructions(tmp_path / "book.xlsx", "Members", "Leavers")
    code, stderr, _, _ = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 2
    assert stderr.strip() == (
        "error: book.xlsx: the first sheet, 'Instructions', has no header row with the expected "
        "columns; sheets 'Members', 'Leavers' have: choose one with --sheet \"Members\""
    )


def test_error_field_names_the_files_header_once(api: ApiSettings, tmp_path: Path) -> None:
    """error_field is the person's header (schema column in brackets), never doubled."""
    from importer.jobs import validate_file

    src = write_csv(
        tmp_path / "people.csv",
        [
            [105, 202, "aiko.schmidt@acme.example", "Usr"],  # two messages on one column
            [105, "x", "priya.weber@acme.example", "User"],
            [105, 202, "ethan.young@acme.example", "user"],
        ],
        header=["Geography ID", "Dept ID", "Work Email", "Member Type"],
    )
    result = validate_file(src, out_dir=tmp_path / "o", api=api)
    assert result.counts == {"rows": 3, "valid": 1, "failed_validation": 2}
    text = (tmp_path / "o" / "errors.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["source_row"], r["error_field"]) for r in rows] == [
        ("2", "Member Type"),
        ("3", "Dept ID [department_id]"),
    ]
    assert rows[0]["error_message"].count("member_type") == 2  # both messages kept


def test_names_as_people_type_them_are_matched(api: ApiSettings, tmp_path: Path) -> None:
    """`Name <address>`, mailto:, no-break and double spaces, trailing dots all resolve."""
    from importer.jobs import validate_file

    src = tmp_path / "people.csv"
    rows = [
        ["Location", "Department", "Work Email"],
        ["EMEA", "Engineering.", "Olivia Smith <olivia.smith@acme.example>"],
        ["EMEA ", "Design", "mailto:Liam.Tanaka@acme.example"],
        ["United\xa0 Kingdom", "Sales.", "amara.cohen@acme.example."],
        ["EMEA", "Design", "Nobody Here <nobody@acme.example>"],
    ]
    with src.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = validate_file(src, out_dir=tmp_path / "o", api=api)
    assert result.counts == {"rows": 4, "valid": 3, "failed_validation": 1}
    text = (tmp_path / "o" / "errors.csv").read_text(encoding="utf-8-sig")
    bad = list(csv.DictReader(io.StringIO(text)))
    assert [(r["source_row"], r["error_field"]) for r in bad] == [
        ("5", "Work Email [member_email]")
    ]
    # Users are looked up by address (by_email_addresses), never listed: no close matches known.
    assert bad[0]["error_message"] == "member_email 'Nobody Here <nobody@acme.example>' not found"


def _merged_book(path: Path) -> Path:
    """Departments merged down blocks of rows, a formula never calculated, a totals row."""
    from openpyxl.worksheet.table import Table

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Members"
    ws.append(["Member ID", "Member Type", "Geography ID", "Department ID"])
    for member in range(10010, 10027):  # rows 2..18
        ws.append([member, "User", 105, None])
    for row in (2, 3, 4):
        ws.cell(row, 4, 203)
    ws["D5"] = 202
    ws.merge_cells("D5:D14")
    ws["D15"] = "Eng"
    ws.merge_cells("D15:D17")
    ws["D18"] = 204
    ws["C18"] = "=100+5"  # openpyxl saves the formula without a value
    ws.append(["Total", None, None, "=SUBTOTAL(103,D2:D18)"])  # row 19
    ws.add_table(Table(displayName="People", ref="A1:D19", totalsRowCount=1))
    wb.save(path)
    return path


def test_merged_cells_formulas_and_totals_row(tmp_path: Path) -> None:
    """Merged blocks read as shown; errors name the merge or the formula; totals row skipped."""
    src = _merged_book(tmp_path / "people.xlsx")
    code, stderr, summary, errors = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 1, stderr
    assert summary["counts"] == {"rows": 17, "valid": 13, "failed_validation": 4}
    assert summary["notes"] == ["skipped the totals row of table 'People' (row 19)"]
    bad = [
        (r["source_row"], r["error_field"], r["error_message"])
        for r in csv.DictReader(io.StringIO(errors))
    ]
    merged = "department_id must be a whole number, got 'Eng' (merged cells D15:D17)"
    assert bad == [
        ("15", "Department ID", merged),
        ("16", "Department ID", merged),
        ("17", "Department ID", merged),
        (
            "18",
            "Geography ID",
            "geography_id is required (cell C18 is a formula that was never calculated: the "
            "file was saved without its values; open it in Excel and save it)",
        ),
    ]


def test_name_lookups_report_progress(tmp_path: Path) -> None:
    """While names are looked up, progress says what (users) and how many are done."""
    from importer.jobs import Progress, validate_file

    emails = ["olivia.smith", "liam.tanaka", "amara.cohen", "noah.singh"]
    src = write_csv(
        tmp_path / "people.csv",
        [[105, 202, f"{e}@acme.example"] for e in emails],
        header=["Geography ID", "Department ID", "Email"],
    )
    events: list[Progress] = []
    with SandboxServer(SandboxConfig(max_per_page=10)) as server:
        api = settings_for(server)
        result = validate_file(src, out_dir=tmp_path / "o", api=api, progress=events.append)
    assert result.counts == {"rows": 4, "valid": 4, "failed_validation": 0}
    users = [(e.done, e.total) for e in events if e.phase == "users"]
    assert users == [(0, 4), (4, 4)]  # one by_email_addresses request for all four
    assert events[-1] == Progress("validate", 4, None)


def test_fixing_the_same_errors_file_twice_just_works(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """errors.csv fixed, run, fixed again, run again (same results folder): no --restart."""
    import pandas as pd

    src = write_csv(
        tmp_path / "people.csv",
        [[105, 202, 10010, "User"], [105, 202, "x", "User"], [999, 202, 10012, "User"]],
    )
    first = run_import(src, api=api)
    assert first.counts["created"] == 1
    errors = tmp_path / "people.csv-results" / "errors.csv"

    def edit(fix: dict[int, dict[str, str]]) -> None:
        frame = pd.read_csv(errors, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        for original_row, cells in fix.items():
            for column, value in cells.items():
                frame.loc[frame["source_row"] == str(original_row), column] = value
        frame.to_csv(errors, index=False)

    edit({3: {"member_id": "10011"}})  # the validation error only
    second = run_import(errors, api=api)
    assert (second.counts["created"], second.counts["failed_remote"]) == (1, 1)
    edit({4: {"geography_id": "105"}})  # the server's refusal, in the same file
    third = run_import(errors, api=api)
    assert third.exit_code == 0, third.fatal
    assert third.counts["created"] == 2  # row 3 (created last time) stays created
    assert third.summary["resumed_done"] == 1
    # The geography 999 row failed as a missing reference, which the journal never makes
    # final (it depends on the server): it is decided anew, nothing is "sent again".
    assert third.summary["sent_again"] == 0
    out = tmp_path / "people.csv-results" / "errors.csv-results"
    success = pd.read_csv(out / "success.csv", dtype=str, keep_default_na=False)
    assert success[["source_row", "original_row", "member_id"]].values.tolist() == [
        ["2", "3", "10011"],
        ["3", "4", "10012"],
    ]
    members = {(m["member_id"], m["geography_id"]) for m in sandbox.memberships()}
    assert {("10010", "105"), ("10011", "105"), ("10012", "105")} <= members


@pytest.mark.parametrize("command", ["validate", "plan", "template", "drop"])
def test_every_quiet_command_says_why_it_stopped(
    command: str, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-q with a refused token: exit 3 and the reason on stderr, for every command."""
    monkeypatch.setenv("KANTATA_API_TOKEN", "wrong-token")
    monkeypatch.setenv("KANTATA_BASE_URL", sandbox.base_url)
    ids = write_csv(tmp_path / "ids.csv", [[105, 202, 10010, "User"]])
    names = write_csv(
        tmp_path / "names.csv",
        [[105, 202, "olivia.smith@acme.example"]],
        header=["geography_id", "department_id", "Email"],
    )
    args = {
        "validate": ["validate", str(names)],
        "plan": ["plan", str(ids)],
        "template": ["template", str(tmp_path / "t.xlsx")],
        "drop": ["drop", str(tmp_path / "drop"), "--log-file", str(tmp_path / "drop.log")],
    }[command]
    if command == "drop":
        (tmp_path / "drop" / "inbox").mkdir(parents=True)
        (tmp_path / "drop" / "importer.toml").write_text("stable_seconds = 0\n")
        (tmp_path / "drop" / "inbox" / "ids.csv").write_bytes(ids.read_bytes())
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 3, result.output
    assert "the server refused the API token (HTTP 401)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_drop_config_header_row(tmp_path: Path) -> None:
    """`header_row` in importer.toml (or KANTATA_DROP_HEADER_ROW) reaches ImportOptions."""
    from importer.drop import load_drop_config

    (tmp_path / "importer.toml").write_text("header_row = 3\n")
    assert load_drop_config(tmp_path, env={}).import_options("a.csv").header_row == 3
    env = {"KANTATA_DROP_HEADER_ROW": "4"}
    assert load_drop_config(tmp_path, env=env).import_options("a.xlsx").header_row == 4
    (tmp_path / "importer.toml").write_text("header_row = 0\n")
    with pytest.raises(InputError, match="header_row"):
        load_drop_config(tmp_path, env={})


def test_sheet_option_on_the_instructions_names_the_sheet_to_use(tmp_path: Path) -> None:
    """--sheet Instructions (no header there): the message names the sheet that has one."""
    src = _with_instructions(tmp_path / "book.xlsx", "Members")
    code, stderr, _, _ = _validate(
        [str(src), "--sheet", "Instructions", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert stderr.strip() == (
        "error: book.xlsx, sheet 'Instructions' has no header row with the expected columns in "
        "its first 30 rows; sheet 'Members' has: use --sheet 'Members'"
    )


def test_unknown_header_is_not_displaced_by_a_data_row(tmp_path: Path) -> None:
    """Unknown labels on row 1 and 'Workspace' in a data row: row 1 stays the header (--map)."""
    src = write_csv(
        tmp_path / "in.csv",
        [[105, 202, 50001, "Workspace"]],
        header=["Org Unit", "Dep", "Who", "Kind"],
    )
    code, stderr, _, _ = _validate([str(src), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "headers found: 'Org Unit', 'Dep', 'Who', 'Kind'" in stderr
    assert '--map "Header=member_email"' in stderr
