"""Row validation: every failing cell reported with a message a person can act on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.core import load_row_schema
from importer.read import HeaderMap
from importer.validate import DuplicateTracker
from importer.validate import _rows as rows_module
from importer.validate._rows import validate_chunk
from importer.validate._schema import build_schema, row_schema

HEADERS = HeaderMap(
    columns={
        "geography_id": "Geography ID",
        "department_id": "Dept ID",
        "member_id": "Member ID",
        "member_type": "Type",
    },
    extras=("Notes",),
)


def frame(rows: list[tuple[str, str, str, str]], start: int = 2) -> pd.DataFrame:
    """Build a loader-shaped chunk (text cells, index = source row)."""
    df = pd.DataFrame(rows, columns=["Geography ID", "Dept ID", "Member ID", "Type"])
    df["Notes"] = "n"
    df.index = pd.Index(range(start, start + len(rows)), name="source_row")
    return df


def test_valid_rows_are_typed_and_canonical() -> None:
    """Whole numbers with spaces/.0 become ints; member_type gets its canonical case."""
    result = validate_chunk(
        frame([(" 104 ", "201.0", "10006", "user"), ("+7", "8", "9", "WORKSPACE")]), HEADERS
    )
    assert result.errors.empty
    assert result.valid.to_dict("index") == {
        2: {"geography_id": 104, "department_id": 201, "member_id": 10006, "member_type": "User"},
        3: {"geography_id": 7, "department_id": 8, "member_id": 9, "member_type": "Workspace"},
    }
    assert str(result.valid["member_id"].dtype) == "int64"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("10006.5", "member_id must be a whole number, got '10006.5'"),
        ("abc", "member_id must be a whole number, got 'abc'"),
        ("-3", "member_id must be a positive whole number, got '-3'"),
        ("0", "member_id must be a positive whole number, got '0'"),
        ("", "member_id is required"),
        ("   ", "member_id is required"),
        (
            "1234567890123456789",
            "member_id is too large (at most 18 digits), got '1234567890123456789'",
        ),
        ("1,000", "member_id must be a whole number, got '1,000'"),
    ],
)
def test_bad_member_id_messages(cell: str, message: str) -> None:
    """Each kind of bad ID cell gets its own actionable message."""
    result = validate_chunk(frame([("101", "201", cell, "User")]), HEADERS)
    assert result.valid.empty
    assert result.errors.loc[2, "error_field"] == "member_id"
    assert result.errors.loc[2, "error_message"] == message


def test_every_failing_cell_of_a_row_is_reported() -> None:
    """Lazy validation: all bad cells of one row appear, in schema column order."""
    result = validate_chunk(frame([("x", "", "5", "Contractor")]), HEADERS)
    row = result.errors.loc[2]
    assert row["error_field"] == "geography_id; department_id; member_type"
    assert row["error_message"] == (
        "geography_id must be a whole number, got 'x'; department_id is required; "
        "member_type must be User or Workspace, got 'Contractor'"
    )


def test_duplicate_member_names_first_row() -> None:
    """A member on a later row is an error naming the first row; type is part of the key."""
    result = validate_chunk(
        frame(
            [
                ("101", "201", "5", "User"),
                ("102", "202", "5", "Workspace"),
                ("103", "203", "5", "user"),
                ("104", "204", "5.0", "USER"),
            ]
        ),
        HEADERS,
    )
    assert list(result.valid.index) == [2, 3]
    assert list(result.errors.index) == [4, 5]
    assert result.errors.loc[4, "error_field"] == "member"
    assert "already on row 2" in result.errors.loc[4, "error_message"]
    assert "already on row 2" in result.errors.loc[5, "error_message"]


def test_duplicates_found_across_chunks() -> None:
    """The tracker carries members between chunks, naming the row in the earlier chunk."""
    tracker = DuplicateTracker()
    first = validate_chunk(
        frame([("101", "201", "5", "User")], start=2), HEADERS, duplicates=tracker
    )
    second = validate_chunk(
        frame([("101", "201", "6", "User"), ("101", "201", "5", "User")], start=3),
        HEADERS,
        duplicates=tracker,
    )
    assert first.errors.empty
    assert list(second.valid.index) == [3]
    assert "already on row 2" in second.errors.loc[4, "error_message"]


def test_escaped_formula_cells_come_back_as_text() -> None:
    """A cell the reporter escaped ('-3) validates like the original (-3)."""
    result = validate_chunk(frame([("101", "201", "'-3", "User")]), HEADERS)
    assert (
        result.errors.loc[2, "error_message"]
        == "member_id must be a positive whole number, got '-3'"
    )


ID_CELL = st.one_of(
    st.integers(min_value=-5, max_value=10**6).map(str),
    st.sampled_from(["", " ", "abc", "1.5", "2.0", " 3 ", "+4", "0", "1e3"]),
    st.text(max_size=4),
)
TYPE_CELL = st.sampled_from(["User", "user", "Workspace", "WORKSPACE", "", "Team", " User "])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ID_CELL, ID_CELL, ID_CELL, TYPE_CELL), min_size=1, max_size=30))
def test_every_row_is_valid_or_in_error_exactly_once(rows: list[tuple[str, str, str, str]]) -> None:
    """Nothing is dropped: valid and error rows partition the input rows."""
    chunk = frame(rows)
    result = validate_chunk(chunk, HEADERS)
    valid, errors = set(result.valid.index), set(result.errors.index)
    assert valid.isdisjoint(errors)
    assert valid | errors == set(chunk.index)
    assert (result.valid[["geography_id", "department_id", "member_id"]] > 0).all().all()
    assert set(result.valid["member_type"]) <= {"User", "Workspace"}


def test_rows_are_checked_by_the_pandera_schema_given() -> None:
    """The checks of the schema given decide: a schema allowing only "User" fails Workspace."""
    spec = load_row_schema()
    strict = replace(
        spec,
        columns=tuple(
            replace(c, choices=("User",)) if c.name == "member_type" else c for c in spec.columns
        ),
    )
    chunk = frame([("1", "2", "3", "User"), ("1", "2", "4", "Workspace")])
    result = validate_chunk(chunk, HEADERS, schema=build_schema(strict))
    assert result.errors["error_message"].tolist() == [
        "member_type must be User or Workspace, got 'Workspace'"
    ]
    assert result.valid.index.tolist() == [2]


def test_the_bundled_schema_uses_registered_pandera_checks() -> None:
    """Every column of the row schema has one check, registered on ``pa.Check`` by name."""
    checks = {name: column.checks for name, column in row_schema().columns.items()}
    assert {name: [c.name for c in cs] for name, cs in checks.items()} == {
        "geography_id": ["positive_whole_number"],
        "department_id": ["positive_whole_number"],
        "member_id": ["positive_whole_number"],
        "member_type": ["one_of_choices"],
    }
    assert callable(pa.Check.positive_whole_number)
    assert callable(pa.Check.one_of_choices)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=400),
    st.integers(1, 60),
    st.booleans(),
)
def test_duplicate_tracker_finds_the_first_row_of_every_member(
    members: list[int], chunk: int, wide: bool
) -> None:
    """Whatever the chunking (runs merged or not) and key width, each key maps to its first row."""
    offset = 2**40 if wide else 0  # past uint32: the tracker switches to int64
    keys = np.array(members, dtype=np.int64) * 2 + offset
    rows = np.arange(2, len(members) + 2, dtype=np.int64)
    tracker = DuplicateTracker()
    parts = [
        tracker.check(keys[i : i + chunk], rows[i : i + chunk]) for i in range(0, len(keys), chunk)
    ]
    got = np.concatenate(parts)
    first: dict[int, int] = {}
    expected = [first.setdefault(k, r) for k, r in zip(keys.tolist(), rows.tolist(), strict=True)]
    assert got.tolist() == expected
    assert len(tracker) == len(first)


def test_pandera_decides_without_building_failure_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registered checks run through pandera's check backend, whose verdicts name the failing
    cells; pandera's SchemaErrors (the consolidation of every failure case into one frame, most
    of the cost of a chunk with errors) is never built for a chunk of cell failures."""
    built: list[object] = []
    real = pa.errors.SchemaErrors.__init__

    def spy(self: pa.errors.SchemaErrors, *args: object, **kwargs: object) -> None:
        built.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pa.errors.SchemaErrors, "__init__", spy)
    result = validate_chunk(frame([("x", "2", "3", "User"), ("1", "0", "-4", "Person")]), HEADERS)
    assert len(result.errors) == 2
    assert built == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ID_CELL, ID_CELL, ID_CELL, TYPE_CELL), min_size=1, max_size=30))
def test_messages_from_the_verdicts_are_pandera_failure_cases(
    rows: list[tuple[str, str, str, str]],
) -> None:
    """Worded from pandera's per-cell verdicts or from its ``schema.validate`` failure cases,
    the error lines are the same."""
    spec = load_row_schema()
    schema = row_schema()
    cells = rows_module._text_cells(frame(rows), HEADERS, spec)
    failures, _ = rows_module._schema_failures(schema, cells)
    decided = rows_module._verdicts(schema, cells)
    assert decided is not None
    from_verdicts = rows_module._verdict_messages(decided[0], cells, spec)
    from_cases = (
        rows_module._failure_messages(failures, spec)
        if failures is not None
        else rows_module._empty_messages()
    )
    joined = [rows_module._join_per_row(m, spec) for m in (from_verdicts, from_cases)]
    pd.testing.assert_frame_equal(joined[0], joined[1])
