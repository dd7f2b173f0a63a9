"""Render result rows as CSV text with Arrow kernels, column by column.

pandas' ``to_csv`` goes through Python's csv module row by row (~8 µs a row) and escaping
formulas with pandas ``where`` realigns indexes; the reports of a million-row file would spend
more time there than in validating. Here every step is a whole-column kernel: the text is the
same as Python's csv writer with ``QUOTE_MINIMAL`` gives (a field is quoted only when it holds
the delimiter, a quote or a line break; quotes inside are doubled), lines end with CRLF; a NUL
character is written ``_x0000_`` (see :func:`_without_nul`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.core import FORMULA_START

_TEXT = pa.large_string()


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


def text_column(values: pd.Series | np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as Arrow text without nulls: numbers as pandas writes them, missing as ``""``."""
    if isinstance(values, np.ndarray):
        values = pd.Series(values)
    if isinstance(values, pd.Series):
        if values.dtype.kind in "iu":
            values = pa.array(values.to_numpy())
        else:
            values = pa.array(values.astype("str"), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.large_string())
    if values.null_count:
        values = pc.fill_null(values, "")
    return values


def escape_formula_cells(values: pa.Array) -> pa.Array:
    """Prefix an apostrophe to the cells a spreadsheet would run as a formula (``=`` ``+`` ``-``
    ``@``, tab or CR first); the loader removes it again when the file is read back."""
    risky = pc.match_substring_regex(values, FORMULA_START)
    if not pc.any(risky).as_py():
        return values
    return pc.if_else(risky, pc.binary_join_element_wise(_s("'"), values, _s("")), values)


def quote_fields(values: pa.Array, delimiter: str = ",") -> pa.Array:
    """Quote the fields that need it, like ``csv.QUOTE_MINIMAL``."""
    needs = pc.match_substring_regex(values, f'[{re.escape(delimiter)}"\r\n]')
    if not pc.any(needs).as_py():
        return values
    doubled = pc.replace_substring(values, '"', '""')
    quoted = pc.binary_join_element_wise(_s('"'), doubled, _s('"'), _s(""))
    return pc.if_else(needs, quoted, values)


def _without_nul(values: pa.Array) -> pa.Array:
    """A NUL character as Excel spells it in a workbook, ``_x0000_``: a text file holding a NUL
    byte is refused by the loader (and by many tools), so a report could not be fed back.

    Such a cell comes from a workbook whose XML holds ``_x0000_``, which calamine decodes.
    """
    if not pc.any(pc.match_substring(values, "\x00")).as_py():
        return values
    return pc.replace_substring(values, "\x00", "_x0000_")


def csv_text(columns: list[pa.Array], *, delimiter: str = ",", eol: str = "\r\n") -> str:
    """The CSV lines of equally long text columns (no header)."""
    if not columns or len(columns[0]) == 0:
        return ""
    fields = [quote_fields(_without_nul(c), delimiter) for c in columns]
    lines = pc.binary_join_element_wise(*fields, _s(delimiter))
    lines = pc.binary_join_element_wise(lines, _s(eol), _s(""))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    data = lines.buffers()[2]
    return data.to_pybytes()[start:end].decode("utf-8") if data is not None else ""


def frame_csv_text(frame: pd.DataFrame) -> str:
    """CSV lines of a DataFrame's columns (no header, no index); text cells formula-escaped."""
    columns = []
    for i in range(frame.shape[1]):
        series = frame.iloc[:, i]
        values = text_column(series)
        if series.dtype.kind not in "iufb":
            values = escape_formula_cells(values)
        columns.append(values)
    return csv_text(columns)
