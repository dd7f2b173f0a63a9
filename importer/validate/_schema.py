"""The pandera schema of one import row, built from ``schemas/organization_membership.toml``.

The schema is applied to the *text* cells (stripped), so that every failing cell of every row is
reported at once (lazy validation) and nothing is coerced behind the user's back. Each column has
exactly one check, a check registered with pandera (``pa.Check.positive_whole_number()``,
``pa.Check.one_of_choices(choices=...)``); ``importer.validate`` runs ``schema.validate`` on every
chunk and turns pandera's ``failure_cases`` into messages a person can act on.

The checks run as Arrow compute kernels over whole columns (pandas' ``str`` dtype is Arrow
underneath, so no copy is made): a million cells take a few milliseconds, where a Python regex or
``str.casefold`` per cell would take seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TypeAlias

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.api.extensions import register_check_method

from importer.core import ColumnSpec, RowSchemaSpec, load_row_schema

#: At most 18 digits: every valid ID fits an int64 with room for the duplicate key (id * 2 + type).
WHOLE_NUMBER = r"\+?[0-9]{1,18}(?:\.0*)?"
#: The registered pandera checks (``pa.Check.positive_whole_number()`` ...), by name.
CHECK_POSITIVE_INT = "positive_whole_number"
CHECK_CHOICE = "one_of_choices"

_WHOLE_NUMBER_RE = f"^(?:{WHOLE_NUMBER})$"
_DECORATION_RE = r"^\+|\.0*$"  # what a whole number may carry besides its digits
_MAX_DIGITS = 18

TextArray: TypeAlias = pyarrow.Array | pyarrow.ChunkedArray
#: What a check computed for a column: (cell passes, int64 value or position in the choices).
Parsed: TypeAlias = tuple[np.ndarray, np.ndarray]


def text_array(cells: pd.Series | TextArray) -> TextArray:
    """The cells as an Arrow string array (no copy for pandas' Arrow-backed ``str`` dtype, nor
    for an Arrow array, which is returned as it is).

    Missing cells (NaN/None) become null.
    """
    if isinstance(cells, pyarrow.Array | pyarrow.ChunkedArray):
        return cells
    dtype = cells.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        cells = cells.astype("str")
    return pyarrow.array(cells)


def _flags(mask: TextArray) -> np.ndarray:
    """A boolean Arrow result as numpy, null -> False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def parse_positive_whole(cells: pd.Series | TextArray) -> tuple[np.ndarray, np.ndarray]:
    """Which stripped text cells are whole numbers > 0 ("123", "123.0", "+7"), and their values.

    Returns:
        ``(ok, values)``: a boolean array, and the int64 values (0 where the cell is no whole
        number of at most 18 digits; also 0 for zero itself, which is not ok).
    """
    arr = text_array(cells)
    values = np.zeros(len(arr), dtype=np.int64)
    if len(arr) == 0:
        return values.astype(bool), values
    # Nearly every cell is plain digits: cast those straight; the regex only sees the others.
    digits = pc.ascii_is_decimal(arr)
    if (pc.max(pc.binary_length(arr)).as_py() or 0) > _MAX_DIGITS:  # rare: check cell by cell
        digits = pc.and_(digits, pc.less_equal(pc.binary_length(arr), _MAX_DIGITS))
    plain = _flags(digits)
    if plain.all():
        values = np.asarray(pc.cast(arr, pyarrow.int64()).to_numpy(), dtype=np.int64)
        return values > 0, values
    if plain.any():
        values[plain] = pc.cast(arr.filter(plain), pyarrow.int64()).to_numpy()
    others = np.flatnonzero(~plain)
    rest = arr.take(others)
    shaped = _flags(pc.match_substring_regex(rest, _WHOLE_NUMBER_RE))
    if shaped.any():
        digits = pc.replace_substring_regex(rest.filter(shaped), _DECORATION_RE, "")
        values[others[shaped]] = pc.cast(digits, pyarrow.int64()).to_numpy()
    return values > 0, values


def is_positive_whole(cells: pd.Series) -> pd.Series:
    """True where a stripped text cell is a whole number > 0 ("123", "123.0", "+7")."""
    ok, _ = parse_positive_whole(cells)
    return pd.Series(ok, index=cells.index)


def choice_positions(cells: pd.Series | TextArray, choices: tuple[str, ...]) -> np.ndarray:
    """Position in ``choices`` of each stripped cell, matched case-insensitively; -1 if none.

    Case-insensitive means ``str.casefold``: Arrow lower-cases ASCII cells (the same thing for
    them); the rare non-ASCII cells are case-folded by Python.
    """
    arr = text_array(cells)
    folded = {c.casefold(): i for i, c in enumerate(choices)}  # a later duplicate wins, like dict
    keys = pyarrow.array(list(folded), type=arr.type)
    targets = np.fromiter(folded.values(), dtype=np.int64, count=len(folded))
    found = pc.index_in(pc.ascii_lower(arr), value_set=keys)
    at = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    exotic = ~_flags(pc.or_kleene(pc.string_is_ascii(arr), pc.is_null(arr)))
    if exotic.any():  # a few cells: str.casefold in Python
        index = {k: j for j, k in enumerate(folded)}
        odd = arr.take(np.flatnonzero(exotic)).to_pylist()
        at[exotic] = [index.get(str(v).casefold(), -1) for v in odd]
    return np.where(at >= 0, targets[np.maximum(at, 0)], -1)


#: Where the checks leave what they parsed, by column name, while ``collect_parsed`` is open:
#: the typed values then come from the very pass pandera made (no second parse per column).
_parsed_sink: ContextVar[dict[str, Parsed] | None] = ContextVar("parsed_sink", default=None)


@contextmanager
def collect_parsed() -> Iterator[dict[str, Parsed]]:
    """Collect, by column name, the ``(ok, values)`` the registered checks compute meanwhile.

    Context variables are per thread, so chunks checked in a background thread do not mix.
    """
    sink: dict[str, Parsed] = {}
    token = _parsed_sink.set(sink)
    try:
        yield sink
    finally:
        _parsed_sink.reset(token)


def _keep(cells: pd.Series, parsed: Parsed) -> pd.Series:
    sink = _parsed_sink.get()
    if sink is not None and cells.name is not None:
        sink[str(cells.name)] = parsed
    return pd.Series(parsed[0], index=cells.index)


def positive_whole_number(cells: pd.Series) -> pd.Series:
    """True where a stripped text cell is a whole number > 0 ("123", "123.0", "+7")."""
    return _keep(cells, parse_positive_whole(cells))


def one_of_choices(cells: pd.Series, *, choices: tuple[str, ...]) -> pd.Series:
    """True where a stripped text cell is one of ``choices``, matched case-insensitively."""
    at = choice_positions(cells, tuple(choices))
    return _keep(cells, (at >= 0, at))


# Registered once per process: ``pa.Check.positive_whole_number()``, ``pa.Check.one_of_choices()``.
register_check_method(supported_types=pd.Series)(positive_whole_number)
register_check_method(statistics=["choices"], supported_types=pd.Series)(one_of_choices)


def _check_for(column: ColumnSpec) -> pa.Check:
    if column.kind == "positive_int":
        check: pa.Check = getattr(pa.Check, CHECK_POSITIVE_INT)()
    else:
        check = getattr(pa.Check, CHECK_CHOICE)(choices=column.choices)
    return check


def build_schema(spec: RowSchemaSpec) -> pa.DataFrameSchema:
    """Return the pandera schema for stripped text cells of ``spec``'s columns."""
    return pa.DataFrameSchema(
        {c.name: pa.Column(checks=[_check_for(c)], nullable=True) for c in spec.columns},
        strict=False,
        name=spec.name,
    )


@cache
def row_schema() -> pa.DataFrameSchema:
    """The schema of the bundled row spec (built once per process)."""
    return build_schema(load_row_schema())


@cache
def schema_for(spec: RowSchemaSpec) -> pa.DataFrameSchema:
    """The schema of ``spec`` (built once per spec)."""
    return row_schema() if spec == load_row_schema() else build_schema(spec)
