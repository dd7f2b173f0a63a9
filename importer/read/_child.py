"""The reader child: a process that reads workbooks for its parent, one job at a time.

Started by :mod:`importer.read._isolate` (which explains why, and how the parent watches it) as
``python -c`` :data:`COMMAND` ``PARENT_PID``. It:

1. asks the kernel to kill it when its parent goes (``PR_SET_PDEATHSIG``, Linux), then checks
   that its parent is still the process that started it (a parent killed during the child's
   start-up is caught there);
2. imports the readers (pyarrow, fastexcel, python-calamine, numpy; never pandas: see
   :data:`COMMAND`), then waits for a job on stdin; end of stdin (the parent closed it, or died)
   ends the child;
3. for each job: caps its address space (``RLIMIT_AS`` = its size now + the job's memory budget),
   runs :func:`importer.read._excel.read_sheet`, and writes to stdout the chosen sheet's name,
   then the sheet (its description, then its cells as Arrow IPC streams of :data:`BATCH_ROWS`
   rows), or why it could not; then its resident size, so the parent can retire a child that
   kept much memory.

Messages both ways are frames: a kind byte, a length, the payload (:data:`FRAME`). Whatever a
library prints on stdout is sent to stderr, which the parent keeps in a file: Rust prints
"memory allocation of N bytes failed" there before it aborts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import math
import os
import pickle
import signal
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from importer.core import InputError
from importer.read._table import HeaderScore

BATCH_ROWS = 1 << 16  # rows per message of cells
ROW = "source_row"  # the extra column carrying each row's number
FRAME = struct.Struct(">cQ")  # a message: its kind (one byte), the payload's length
# Kinds: parent -> child  J job; child -> parent  S sheet name, H head (sheet description and
# message count), B cells, R first rows (pickled), X error (kind, text), D done (resident bytes).
# The child's bootstrap, kept to the readers (~0.2 s, not ~0.9 s): the ``importer.read`` package
# is registered without running its ``__init__`` (which loads the whole reading stage, pandas
# included), and Python is told there is no pandas: pyarrow would import it (~0.5 s) on its
# first conversion, and the child makes no DataFrame.
COMMAND = (
    "import importlib.util, sys\n"
    "class NoPandas:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'pandas' or name.startswith('pandas.'):\n"
    "            raise ModuleNotFoundError(name)\n"
    "sys.meta_path.insert(0, NoPandas())\n"
    "spec = importlib.util.find_spec('importer.read')\n"
    "sys.modules['importer.read'] = importlib.util.module_from_spec(spec)\n"
    "from importer.read._child import main\n"
    "main()\n"
)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Job:
    """What the child is asked to read, and how: ``task`` ``"sheet"`` is
    :func:`importer.read._excel.read_sheet` (the answer: the sheet, its cells as Arrow),
    ``"first_rows"`` is :func:`importer.read._excel.first_rows` (the answer: ``FirstRows``)."""

    task: str
    path: Path
    fmt: str
    sheet: str | None
    max_unpacked: int
    header_row: int | None
    score: HeaderScore
    max_memory: int | None
    limit: int = 0  # rows, for "first_rows"


def main() -> None:
    """The child's life: jobs from stdin until it ends (see the module doc)."""
    die_with_parent(int(sys.argv[1]))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library's prints go to the log, never between two messages
    jobs = sys.stdin.buffer
    from importer.read import _excel  # noqa: F401  (imported while the first job is awaited)

    while True:
        head = jobs.read(FRAME.size)
        if len(head) < FRAME.size:
            return
        _, length = FRAME.unpack(head)
        data = jobs.read(length)
        with contextlib.suppress(OSError):  # the log keeps only this job's words
            os.ftruncate(2, 0)
            os.lseek(2, 0, os.SEEK_SET)
        try:
            job: Job = pickle.loads(data)
        except Exception as exc:  # e.g. a header scorer from a module the child cannot import
            text = f"cannot take the job: {type(exc).__name__}: {exc}".splitlines()[0][:200]
            send(out, b"X", pickle.dumps(("crash", text)))
        else:
            cap_memory(job.max_memory)
            run(job, out)
        send(out, b"D", str(resident_bytes()).encode())


def run(job: Job, out: IO[bytes]) -> None:
    """Do the job and send its answer, or send why not."""
    from importer.read import _excel

    try:
        if job.task == "first_rows":
            rows = _excel.first_rows(
                job.path,
                job.fmt,
                job.sheet,
                limit=job.limit,
                max_unpacked=job.max_unpacked,
                max_memory=job.max_memory,
                header_row=job.header_row,
                score=job.score,
            )
            send(out, b"R", pickle.dumps(rows))
            return
        book = _excel.read_sheet(
            job.path,
            job.fmt,
            job.sheet,
            max_unpacked=job.max_unpacked,
            header_row=job.header_row,
            score=job.score,
            max_memory=job.max_memory,
            on_sheet=lambda name: send(out, b"S", name.encode()),
        )
        send_sheet(out, book)
    except InputError as exc:
        send(out, b"X", pickle.dumps(("input", str(exc))))
    except MemoryError:
        send(out, b"X", pickle.dumps(("memory", "")))
    except Exception as exc:  # a reader's bug or an exhausted allocator: told, not a traceback
        memory = type(exc).__name__ == "ArrowMemoryError"
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        send(out, b"X", pickle.dumps(("memory" if memory else "crash", text)))


def send(out: IO[bytes], kind: bytes, payload: bytes | memoryview) -> None:
    """One frame to the parent."""
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    out.write(FRAME.pack(kind, size))
    out.write(payload)
    out.flush()


def send_sheet(out: IO[bytes], book: Any) -> None:
    """The sheet's description and message count, then its cells in IPC streams."""
    import pyarrow as pa

    cells = book.cells.append_column(ROW, pa.array(book.rows, pa.int64()))
    batches = max(1, math.ceil(cells.num_rows / BATCH_ROWS))
    fields = {f.name: getattr(book, f.name) for f in dataclasses.fields(book)}
    del fields["cells"], fields["rows"]  # these go as Arrow, below
    send(out, b"H", pickle.dumps((fields, batches)))
    for i in range(batches):
        sink = pa.BufferOutputStream()
        part = cells.slice(i * BATCH_ROWS, BATCH_ROWS)
        with pa.ipc.new_stream(sink, part.schema) as writer:
            writer.write_table(part)
        send(out, b"B", memoryview(sink.getvalue()))


def die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent goes; leave now if it is gone already."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)


def cap_memory(budget: int | None) -> None:
    """Let the address space grow by ``budget`` bytes from its size now (``RLIMIT_AS``);
    ``None`` lifts the cap."""
    try:
        import resource
    except ImportError:  # Windows: no cap; the deadline still holds
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = _status_bytes(b"VmSize:")
    if budget is None or size is None:
        limit = hard
    else:
        limit = size + budget if hard == resource.RLIM_INFINITY else min(size + budget, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def resident_bytes() -> int:
    """This process's resident size now (0 where /proc is missing)."""
    return _status_bytes(b"VmRSS:") or 0


def _status_bytes(field: bytes) -> int | None:
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return None
