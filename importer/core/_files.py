"""The results folder and the files in it: created for the user, never world-writable, written
atomically. Shared by every job and front-end that writes results (pandas-free).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from importer.core._errors import InputError

__all__ = ["default_out_dir", "make_out_dir", "private_enough", "private_opener", "write_json"]


def private_enough(path: Path) -> None:
    """Files follow the user's umask, but never end up world-writable."""
    mode = path.stat().st_mode
    if mode & stat.S_IWOTH:
        path.chmod(mode & ~stat.S_IWOTH)


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file gets the umask minus others' write bit."""
    return os.open(path, flags, 0o664)


def make_out_dir(path: Path) -> Path:
    """Create the results folder and missing parents: the umask applies, minus others' write.

    Raises:
        InputError: ``path`` is a file, not a folder.
    """
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{path} is a file, not a folder; choose another --out folder", path=str(path)
        )
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o775, exist_ok=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as pretty JSON, atomically."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", opener=private_opener) as fh:
        fh.write(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    private_enough(path)
    return path


def default_out_dir(path: str | Path) -> Path:
    """``people.xlsx`` -> ``people.xlsx-results/`` next to it.

    The whole file name, extension included: ``people.csv`` and ``people.xlsx`` side by side get
    folders of their own (each with its own run journal), and the folder sorts next to its file.
    """
    p = Path(path)
    return p.with_name(f"{p.name}-results")
