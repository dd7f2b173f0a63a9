"""A lock on a drop folder, so two overlapping runs never process it at once.

Why not filelock (4.3.1 tried): it too reclaims a dead holder's lock, but tells neither who holds
a busy lock nor whose stale lock it took over, which the drop log and tests/test_drop.py need.

The lock is a file (``DIR/.importer/lock``) holding its owner as JSON: pid, host, start time.

* ``flock`` mode (the default where the filesystem supports it): an exclusive ``flock(2)`` on the
  file. The kernel releases it when the owner dies however it dies (``kill -9``, OOM, reboot), so
  a dead owner's lock is never in the way; the recorded owner only makes "busy" messages useful.
* ``soft`` mode (the fallback on filesystems without ``flock``): the lock is held while the file
  exists (created with ``O_EXCL``). A file left by a dead process is detected — same host, and its
  pid is gone (or was reused by another process) — and taken over. Breaking a stale lock is itself
  guarded by a short-lived ``lock.break`` file, so two runs that find the same stale lock cannot
  both take it over. A lock of another host is never broken.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
#: An owner record still empty this long after the file was created belongs to a dead creator.
_UNWRITTEN_GRACE = 10.0


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or held) a lock."""

    pid: int
    host: str
    started_at: str
    boot_id: str = ""
    proc_start: str = ""

    def describe(self) -> str:
        """``pid 1234 on host web1 since 2025-01-01T02:00:00+00:00``."""
        return f"pid {self.pid} on host {self.host} since {self.started_at}"

    def is_dead(self) -> bool:
        """True when the owner is known to be gone: this host, and no such process (any more)."""
        if self.host != socket.gethostname():
            return False
        if self.boot_id and self.boot_id != _boot_id():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return bool(self.proc_start) and _proc_start(self.pid) not in ("", self.proc_start)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), ``""`` if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] == "Z":  # a zombie: dead, only not reaped yet
        return "zombie"
    return fields[19] if len(fields) > 19 else ""


def _me() -> LockOwner:
    return LockOwner(
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        boot_id=_boot_id(),
        proc_start=_proc_start(os.getpid()),
    )


def _parse(text: str) -> LockOwner | None:
    try:
        data = json.loads(text)
        return LockOwner(**data)
    except (ValueError, TypeError):
        return None


class FolderLock:
    """An exclusive, non-reentrant lock on a folder; see the module docstring.

    Args:
        path: the lock file.
        mode: ``"auto"`` (``flock`` where supported, else ``soft``), ``"flock"`` or ``"soft"``.
    """

    def __init__(self, path: str | Path, *, mode: str = "auto") -> None:
        if mode not in ("auto", "flock", "soft"):
            raise ValueError(f"mode must be auto, flock or soft, not {mode!r}")
        self.path = Path(path)
        self.mode = "soft" if mode == "auto" and fcntl is None else mode
        self.took_over: LockOwner | None = None
        self._fd: int | None = None
        self._soft_held = False

    @property
    def held(self) -> bool:
        return self._fd is not None or self._soft_held

    def owner(self) -> LockOwner | None:
        """The owner recorded in the lock file (``None``: free or unreadable)."""
        try:
            return _parse(self.path.read_text(encoding="utf-8"))
        except OSError:
            return None

    def acquire(self, timeout: float = 0.0, poll: float = 0.1) -> bool:
        """Take the lock; wait up to ``timeout`` seconds for it. Returns False if still busy."""
        if self.held:
            raise RuntimeError("the lock is already held by this object")
        deadline = time.monotonic() + timeout
        while True:
            if self._try():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock
        if self._soft_held:
            self._soft_held = False
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _try(self) -> bool:
        if self.mode != "soft":
            got = self._try_flock()
            if got is not None:
                return got
            self.mode = "soft"  # the filesystem cannot flock
        return self._try_soft()

    def _try_flock(self) -> bool | None:
        assert fcntl is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NO_FLOCK and self.mode == "auto":
                return None
            raise
        left = _parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        if left is not None:  # never released: its owner died (a flock dies with its process)
            self.took_over = left
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me().__dict__).encode(), 0)
        self._fd = fd
        return True

    def _try_soft(self, retry: bool = True) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return retry and self._break_if_stale() and self._try_soft(retry=False)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(_me().__dict__))
            fh.flush()
            os.fsync(fh.fileno())
        self._soft_held = True
        return True

    def _stale_owner(self) -> LockOwner | None:
        """The recorded owner if the lock is stale, else None."""
        try:
            text = self.path.read_text(encoding="utf-8")
            age = time.time() - self.path.stat().st_mtime
        except OSError:
            return None
        owner = _parse(text)
        if owner is None:  # empty/garbled: a creator that died before writing, or is writing now
            return LockOwner(0, "?", "?") if age > _UNWRITTEN_GRACE else None
        return owner if owner.is_dead() else None

    def _break_if_stale(self) -> bool:
        """Remove the lock file if its owner is dead; True when it was removed."""
        stale = self._stale_owner()
        if stale is None:
            return False
        guard = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(guard, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            with contextlib.suppress(OSError):  # a breaker that died while breaking
                if time.time() - guard.stat().st_mtime > _UNWRITTEN_GRACE:
                    guard.unlink()
            return False
        try:
            os.close(fd)
            if self._stale_owner() != stale:  # meanwhile taken by a live run
                return False
            self.path.unlink(missing_ok=True)
            self.took_over = stale
            return True
        finally:
            guard.unlink(missing_ok=True)
