"""Read: open a spreadsheet or text file and yield chunks of text cells (stage 1).

Everything else in this package is private (``_name.py``).
"""

from importer.read._headers import (
    HeaderMap,
    display_fields,
    header_scorer,
    match_headers,
    read_mapping_file,
)
from importer.read._load import DEFAULT_MAX_BYTES, open_table
from importer.read._memory import use_streaming_pool
from importer.read._prefetch import Prefetch
from importer.read._table import MAX_CELL_BYTES, CellNote, SourceInfo, Table

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CELL_BYTES",
    "CellNote",
    "HeaderMap",
    "Prefetch",
    "SourceInfo",
    "Table",
    "display_fields",
    "header_scorer",
    "match_headers",
    "open_table",
    "read_mapping_file",
    "use_streaming_pool",
]
