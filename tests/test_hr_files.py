"""Files as HR systems and people make them, and a quiet tool that still explains itself."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importer import ApiSettings, run_import
from importer.cli import app
from importer.sandbox import SandboxConfig, SandboxServer
from importer.validate_table import default_out_dir

from .conftest import settings_for, write_csv

runner = CliRunner()


def test_quiet_run_with_wrong_token_says_why_on_stderr(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run -q` (and `-q --json`) with a refused token: exit 3 and the one-line reason."""
    monkeypatch.setenv("KANTATA_API_TOKEN", "wrong-token")
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    for extra in (["-q"], ["-q", "--json"]):
        out = tmp_path / f"o{len(extra)}"
        args = ["run", str(src), "--base-url", sandbox.base_url, "--out", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 3, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: the server refused the API token (HTTP 401)")


def test_retries_never_print_on_stderr(tmp_path: Path) -> None:
    """A run whose requests are retried (503s) prints nothing on stderr under -q --json."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10016)])
    with SandboxServer(SandboxConfig(fail_rate=0.5, random_seed=3)) as server:
        env = {**os.environ, "KANTATA_API_TOKEN": server.token}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "importer",
                "run",
                str(src),
                "-q",
                "--json",
                "--base-url",
                server.base_url,
                "--batch-size",
                "1",
                "--concurrency",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert '"retries": 0' not in proc.stdout  # the run did retry ...
    assert proc.stderr == ""  # ... and said nothing about it on stderr


def test_retries_go_to_the_importer_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each retry is one readable INFO line on the importer.retry logger, none on stamina's."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10016)])
    caplog.set_level(logging.DEBUG)
    with SandboxServer(SandboxConfig(fail_rate=0.5, random_seed=3)) as server:
        result = run_import(src, out_dir=tmp_path / "o", api=settings_for(server, concurrency=1))
    retries = result.summary["retries"]
    assert retries > 0
    mine = [r for r in caplog.records if r.name == "importer.retry"]
    assert len(mine) == retries
    assert "server busy (HTTP 503)" in mine[0].getMessage()
    assert not [r for r in caplog.records if r.name == "stamina"]


def test_library_reads_the_environment_like_the_cli(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_import with no api= (the README example) uses $KANTATA_BASE_URL and the token."""
    monkeypatch.setenv("KANTATA_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    assert ApiSettings.from_env(concurrency=2).base_url == sandbox.base_url
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    result = run_import(src, out_dir=tmp_path / "o")
    assert result.exit_code == 0, result.fatal
    assert result.summary["base_url"] == sandbox.base_url
    assert len(sandbox.memberships()) == 6


def test_same_stem_inputs_get_their_own_results(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """people.csv then people.xlsx in one folder: two results folders, both runs succeed."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    csv_file = write_csv(tmp_path / "people.csv", [[105, 202, 10010, "User"]])
    from .conftest import HEADER, write_xlsx

    xlsx_file = write_xlsx(tmp_path / "people.xlsx", {"M": [HEADER, [105, 202, 10011, "User"]]})
    for src in (csv_file, xlsx_file):
        result = runner.invoke(app, ["run", str(src), "--base-url", sandbox.base_url, "-q"])
        assert result.exit_code == 0, result.output
    assert default_out_dir(csv_file) == tmp_path / "people.csv-results"
    assert (tmp_path / "people.csv-results" / "success.csv").exists()
    assert (tmp_path / "people.xlsx-results" / "success.csv").exists()
