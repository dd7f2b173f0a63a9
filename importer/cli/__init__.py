"""The ``importer`` command: a thin layer over the library.

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.cli._app import main, sandbox_cmd

_LAZY: dict[str, str] = {
    "main": "importer.cli._app",
    "sandbox_cmd": "importer.cli._app",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "main",
    "sandbox_cmd",
]
