"""Read a workbook in a child process, where a hang or a memory explosion cannot reach the caller.

Why hand-written: the workbook readers are native code (calamine in Rust, through fastexcel and
python-calamine), and a damaged file can make them loop forever or allocate without bound (an
817-byte .ods with a stray ``<`` did: ``tests/read/fixtures/hangs-calamine.ods``). Nothing in
Python can interrupt native code (pytest-timeout cannot either): a hung reader kept ``validate``
running forever and blocked a drop folder for good. So the whole of
:func:`importer.read._excel.read_sheet` (the zip guards, the sheet choice, calamine) runs in a
reader child (:mod:`importer.read._child`), and the parent only receives what it produced:

* **a wall-clock deadline**: ``timeout`` seconds for the whole read; past it the child is
  stopped (SIGTERM, then SIGKILL after :data:`KILL_GRACE_S`) and the read ends in an
  :class:`InputError` naming the file (and the sheet, once known). The default,
  :func:`default_read_timeout`, grows with the file: :data:`TIMEOUT_BASE_S` plus
  :data:`TIMEOUT_PER_MB_S` per MB (the default 200 MB workbook limit gets ~34 minutes; calamine
  reads ~4 MB of .xlsx a second on this project's slow benchmark machine);
* **a memory cap**: for the read, the child's address space may grow by ``max_memory`` bytes
  (``RLIMIT_AS``; measured growth of the address space is within ~15 % of the resident growth);
  an allocation beyond fails and the read ends in an InputError "needs more than N MB of
  memory". This backs up :func:`importer.read._zipguard.check_memory`, which refuses from the
  file's measures, before anything is read, what would obviously need too much;
* **no orphans**: children are started by one long-lived thread of this process (the kernel's
  parent-death signal follows the *thread* that started a child), ask for SIGKILL when their
  parent dies, and end when their stdin closes;
* **every wait bounded**: the job is written to the child, and its answer read, with
  non-blocking I/O under the same deadline (a child that never reads its stdin cannot block the
  parent's write);
* **no secrets**: a child gets the parent's environment without the API token (it parses
  untrusted files and needs no credentials).

Children are fresh interpreters (``subprocess``; never ``fork``: the caller has threads) that
import only the readers: ~0.2 s for the first read. A child that read a file successfully waits
for the next read (at most :data:`MAX_IDLE` wait, each retired after :data:`MAX_READS` reads or
when it keeps over :data:`MAX_IDLE_BYTES` resident), so a run of reads pays that once; a child
that hung, crashed or ran out of memory is never reused. The cells come back as Arrow IPC
streams (messages of 65,536 rows, so each is bounded); the parent keeps the compact Arrow
strings, as an in-process read did.

CSV is not read in a child: pyarrow's CSV reader streams a block at a time, and its work and
memory are linear in the bytes (a text file has no repeat counts or compression to expand); the
text path's own limits (file size, a 1 MiB cell, a record within a 16 MiB block) bound both.
Sending every row of a 1 GB text file through a pipe would cost more than it protects.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import pickle
import queue
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import importer
from importer.core import TOKEN_ENV, InputError
from importer.read._child import COMMAND, FRAME, ROW, Job

TIMEOUT_BASE_S = 60.0  # every workbook read may take this long ...
TIMEOUT_PER_MB_S = 10.0  # ... plus this per MB of file
KILL_GRACE_S = 2.0  # between SIGTERM and SIGKILL of a child past its deadline
MAX_IDLE = 1  # children kept waiting for the next read
MAX_READS = 100  # reads a child serves before it is retired
MAX_IDLE_BYTES = 256 << 20  # a child keeping more resident memory after a read is retired
_MEMORY_SIGNS = ("memory allocation of", "MemoryError", "bad_alloc", "Cannot allocate memory")


def default_read_timeout(size: int) -> float:
    """The default deadline, in seconds, of reading a workbook of ``size`` bytes."""
    return TIMEOUT_BASE_S + TIMEOUT_PER_MB_S * size / 2**20


def read_isolated(job: Job, *, timeout: float) -> Any:
    """Do ``job`` in a reader child, within ``timeout`` seconds and ``job.max_memory`` bytes
    (see the module doc): ``read_sheet``'s ``SheetData``, or ``first_rows``' ``FirstRows``.

    Raises:
        InputError: what the reader raises, and a reader that hangs, runs out of its memory or
            crashes (one line naming the file, and the sheet once known).
        TypeError: ``job.score`` cannot be pickled (a lambda): pass a top-level function or the
            scorer ``importer.read.header_scorer`` makes.
    """
    try:
        data = pickle.dumps(job)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(f"the header scorer must be picklable to read a workbook: {exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        child = _take()
        reading = _Reading(job, timeout, deadline, child)
        try:
            answer = reading.run(data)
        except _Gone:  # a waiting child that died meanwhile: another one, within the deadline
            _retire(child)
            continue
        except BaseException:
            (_give_back if reading.done else _retire)(child)
            raise
        _give_back(child)
        return answer


class _Gone(Exception):
    """A child kept from an earlier read was gone before it said a word about this one."""


# -- the children -------------------------------------------------------------------------------


@dataclass
class _Child:
    """A reader child, the file its stderr goes to, and how many reads it served."""

    process: subprocess.Popen[bytes]
    log: IO[bytes]
    reads: int = 0
    resident: int = 0  # bytes, after its last read

    @property
    def usable(self) -> bool:
        return self.process.poll() is None and self.reads < MAX_READS


class _Launcher:
    """One daemon thread that starts every child: ``PR_SET_PDEATHSIG`` fires when the thread
    that started a child ends, so that thread must live as long as the process."""

    def __init__(self) -> None:
        self._requests: queue.Queue[Future[_Child]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start_child(self) -> _Child:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="importer-read-launcher", daemon=True
                )
                self._thread.start()
        request: Future[_Child] = Future()
        self._requests.put(request)
        return request.result()

    def _serve(self) -> None:
        while True:
            request = self._requests.get()
            try:
                request.set_result(_spawn())
            except BaseException as exc:  # told to the caller, which raises it
                request.set_exception(exc)


def _spawn() -> _Child:
    log = tempfile.TemporaryFile(prefix="importer-read-")  # noqa: SIM115 (lives with the child)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", COMMAND, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=_child_env(),
            close_fds=True,
        )
    except BaseException:
        log.close()
        raise
    assert process.stdin is not None
    os.set_blocking(process.stdin.fileno(), False)  # jobs are written under a deadline
    return _Child(process, log)


def _child_env() -> dict[str, str]:
    """The parent's environment without the API token, with this ``importer`` first on the
    child's import path."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    root = str(Path(importer.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


_launcher = _Launcher()
_idle_lock = threading.Lock()
_idle: list[_Child] = []


def _take() -> _Child:
    """A child waiting for a read, or a new one. (One that died while it waited is found when
    it is given the job: :class:`_Gone`.)"""
    with _idle_lock:
        child = _idle.pop() if _idle else None
    return child if child is not None else _launcher.start_child()


def _give_back(child: _Child) -> None:
    """Keep a child that read well for the next read, unless enough wait already."""
    if child.usable and child.resident <= MAX_IDLE_BYTES:
        with _idle_lock:
            if len(_idle) < MAX_IDLE:
                _idle.append(child)
                return
    _retire(child)


def _retire(child: _Child) -> None:
    """End a child: its stdin closed, then SIGTERM, SIGKILL; reaped; its log closed."""
    for stream in (child.process.stdin, child.process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    _stop(child.process)
    child.log.close()


def retire_idle_children() -> None:
    """End the children waiting for a read (at exit; tests that count processes call it)."""
    with _idle_lock:
        waiting = list(_idle)
        _idle.clear()
    for child in waiting:
        _retire(child)


atexit.register(retire_idle_children)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace: the child is gone (and reaped) when this returns."""
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        process.terminate()
    try:
        process.wait(KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()


# -- one read -----------------------------------------------------------------------------------


class _Reading:
    """One read by one child, watched until its deadline."""

    def __init__(self, job: Job, timeout: float, deadline: float, child: _Child) -> None:
        self.job = job
        self.timeout = timeout
        self.child = child
        self.where = job.path.name if job.sheet is None else f"{job.path.name}, sheet {job.sheet!r}"
        self.deadline = deadline
        self.timed_out = False
        self.heard = False  # the child sent a frame about this read
        self.done = False  # the child answered in full and waits for another read
        # A frame longer than the child could hold is no frame of ours (2 GiB without a cap).
        self.max_frame = job.max_memory or 2 << 30
        self.poll = select.poll()

    def run(self, job: bytes) -> Any:
        stdout = self.child.process.stdout
        assert stdout is not None
        stdin = self.child.process.stdin
        assert stdin is not None
        try:
            self._write(stdin.fileno(), FRAME.pack(b"J", len(job)) + job)
            self.poll.register(stdout.fileno(), select.POLLIN)
            book = self._receive(stdout.fileno())
            self._done(stdout.fileno())
            return book
        except EOFError:
            if not self.heard and not self.timed_out and self.child.reads:
                raise _Gone from None
            raise self._failure() from None

    def _write(self, fd: int, data: bytes) -> None:
        """All of ``data`` to the child (``fd`` is non-blocking), before the deadline; EOFError
        when the child is gone or has not taken it in time."""
        ready = select.poll()
        ready.register(fd, select.POLLOUT)
        view = memoryview(data)
        while view:
            left = self.deadline - time.monotonic()
            if left <= 0 or not ready.poll(math.ceil(left * 1000)):
                self.timed_out = True
                raise EOFError
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
            except OSError:  # EPIPE: the child is gone
                raise EOFError from None

    def _done(self, fd: int) -> None:
        """The child's last word on a read: its resident size; it waits for the next read."""
        kind, payload = self._frame(fd)
        if kind != b"D":
            raise EOFError
        self.child.reads += 1
        self.child.resident = int(bytes(payload))
        self.done = True

    def _frame(self, fd: int) -> tuple[bytes, memoryview]:
        kind, length = FRAME.unpack(self._exactly(fd, FRAME.size))
        self.heard = True
        if length > self.max_frame:
            raise EOFError
        return kind, self._exactly(fd, length)

    def _exactly(self, fd: int, size: int) -> memoryview:
        """``size`` bytes from the child, before the deadline; EOFError when it ends first."""
        buffer = memoryview(bytearray(size))
        got = 0
        while got < size:
            left = self.deadline - time.monotonic()
            if left <= 0 or not self.poll.poll(math.ceil(left * 1000)):
                self.timed_out = True
                raise EOFError
            n = os.readv(fd, [buffer[got:]])
            if not n:
                raise EOFError
            got += n
        return buffer

    def _receive(self, fd: int) -> Any:
        import numpy as np
        import pyarrow as pa

        from importer.read._excel import SheetData

        while True:
            kind, payload = self._frame(fd)
            if kind == b"S":
                self.where = f"{self.job.path.name}, sheet {bytes(payload).decode()!r}"
            elif kind == b"X":
                error = self._reported(*pickle.loads(payload))
                self._done(fd)
                raise error
            elif kind == b"H":
                fields, batches = pickle.loads(payload)
                break
            elif kind == b"R":
                return pickle.loads(payload)
            else:
                raise EOFError
        tables = []
        for _ in range(batches):
            kind, payload = self._frame(fd)
            if kind != b"B":
                raise EOFError
            tables.append(pa.ipc.open_stream(pa.py_buffer(payload)).read_all())
        table = pa.concat_tables(tables)
        rows = np.asarray(table.column(ROW).to_numpy(), dtype=np.int64)
        return SheetData(**fields, cells=table.drop_columns([ROW]), rows=rows)

    def _reported(self, kind: str, text: str) -> InputError:
        if kind == "input":
            return InputError(text, path=str(self.job.path))
        if kind == "memory":
            return self._memory_error()
        return InputError(
            f"{self.where}: the workbook reader failed ({text}); the file is probably damaged: "
            "open it in a spreadsheet program and save it again, or save the sheet as CSV",
            path=str(self.job.path),
        )

    def _memory_error(self) -> InputError:
        mb = math.ceil((self.job.max_memory or 0) / 2**20)
        return InputError(
            f"{self.where} needs more than {mb:,} MB of memory to read (--max-memory-mb); raise "
            "the limit if the machine has the memory, or save the sheet as CSV and import that",
            path=str(self.job.path),
        )

    def _failure(self) -> InputError:
        """The error for a child that ended without an answer: deadline, memory, crash."""
        if self.timed_out:
            return InputError(
                f"{self.where}: reading the workbook did not finish within {self.timeout:,.0f} s "
                "and was stopped; the file is damaged, or too big for the time allowed: save the "
                "sheet as CSV, or allow more time with --read-timeout",
                path=str(self.job.path),
            )
        process = self.child.process
        _stop(process)
        log = self.child.log
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - 8192))
        said = log.read().decode("utf-8", "replace")
        if self.job.max_memory is not None and any(sign in said for sign in _MEMORY_SIGNS):
            return self._memory_error()
        code = process.returncode
        how = (
            f"killed by {signal.Signals(-code).name}"
            if code is not None and code < 0 and -code in signal.valid_signals()
            else f"exit status {code}"
        )
        return InputError(
            f"{self.where}: the workbook reader crashed ({how}); the file is probably damaged: "
            "open it in a spreadsheet program and save it again, or save the sheet as CSV",
            path=str(self.job.path),
        )
