"""``--watch``: a pass over a drop folder (local or remote) every ``poll_seconds``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from importer.drop._config import DropConfig
from importer.drop._folder import process_drop_folder
from importer.drop._remote import is_remote
from importer.drop._remote_pass import process_remote_drop
from importer.drop._result import FILE_REFUSED, DropResult, FileResult

__all__ = ["watch"]


def watch(
    root: str | Path,
    *,
    config: DropConfig,
    transport: httpx.BaseTransport | None = None,
    cancel: threading.Event | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_pass: Callable[[DropResult], None] | None = None,
    max_passes: int | None = None,
    work_dir: str | Path | None = None,
) -> DropResult:
    """Run :func:`process_drop_folder` every ``config.poll_seconds`` until ``cancel`` is set.

    The lock is held only during a pass, so a one-off ``importer drop`` can run in between. After
    a pass the server refused, the wait doubles (up to an hour) until a pass gets through.

    Args:
        root: the drop folder.
        config: as for :func:`process_drop_folder`.
        transport: as for :func:`process_drop_folder`.
        cancel: set it to stop (e.g. from a SIGTERM handler): while idle at once; during an
            import as for :func:`process_drop_folder` (the file is resumed next time).
        on_file: called with each file's result as soon as it is handled.
        on_pass: called with each pass's :class:`DropResult`.
        max_passes: stop after this many passes (tests; default: never).
        work_dir: a remote folder's local work folder (see ``process_remote_drop``).

    Returns:
        Every file handled during the watch; ``waiting`` as of the last pass.
    """
    stop = cancel or threading.Event()
    total = DropResult(root=root if is_remote(str(root)) else Path(root))
    passes = refused = 0
    while not stop.is_set():
        if is_remote(str(root)):
            one = process_remote_drop(str(root), config=config, work_dir=work_dir,
                                      transport=transport, cancel=stop, on_file=on_file,
                                      on_pass=on_pass)  # fmt: skip
        else:
            one = process_drop_folder(root, config=config, transport=transport, cancel=stop,
                                      on_file=on_file, on_pass=on_pass)  # fmt: skip
        total.root, total.waiting = one.root, one.waiting
        total.files.extend(one.files)
        passes += 1
        refused = min(refused + 1, 12) if any(f.outcome == FILE_REFUSED for f in one.files) else 0
        if max_passes is not None and passes >= max_passes:
            break
        stop.wait(min(config.poll_seconds * 2**refused, max(3600.0, config.poll_seconds)))
    return total
