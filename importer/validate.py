"""Validate rows of text cells: pandera finds the failing cells, this module words the errors.

The hot path is column operations only: a per-row Python loop never runs, whatever the number of
rows or failures. ``validate_chunk`` is called once per chunk of the input; a ``DuplicateTracker``
carries the members already seen so duplicates are found across chunk boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from importer.headers import HeaderMap
from importer.schema import (
    CHECK_CHOICE,
    CHECK_POSITIVE_INT,
    canonical_choice,
    is_positive_whole,
    row_schema,
)
from importer.schema_file import RowSchemaSpec, load_row_schema

ERROR_COLUMNS = ["error_field", "error_message"]
_WS = "\u00a0\u200b\ufeff \t\r\n"
_ESCAPED = r"^'(?=[=+\-@\t\r])"


@dataclass
class ChunkResult:
    """What validation made of one chunk.

    Attributes:
        valid: rows that passed, indexed by source row: ``geography_id``, ``department_id``,
            ``member_id`` (int64) and ``member_type`` (canonical spelling).
        errors: rows that failed, indexed by source row: ``error_field`` and ``error_message``
            (several failing cells of one row are joined with ``"; "``).
    """

    valid: pd.DataFrame
    errors: pd.DataFrame


@dataclass
class DuplicateTracker:
    """The first source row of every member seen so far (member_id * 2 + is_workspace -> row)."""

    first_row: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))

    def check(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return, for each (key, row), the first row of that key (itself if it is the first)."""
        if len(keys) == 0:
            return rows.copy()
        key_index = pd.Index(keys)
        earlier = self.first_row.reindex(key_index).to_numpy(dtype="float64", na_value=np.nan)
        within = pd.Series(rows).groupby(keys, sort=False).transform("min").to_numpy()
        first = np.where(np.isnan(earlier), within, earlier).astype("int64")
        new = np.isnan(earlier) & (first == rows)
        if new.any():
            self.first_row = pd.concat([self.first_row, pd.Series(rows[new], index=keys[new])])
        return first


def member_keys(member_id: np.ndarray, member_type: pd.Series) -> np.ndarray:
    """One int64 per member: ``member_id * 2 + (member_type == "Workspace")``."""
    return member_id.astype("int64") * 2 + (member_type.to_numpy() == "Workspace").astype("int64")


def _text_cells(chunk: pd.DataFrame, headers: HeaderMap, spec: RowSchemaSpec) -> pd.DataFrame:
    # A leading apostrophe before a formula-like character is our own report escaping: undo it
    # so a corrected errors file can be resubmitted as it is.
    return pd.DataFrame(
        {
            c: chunk[headers.columns[c]]
            .astype("str")
            .str.replace(_ESCAPED, "", regex=True)
            .str.strip(_WS)
            for c in spec.column_names
        },
        index=chunk.index,
    )


def _failure_messages(failures: pd.DataFrame, spec: RowSchemaSpec) -> pd.DataFrame:
    """Turn pandera failure cases into (row, field, message), vectorised per column."""
    parts = []
    for column in spec.columns:
        sub = failures[failures["column"] == column.name]
        if sub.empty:
            continue
        value = sub["failure_case"].astype("str")
        quoted = "'" + value + "'"
        if column.kind == "positive_int":
            numeric = value.str.fullmatch(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)").astype(bool)
            negative = numeric & value.str.startswith("-")
            fraction = numeric & value.str.contains(r"\.[0-9]*[1-9]", regex=True)
            long = numeric & ~fraction & (value.str.replace(r"\D", "", regex=True).str.len() > 18)
            message = np.select(
                [value == "", negative, fraction, long, numeric],
                [
                    f"{column.name} is required",
                    f"{column.name} must be a positive whole number, got " + quoted,
                    f"{column.name} must be a whole number, got " + quoted,
                    f"{column.name} is too large (at most 18 digits), got " + quoted,
                    f"{column.name} must be a positive whole number, got " + quoted,
                ],
                default=f"{column.name} must be a whole number, got " + quoted,
            )
        else:
            choices = " or ".join(column.choices)
            message = np.where(
                value == "",
                f"{column.name} is required",
                f"{column.name} must be {choices}, got " + quoted,
            )
        parts.append(
            pd.DataFrame({"row": sub["index"].to_numpy(), "field": column.name, "message": message})
        )
    return pd.concat(parts, ignore_index=True) if parts else _empty_messages()


def _empty_messages() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series(dtype="int64"), "field": [], "message": []})


def _join_per_row(messages: pd.DataFrame, spec: RowSchemaSpec) -> pd.DataFrame:
    if messages.empty:
        return pd.DataFrame(
            {"error_field": pd.Series(dtype="str"), "error_message": pd.Series(dtype="str")},
            index=pd.Index([], dtype="int64", name="source_row"),
        )
    order = {name: i for i, name in enumerate([*spec.column_names, "member"])}
    messages = messages.assign(_o=messages["field"].map(order)).sort_values(["row", "_o"])
    grouped = messages.groupby("row", sort=True)
    out = pd.DataFrame(
        {
            "error_field": grouped["field"].agg("; ".join),
            "error_message": grouped["message"].agg("; ".join),
        }
    )
    out.index = out.index.astype("int64")
    out.index.name = "source_row"
    return out


def validate_chunk(
    chunk: pd.DataFrame,
    headers: HeaderMap,
    *,
    duplicates: DuplicateTracker | None = None,
    spec: RowSchemaSpec | None = None,
    schema: pa.DataFrameSchema | None = None,
) -> ChunkResult:
    """Validate one chunk of text cells.

    Args:
        chunk: text cells as the loader returns them, indexed by source row.
        headers: which file column holds which schema column.
        duplicates: members seen in earlier chunks (updated in place); a fresh one if omitted.
        spec: the row spec (default: the bundled one).
        schema: the pandera schema (default: built from the bundled spec).

    Returns:
        The valid rows, typed, and one error line per failing row.
    """
    spec = spec or load_row_schema()
    schema = schema if schema is not None else row_schema()
    duplicates = duplicates if duplicates is not None else DuplicateTracker()
    cells = _text_cells(chunk, headers, spec)
    try:
        schema.validate(cells, lazy=True)
        failures = None
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
        unknown = failures[~failures["check"].isin([CHECK_POSITIVE_INT, CHECK_CHOICE])]
        if not unknown.empty:  # a schema-level problem, not a cell: our bug, say so loudly
            raise
    messages = _failure_messages(failures, spec) if failures is not None else _empty_messages()

    # Duplicates: among rows whose member fields are both valid, later rows name the first.
    choices = next(c.choices for c in spec.columns if c.name == "member_type")
    member_type = canonical_choice(cells["member_type"], choices)
    member_ok = is_positive_whole(cells["member_id"]) & member_type.notna()
    member_rows = cells.index.to_numpy()[member_ok.to_numpy()]
    member_id = _to_int(cells.loc[member_ok, "member_id"])
    keys = member_keys(member_id, member_type[member_ok])
    first = duplicates.check(keys, member_rows.astype("int64"))
    dup = first != member_rows
    if dup.any():
        first_text = pd.Series(first[dup]).astype("str")
        who = (
            pd.Series(member_id[dup]).astype("str")
            + " ("
            + member_type[member_ok][dup].to_numpy()
            + ")"
        )
        messages = pd.concat(
            [
                messages,
                pd.DataFrame(
                    {
                        "row": member_rows[dup],
                        "field": "member",
                        "message": (
                            "duplicate member "
                            + who
                            + ": already on row "
                            + first_text
                            + "; a member can have only one membership per import"
                        ).to_numpy(),
                    }
                ),
            ],
            ignore_index=True,
        )

    errors = _join_per_row(messages, spec)
    good = ~cells.index.isin(errors.index)
    valid_cells = cells[good]
    valid = pd.DataFrame(
        {
            "geography_id": _to_int(valid_cells["geography_id"]),
            "department_id": _to_int(valid_cells["department_id"]),
            "member_id": _to_int(valid_cells["member_id"]),
            "member_type": member_type[good].astype("str").to_numpy(),
        },
        index=pd.Index(valid_cells.index.to_numpy(dtype="int64"), name="source_row"),
    )
    return ChunkResult(valid=valid, errors=errors)


def _to_int(cells: pd.Series) -> np.ndarray:
    """Whole-number text ("+12", "12.000") -> int64; callers pass only cells that passed."""
    digits = cells.str.replace(r"^\+|\.0*$", "", regex=True)
    return digits.astype("int64").to_numpy() if len(digits) else np.empty(0, dtype="int64")
