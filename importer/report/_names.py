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
import pyarrow.csv as pacsv

from importer.core import NAME_COLUMNS

__all__ = ["earlier_names", "name_columns"]


def name_columns(
    valid: pd.DataFrame,
    organizations: Mapping[int, tuple[str, str]],
    members: pd.Series | None = None,
) -> pd.DataFrame:
    """The :data:`~importer.core.NAME_COLUMNS` of ``valid``'s rows (text; ``""`` where not
    known), indexed like ``valid``.

    Args:
        valid: validated rows (``geography_id``, ``department_id``), indexed by source row.
        organizations: id -> (type, name), as the run listed them.
        members: the label of each looked-up row's member (``Ada Lovelace <ada@…>``, a
            workspace's title), indexed by source row; other rows get ``""``.
    """
    out = pd.DataFrame(index=valid.index)
    who = members.reindex(valid.index) if members is not None else None
    out[NAME_COLUMNS[0]] = "" if who is None else who.astype(object).fillna("").astype("str")
    for column, ids, kind in zip(
        NAME_COLUMNS[1:],
        ("geography_id", "department_id"),
        ("Geography", "Department"),
        strict=True,
    ):
        # Only an organization of the right tree: a Geography's id in department_id is named
        # by the row's error, not beside it as if it were a department.
        names = {
            i: name for i, (typ, name) in organizations.items() if typ.casefold() == kind.casefold()
        }
        named = valid[ids].astype("int64").map(names).astype(object)
        out[column] = named.fillna("").astype("str")
    return out


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
