"""The README stays true: two commands up front, CI runs the test one, every command documented."""

from __future__ import annotations

import re
from pathlib import Path

from importer.cli._app import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    """The shell lines of the README's first section."""
    first = README.split("\n## ", 2)[1]
    block = re.search(r"```sh\n(.*?)```", first, re.S)
    assert block, "the first section has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_first_section_has_exactly_two_commands() -> None:
    """One installs and runs the demo on the sample; one installs and runs the tests."""
    demo, tests = quick_start_commands()
    assert "importer run sample_data/" in demo
    assert "--sandbox" in demo
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run contains the README's test command, verbatim but for pip's -q."""
    _, tests = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.replace("pip install -e", "pip install -q -e") in ci


def test_every_command_is_documented() -> None:
    """Each CLI command appears in the README as `importer NAME`."""
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert names
    missing = [n for n in names if f"importer {n}" not in README]
    assert not missing, f"undocumented commands: {missing}"
