"""The names beside a row's ids in the results (``member_name``, ``geography_name``,
``department_name``), from what the run looked up anyway: the organizations (listed once per
run) and the members it looked up in bulk. No request is made for them."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from importer.core import NAME_COLUMNS

__all__ = ["earlier_names", "name_columns"]


def name_columns(
    valid: pd.DataFrame,
    organizations: Mapping[int, tuple[str, str]],
    members: pd.Series | None = None,
    *,
    known: Mapping[tuple[str, int], str] | None = None,
) -> pd.DataFrame:
    """The :data:`~importer.core.NAME_COLUMNS` of ``valid``'s rows (text; ``""`` where not
    known), indexed like ``valid``. Made in Arrow: no Python object per row.

    Args:
        valid: validated rows (``geography_id``, ``department_id``), indexed by source row.
        organizations: id -> (type, name), as the run listed them.
        members: the label of each looked-up row's member (``Ada Lovelace <ada@…>``, a
            workspace's title), indexed by source row; other rows get ``""``.
        known: (member type, id) -> label of the members found by name when the rows were
            validated; a row ``members`` does not name gets its member's label from here.
    """
    who = _member_names(valid.index, members)
    if known:
        who = pc.if_else(pc.equal(who, ""), _known_names(valid, known), who)
    columns = {NAME_COLUMNS[0]: who}
    for column, ids, kind in zip(
        NAME_COLUMNS[1:],
        ("geography_id", "department_id"),
        ("Geography", "Department"),
        strict=True,
    ):
        # Only an organization of the right tree: a Geography's id in department_id is named
        # by the row's error, not beside it as if it were a department.
        named = {i: n for i, (typ, n) in organizations.items() if typ.casefold() == kind.casefold()}
        at = pd.Index(list(named), dtype="int64").get_indexer(pd.Index(valid[ids].astype("int64")))
        columns[column] = _taken(pa.array(list(named.values()), pa.large_string()), at)
    frame: pd.DataFrame = pa.table(columns).to_pandas()
    frame.index = valid.index
    return frame


def _member_names(index: pd.Index, members: pd.Series | None) -> pa.Array:
    """``members`` in the order of ``index``, ``""`` for rows it does not name."""
    if members is None or members.empty:
        return _taken(pa.array([], pa.large_string()), np.full(len(index), -1))
    members = members[~members.index.duplicated(keep="first")]
    labels = pa.array(members.array, from_pandas=True)  # Arrow-backed: no copy
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    return _taken(labels, members.index.get_indexer(index))


def _known_names(valid: pd.DataFrame, known: Mapping[tuple[str, int], str]) -> pa.Array:
    """The label among ``known`` of each row's member (``""`` where it has none): keys made
    of the id and the type (two per id), matched without a Python object per row."""
    workspace = (valid["member_type"] == "Workspace").to_numpy(dtype=bool)
    keys = valid["member_id"].to_numpy(dtype=np.int64) * 2 + workspace
    table = pd.Index([i * 2 + (t == "Workspace") for t, i in known], dtype="int64")
    at = table.get_indexer(pd.Index(keys))
    return _taken(pa.array(list(known.values()), pa.large_string()), at)


def _taken(values: pa.Array, at: np.ndarray) -> pa.Array:
    """``values[at]`` as large strings, ``""`` where ``at`` is -1 or the value is null."""
    values = pa.concat_arrays(
        [pc.cast(values, pa.large_string()), pa.array([""], pa.large_string())]
    )
    return pc.fill_null(values, "").take(pa.array(np.where(at < 0, len(values) - 1, at)))


def earlier_names(out_dir: Path, rows: np.ndarray) -> pd.DataFrame:
    """The :data:`~importer.core.NAME_COLUMNS` an earlier run of the results folder wrote for
    ``rows``, read back from its ``success.csv`` and ``errors.csv`` (text, indexed by source
    row; rows not found there are left out). For the rows a resumed run does not look up again,
    and for ``undo.csv``. Files missing, or edited into another shape, give nothing: the names
    are a courtesy, the ids are the record."""
    found: list[pd.DataFrame] = []
    for name in ("success.csv", "errors.csv"):
        path = out_dir / name
        with contextlib.suppress(OSError, pa.ArrowException, KeyError, ValueError):
            types = {"source_row": pa.int64(), **dict.fromkeys(NAME_COLUMNS, pa.large_string())}
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(types), column_types=types
                ),
            )
            found.append(table.to_pandas().set_index("source_row"))
    if not found:
        return pd.DataFrame(columns=NAME_COLUMNS, index=pd.Index([], dtype="int64"), dtype="str")
    names = pd.concat(found)
    names = names[~names.index.duplicated(keep="first")]
    picked: pd.DataFrame = names[names.index.isin(rows)].astype(object).fillna("").astype("str")
    return picked
