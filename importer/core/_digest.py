"""The content hash of an input file: what run journals, reports and the drop ledger record.

Pandas-free, so the drop folder can hash files without importing the pipeline.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from importer.core._errors import InputError

__all__ = ["sha256_file"]


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read in blocks.

    Raises:
        InputError: the file is missing or cannot be read (one line naming it).
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {p}", path=str(p)) from exc
    except OSError as exc:
        raise InputError(f"cannot read {p.name}: {exc.strerror or exc}", path=str(p)) from exc
