"""A full disk, a read-only or odd --out, a damaged journal: one line and exit 2."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importer.sandbox import SandboxServer

from .conftest import write_csv

runner = CliRunner()


def _one_line(result: object) -> str:
    """The single error line of a CLI result (no traceback)."""
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return str(lines[0])


def _invoke(*args: str) -> object:
    from importer.cli._app import app

    return runner.invoke(app, list(args))


@contextmanager
def _mounted(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs at ``where`` (skip when this process may not mount)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _invalid_rows(path: Path, n: int) -> Path:
    """A CSV of ``n`` rows that all fail validation (so errors.csv grows with ``n``)."""
    return write_csv(path, [["x" * 40, 2, i, "User"] for i in range(n)])


def test_out_that_is_a_file_exits_2(tmp_path: Path) -> None:
    """--out naming a file: one line naming it, exit 2."""
    src = _invalid_rows(tmp_path / "in.csv", 3)
    (tmp_path / "taken").write_text("x")
    result = _invoke("validate", str(src), "--out", str(tmp_path / "taken"))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    line = _one_line(result)
    assert str(tmp_path / "taken") in line
    assert "is a file" in line


def test_out_below_a_file_exits_2(tmp_path: Path) -> None:
    """--out inside a file (its parent is not a folder): one line, exit 2."""
    src = _invalid_rows(tmp_path / "in.csv", 3)
    (tmp_path / "taken").write_text("x")
    result = _invoke("validate", str(src), "--out", str(tmp_path / "taken" / "sub"))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "--out" in _one_line(result)


def test_read_only_or_missing_out_exits_2(tmp_path: Path) -> None:
    """A missing --out on a read-only disk, and an existing read-only one: one line, exit 2."""
    src = _invalid_rows(tmp_path / "in.csv", 3)
    with _mounted(tmp_path / "ro", "ro,size=64k") as ro:
        for out in (ro / "missing" / "results", ro):
            result = _invoke("validate", str(src), "--out", str(out))
            assert result.exit_code == 2  # type: ignore[attr-defined]
            line = _one_line(result)
            assert "cannot write here" in line
            assert str(ro) in line


def test_full_disk_exits_2(tmp_path: Path) -> None:
    """errors.csv filling a 64 KB disk: one line saying the disk is full, exit 2."""
    src = _invalid_rows(tmp_path / "in.csv", 3000)
    with _mounted(tmp_path / "small", "size=64k") as small:
        result = _invoke("validate", str(src), "--out", str(small / "out"))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    line = _one_line(result)
    assert "disk is full" in line
    assert "run the same command again" in line


def test_file_size_limit_exits_2(tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) met while writing: one line, exit 2."""
    src = _invalid_rows(tmp_path / "in.csv", 3000)
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "from importer.cli._app import main\n"
        "sys.argv = ['importer', *sys.argv[1:]]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "validate", str(src), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "disk is full" in done.stderr


def _journal_run(src: Path, out: Path, sandbox: SandboxServer) -> object:
    return _invoke("run", str(src), "--out", str(out), "--base-url", sandbox.base_url, "-q")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_journal_is_refused_with_how_to_recover(
    damage: str, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal overwritten with garbage or cut short: exit 2, one line naming --restart."""
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    # Rows that fail at the server (unknown geography): the journal holds them all, nothing
    # is created, and the second run would send them again.
    src = write_csv(tmp_path / "in.csv", [[999_999, 202, 10_000 + i, "User"] for i in range(800)])
    out = tmp_path / "out"
    journal = out / "journal.sqlite"
    if damage == "garbage":
        out.mkdir()
        journal.write_bytes(b"not a database, just bytes " * 200)
    else:
        assert _journal_run(src, out, sandbox).exit_code == 1  # type: ignore[attr-defined]
        with sqlite3.connect(journal) as conn:
            assert conn.execute("SELECT count(*) FROM rows").fetchone()[0] == 800
        size = journal.stat().st_size
        assert size > 8192
        os.truncate(journal, size // 2)
    result = _journal_run(src, out, sandbox)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    line = _one_line(result)
    assert str(journal) in line
    assert "damaged" in line
    assert "--restart" in line
    restarted = _invoke(
        "run", str(src), "--out", str(out), "--base-url", sandbox.base_url, "-q", "--restart"
    )
    assert restarted.exit_code == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["people.csv", "people.xlsx"])
def test_fifo_input_is_refused_not_waited_on(name: str, tmp_path: Path) -> None:
    """A named pipe given as the input: exit 2 at once, one line (it used to block forever)."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "importer.cli", "validate", str(fifo), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "named pipe" in done.stderr


def _wide_workbook(path: Path, rows: int) -> Path:
    """A small .xlsx whose sheet unpacks to ~0.5 KB a row (packs ~100x)."""
    from importer.report._xlsx import XlsxSheetWriter

    columns = ["geography_id", "department_id", "member_id", "member_type", "note"]
    with XlsxSheetWriter(path, "Members", columns, numeric=()) as writer:
        writer.append(
            [
                ["105"] * rows,
                ["202"] * rows,
                [str(10_000 + i) for i in range(rows)],
                ["User"] * rows,
                ["n" * 400] * rows,
            ]
        )
    return path


def test_workbook_needing_more_memory_than_allowed_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    """A sheet unpacking past the memory budget: exit 2 naming the need and --max-memory-mb."""
    book = _wide_workbook(tmp_path / "wide.xlsx", 60_000)
    assert book.stat().st_size < 2 << 20
    refused = _invoke("validate", str(book), "--max-memory-mb", "40", "--out", str(tmp_path / "a"))
    assert refused.exit_code == 2  # type: ignore[attr-defined]
    line = _one_line(refused)
    assert "--max-memory-mb" in line
    found = re.search(
        r"unpacks to (\d+) MB .* need about (\d+) MB of memory, more than the 40 MB", line
    )
    assert found is not None
    assert int(found[2]) >= 2 * int(found[1]) >= 60
    allowed = _invoke("validate", str(book), "--max-memory-mb", "200", "--out", str(tmp_path / "b"))
    assert allowed.exit_code == 0, allowed.stderr  # type: ignore[attr-defined]


def test_default_memory_budget_is_2_gb_or_a_quarter_of_the_memory() -> None:
    """The default budget never exceeds 2 GB nor a quarter of the machine's memory."""
    from importer.read._load import memory_budget

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < memory_budget() <= min(2 << 30, total // 4)
