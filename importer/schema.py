"""The pandera schema of one import row, built from ``schemas/organization_membership.toml``.

The schema is applied to the *text* cells (stripped), so that every failing cell of every row is
reported at once (lazy validation) and nothing is coerced behind the user's back. Each column has
exactly one check, named after the column's kind; ``importer.validate`` turns pandera's
``failure_cases`` into messages a person can act on.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pandera.pandas as pa

from importer.schema_file import ColumnSpec, RowSchemaSpec, load_row_schema

#: At most 18 digits: every valid ID fits an int64 with room for the duplicate key (id * 2 + type).
WHOLE_NUMBER = r"\+?[0-9]{1,18}(?:\.0*)?"
CHECK_POSITIVE_INT = "positive_whole_number"
CHECK_CHOICE = "one_of_choices"


def is_positive_whole(cells: pd.Series) -> pd.Series:
    """True where a stripped text cell is a whole number > 0 ("123", "123.0", "+7")."""
    shape_ok = cells.str.fullmatch(WHOLE_NUMBER).fillna(False).astype(bool)
    # Zero is the only whole number that passes the shape but not "positive": digits all "0".
    zero = cells.str.fullmatch(r"\+?0+(?:\.0*)?").fillna(False).astype(bool)
    return shape_ok & ~zero


def canonical_choice(cells: pd.Series, choices: tuple[str, ...]) -> pd.Series:
    """Map stripped cells to the canonical spelling of a choice (case-insensitive), NaN if none."""
    return cells.str.casefold().map({c.casefold(): c for c in choices})


def _check_for(column: ColumnSpec) -> pa.Check:
    if column.kind == "positive_int":
        return pa.Check(is_positive_whole, name=CHECK_POSITIVE_INT)
    choices = column.choices
    return pa.Check(lambda s: canonical_choice(s, choices).notna(), name=CHECK_CHOICE)


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
