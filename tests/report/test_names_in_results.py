"""Results people can read: the member's name or e-mail and the organizations' names beside
their ids in success.csv, errors.csv/.xlsx and undo.csv, at no extra request per row; a resumed
run tells this run from earlier runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.core import NAME_COLUMNS, ApiSettings
from importer.jobs import run_import, undo_run
from importer.sandbox import SandboxServer

from ..conftest import HEADER, write_csv, write_xlsx

runner = CliRunner()
LIAM = "Liam Tanaka <liam.tanaka@acme.example>"  # user 10002, holds membership 9002 (105/202)


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_every_result_names_the_member_and_the_places(api: ApiSettings, tmp_path: Path) -> None:
    """A new member, one holding another membership, a wrong geography, a geography's id as the
    department: names beside ids in success.csv, errors.csv and errors.xlsx, and in the
    messages; an id of the wrong tree is named by the error, never beside it."""
    src = write_xlsx(
        tmp_path / "in.xlsx",
        {
            "M": [
                HEADER,
                [106, 203, 10010, "User"],
                [106, 203, 10002, "User"],
                [999, 202, 10011, "User"],
                [105, 105, 10012, "User"],
            ]
        },
    )
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.exit_code == 1
    (ok,) = _rows(tmp_path / "out" / "success.csv")
    assert [ok[c] for c in NAME_COLUMNS] == [
        "Kwame Murphy <kwame.murphy@acme.example>", "Germany", "Design"
    ]  # fmt: skip
    differs, missing, wrong_tree = _rows(tmp_path / "out" / "errors.csv")
    assert [differs[c] for c in NAME_COLUMNS] == [LIAM, "Germany", "Design"]
    assert differs["error_message"].startswith(
        f"User {LIAM} (10002) already holds membership 9002 (geography United Kingdom (105), "
        "department Engineering (202))"
    )
    assert [missing[c] for c in NAME_COLUMNS] == ["", "", "Engineering"]
    assert [wrong_tree[c] for c in NAME_COLUMNS][1:] == ["United Kingdom", ""]
    assert "department 105 is a Geography (United Kingdom)" in wrong_tree["error_message"]
    book = openpyxl.load_workbook(tmp_path / "out" / "errors.xlsx", read_only=True)
    header = next(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert list(header[-6:-3]) == NAME_COLUMNS


def test_a_member_already_in_place_is_named_by_the_lookup_of_the_file(
    api: ApiSettings, tmp_path: Path
) -> None:
    """A member the file names by e-mail, who holds the identical membership already: the send
    does not look them up again, and their row still carries the name the validation found
    (the same requests as without the names)."""
    header = ["geography", "department", "member_email"]
    src = write_csv(
        tmp_path / "in.csv",
        [["United Kingdom", "Engineering", "liam.tanaka@acme.example"],
         ["Germany", "Design", "kwame.murphy@acme.example"]],
        header,
    )  # fmt: skip
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert (result.counts["already_existed"], result.counts["created"]) == (1, 1)
    existed, created = _rows(tmp_path / "out" / "success.csv")
    assert existed["status"] == "existed"
    assert [existed[c] for c in NAME_COLUMNS] == [LIAM, "United Kingdom", "Engineering"]
    assert created["member_name"] == "Kwame Murphy <kwame.murphy@acme.example>"


def test_names_cost_no_request_per_row(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Twenty times the members, the same look-ups: names come from bulk look-ups the run makes
    anyway (organizations listed once, users 200 a request)."""
    api = ApiSettings(base_url=sandbox.base_url, token=sandbox.token)
    lookups = []
    for n, first in ((5, 10010), (100, 10050)):
        rows = [[105, 202, m, "User"] for m in range(first, first + n)] + [
            [106, 203, 10003, "User"]
        ]
        src = write_csv(tmp_path / f"in{n}.csv", rows)
        result = run_import(src, out_dir=tmp_path / f"out{n}", api=api)
        named = [r for r in _rows(tmp_path / f"out{n}" / "success.csv") if r["member_name"]]
        assert len(named) == n
        lookups.append(result.summary["requests_by_kind"]["lookups"])
    assert lookups[0] == lookups[1], lookups


def test_undo_csv_names_who_and_where(api: ApiSettings, tmp_path: Path) -> None:
    """undo.csv carries the names the run's results wrote, beside each row's membership."""
    src = write_csv(tmp_path / "in.csv", [[106, 203, 10010, "User"]])
    run_import(src, out_dir=tmp_path / "out", api=api)
    undone = undo_run(tmp_path / "out", api=api)
    assert undone.exit_code == 0
    (row,) = _rows(tmp_path / "out" / "undo.csv")
    assert [row[c] for c in NAME_COLUMNS] == [
        "Kwame Murphy <kwame.murphy@acme.example>", "Germany", "Design"
    ]  # fmt: skip
    assert row["action"] == "delete"


def test_resumed_run_tells_this_run_from_earlier_runs(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same command again in the same folder: 'created 2' were earlier runs' doing; this
    run's column says 0, in the table and in summary.json; names are kept."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, 10011, "User"]])
    args = ["run", str(src), "--base-url", sandbox.base_url, "--out", str(tmp_path / "out")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "earlier runs" not in first.stderr
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    created = next(line for line in second.stderr.splitlines() if "created" in line)
    assert [c.strip() for c in created.split("│")[1:5]] == ["created", "2", "0", "2"]
    assert "this run" in second.stderr
    assert "earlier runs" in second.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["counts"]["created"] == 2
    assert summary["counts_this_run"]["created"] == 0
    assert summary["counts_earlier_runs"]["created"] == 2
    names = [r["member_name"] for r in _rows(tmp_path / "out" / "success.csv")]
    assert names == [
        "Kwame Murphy <kwame.murphy@acme.example>",
        "Ingrid Kim <ingrid.kim@acme.example>",
    ]
