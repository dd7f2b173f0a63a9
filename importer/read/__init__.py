"""Read: open a spreadsheet or text file and yield chunks of text cells (stage 1).

Everything else in this package is private (``_name.py``).
"""

from importer.read._footer import footer_rows, is_footer
from importer.read._header_row import HeaderChoice, choose_header_row
from importer.read._headers import (
    HeaderMap,
    display_fields,
    header_scorer,
    match_headers,
    missing_columns,
    read_mapping_file,
)
from importer.read._load import DEFAULT_MAX_BYTES, first_rows, open_input, open_table
from importer.read._memory import use_streaming_pool
from importer.read._names import no_score
from importer.read._prefetch import Prefetch
from importer.read._suggest import ColumnSuggestion, is_hr_number, suggest_columns
from importer.read._table import MAX_CELL_BYTES, CellNote, FirstRows, SourceInfo, Table

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CELL_BYTES",
    "CellNote",
    "ColumnSuggestion",
    "FirstRows",
    "HeaderChoice",
    "HeaderMap",
    "Prefetch",
    "SourceInfo",
    "Table",
    "choose_header_row",
    "display_fields",
    "first_rows",
    "footer_rows",
    "header_scorer",
    "is_footer",
    "is_hr_number",
    "match_headers",
    "missing_columns",
    "no_score",
    "open_input",
    "open_table",
    "read_mapping_file",
    "suggest_columns",
    "use_streaming_pool",
]
