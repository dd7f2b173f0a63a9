"""Validate: resolve names to IDs and check every row with the pandera schema (stage 2).

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.validate._intake import Intake, name_lookups, origin_digest, read_intake
    from importer.validate._lookups import Organization, Resolver
    from importer.validate._rows import CheckedChunk, DuplicateTracker, check_chunk, finish_chunk
    from importer.validate._spec import RowSchemaSpec, load_row_schema
    from importer.validate._table import (
        check_input,
        default_out_dir,
        errors_report,
        intake_for,
        open_input,
        validate_table,
        with_cell_notes,
    )

_LAZY: dict[str, str] = {
    "CheckedChunk": "importer.validate._rows",
    "DuplicateTracker": "importer.validate._rows",
    "Intake": "importer.validate._intake",
    "Organization": "importer.validate._lookups",
    "Resolver": "importer.validate._lookups",
    "RowSchemaSpec": "importer.validate._spec",
    "check_chunk": "importer.validate._rows",
    "check_input": "importer.validate._table",
    "default_out_dir": "importer.validate._table",
    "errors_report": "importer.validate._table",
    "finish_chunk": "importer.validate._rows",
    "intake_for": "importer.validate._table",
    "load_row_schema": "importer.validate._spec",
    "name_lookups": "importer.validate._intake",
    "open_input": "importer.validate._table",
    "origin_digest": "importer.validate._intake",
    "read_intake": "importer.validate._intake",
    "validate_table": "importer.validate._table",
    "with_cell_notes": "importer.validate._table",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckedChunk",
    "DuplicateTracker",
    "Intake",
    "Organization",
    "Resolver",
    "RowSchemaSpec",
    "check_chunk",
    "check_input",
    "default_out_dir",
    "errors_report",
    "finish_chunk",
    "intake_for",
    "load_row_schema",
    "name_lookups",
    "open_input",
    "origin_digest",
    "read_intake",
    "validate_table",
    "with_cell_notes",
]
