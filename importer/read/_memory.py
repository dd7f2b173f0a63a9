"""The allocator behind pyarrow's buffers while a file is read and checked.

pyarrow's default pool on Linux wheels is mimalloc, which keeps freed pages for reuse: streaming a
file chunk after chunk, with a chunk being read while the previous one is checked, left ~40 %
more resident memory at the peak than jemalloc (whose freed pages go back to the system after a
short decay) for the same speed (benchmarks/run_benchmarks.py, 1M-row CSV: ~130 MB vs ~90 MB).
The pool is process-wide state, so the library never switches it: the ``importer`` command does
(``validate``, ``run``, ``plan``, ``drop``), and a program using the library may call
:func:`use_streaming_pool` itself. It switches pyarrow's default pool to jemalloc where this
pyarrow has it, unless the user chose a pool (``ARROW_DEFAULT_MEMORY_POOL``, pyarrow's own
setting). Buffers already allocated stay in their pool; nothing else changes.
"""

from __future__ import annotations

import contextlib
import os
import threading

import pyarrow as pa

_lock = threading.Lock()
_chosen: str | None = None


def use_streaming_pool() -> str:
    """Switch pyarrow to jemalloc once per process (see the module doc); return the pool's name."""
    global _chosen
    with _lock:
        if _chosen is None:
            if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
                # A pyarrow built without jemalloc (Windows, macOS) keeps its default pool.
                with contextlib.suppress(NotImplementedError, pa.ArrowNotImplementedError):
                    pa.set_memory_pool(pa.jemalloc_memory_pool())
            _chosen = pa.default_memory_pool().backend_name
        return _chosen
