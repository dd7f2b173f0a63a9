"""Validate: resolve names to IDs and check every row with the pandera schema (stage 2).

Everything else in this package is private (``_name.py``).
"""

from importer.validate._intake import Intake, name_lookups, origin_digest, read_intake
from importer.validate._lookups import Organization, Resolver
from importer.validate._rows import (
    CheckedChunk,
    DuplicateTracker,
    check_chunk,
    finish_chunk,
    no_valid_rows,
    with_cell_notes,
)

__all__ = [
    "CheckedChunk",
    "DuplicateTracker",
    "Intake",
    "Organization",
    "Resolver",
    "check_chunk",
    "finish_chunk",
    "name_lookups",
    "no_valid_rows",
    "origin_digest",
    "read_intake",
    "with_cell_notes",
]
