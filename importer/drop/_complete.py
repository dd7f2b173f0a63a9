"""When a dropped file is complete: one rule for local and remote drop folders.

A file in the inbox is taken only when all of these hold:

1. its name is not temporary (``.part``, ``.tmp``, hidden, ``~$`` ...) and is not a trigger file;
2. when the folder asks for trigger files (``trigger = "done"``), ``<name>.done`` is there too.
   The uploader writes it after the file, so with it present no stability wait is needed;
3. without a trigger: its size and modification time (locally also its change time) stayed the
   same across a wait of ``stable_seconds`` *observed in this run* — never a comparison with a
   time stamp, which an upload that pauses, a client that restores the sender's mtime or a
   skewed clock would fool;
4. its end is an end: a CSV/TSV/TXT file ends with a line end (a line cut mid-number, ``2815``
   of ``28150``, is never read as a row), a workbook that is a zip (XLSX, XLSM, ODS) has the
   zip's end record (without it no reader can open it, and it would go to ``failed/``).

A run looks at the files that are in the inbox when it starts and waits for them up to
``wait_seconds``: a file complete by then is imported in this run; the others are left where they
are, each with the reason, for the next run. Files that arrive during the run are the next run's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from importer.core import TEXT_SUFFIXES
from importer.drop._files import is_temporary_name

#: Workbook suffixes whose files are zip archives: complete only with the zip's end record.
ZIP_SUFFIXES = (".xlsx", ".xlsm", ".ods")
_ZIP_END = b"PK\x05\x06"
#: The end record is 22 bytes plus a comment of at most 65,535: it lies in the last 65,557.
ZIP_TAIL = 22 + 65_535
#: How often a run looks again at files not yet complete (at most; sooner when stable_seconds is).
POLL_MAX = 1.0


def trigger_suffix(trigger: str | None) -> str | None:
    """The trigger file suffix for a config value: ``"done"`` -> ``".done"``; ``None`` stays."""
    if not trigger:
        return None
    return trigger if trigger.startswith(".") else "." + trigger


def tail_needed(name: str, size: int) -> int:
    """How many bytes of the file's end :func:`end_problem` needs (0: none)."""
    suffix = PurePosixPath(name).suffix.lower()
    if size == 0:
        return 0
    if suffix in TEXT_SUFFIXES:
        return 1
    if suffix in ZIP_SUFFIXES:
        return min(size, ZIP_TAIL)
    return 0


def end_problem(name: str, tail: bytes, *, line_end: bool = True) -> str | None:
    """Why the file's last bytes show it is not complete yet, or ``None``.

    Args:
        name: the file name (its suffix decides the rule).
        tail: the file's last :func:`tail_needed` bytes.
        line_end: whether a text file must end with a line end (config ``require_line_end``).
    """
    if not tail:
        return None
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in TEXT_SUFFIXES and line_end and tail[-1:] not in (b"\n", b"\r"):
        return "its last line has no line end yet"
    if suffix in ZIP_SUFFIXES and _ZIP_END not in tail:
        return "the workbook has no end yet (its zip end record is missing)"
    return None


@dataclass(frozen=True)
class Waiting:
    """An inbox file left for a later run.

    Attributes:
        name: its name in the inbox.
        reason: why, for a person.
        stuck: it did not change during the whole wait yet is still incomplete: it will not
            complete by itself (an upload cut off, an exporter that writes no final line end,
            a trigger file never sent). A person should look.
    """

    name: str
    reason: str
    stuck: bool = False

    def to_json(self) -> dict[str, object]:
        return {"file": self.name, "reason": self.reason, "stuck": self.stuck}


#: What an inbox lister returns: name -> a signature that any write changes (size first).
Listing = Mapping[str, tuple[int, ...]]


@dataclass
class _Seen:
    sig: tuple[int, ...]
    since: float
    first_sig: tuple[int, ...]
    tail_for: tuple[int, ...] | None = None
    problem: str | None = None


@dataclass
class Settler:
    """Watches the inbox files of one run until each is complete or the wait is over.

    Args:
        listing: lists the inbox's regular files: name -> signature (size first).
        tail: reads the last ``n`` bytes of a file: ``tail(name, n)``.
        stable_seconds: how long a file must stay unchanged, observed in this run.
        wait_seconds: how long the run waits in all for files to become complete.
        trigger: the trigger-file suffix (``".done"``), or ``None``.
        line_end: a text file must end with a line end.
        cancel: set it to stop waiting.
        clock, sleep: time sources (tests use the real ones).
    """

    listing: Callable[[], Listing]
    tail: Callable[[str, int], bytes]
    stable_seconds: float
    wait_seconds: float
    trigger: str | None = None
    line_end: bool = True
    cancel: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic
    waiting: list[Waiting] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    signature: tuple[int, ...] = ()
    _done: set[str] = field(default_factory=set, init=False, repr=False)
    _reasons: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _looked: bool = field(default=False, init=False, repr=False)

    def _candidate(self, name: str) -> bool:
        """A data file: not hidden, not a trigger file."""
        return not name.startswith(".") and not (self.trigger and name.endswith(self.trigger))

    def _check(self, name: str, entry: _Seen, listing: Listing, now: float) -> str | None:
        """Why ``name`` is not complete now, or ``None`` when it is."""
        if is_temporary_name(name):
            return "its name marks an upload in progress (the uploader renames it when done)"
        triggered = self.trigger is not None and (name + self.trigger) in listing
        if self.trigger is not None and not triggered:
            return f"waiting for its trigger file {name}{self.trigger}"
        if not triggered and now - entry.since < self.stable_seconds:
            return f"still being written (changed within the last {self.stable_seconds:g} s)"
        if entry.tail_for != entry.sig:  # read the end once per version of the file
            need = tail_needed(name, entry.sig[0])
            data = self.tail(name, need) if need else b""
            entry.tail_for = entry.sig
            entry.problem = end_problem(name, data, line_end=self.line_end)
        return entry.problem

    def _next(self, pending: dict[str, _Seen], now: float, deadline: float) -> str | None:
        """List the inbox again and return the first (oldest) complete file, if any."""
        listing = self.listing()
        for name in list(pending):
            if name not in listing:
                del pending[name]  # taken back by the uploader, or claimed by another run
        if now < deadline or not self._looked:  # a file renamed in during the wait joins it
            for name, sig in listing.items():
                if name not in pending and name not in self._done and self._candidate(name):
                    pending[name] = _Seen(sig, now, sig)
        self._looked = True
        for name, entry in pending.items():
            if listing[name] != entry.sig:
                entry.sig, entry.since = listing[name], now
            try:
                why = self._check(name, entry, listing, now)
            except FileNotFoundError:
                continue  # gone between the listing and the read: dropped at the next listing
            self._reasons[name] = why or ""
            if why is None:
                return name
        return None

    def ready(self) -> Generator[str, None, None]:
        """Yield each complete inbox file, oldest first, as soon as it is complete.

        Files present at the start and files that appear during the wait are watched until
        ``wait_seconds`` have passed; then ``waiting`` holds the files left behind and why. The
        caller takes (claims) a yielded file before asking for the next, after checking that its
        signature is still :attr:`signature` (the one seen complete).
        """
        start = self.clock()
        deadline = start + self.wait_seconds
        pending: dict[str, _Seen] = {}
        self._done, self._reasons, self._looked = set(), {}, False
        try:
            while True:
                now = self.clock()
                name = self._next(pending, now, deadline)
                if name is not None:
                    self.signature = pending.pop(name).sig
                    self._done.add(name)
                    yield name
                    continue
                if not pending or self.cancel.is_set() or now >= deadline:
                    break
                nap = min(POLL_MAX, max(self.stable_seconds / 2, 0.05))
                self.cancel.wait(max(0.0, min(nap, deadline - now)))
        finally:
            self._leave(pending)

    def _leave(self, pending: dict[str, _Seen]) -> None:
        """Record the files not taken in this run, and why."""
        self.seen = sorted(self._done | set(pending))
        self.waiting = [
            Waiting(
                name,
                self._reasons.get(name) or "still being written",
                stuck=entry.sig == entry.first_sig
                and self.clock() - entry.since >= self.stable_seconds
                and not is_temporary_name(name)
                and not self._reasons.get(name, "").startswith("still being written"),
            )
            for name, entry in pending.items()
        ]
