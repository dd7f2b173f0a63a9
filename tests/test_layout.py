"""The package layout: each package's ``__all__`` is sorted and importable, no module imports a
private name of another package, the top of ``importer/`` is its layers, and no ``__init__`` is
lazy."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "importer"
PACKAGES = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists())


@pytest.mark.parametrize("name", ["importer", *(f"importer.{p}" for p in PACKAGES)])
def test_every_package_exports_a_sorted_all_of_resolvable_names(name: str) -> None:
    """``__all__`` is sorted, and each name in it resolves (as httpx tests its exports)."""
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=_isort_key)
    for member in exported:
        assert getattr(module, member) is not None, f"{name}.{member}"


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff keeps ``__all__`` in (RUF022): CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and parts[1] in PACKAGES else "importer"


def _private_imports() -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        here = _package_of(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not node.module.startswith("importer"):
                continue
            target = _package_of(node.module)
            if target == here:
                continue
            inner = node.module[len(target) :].split(".")
            names = [a.name for a in node.names]
            if any(p.startswith("_") for p in inner if p) or any(n.startswith("_") for n in names):
                found.append(f"{rel}: from {node.module} import {', '.join(names)}")
    return found


def test_no_module_imports_a_private_name_of_another_package() -> None:
    """Across packages only the package's names are used, never ``_module`` or ``_name``."""
    assert _private_imports() == []


def test_the_top_of_the_package_is_its_layers() -> None:
    """``importer/`` holds ``__init__.py`` and the 11 packages of the layout, nothing loose."""
    entries = sorted(p.name for p in PKG.iterdir() if p.name != "__pycache__")
    assert entries == sorted(
        [
            "__init__.py",
            *("api", "cli", "core", "drop", "jobs", "read", "report", "sandbox", "send"),
            *("validate", "web"),
        ]
    )


def test_no_init_loads_its_names_lazily() -> None:
    """Every ``__init__.py`` imports its names plainly: no module ``__getattr__``."""
    lazy = [
        str(path.relative_to(PKG.parent))
        for path in PKG.rglob("__init__.py")
        if any(
            isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for node in ast.parse(path.read_text(encoding="utf-8")).body
        )
    ]
    assert lazy == []


# -- commands that need no data stack (issue 22, item 6) ------------------------------------------

#: ``importer ARGS`` in a process where pandas, pandera, pyarrow and numpy cannot be imported.
_NO_DATA_STACK = """
import sys

class _NoDataStack:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"pandas", "pandera", "pyarrow", "numpy"}:
            raise ModuleNotFoundError(f"{name} is blocked in this test", name=name)
        return None

sys.meta_path.insert(0, _NoDataStack())
sys.argv = ["importer", *sys.argv[1:]]
from importer.cli import main
main()
"""
COMMANDS = ["validate", "run", "plan", "undo", "doctor", "template", "sandbox", "serve", "drop"]


def without_data_stack(*args: str) -> subprocess.CompletedProcess[str]:
    """``importer ARGS`` with the data stack made unimportable (killed after 120 s)."""
    return subprocess.run(
        [sys.executable, "-c", _NO_DATA_STACK, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_needs_no_data_stack(command: str | None) -> None:
    """``importer --help`` and each command's ``--help`` run without pandas or numpy."""
    proc = without_data_stack(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: importer" in proc.stdout


def test_doctor_needs_no_data_stack() -> None:
    """``importer doctor`` checks an account (a sandbox here) without pandas or numpy."""
    proc = without_data_stack("doctor", "--sandbox")
    assert proc.returncode == 0, proc.stderr
    assert "ready" in proc.stderr.splitlines()[-1]
    assert "token:                accepted" in proc.stderr


def test_a_command_that_reads_a_file_does_need_the_data_stack(tmp_path: Path) -> None:
    """The blocker is real: ``importer validate`` cannot run under it."""
    src = tmp_path / "in.csv"
    src.write_text("geography_id,department_id,member_id,member_type\n1,2,3,User\n")
    proc = without_data_stack("validate", str(src), "--out", str(tmp_path / "out"))
    assert proc.returncode != 0
    assert "is blocked in this test" in proc.stderr
