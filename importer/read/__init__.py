"""Read: open a spreadsheet or text file and yield chunks of text cells (stage 1).

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.read._footer import footer_rows, is_footer
    from importer.read._header_row import HeaderChoice, choose_header_row
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
    from importer.read._suggest import ColumnSuggestion, is_hr_number, suggest_columns
    from importer.read._table import MAX_CELL_BYTES, CellNote, SourceInfo, Table

_LAZY: dict[str, str] = {
    "footer_rows": "importer.read._footer",
    "is_footer": "importer.read._footer",
    "ColumnSuggestion": "importer.read._suggest",
    "HeaderChoice": "importer.read._header_row",
    "choose_header_row": "importer.read._header_row",
    "is_hr_number": "importer.read._suggest",
    "suggest_columns": "importer.read._suggest",
    "CellNote": "importer.read._table",
    "DEFAULT_MAX_BYTES": "importer.read._load",
    "HeaderMap": "importer.read._headers",
    "MAX_CELL_BYTES": "importer.read._table",
    "Prefetch": "importer.read._prefetch",
    "SourceInfo": "importer.read._table",
    "Table": "importer.read._table",
    "display_fields": "importer.read._headers",
    "header_scorer": "importer.read._headers",
    "match_headers": "importer.read._headers",
    "open_table": "importer.read._load",
    "read_mapping_file": "importer.read._headers",
    "use_streaming_pool": "importer.read._memory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CELL_BYTES",
    "CellNote",
    "ColumnSuggestion",
    "HeaderChoice",
    "HeaderMap",
    "Prefetch",
    "SourceInfo",
    "Table",
    "choose_header_row",
    "display_fields",
    "footer_rows",
    "header_scorer",
    "is_footer",
    "is_hr_number",
    "match_headers",
    "open_table",
    "read_mapping_file",
    "suggest_columns",
    "use_streaming_pool",
]
