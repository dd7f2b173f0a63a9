"""``importer serve`` in a real headless browser (Debian's chromium via Playwright).

Each scenario of ``browser_flows.py`` runs in a process of its own under a hard deadline: when
it passes, the process group (Playwright's driver and chromium with it) is killed, so a browser
that hangs fails one test instead of hanging the suite. Screenshots of each step go to
``test-output/web-e2e/`` (or ``$WEB_E2E_OUTPUT``), taken at 1366 x 768.

The browser is Debian's ``chromium`` (``.ci/run`` installs it with apt-get); ``playwright
install`` is never used. Without it the tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .browser_flows import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("WEB_E2E_OUTPUT", ROOT / "test-output" / "web-e2e"))
DEADLINE = 150  # seconds for one scenario, browser start included

# One browser at a time (in one pytest-xdist worker): they share the screenshots folder, and
# two chromiums on a two-core machine only slow each other down.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(DEADLINE + 30),
    pytest.mark.xdist_group("browser"),
]


def _browser_or_skip() -> None:
    if Path(CHROMIUM).is_file():
        return
    if os.environ.get("IMPORTER_NO_CHROMIUM"):  # .ci/run tried to install it and could not
        pytest.skip(os.environ["IMPORTER_NO_CHROMIUM"])
    if os.environ.get("CI"):
        pytest.fail(f"chromium is missing at {CHROMIUM}; .ci/run installs it with apt-get")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")


def _run_flow(flow: str, out: Path) -> None:
    """Run one scenario in its own process group; kill the group at the deadline."""
    _browser_or_skip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.web.browser_flows", flow, str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{flow} did not end within {DEADLINE} s (killed):\n{output[-4000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, output[-6000:]


def test_an_adp_export_from_upload_to_undo(tmp_path: Path) -> None:
    """Header row 4 chosen by a click, columns by friendly names, fill down, find and replace,
    ignore a row, the check in words, send, names beside ids, undo shown per row; each step fits
    1366 px with no command-line flag (screenshots under test-output/web-e2e/)."""
    for old in OUTPUT.glob("*.png"):
        old.unlink()
    _run_flow("guided_adp", OUTPUT)
    assert len(list(OUTPUT.glob("*.png"))) >= 8


def test_two_tabs_pressing_send_make_one_run(tmp_path: Path) -> None:
    """The second tab's Send is refused with "already running" and follows the one run."""
    out = tmp_path / "shots"
    _run_flow("two_tabs", out)
    shutil.copy(out / "two-tabs.png", OUTPUT / "two-tabs.png") if OUTPUT.is_dir() else None
