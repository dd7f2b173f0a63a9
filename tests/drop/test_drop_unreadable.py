"""A drop folder is never blocked by a file its reader cannot finish: that file goes to failed/
and the next one is imported (workbooks are read in a child process with a deadline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from importer.sandbox import SandboxServer

from ..conftest import write_csv

HANGS = Path(__file__).parent.parent / "read" / "fixtures" / "hangs-calamine.ods"


def test_a_workbook_that_hangs_its_reader_goes_to_failed_and_the_next_file_is_imported(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The .ods that loops calamine forever, dropped first: failed/ within --read-timeout, with
    the reason; the CSV dropped after it is imported. The drop runs in a subprocess, killed
    after 120 s whatever happens."""
    settings = {"base_url": sandbox.base_url, "stable_seconds": 0, "read_timeout": 3}
    (tmp_path / "importer.toml").write_text(
        "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.ods").write_bytes(HANGS.read_bytes())
    os.utime(inbox / "broken.ods", (1_000_000_000, 1_000_000_000))  # the oldest: taken first
    write_csv(inbox / "next.csv", [[105, 202, m, "User"] for m in range(10010, 10015)])
    proc = subprocess.run(
        [sys.executable, "-m", "importer.cli", "drop", str(tmp_path), "--quiet"],
        env={**os.environ, "KANTATA_API_TOKEN": sandbox.token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    runs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    records = [f for run in runs for f in run["files"]]  # one JSON line per run
    assert [(r["file"], r["outcome"]) for r in records] == [
        ("broken.ods", "failed"),
        ("next.csv", "imported"),
    ], proc.stderr
    assert proc.returncode == 1
    assert (tmp_path / "failed" / "broken.ods").is_file()
    reason = (tmp_path / "failed" / "broken.ods.error.txt").read_text()
    assert "did not finish within 3 s" in reason
    assert (tmp_path / "done" / "next.csv").is_file()
    created = [int(m["member_id"]) for m in sandbox.memberships()]
    assert sorted(m for m in created if 10010 <= m < 10015) == list(range(10010, 10015))
