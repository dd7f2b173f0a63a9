"""Read: open a spreadsheet or text file and yield chunks of text cells (stage 1).

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.read._headers import (
        HeaderMap,
        display_fields,
        header_scorer,
        match_headers,
        missing_columns,
        read_mapping_file,
    )
    from importer.read._load import DEFAULT_MAX_BYTES, first_rows, open_table
    from importer.read._memory import use_streaming_pool
    from importer.read._prefetch import Prefetch
    from importer.read._table import MAX_CELL_BYTES, CellNote, FirstRows, SourceInfo, Table

_LAZY: dict[str, str] = {
    "CellNote": "importer.read._table",
    "DEFAULT_MAX_BYTES": "importer.read._load",
    "FirstRows": "importer.read._table",
    "HeaderMap": "importer.read._headers",
    "MAX_CELL_BYTES": "importer.read._table",
    "Prefetch": "importer.read._prefetch",
    "SourceInfo": "importer.read._table",
    "Table": "importer.read._table",
    "display_fields": "importer.read._headers",
    "first_rows": "importer.read._load",
    "header_scorer": "importer.read._headers",
    "match_headers": "importer.read._headers",
    "missing_columns": "importer.read._headers",
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
    "FirstRows",
    "HeaderMap",
    "Prefetch",
    "SourceInfo",
    "Table",
    "display_fields",
    "first_rows",
    "header_scorer",
    "match_headers",
    "missing_columns",
    "open_table",
    "read_mapping_file",
    "use_streaming_pool",
]
