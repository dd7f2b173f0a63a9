"""Small file helpers of the web's working folder: private folders, atomic JSON, ids."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["new_id", "now", "private_dir", "read_json", "write_json"]


def new_id() -> str:
    """A random id for an upload or a run (16 hex digits: the browser names nothing else)."""
    return secrets.token_hex(8)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (made with its parents if needed)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` so that a reader sees the old file or the new, never half of one."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
