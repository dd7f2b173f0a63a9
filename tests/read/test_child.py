"""Workbooks are read in a child process: a hang, a memory explosion or a dead parent cannot
reach the caller, and every test here that could hang runs in a subprocess with a hard kill."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from importer.core import TOKEN_ENV, InputError
from importer.read import first_rows, open_table
from importer.read._isolate import retire_idle_children

from ..conftest import write_xlsx
from ..hostile_files import ods_workbook
from ..waiting import CHILD_START_S, cpu_seconds, settles, wait_for

FIXTURES = Path(__file__).parent / "fixtures"
# 817 bytes from the fuzz generator of test_fuzz.py::test_mangled_ods (a stray "<98<z;" in the
# sheet): fastexcel.read_excel never returns on it (calamine loops, in native code).
HANGS = FIXTURES / "hangs-calamine.ods"
HARD_KILL_S = 90  # a test's subprocess is killed after this, whatever happens
# 20,000 rows repeating 200 cells: 846 bytes on disk, ~700 MB in calamine; the file's measures
# let it through (its XML is tiny, its grid under the .ods limit), so only the cap stops it.
BOMB_ROWS = (
    '<table:table-row table:number-rows-repeated="20000"><table:table-cell '
    'table:number-columns-repeated="200" office:value-type="string"><text:p>x</text:p>'
    "</table:table-cell></table:table-row>"
)


def cli(*args: str, timeout: float = HARD_KILL_S) -> subprocess.CompletedProcess[str]:
    """``python -m importer.cli ARGS`` in a subprocess, killed after ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-m", "importer.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and exactly one ``error: ...`` line on stderr; return it."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def children_of(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_hanging_ods_still_hangs_calamine_itself() -> None:
    """The regression file is what it claims: plain fastexcel never returns on it."""
    code = f"import fastexcel; fastexcel.read_excel({str(HANGS)!r})"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=5, check=False)


def test_a_hanging_workbook_is_exit_2_with_one_line_within_the_deadline(tmp_path: Path) -> None:
    """`validate` on the 817-byte .ods that loops calamine forever: exit 2, one line, in time."""
    started = time.monotonic()
    proc = cli("validate", str(HANGS), "--out", str(tmp_path / "o"), "--read-timeout", "3")
    line = one_error_line(proc)
    assert time.monotonic() - started < HARD_KILL_S
    assert "hangs-calamine.ods" in line
    assert "did not finish within 3 s" in line
    assert "--read-timeout" in line


def test_a_memory_bomb_workbook_is_exit_2_needs_more_than_the_cap(tmp_path: Path) -> None:
    """An .ods whose repeats expand to ~700 MB in calamine, read with a 150 MB cap: exit 2."""
    path = ods_workbook(tmp_path / "bomb.ods", BOMB_ROWS)
    proc = cli("validate", str(path), "--out", str(tmp_path / "o"), "--max-memory-mb", "150")
    line = one_error_line(proc)
    assert "bomb.ods" in line
    assert "needs more than 150 MB of memory" in line
    assert "--max-memory-mb" in line


def test_the_same_bomb_is_read_when_the_cap_allows_it(tmp_path: Path) -> None:
    """The cap is what refused it: with room, the 20,001 rows are read."""
    table = open_table(ods_workbook(tmp_path / "bomb.ods", BOMB_ROWS), max_memory=2 << 30)
    assert sum(len(chunk) for chunk in table.chunks()) == 20_001


def test_the_stopped_child_is_gone_and_the_sheet_is_named(tmp_path: Path) -> None:
    """Past the deadline the child is killed and reaped; the message names the file, and the
    sheet when one was asked for (the fixture hangs while opening, before any is chosen)."""
    before = set(children_of(os.getpid()))
    with pytest.raises(InputError, match=r"^hangs-calamine\.ods: reading the workbook") as caught:
        open_table(HANGS, read_timeout=2)
    assert caught.value.path == str(HANGS)
    retire_idle_children()
    assert set(children_of(os.getpid())) <= before  # nothing left, not even an idle child
    with pytest.raises(InputError, match=r"^hangs-calamine\.ods, sheet 'Members': reading"):
        open_table(HANGS, sheet="Members", read_timeout=2)


def test_a_read_past_its_deadline_in_a_thread_does_not_block_others(tmp_path: Path) -> None:
    """While one thread waits out a hang, another reads a good workbook: children are per read."""
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1], [2]]})
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            open_table(HANGS, read_timeout=4)
        except InputError as exc:
            errors.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    assert sum(len(c) for c in open_table(good).chunks()) == 2
    thread.join(HARD_KILL_S)
    assert not thread.is_alive()
    assert len(errors) == 1


_PARENT = """
import sys, time
from importer.read import first_rows, open_table
open_table(sys.argv[1])  # a good read: its child then waits for the next read
print("ready", flush=True)
if sys.argv[2] == "hang":
    open_table(sys.argv[3], read_timeout=600)  # that child takes it, and hangs in calamine
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
@pytest.mark.parametrize("state", ["hang", "idle"])
def test_kill_9_of_the_parent_leaves_no_child(tmp_path: Path, state: str) -> None:
    """A parent killed with SIGKILL while its child hangs in calamine, or while its child waits
    for the next read: the child dies too."""
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1]]})
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(good), state, str(HANGS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    left: list[int] = []
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        kids = wait_for(
            lambda: children_of(parent.pid), timeout=CHILD_START_S, what="the reader child"
        )
        assert len(kids) == 1, kids
        if state == "hang":  # the child spins in calamine: it keeps using CPU
            used = cpu_seconds(kids[0])
            spinning = lambda: cpu_seconds(kids[0]) > used + 0.3  # noqa: E731
            wait_for(spinning, timeout=30, what="the child to hang in calamine")
        else:  # the child waits for the next read
            wait_for(settles(kids[0]), timeout=30, what="the child to wait for the next read")
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        try:
            wait_for(
                lambda: not any(alive(k) for k in kids),
                timeout=10,
                what="the children to die with their parent",
            )
        finally:
            left = [k for k in kids if alive(k)]
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        for k in left:  # no runaway behind a failure
            os.kill(k, signal.SIGKILL)
    assert not left, f"children outlived their parent: {left}"


def test_an_unpicklable_scorer_is_a_clear_type_error(tmp_path: Path) -> None:
    """A library caller passing a lambda as the header scorer is told why it cannot work."""
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1]]})
    with pytest.raises(TypeError, match="picklable"):
        open_table(good, score=lambda cells: 0)


def test_workbooks_read_alike_in_the_child_and_in_process(tmp_path: Path) -> None:
    """Same info, same cells, same row numbers, both ways (notes, merged cells included)."""
    path = write_xlsx(
        tmp_path / "p.xlsx",
        {
            "Notes": [["read me"]],
            "Members": [["Report"], [], ["member_id", "member_type"], [1, "User"], [2, "x"]],
        },
    )
    here, there = open_table(path, isolate=False), open_table(path)
    assert here.info == there.info
    [a], [b] = list(here.chunks()), list(there.chunks())
    assert a.equals(b)
    assert list(a.index) == list(b.index) == [4, 5]


def test_a_waiting_child_that_died_is_replaced(tmp_path: Path) -> None:
    """The child kept after a good read is killed while it waits: the next read gets a new one
    (a good file is never refused for its reader's death; the job written to the dead child
    fails, and the read goes to a new one)."""
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1], [2]]})
    retire_idle_children()
    before = set(children_of(os.getpid()))
    assert sum(len(c) for c in open_table(good).chunks()) == 2
    [waiting] = set(children_of(os.getpid())) - before
    os.kill(waiting, signal.SIGKILL)
    wait_for(lambda: not alive(waiting), timeout=10, what="the killed child to be gone")
    assert sum(len(c) for c in open_table(good).chunks()) == 2


def test_a_waiting_child_that_dies_holding_the_job_is_replaced(tmp_path: Path) -> None:
    """The kept child is alive when it is given the next job, then dies before a word about
    it (stopped, the job pending in its stdin, killed): the read is done by a new child, not
    reported as a crash of the reader."""
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1], [2]]})
    retire_idle_children()
    before = set(children_of(os.getpid()))
    assert sum(len(c) for c in open_table(good).chunks()) == 2
    [waiting] = set(children_of(os.getpid())) - before
    os.kill(waiting, signal.SIGSTOP)
    # The child's end of its stdin pipe: FIONREAD there says when the job has been written.
    pipe = os.open(f"/proc/{waiting}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    killed = threading.Event()

    def pending() -> int:
        return int(struct.unpack("i", fcntl.ioctl(pipe, termios.FIONREAD, struct.pack("i", 0)))[0])

    def kill_once_the_job_is_pending() -> None:
        wait_for(pending, timeout=30, what="the job in the child's pipe", interval=0.005)
        os.kill(waiting, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_once_the_job_is_pending)
    killer.start()
    try:
        assert sum(len(c) for c in open_table(good).chunks()) == 2
    finally:
        killer.join(HARD_KILL_S)
        os.close(pipe)
        with contextlib.suppress(ProcessLookupError):
            os.kill(waiting, signal.SIGKILL)
    assert killed.is_set()  # it died holding the job, not before


_STOPPED = """
import os, signal, sys
from importer.core import InputError
from importer.read import header_scorer, open_table
from importer.read._isolate import _idle
open_table(sys.argv[1])  # a good read: its child then waits for the next read
os.kill(_idle[0].process.pid, signal.SIGSTOP)  # ... and never reads its stdin again
big = header_scorer({"x" * 300_000: "member_id"})  # a job larger than a pipe holds
try:
    open_table(sys.argv[1], score=big, read_timeout=2)
except InputError as exc:
    print(exc)
"""


def test_a_child_that_never_takes_its_job_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    """Writing the job to a child that does not read it (a job larger than the pipe's buffer)
    ends at the read's deadline too: exit with one line, not a parent blocked in write()."""
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1]]})
    proc = subprocess.run(
        [sys.executable, "-c", _STOPPED, str(good)],
        capture_output=True,
        text=True,
        timeout=HARD_KILL_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "good.xlsx: reading the workbook did not finish within 2 s" in proc.stdout


def test_the_child_gets_no_api_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader child parses untrusted files: the API token is not in its environment."""
    token = "tok-" + "s3cr3t" * 6
    monkeypatch.setenv(TOKEN_ENV, token)
    monkeypatch.setenv("IMPORTER_REVIEW_MARK", "kept")
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["member_id"], [1]]})
    retire_idle_children()
    before = set(children_of(os.getpid()))
    open_table(good)
    [waiting] = set(children_of(os.getpid())) - before
    environ = Path(f"/proc/{waiting}/environ").read_bytes().split(b"\0")
    assert b"IMPORTER_REVIEW_MARK=kept" in environ  # the rest of the environment is passed on
    assert not [v for v in environ if token.encode() in v]


def test_first_rows_of_a_workbook_are_read_in_the_child_too(tmp_path: Path) -> None:
    """The web page's preview (``first_rows``) of the hanging .ods: an InputError in time; of a
    good workbook: the same rows as before."""
    with pytest.raises(InputError, match=r"^hangs-calamine\.ods: reading the workbook"):
        first_rows(HANGS, read_timeout=2)
    good = write_xlsx(tmp_path / "good.xlsx", {"M": [["Title"], ["member_id"], [1], [2]]})
    preview = first_rows(good, limit=3)
    assert preview.rows == (("Title",), ("member_id",), ("1",))
    assert preview.header_row == open_table(good).info.header_row
