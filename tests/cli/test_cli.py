"""The command line: exit codes, one-line errors, --json, --quiet, the sandbox demo."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.core import InputError, parse_mapping
from importer.sandbox import SandboxServer

from ..conftest import write_csv, write_xlsx

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def docx_renamed(path: Path) -> Path:
    """A Word document (a zip, but not a workbook) saved as .xlsx."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return path


@pytest.mark.parametrize(
    ("make", "args", "needle"),
    [
        (lambda p: p / "missing.csv", [], "not found"),
        (lambda p: (p / "empty.csv").write_bytes(b"") or p / "empty.csv", [], "empty"),
        (
            lambda p: write_csv(
                p / "nohead.csv",
                [[105, 202, 10010, "User"]],
                header=["101", "201", "10009", "User"],
            ),
            [],
            "no header",
        ),
        (lambda p: docx_renamed(p / "report.xlsx"), [], "report.xlsx"),
        (
            lambda p: write_xlsx(p / "book.xlsx", {"Members": [["geography_id"]]}),
            ["--sheet", "Nope"],
            "Members",
        ),
        (
            lambda p: write_csv(
                p / "cols.csv", [[1, 2, 3]], header=["geography_id", "department_id", "member"]
            ),
            [],
            "member_type",
        ),
    ],
    ids=["missing", "empty", "no-header", "docx-renamed", "unknown-sheet", "missing-column"],
)
def test_unreadable_input_exits_2_with_one_line(
    tmp_path: Path, make, args: list[str], needle: str
) -> None:
    """Each unreadable input: exit 2, one line on stderr naming the problem, no traceback."""
    path = make(tmp_path)
    result = runner.invoke(app, ["validate", str(path), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.output


def test_validate_json_summary_and_exit_1(tmp_path: Path) -> None:
    """--json prints the summary on stdout; a bad row makes the exit code 1."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, "x", "User"]])
    result = runner.invoke(app, ["validate", str(src), "--json", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"rows": 2, "valid": 1, "failed_validation": 1}


def test_run_against_sandbox_quiet_exit_0(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run with token from the environment and --base-url: all created, exit 0, quiet output."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in range(10010, 10013)])
    result = runner.invoke(
        app,
        ["run", str(src), "--base-url", sandbox.base_url, "--quiet", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert sandbox.token not in result.output
    assert len(sandbox.memberships()) == 8


def test_run_with_token_file_and_map(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--token-file and --map for headers the built-in matching does not know."""
    monkeypatch.delenv("KANTATA_API_TOKEN", raising=False)
    token = tmp_path / "token"
    token.write_text(sandbox.token + "\n")
    token.chmod(0o600)
    src = write_csv(
        tmp_path / "in.csv", [[105, 202, 10010, "User"]], header=["Loc", "Team", "Who", "Kind"]
    )
    result = runner.invoke(
        app,
        [
            "run",
            str(src),
            "--base-url",
            sandbox.base_url,
            "--token-file",
            str(token),
            "--map",
            "Loc=geography_id,Team=department_id",
            "--map",
            "Who=member_id,Kind=member_type",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_run_without_token_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token anywhere: exit 3 with a message saying where to put it."""
    monkeypatch.delenv("KANTATA_API_TOKEN", raising=False)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    result = runner.invoke(app, ["run", str(src), "--base-url", "http://127.0.0.1:9/api/v1"])
    assert result.exit_code == 3
    assert "KANTATA_API_TOKEN" in result.stderr


def test_bad_mapping_is_input_error() -> None:
    """--map needs HEADER=column pairs."""
    assert parse_mapping("A=geography_id, B = member_id") == {
        "A": "geography_id",
        "B": "member_id",
    }
    with pytest.raises(InputError, match="HEADER=column"):
        parse_mapping("oops")


def test_readme_demo_command_imports_sample(tmp_path: Path) -> None:
    """The README's first command: `importer run sample_data/people.xlsx --sandbox` (subprocess)."""
    sample = tmp_path / "people.xlsx"
    sample.write_bytes((SAMPLES / "people.xlsx").read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "importer.cli", "run", str(sample), "--sandbox"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # the sample has deliberate errors
    assert re.search(r"created\s*│\s*31\b", proc.stderr), proc.stderr
    assert re.search(r"already existed\s*│\s*1\b", proc.stderr)
    assert (tmp_path / "people.xlsx-results" / "success.csv").exists()


def test_sandbox_command_starts_fast_and_answers_a_bulk_create() -> None:
    """`importer sandbox --port 0` prints its URL and token and serves the documented shape."""
    import signal

    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "importer.cli", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = token = ""
        while not (url and token):
            line = proc.stdout.readline()
            assert line, "sandbox exited early"
            if m := re.search(r"(http://127\.0\.0\.1:\d+/api/v1)", line):
                url = m.group(1)
            if m := re.match(r"\s*token:\s*(\S+)", line):
                token = m.group(1)
        body = {"organization_memberships": [
            {"geography_id": 105, "department_id": 202, "member_id": 10010, "member_type": "User"}
        ]}  # fmt: skip
        reply = httpx.post(
            f"{url}/organization_memberships",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert reply["count"] == 1
        (mid,) = reply["organization_memberships"]
        assert reply["results"] == [{"key": "organization_memberships", "id": mid}]
        assert reply["organization_memberships"][mid]["member_id"] == "10010"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
