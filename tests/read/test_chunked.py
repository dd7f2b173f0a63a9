"""The chunked path: any chunk size gives the same errors, rows and messages as one chunk."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from importer.core import ImportOptions
from importer.jobs import validate_file

HEADER = "geography_id,department_id,member_id,member_type"
# Line numbers (= source rows) are in the comments; blank lines are rows nobody sees as data.
LINES = [
    HEADER,  # 1
    "101,201,5,User",  # 2   member 5, first
    "101,201,6,User",  # 3
    "",  # 4   blank line
    "101,201,7,Workspace",  # 5
    "x,201,8,User",  # 6   bad geography
    "101,201,9,User",  # 7
    "101,201,10,User",  # 8
    "101,201,11,User",  # 9
    "101,201,5,user",  # 10  duplicate of row 2 (a later chunk at 7 rows per chunk)
    "   ,  ,  ,  ",  # 11  whitespace only: a blank row
    "101,201,12,User",  # 12
    "101,201,11,USER",  # 13  duplicate of row 9, the last row of the first chunk of 7
    "102,0,13,Team",  # 14  two bad cells
    "101,201,7,Workspace",  # 15  duplicate of row 5 (the type is part of the member)
    "101,201,7,User",  # 16  not a duplicate: User 7 is another member than Workspace 7
    "",  # 17
    "",  # 18
    "101,201,14,User",  # 19
    "101,201,abc,User",  # 20  bad member: never a duplicate
    "101,201,abc,User",  # 21
    "101,201,6.0,User",  # 22  duplicate of row 3 (6.0 is 6)
    "-1,201, 15 ,User",  # 23
    "101,201,+15,User",  # 24  duplicate of row 23, whose geography is bad
    *[f"103,202,{100 + i},User" for i in range(20)],  # 25..44
    "103,202,100,Workspace",  # 45
    "103,202,115,User",  # 46  duplicate of row 40, the last row of a chunk of 7
]


def _errors(out: Path) -> list[dict[str, str]]:
    with (out / "errors.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def members_csv(tmp_path: Path) -> Path:
    """The CSV above, with its blank lines."""
    path = tmp_path / "members.csv"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("chunk_rows", [1, 2, 7, 13])
def test_chunks_report_what_one_chunk_reports(
    members_csv: Path, tmp_path: Path, chunk_rows: int
) -> None:
    """Same errors.csv (rows, fields, messages, in order) and counts as a single chunk."""
    whole = validate_file(members_csv, out_dir=tmp_path / "whole")
    chunked = validate_file(
        members_csv,
        out_dir=tmp_path / f"by{chunk_rows}",
        options=ImportOptions(chunk_rows=chunk_rows),
    )
    assert _errors(chunked.out_dir) == _errors(whole.out_dir)
    assert chunked.counts == whole.counts
    assert chunked.exit_code == whole.exit_code == 1


def test_chunked_errors_name_the_right_rows(members_csv: Path, tmp_path: Path) -> None:
    """Source rows count blank lines; duplicates name the first row, in whatever chunk it was."""
    result = validate_file(
        members_csv, out_dir=tmp_path / "out", options=ImportOptions(chunk_rows=7)
    )
    errors = {
        int(e["source_row"]): (e["error_field"], e["error_message"])
        for e in _errors(result.out_dir)
    }
    assert sorted(errors) == [6, 10, 13, 14, 15, 20, 21, 22, 23, 24, 46]
    assert errors[6] == ("geography_id", "geography_id must be a whole number, got 'x'")
    assert errors[14] == (
        "department_id; member_type",
        "department_id must be a positive whole number, got '0'; "
        "member_type must be User or Workspace, got 'Team'",
    )
    duplicates = {10: (5, "User", 2), 13: (11, "User", 9), 15: (7, "Workspace", 5)}
    duplicates |= {22: (6, "User", 3), 24: (15, "User", 23), 46: (115, "User", 40)}
    for row, (member, kind, first) in duplicates.items():
        assert errors[row] == (
            "member",
            f"duplicate member {member} ({kind}): already on row {first}; "
            "a member can have only one membership per import",
        )
    assert errors[23][0] == "geography_id"
    assert result.counts == {"rows": 41, "valid": 30, "failed_validation": 11}
