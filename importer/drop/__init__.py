"""The drop folder: files dropped in inbox/ are imported once each, unattended.

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.drop._config import DropConfig, load_drop_config
    from importer.drop._files import ensure_layout
    from importer.drop._folder import process_drop_folder, watch
    from importer.drop._result import DropResult, FileResult, write_json_line

_LAZY: dict[str, str] = {
    "DropConfig": "importer.drop._config",
    "DropResult": "importer.drop._result",
    "FileResult": "importer.drop._result",
    "ensure_layout": "importer.drop._files",
    "load_drop_config": "importer.drop._config",
    "process_drop_folder": "importer.drop._folder",
    "watch": "importer.drop._folder",
    "write_json_line": "importer.drop._result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DropConfig",
    "DropResult",
    "FileResult",
    "ensure_layout",
    "load_drop_config",
    "process_drop_folder",
    "watch",
    "write_json_line",
]
