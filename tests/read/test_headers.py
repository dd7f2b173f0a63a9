"""Tests for importer.read: normalising header text and matching it to the schema."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.core import InputError
from importer.read import HeaderMap, match_headers
from importer.read._headers import normalise_header

WHERE = "people.xlsx, sheet 'Members'"
CANONICAL = ["geography_id", "department_id", "member_id", "member_type"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Geography ID", "geography_id"),
        ("Member-Type", "member_type"),
        ("dept id", "dept_id"),
        ("\ufeffmember_id", "member_id"),
        ("MEMBER\xa0ID\xa0", "member_id"),
        ("member  __ - id", "member_id"),
        ("Straße", "strasse"),
        ("", ""),
    ],
)
def test_normalise_header(text: str, expected: str) -> None:
    """Case, BOM, NBSP, spaces, '_' and '-' runs do not matter."""
    assert normalise_header(text) == expected


@given(st.text())
def test_normalise_header_is_idempotent(text: str) -> None:
    """Normalising twice changes nothing."""
    once = normalise_header(text)
    assert normalise_header(once) == once


@given(st.text(alphabet=st.sampled_from("aB _-\t\xa0\ufeff"), max_size=12))
def test_normalised_header_has_no_separator_runs(text: str) -> None:
    """A normalised header has no spaces, no '-', and no '__'."""
    once = normalise_header(text)
    assert " " not in once
    assert "-" not in once
    assert "__" not in once
    assert once == once.strip()


def test_exact_names_match() -> None:
    """The schema's own names match, in any order; other headers are extras in file order."""
    headers = ["note", "member_type", "member_id", "department_id", "geography_id", "zz"]
    result = match_headers(headers, where=WHERE)
    assert result == HeaderMap(
        columns={c: c for c in CANONICAL},
        extras=("note", "zz"),
    )
    assert list(result.columns) == CANONICAL


@pytest.mark.parametrize(
    "headers",
    [
        ["Geography ID", "Department ID", "Member ID", "Member Type"],
        [" GEOGRAPHY-ID ", "department__id", "Member-Id", "member type"],
        ["Geo ID", "Dept ID", "Member", "Type"],
        ["Location ID", "Department Org ID", "member", "Member Kind"],
    ],
)
def test_variants_and_aliases_match(headers: list[str]) -> None:
    """Spelling variants and schema aliases map to the canonical columns, labels kept as is."""
    result = match_headers(headers, where=WHERE)
    assert result.columns == dict(zip(CANONICAL, headers, strict=True))
    assert result.extras == ()


def test_mapping_applies_first() -> None:
    """An explicit mapping names the file header for a column; it wins over automatic matches."""
    headers = ["Geo", "Dept", "Person", "member_id", "Type"]
    mapping = {"Geo": "geography_id", "Dept": "department_id", "Person": "member_id"}
    result = match_headers(headers, where=WHERE, mapping=mapping)
    assert result.columns == {
        "geography_id": "Geo",
        "department_id": "Dept",
        "member_id": "Person",
        "member_type": "Type",
    }
    assert result.extras == ("member_id",)


def test_mapping_matches_headers_loosely() -> None:
    """A mapping key may be spelt loosely when it names exactly one header."""
    headers = ["GEO CODE", "dept id", "member", "type"]
    result = match_headers(headers, where=WHERE, mapping={"geo code": "Geography ID"})
    assert result.columns["geography_id"] == "GEO CODE"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Geo": "geo_code"}, r"unknown column 'geo_code'; columns are geography_id, "),
        ({"Nope": "geography_id"}, r"people\.xlsx, sheet 'Members' has no header 'Nope'"),
        (
            {"Geo": "member_id", "Dept": "member_id"},
            r"both 'Geo' and 'Dept' are mapped to member_id",
        ),
        (
            {"Geo": "member_id", "geo": "member_type"},
            r"'Geo' is mapped to both member_id and member_type",
        ),
    ],
)
def test_bad_mappings(mapping: dict[str, str], message: str) -> None:
    """A mapping to an unknown column or from a missing header is an InputError."""
    with pytest.raises(InputError, match=message):
        match_headers(["Geo", "Dept", "member_id", "member_type"], where=WHERE, mapping=mapping)


def test_missing_column_suggests_closest_header() -> None:
    """A missing column is named, with the headers found and the close one as a --map line."""
    with pytest.raises(InputError) as info:
        match_headers(["Geography ID", "Dept ID", "Member", "Membr Typ"], where=WHERE)
    assert str(info.value) == (
        "people.xlsx, sheet 'Members': missing required column 'member_type' (or 'member_email' "
        "/ 'workspace'); headers found: 'Geography ID', 'Dept ID', 'Member', 'Membr Typ'; "
        "'Membr Typ' is named like member_type: if so, --map \"Membr Typ=member_type\""
    )


def test_poor_match_suggests_map_not_a_guess() -> None:
    """'Member' (the member ID) is not offered as member_type: the message shows --map."""
    with pytest.raises(InputError) as info:
        match_headers(["Geography ID", "Dept ID", "Member", "Person"], where=WHERE)
    message = str(info.value)
    assert "Member=" not in message
    assert message.endswith('name the column that holds member_type: --map "Header=member_type"')


@pytest.mark.parametrize(
    ("family", "target", "labels"),
    [
        (
            "email",
            "member_email",
            [
                "Email",
                "E-mail",
                "Email Address",
                "Work Email",
                "Employee Email",
                "Business Email",
                "Primary Work Email",
            ],
        ),
        ("department", "department", ["Department", "Dept", "Department Name", "Team"]),
        ("geography", "geography", ["Location", "Work Location", "Office", "Region", "Country"]),
        ("workspace", "workspace", ["Project", "Project Name", "Workspace"]),
        ("member type", "member_type", ["Member Type", "Type"]),
    ],
)
def test_header_names_hr_systems_use(family: str, target: str, labels: list[str]) -> None:
    """Each header name HR exports use for a column family is matched to that column."""
    base = {
        "member_email": ["Geography ID", "Dept ID"],
        "department": ["Geography ID", "Member ID", "Member Type"],
        "geography": ["Dept ID", "Member ID", "Member Type"],
        "workspace": ["Geography ID", "Dept ID"],
        "member_type": ["Geography ID", "Dept ID", "Member ID"],
    }[target]
    for label in labels:
        found = match_headers([*base, label], where=WHERE)
        assert {**found.columns, **found.names}.get(target) == label, (family, label)
        assert found.extras == ()


def test_missing_columns_without_close_match() -> None:
    """Several missing columns are all named; with nothing near, one line says what to add."""
    with pytest.raises(InputError) as info:
        match_headers(["geography_id", "department_id", "Qx"], where="a.csv")
    assert str(info.value) == (
        "a.csv: missing required columns 'member_id' (or 'member_email' / 'workspace'), "
        "'member_type' (or 'member_email' / 'workspace'); headers found: "
        "'geography_id', 'department_id', 'Qx'; add a column of the users' e-mail addresses "
        "(member_email) or of their Kantata user ids (member_id), or name it with "
        '--map "Header=member_email"'
    )


def test_required_can_be_narrowed() -> None:
    """With required= only those columns must be present; others are matched when there."""
    result = match_headers(["Member ID", "x"], where=WHERE, required=["member_id"])
    assert result == HeaderMap(columns={"member_id": "Member ID"}, extras=("x",))


def test_two_headers_for_one_column() -> None:
    """Two file headers matching one column the same way is an error naming both."""
    headers = ["geography_id", "department_id", "Member ID", "member_id", "member_type"]
    with pytest.raises(
        InputError, match=r"columns 'Member ID' and 'member_id' both match member_id"
    ):
        match_headers(headers, where=WHERE)


@pytest.mark.parametrize(
    ("headers", "column", "kept", "left"),
    [
        (["geography_id", "department_id", "Member", "member_id", "member_type"],
         "member_id", "member_id", "Member"),
        (["Country", "Location", "Dept ID", "Work Email"], "geography", "Location", "Country"),
        (["Geo ID", "Team", "Abteilung", "Work Email"], "department", "Abteilung", "Team"),
        (["Geo ID", "Dept ID", "Email", "Work Email"], "member_email", "Work Email", "Email"),
    ],
)  # fmt: skip
def test_the_alias_listed_first_wins_with_a_note(
    headers: list[str], column: str, kept: str, left: str
) -> None:
    """Location before Country, Department before Team, Work Email before Email: said once."""
    found = match_headers(headers, where=WHERE)
    assert {**found.columns, **found.names}[column] == kept
    assert left in found.extras
    assert found.notes == (
        f'took {kept!r} for {column}, not {left!r} (choose with --map "{left}={column}")',
    )


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        (["123", "201", "104", "User"], "'123', '201', ..."),
        (["1.0", "2"], "'1.0', '2'"),
        ([" 7 ", "8", "column_3", "User"], "'7', '8', ..."),
    ],
)
def test_data_in_the_header_row(headers: list[str], shown: str) -> None:
    """A first row of numbers that matches nothing is reported as a missing header row."""
    with pytest.raises(InputError) as info:
        match_headers(headers, where=WHERE)
    assert str(info.value) == (
        f"{WHERE} has no header row: the first row looks like data ({shown}). Add a header row: "
        "geography_id, department_id, member_id, member_type"
    )


def test_words_that_match_nothing_are_not_data() -> None:
    """Unknown word headers get the missing-column message, not the no-header one."""
    with pytest.raises(InputError, match="missing required columns"):
        match_headers(["alpha", "beta", "3"], where=WHERE)


def test_name_columns_stand_in_for_id_columns() -> None:
    """Name columns (by alias) satisfy the ID columns and are returned apart from them."""
    result = match_headers(["Geo", "Department Name", "E-mail", "Notes"], where=WHERE)
    assert result.columns == {}
    assert result.names == {
        "geography": "Geo",
        "department": "Department Name",
        "member_email": "E-mail",
    }
    assert result.extras == ("Notes",)


def test_a_mapping_may_target_a_name_column() -> None:
    """--map can point a header at a name column; ID and name columns may both be present."""
    headers = ["Who", "Team", "geography_id", "department_id", "member_type"]
    result = match_headers(
        headers, where=WHERE, mapping={"Who": "member_email", "Team": "Department"}
    )
    assert result.names == {"member_email": "Who", "department": "Team"}
    assert set(result.columns) == {"geography_id", "department_id", "member_type"}
