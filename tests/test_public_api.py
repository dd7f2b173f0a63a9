"""The package's public names: the top level holds the settings and the errors (pandas-free), the
jobs are in ``importer.jobs`` and the drop folder's in ``importer.drop``."""

from __future__ import annotations

import subprocess
import sys

import importer
import importer.core


def test_every_public_name_resolves() -> None:
    """Each name of ``importer.__all__`` resolves."""
    for name in importer.__all__:
        assert getattr(importer, name) is not None, name


def test_the_top_level_exports_only_core_names() -> None:
    """``importer`` re-exports settings and errors from ``importer.core``, nothing else."""
    for name in importer.__all__:
        assert getattr(importer, name) is getattr(importer.core, name), name


def test_the_library_calls_are_in_jobs_and_drop() -> None:
    """What the README's library snippet imports exists where it says."""
    from importer.drop import load_drop_config, process_drop_folder, watch
    from importer.jobs import ImportResult, Progress, plan_file, run_import, undo_run, validate_file

    assert all(
        callable(f)
        for f in (load_drop_config, process_drop_folder, watch, plan_file, run_import, undo_run)
    )
    assert callable(validate_file)
    assert ImportResult.__name__ == "ImportResult"
    assert Progress.__name__ == "Progress"


def test_importing_the_package_imports_neither_pandas_nor_httpx() -> None:
    """``import importer`` (settings, errors) loads no data stack and no HTTP client."""
    code = (
        "import sys, importer, importer.core; "
        "print(*(m in sys.modules for m in ('pandas', 'pandera', 'numpy', 'httpx')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * 4
