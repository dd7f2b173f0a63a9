"""Validate rows of text cells: pandera's schema finds the failing cells, this module words them.

Every chunk goes through ``schema.validate(lazy=True)`` of the pandera schema of
``importer.validate`` (its checks are registered pandera checks); pandera's ``failure_cases`` become
the error messages, and the values each check parsed on the way become the typed columns (no
second parse). The hot path is column operations only (Arrow compute kernels, numpy): a
per-row Python loop never runs, whatever the number of rows or failures. ``validate_chunk`` is
called once per chunk of the input; a ``DuplicateTracker`` carries the members already seen so
duplicates are found across chunk boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from importer.core import ESCAPED_FORMULA, ColumnSpec, RowSchemaSpec, load_row_schema
from importer.read import CellNote, HeaderMap
from importer.validate._schema import (
    CHECK_CHOICE,
    CHECK_POSITIVE_INT,
    Parsed,
    TextArray,
    choice_positions,
    collect_parsed,
    parse_positive_whole,
    schema_for,
    text_array,
)

ERROR_COLUMNS = ["error_field", "error_message"]
_WS = "\u00a0\u200b\ufeff \t\r\n"
_Parsed = Parsed
_CELL_CHECKS = [CHECK_POSITIVE_INT, CHECK_CHOICE]
_NUMERIC = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"  # a number, maybe signed or fractional


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


_U32_MAX = int(np.iinfo(np.uint32).max)


@dataclass
class DuplicateTracker:
    """The first source row of every member seen so far (key: member_id * 2 + is_workspace).

    Kept as a few sorted runs of (key, first row), like a log-structured merge tree: each chunk's
    new members become a run, looked up by binary search, and a run is merged with the one before
    it whenever that one is no larger (like carrying in a binary counter). So there are at most
    ~log2(members / chunk) runs and every member is copied ~log2 times in all, however small the
    chunks (inserting into one sorted array would copy the whole tracker at every chunk).
    uint32 while keys and rows fit (8 bytes per distinct member; member IDs below two billion),
    int64 from the first chunk that needs it. This is the only state that grows with the file:
    with the number of distinct members.
    """

    runs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (keys, rows)
    dtype: type[np.unsignedinteger] | type[np.signedinteger] = np.uint32

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self.runs)

    def check(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return, for each (key, row), the first row of that key (itself if it is the first).

        Rows must come in file order across calls (each call's rows after the previous ones').
        """
        keys = np.asarray(keys, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        n = len(keys)
        if n == 0:
            return rows.copy()
        self._widen(keys, rows)
        # By key, then row: a key's first row leads its group. Rows come in file order, so a
        # stable sort by key alone is that order (and timsort is quick on sorted-ish keys).
        if n > 1 and bool(np.all(rows[1:] > rows[:-1])):
            order = np.argsort(keys, kind="stable")
        else:
            order = np.lexsort((rows, keys))
        sorted_keys = keys[order]
        starts = np.empty(n, dtype=bool)
        starts[0] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
        group = np.cumsum(starts) - 1
        unique_keys = sorted_keys[starts].astype(self.dtype)
        del sorted_keys
        first_rows = rows[order][starts]
        seen = np.zeros(len(unique_keys), dtype=bool)
        for run_keys, run_rows in self.runs:
            at = np.searchsorted(run_keys, unique_keys)
            inside = at < len(run_keys)
            hit = np.zeros(len(unique_keys), dtype=bool)
            hit[inside] = run_keys[at[inside]] == unique_keys[inside]
            if hit.any():
                first_rows[hit] = run_rows[at[hit]]
                seen |= hit
        new = ~seen
        if new.any():
            self._add(unique_keys[new], first_rows[new].astype(self.dtype))
        first = np.empty(n, dtype=np.int64)
        first[order] = first_rows[group]
        return first

    def _add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Append a run (sorted, unique, unseen keys); merge runs of similar size."""
        self.runs.append((keys, rows))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= len(self.runs[-1][0]):
            (k1, r1), (k2, r2) = self.runs[-2], self.runs.pop()
            # Merge two sorted runs of distinct keys in place of a sort (no int64 order array
            # as long as the whole tracker): each newer key goes after the older keys below it.
            into = np.searchsorted(k1, k2) + np.arange(len(k2))
            older = np.ones(len(k1) + len(k2), dtype=bool)
            older[into] = False
            keys, rows = np.empty(len(older), k1.dtype), np.empty(len(older), r1.dtype)
            keys[into], rows[into] = k2, r2
            keys[older], rows[older] = k1, r1
            del older, into
            self.runs[-1] = (keys, rows)

    def _widen(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Switch to int64 when a key or a row does not fit uint32."""
        if self.dtype is np.uint32 and (
            min(keys.min(), rows.min()) < 0 or max(keys.max(), rows.max()) > _U32_MAX
        ):
            self.dtype = np.int64
            self.runs = [(k.astype(np.int64), r.astype(np.int64)) for k, r in self.runs]


def member_keys(member_id: np.ndarray, is_workspace: np.ndarray) -> np.ndarray:
    """One int64 per member: ``member_id * 2 + is_workspace``."""
    return np.asarray(member_id, dtype=np.int64) * 2 + np.asarray(is_workspace, dtype=np.int64)


@dataclass
class _Cells:
    """A chunk's schema columns as stripped Arrow text (no nulls), and the rows' source rows."""

    rows: np.ndarray
    columns: dict[str, pyarrow.Array]

    def frame(self) -> pd.DataFrame:
        """As a DataFrame indexed by source row (what a pandera schema validates)."""
        frame: pd.DataFrame = pyarrow.table(self.columns).to_pandas()
        frame.index = pd.Index(self.rows, name="source_row")
        return frame


def _text_cells(chunk: pd.DataFrame, headers: HeaderMap, spec: RowSchemaSpec) -> _Cells:
    """The schema's columns as stripped text (a missing cell, NaN/None, counts as empty)."""
    cleaned = {}
    for name in spec.column_names:
        cells = _contiguous(text_array(chunk[headers.columns[name]]))
        if cells.null_count:
            cells = pc.fill_null(cells, "")
        # A leading apostrophe before a formula-like character is our own report escaping: undo
        # it so a corrected errors file can be resubmitted as it is (only those few cells).
        quoted = pc.starts_with(cells, "'")
        if pc.any(quoted).as_py():
            at = np.flatnonzero(_flag(quoted))
            fixed = pc.replace_substring_regex(
                cells.take(at), pattern=ESCAPED_FORMULA, replacement=r"\1"
            )
            cells = pc.replace_with_mask(cells, quoted, fixed)
        cleaned[name] = pc.utf8_trim(cells, characters=_WS)
    return _Cells(chunk.index.to_numpy(dtype=np.int64), cleaned)


def _parse_columns(cells: _Cells, spec: RowSchemaSpec) -> dict[str, _Parsed]:
    """Evaluate every column's check once: ``(ok, values)`` per column, values being the int64
    of a ``positive_int`` cell or the position in ``choices`` of a ``choice`` cell."""
    parsed: dict[str, _Parsed] = {}
    for column in spec.columns:
        if column.kind == "positive_int":
            parsed[column.name] = parse_positive_whole(cells.columns[column.name])
        else:
            at = choice_positions(cells.columns[column.name], column.choices)
            parsed[column.name] = (at >= 0, at)
    return parsed


def _schema_failures(
    schema: pa.DataFrameSchema, cells: _Cells
) -> tuple[pd.DataFrame | None, dict[str, _Parsed]]:
    """The failure cases of ``schema.validate(lazy=True)`` and what the checks parsed; raise on
    a failure not of a cell."""
    with collect_parsed() as parsed:
        try:
            schema.validate(cells.frame(), lazy=True, inplace=True)
        except pa.errors.SchemaErrors as exc:
            failures: pd.DataFrame = exc.failure_cases
            names = failures["check"].astype("str").str.partition("(")[0]  # "name(stats)"
            unknown = failures[~names.isin(_CELL_CHECKS)]
            if not unknown.empty:  # a schema-level problem, not a cell: our bug, say so loudly
                raise
            return failures, parsed
    return None, parsed


def _failure_messages(failures: pd.DataFrame, spec: RowSchemaSpec) -> pd.DataFrame:
    """Turn pandera failure cases into (row, field, message), vectorised per column."""
    columns = failures["column"].to_numpy()
    rows = failures["index"].to_numpy(dtype=np.int64)
    cases = pyarrow.array(failures["failure_case"].astype("str"))
    parts = []
    for column in spec.columns:
        mine = columns == column.name
        if mine.any():
            parts.append((column.name, rows[mine], _column_messages(column, cases.filter(mine))))
    return _messages_frame(parts)


def _column_messages(column: ColumnSpec, value: TextArray) -> TextArray:
    """What is wrong with each of ``column``'s failing cells ``value``."""
    empty = _flag(pc.equal(pc.binary_length(value), 0))
    name = column.name
    if column.kind == "positive_int":
        numeric = _flag(pc.match_substring_regex(value, _NUMERIC))
        negative = numeric & _flag(pc.starts_with(value, "-"))
        fraction = numeric & _flag(pc.match_substring_regex(value, r"\.[0-9]*[1-9]"))
        digits = pc.utf8_length(pc.replace_substring_regex(value, "[^0-9]", ""))
        long = numeric & ~fraction & _flag(pc.greater(digits, 18))
        templates = [
            f"{name} is required",
            f"{name} must be a positive whole number, got ",
            f"{name} must be a whole number, got ",
            f"{name} is too large (at most 18 digits), got ",
        ]
        kind = np.select([empty, negative, fraction, long, numeric], [0, 1, 2, 3, 1], 2)
    else:
        templates = [f"{name} is required", f"{name} must be {' or '.join(column.choices)}, got "]
        kind = np.where(empty, 0, 1)
    prefix = pyarrow.array(templates, value.type).take(kind)
    quote, nothing = pyarrow.scalar("'", value.type), pyarrow.scalar("", value.type)
    quoted = pc.binary_join_element_wise(prefix, quote, value, quote, nothing)
    return pc.if_else(empty, prefix, quoted)


def _messages_frame(parts: list[tuple[str, np.ndarray, TextArray]]) -> pd.DataFrame:
    """(field, rows, messages) per column -> one ``row``, ``field``, ``message`` frame."""
    if not parts:
        return _empty_messages()
    return pd.DataFrame(
        {
            "row": np.concatenate([rows for _, rows, _ in parts]),
            "field": np.repeat([name for name, _, _ in parts], [len(r) for _, r, _ in parts]),
            "message": np.concatenate(
                [messages.to_numpy(zero_copy_only=False) for _, _, messages in parts]
            ),
        }
    )


def _flag(mask: pyarrow.Array | pyarrow.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as numpy (null -> False)."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _empty_messages() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series(dtype="int64"), "field": [], "message": []})


def _merge_prior(messages: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """Add an earlier stage's errors, dropping this stage's messages on the cells they cover."""
    checked = pd.MultiIndex.from_arrays([messages["row"], messages["field"]])
    covered = pd.MultiIndex.from_arrays([prior["row"], prior["column"]])
    kept = messages[~checked.isin(covered)]
    added = prior.loc[prior["message"] != "", ["row", "field", "message"]]
    return pd.concat([kept, added], ignore_index=True)


def _contiguous(values: pyarrow.Array | pyarrow.ChunkedArray) -> pyarrow.Array:
    if isinstance(values, pyarrow.ChunkedArray):
        return values.combine_chunks()
    return values


def _join_per_row(messages: pd.DataFrame, spec: RowSchemaSpec) -> pd.DataFrame:
    """One line per failing row: its fields and messages in schema order, joined by ``"; "``."""
    if messages.empty:
        return pd.DataFrame(
            {"error_field": pd.Series(dtype="str"), "error_message": pd.Series(dtype="str")},
            index=pd.Index([], dtype="int64", name="source_row"),
        )
    fields = [n for c in spec.columns for n in (*(a.name for a in c.alternates), c.name)]
    order = {name: i for i, name in enumerate([*fields, "member"])}
    rows = messages["row"].to_numpy(dtype=np.int64)
    by = np.lexsort((messages["field"].map(order).to_numpy(dtype=np.int64), rows))
    rows = rows[by]
    columns = {
        name: _contiguous(pyarrow.array(messages[column].astype("str")).take(by))
        for name, column in (("error_field", "field"), ("error_message", "message"))
    }
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    if len(starts) < len(rows):  # some rows have several messages: join them (Arrow lists)
        offsets = pyarrow.array(np.r_[starts, len(rows)].astype(np.int32))
        columns = {
            name: pc.binary_join(
                pyarrow.ListArray.from_arrays(offsets, values), pyarrow.scalar("; ", values.type)
            )
            for name, values in columns.items()
        }
    out: pd.DataFrame = pyarrow.table(columns).to_pandas()
    out.index = pd.Index(rows[starts], name="source_row")
    return out


@dataclass
class CheckedChunk:
    """A chunk whose cells have been checked (:func:`check_chunk`), before the duplicate check.

    Nothing in it depends on other chunks, so chunks can be checked ahead of (or alongside) the
    ordered :func:`finish_chunk`.
    """

    rows: np.ndarray  # source row of each cell row, in chunk order
    parsed: dict[str, _Parsed]
    messages: pd.DataFrame  # row, field, message
    spec: RowSchemaSpec


def check_chunk(
    chunk: pd.DataFrame,
    headers: HeaderMap,
    *,
    spec: RowSchemaSpec | None = None,
    schema: pa.DataFrameSchema | None = None,
    prior: pd.DataFrame | None = None,
) -> CheckedChunk:
    """Check every cell of one chunk (the first, stateless half of :func:`validate_chunk`):
    pandera's ``schema.validate`` runs the schema's registered checks, and its failure cases
    become the messages."""
    spec = spec or load_row_schema()
    cells = _text_cells(chunk, headers, spec)
    failures, parsed = _schema_failures(schema or schema_for(spec), cells)
    if any(c.name not in parsed for c in spec.columns):  # a schema of other checks: parse here
        parsed = _parse_columns(cells, spec)
    messages = _failure_messages(failures, spec) if failures is not None else _empty_messages()
    if prior is not None and not prior.empty:
        messages = _merge_prior(messages, prior)
    return CheckedChunk(cells.rows, parsed, messages, spec)


def no_valid_rows() -> pd.DataFrame:
    """An empty frame shaped like ``ChunkResult.valid``."""
    return pd.DataFrame(
        {c: pd.Series(dtype="int64") for c in ("geography_id", "department_id", "member_id")}
        | {"member_type": pd.Series(dtype="str")},
        index=pd.Index([], dtype="int64", name="source_row"),
    )


def finish_chunk(
    checked: CheckedChunk, duplicates: DuplicateTracker, *, valid_rows: bool = True
) -> ChunkResult:
    """Find duplicate members and assemble the result (the ordered half of
    :func:`validate_chunk`: chunks must be finished in file order, with one tracker).

    ``valid_rows=False`` (``validate``, which keeps no rows): ``valid`` is left empty.
    """
    spec, parsed, messages, rows = checked.spec, checked.parsed, checked.messages, checked.rows
    # Duplicates: among rows whose member fields are both valid, later rows name the first.
    choices = next(c.choices for c in spec.columns if c.name == "member_type")
    type_ok, type_at = parsed["member_type"]
    id_ok, member_id = parsed["member_id"]
    member_ok = id_ok & type_ok
    member_rows = rows[member_ok]
    member_at = type_at[member_ok]
    workspace = np.array([c == "Workspace" for c in choices], dtype=bool)
    keys = member_keys(member_id[member_ok], workspace[member_at])
    first = duplicates.check(keys, member_rows)
    dup = first != member_rows
    if dup.any():
        named = pd.Series(np.asarray(choices, dtype=object)[member_at[dup]], dtype="str")
        who = pd.Series(member_id[member_ok][dup]).astype("str") + " (" + named + ")"
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
                            + pd.Series(first[dup]).astype("str")
                            + "; a member can have only one membership per import"
                        ).to_numpy(),
                    }
                ),
            ],
            ignore_index=True,
        )

    errors = _join_per_row(messages, spec)
    if not valid_rows:
        return ChunkResult(valid=no_valid_rows(), errors=errors)
    good = ~np.isin(rows, errors.index.to_numpy(dtype=np.int64))
    member_type = pyarrow.array(choices, pyarrow.large_string()).take(type_at[good])
    valid = pd.DataFrame(
        {
            "geography_id": parsed["geography_id"][1][good],
            "department_id": parsed["department_id"][1][good],
            "member_id": member_id[good],
            "member_type": member_type.to_pandas().array,
        },
        index=pd.Index(rows[good], name="source_row"),
    )
    return ChunkResult(valid=valid, errors=errors)


def validate_chunk(
    chunk: pd.DataFrame,
    headers: HeaderMap,
    *,
    duplicates: DuplicateTracker | None = None,
    spec: RowSchemaSpec | None = None,
    schema: pa.DataFrameSchema | None = None,
    prior: pd.DataFrame | None = None,
) -> ChunkResult:
    """Validate one chunk of text cells: :func:`check_chunk` then :func:`finish_chunk`.

    Args:
        chunk: text cells as the loader returns them, indexed by source row.
        headers: which file column holds which schema column.
        duplicates: members seen in earlier chunks (updated in place); a fresh one if omitted.
        spec: the row spec (default: the bundled one).
        schema: the pandera schema to validate with (default: the one built from ``spec``).
        prior: errors of an earlier stage (name resolution): ``row``, ``field``, ``message`` and
            ``column``, the schema column whose cell that stage filled (or failed to fill); it
            is not reported again for that row ("department_id is required"); a row with an
            empty message only does that.

    Returns:
        The valid rows, typed, and one error line per failing row.
    """
    checked = check_chunk(chunk, headers, spec=spec, schema=schema, prior=prior)
    return finish_chunk(checked, duplicates if duplicates is not None else DuplicateTracker())


def with_cell_notes(errors: pd.DataFrame, notes: Sequence[CellNote]) -> pd.DataFrame:
    """Add to an error the note of the cells it is about ("merged cells D5:D14", a formula
    never calculated): rows in the note's block whose ``error_field`` names its column."""
    rows = errors.index.to_numpy(dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    fields = errors["error_field"].to_numpy(dtype=object)
    messages = errors["error_message"].to_numpy(dtype=object).copy()
    for note in notes:
        lo, hi = np.searchsorted(rows[order], [note.first_row, note.last_row + 1])
        for at in order[lo:hi]:
            names = str(fields[at]).split("; ")
            if any(n == note.label or n.startswith(note.label + " [") for n in names):
                messages[at] = f"{messages[at]} ({note.text})"
    return errors.assign(error_message=messages)
