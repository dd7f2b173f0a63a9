"""What every stage knows of spreadsheets: the file suffixes read, the size of a worksheet, and
the cells Excel runs as formulas.

Pandas-free, so the drop folder and the CLI can import it without the pipeline.
"""

from __future__ import annotations

__all__ = [
    "ESCAPED_FORMULA",
    "EXCEL_COLUMNS",
    "EXCEL_ROWS",
    "FORMULA_START",
    "TEXT_SUFFIXES",
    "WORKBOOK_SUFFIXES",
]

#: The inputs read, by suffix: delimited text, and workbooks by format.
TEXT_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv"}
WORKBOOK_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}

EXCEL_ROWS = 1_048_576  # rows of a worksheet (the header included)
EXCEL_COLUMNS = 16_384  # columns of a worksheet (XFD)

_FORMULA_CHARS = r"=+\-@\t\r"
#: A cell starting with one of these is run as a formula by a spreadsheet (OWASP CSV injection).
FORMULA_START = rf"^[{_FORMULA_CHARS}]"
#: Such a cell as our reports write it (a leading apostrophe): group 1 is the cell's first
#: character, so replacing the match with ``\1`` gives the cell back as it was.
ESCAPED_FORMULA = rf"^'([{_FORMULA_CHARS}])"
