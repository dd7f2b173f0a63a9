"""``importer.report`` writes the same text as pandas/Python's csv module, formulas escaped."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.report import frame_csv_text

# Any text, with the characters that matter to CSV and to spreadsheets made likely.
cells = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="=+-@\t\r\n\",; 'ab1é", max_size=8),
    st.none(),
)


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """How the report escaped formulas before (pandas, cell by cell): the reference."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype.kind in "iufb":
            continue
        text = out[name].astype("str")
        risky = text.str.contains(r"^[=+\-@\t\r]", regex=True).fillna(False).astype(bool)
        out[name] = text.where(~risky, "'" + text)
    return out


def reference(frame: pd.DataFrame) -> str:
    """What the report wrote before: pandas' escaping and to_csv."""
    out: str = escape_formulas(frame).to_csv(header=False, index=False, lineterminator="\r\n")
    return out.replace("\x00", "_x0000_")  # the one deliberate difference: no NUL in the file


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(cells, cells, st.integers(0, 10**12)), min_size=1, max_size=30))
def test_same_text_as_pandas_to_csv(rows: list[tuple[str | None, str | None, int]]) -> None:
    frame = pd.DataFrame(
        {
            "a": pd.Series([r[0] for r in rows], dtype="str"),
            "b": pd.Series([r[1] for r in rows], dtype=object),
            "n": np.array([r[2] for r in rows], dtype=np.int64),
        }
    )
    assert frame_csv_text(frame) == reference(frame)


def test_round_trip_through_the_csv_module() -> None:
    values = ['say "hi"', "a,b", "two\nlines", "=SUM(A1)", "-5", "", "plain", "é"]
    frame = pd.DataFrame({"v": pd.Series(values, dtype="str"), "row": range(len(values))})
    text = frame_csv_text(frame)
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in back] == [
        'say "hi"',
        "a,b",
        "two\nlines",
        "'=SUM(A1)",
        "'-5",
        "",
        "plain",
        "é",
    ]
    assert [r[1] for r in back] == [str(i) for i in range(len(values))]
    assert text.count("\r\n") == len(values)  # CRLF line ends; the LF inside stays quoted


def test_numbers_are_not_formula_escaped_and_missing_is_empty() -> None:
    frame = pd.DataFrame(
        {"n": np.array([-1, 2], dtype=np.int64), "f": [1.5, np.nan], "s": ["-x", None]}
    )
    assert frame_csv_text(frame) == "-1,1.5,'-x\r\n2,,\r\n"
    assert frame_csv_text(frame) == reference(frame)


def test_empty_frame_is_no_text() -> None:
    assert frame_csv_text(pd.DataFrame({"a": pd.Series([], dtype="str")})) == ""


def test_a_nul_character_is_written_as_excel_spells_it() -> None:
    frame = pd.DataFrame({"v": pd.Series(["a\x00b", "ok"], dtype="str")})
    assert frame_csv_text(frame) == "a_x0000_b\r\nok\r\n"
