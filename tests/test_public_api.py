"""The package's public names: all resolvable, and ``import importer`` stays light."""

from __future__ import annotations

import subprocess
import sys

import importer


def test_every_public_name_resolves() -> None:
    for name in importer.__all__:
        assert getattr(importer, name) is not None, name


def test_drop_and_plan_are_reachable_from_the_package() -> None:
    from importer.drop import load_drop_config, process_drop_folder
    from importer.plan import plan_file

    assert importer.process_drop_folder is process_drop_folder
    assert importer.load_drop_config is load_drop_config
    assert importer.plan_file is plan_file


def test_importing_the_package_does_not_import_pandas() -> None:
    code = "import sys, importer; print('pandas' in sys.modules, 'pandera' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
