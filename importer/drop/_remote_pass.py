"""One pass over a remote drop folder (SFTP, S3 ...): claim, download, import locally, move.

The remote folder has the local layout; the import runs in a local *work folder* — itself a
drop folder (``processing/``, ``done/``, ``failed/``, ``results/``, ``.importer/`` with the lock
and the ledger) — with the same machinery as a local drop: the ledger keyed by the content's
sha256 and the run journal in the results folder keep every row exactly once, whatever happens
to the connection. Per file:

1. complete by the local rule (``_complete``): unchanged across a wait within this run, a CSV's
   last line ended, its trigger file there when the folder uses them;
2. claimed (see ``_remote``: an atomic rename on SFTP, a conditional put of a lease on S3);
3. downloaded into the work folder (checked against the remote size; a dropped connection is
   tried again on a fresh one) and hashed;
4. imported locally (a duplicate of earlier content is not sent again);
5. moved on the server to ``done/`` or ``failed/`` (with its ``.error.txt`` or ``.duplicate.txt``
   note, and with ``results_back`` its results next to it in ``<name>.results/``), and the claim
   released.

A file the server cannot take back (``done/`` not writable, the connection gone) stays in
``processing/`` under this work folder's claim, with the reason: the next run finishes it without
importing it again (the ledger knows the content is done).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx

from importer.core import AuthError, FolderLock, sha256_file
from importer.drop._complete import Waiting
from importer.drop._config import DropConfig
from importer.drop._files import STATE_DIR, SUBFOLDERS, now_iso, stamp
from importer.drop._folder import _Pass
from importer.drop._ledger import LEDGER_DONE, LEDGER_FAILED, Ledger
from importer.drop._remote import (
    CLAIM_SUFFIX,
    Claim,
    RemoteError,
    RemoteFolder,
    RemoteSpec,
    files_in,
    parse_remote,
)
from importer.drop._result import (
    FILE_DUPLICATE,
    FILE_FAILED,
    FILE_IN_DOUBT,
    FILE_INTERRUPTED,
    FILE_REFUSED,
    FILE_REMOTE,
    DropResult,
    FileResult,
)

#: Outcomes that leave the file in processing/ for the next run.
_STAYS = (FILE_REFUSED, FILE_INTERRUPTED, FILE_IN_DOUBT, FILE_REMOTE)


class _RemotePass:
    """One locked pass over a remote drop folder, importing in the local work folder."""

    def __init__(
        self,
        folder: RemoteFolder,
        local: _Pass,
        result: DropResult,
        on_file: Callable[[FileResult], None] | None,
    ) -> None:
        self.folder, self.local, self.result, self.on_file = folder, local, result, on_file
        self.work = local.root
        self.config = local.config
        self.stop = False

    # -- reporting ----------------------------------------------------------------------------

    def emit(self, res: FileResult) -> None:
        self.result.files.append(res)
        if res.outcome in (FILE_REFUSED, FILE_INTERRUPTED, FILE_REMOTE):
            self.stop = True
        if self.on_file is not None:
            self.on_file(res)

    def left(self, name: str, why: str) -> None:
        self.result.waiting.append(Waiting(name, why))

    def guarded(self, name: str, step: Callable[[], None]) -> None:
        """One file's step; a failure that is neither the server's nor the import's (a bug, a
        full local disk) is that file's, reported, and the next file is taken. The file stays
        in processing/ under this work folder's claim for the next run."""
        try:
            step()
        except RemoteError:
            raise
        except Exception as exc:
            error = f"internal error: {type(exc).__name__}: {exc}"
            self.emit(self._stays(name, FILE_FAILED, error, now_iso(), resumed=False))

    # -- claiming -----------------------------------------------------------------------------

    def take(self, name: str, seen: tuple[int, ...]) -> None:
        """Claim an inbox file seen complete (signature ``seen``), then import it."""
        f = self.folder
        if name in f.listing("processing"):
            self.left(name, "a file of this name is still in processing/")
            return
        claim = Claim.mine(self.work, seen[0], now_iso()).encode()
        if f.spec.scheme == "sftp":
            if not f.move(("inbox", name), ("processing", name)):
                return  # taken by another run, or by the uploader
            if not f.create_exclusive("processing", name + CLAIM_SUFFIX, claim):
                return  # another run found it unclaimed first: it is theirs
        else:
            if not f.create_exclusive("processing", name + CLAIM_SUFFIX, claim):
                self.left(name, "claimed by another run at the same moment")
                return
            etag = f.etag("inbox", name)
            if etag and zlib.crc32(etag.encode()) != seen[2]:  # replaced since it was seen
                f.delete("processing", name + CLAIM_SUFFIX)
                self.left(name, "changed after it looked complete")
                return
            if etag is None or not f.move(("inbox", name), ("processing", name), etag_of=etag):
                f.delete("processing", name + CLAIM_SUFFIX)
                return
        now = f.listing("processing").get(name)
        changed = now is None or now[0] != seen[0]  # replaced between the look and the claim
        if changed and f.move(("processing", name), ("inbox", name)):
            f.delete("processing", name + CLAIM_SUFFIX)
            self.left(name, "changed after it looked complete")
            return
        self.carry_trigger("inbox", name, "processing", name)
        self.handle(name, resumed=False)

    def carry_trigger(self, src: str, name: str, dst: str, dst_name: str) -> None:
        suffix = self.config.trigger_suffix
        if suffix is not None:
            self.folder.move((src, name + suffix), (dst, dst_name + suffix))

    def resume(self) -> None:
        """Files in processing/: this work folder's claims (and unclaimed ones) are finished;
        other runs' claims are left alone, with the reason."""
        f = self.folder
        listing = f.listing("processing")
        suffix = self.config.trigger_suffix
        for name in files_in(listing):
            if self.stop or self.local.cancel.is_set():
                return
            if suffix is not None and name.endswith(suffix):
                continue
            note = Claim.decode(f.read_text("processing", name + CLAIM_SUFFIX))
            if note is None:
                mine = Claim.mine(self.work, listing[name][0], now_iso()).encode()
                if not f.create_exclusive("processing", name + CLAIM_SUFFIX, mine):
                    continue
            elif not note.is_mine(self.work):
                self.left(name, f"in processing/, claimed by {note.describe()}")
                continue
            if suffix and name + suffix not in listing:  # died between claim and trigger
                with contextlib.suppress(RemoteError):
                    self.carry_trigger("inbox", name, "processing", name)
            self.guarded(name, functools.partial(self.handle, name, resumed=True))
        for name in listing:
            if name.endswith(CLAIM_SUFFIX) and name[: -len(CLAIM_SUFFIX)] not in listing:
                note = Claim.decode(f.read_text("processing", name))
                if note is not None and note.is_mine(self.work):
                    f.delete("processing", name)  # the file went on; the run died before this

    # -- importing ----------------------------------------------------------------------------

    def handle(self, name: str, *, resumed: bool) -> None:
        """Download ``processing/name`` (claimed by us), import it, move it on."""
        started = now_iso()
        local = self.work / "processing" / name
        local.unlink(missing_ok=True)  # a copy a dead run left: maybe partial
        try:
            self.folder.download("processing", name, local)
        except RemoteError as exc:
            local.unlink(missing_ok=True)
            self.emit(self._stays(name, FILE_REMOTE, str(exc), started, resumed=resumed))
            return
        sha = sha256_file(local)
        entry = self.local.ledger.get(sha)
        before = len(self.local.result.files)
        if entry is not None and entry.status in (LEDGER_DONE, LEDGER_FAILED) and resumed:
            self.local.resume(local)  # imported before the run died: only moved on
        elif entry is not None and entry.status == LEDGER_DONE:
            self.local.duplicate(local, sha, entry)
        else:
            self.local.run(local, sha, name, entry)
        done = self.local.result.files[before:]
        if not done:
            return
        self.finish(name, dataclasses.replace(done[-1], name=name, resumed=resumed))

    def _stays(
        self, name: str, outcome: str, error: str, started: str, *, resumed: bool
    ) -> FileResult:
        return FileResult(
            name=name,
            outcome=outcome,
            exit_code=RemoteError.exit_code,
            sha256="",
            path=self.folder.where("processing", name),
            resumed=resumed,
            error=error,
            started_at=started,
            finished_at=now_iso(),
        )

    def finish(self, name: str, res: FileResult) -> None:
        """Move the remote file where its outcome says, with its note and results."""
        f = self.folder
        if res.outcome in _STAYS:
            self.emit(dataclasses.replace(res, path=f.where("processing", name)))
            return
        target = "failed" if res.outcome == FILE_FAILED else "done"
        try:
            dest = self._free_name(target, name)
            if self.config.results_back and res.results is not None and res.results.is_dir():
                f.upload_dir(res.results, target, dest + ".results")
            if res.outcome == FILE_FAILED:
                f.write(target, dest + ".error.txt", _note(res, "could not be imported"))
            elif res.outcome == FILE_DUPLICATE:
                f.write(target, dest + ".duplicate.txt", _note(res, "was not imported again"))
            if not f.move(("processing", name), (target, dest)):
                raise RemoteError(f"processing/{name} disappeared before it could be moved")
            self.carry_trigger("processing", name, target, dest)
            f.delete("processing", name + CLAIM_SUFFIX)
        except RemoteError as exc:
            self.result.remote_error = str(exc)
            self.emit(
                dataclasses.replace(
                    res,
                    path=f.where("processing", name),
                    error=f"{res.outcome}, but it stays in processing/ (the next run moves it "
                    f"without importing it again): {exc}",
                )
            )
            return
        self.emit(dataclasses.replace(res, path=f.where(target, dest)))

    def _free_name(self, folder: str, name: str) -> str:
        taken = self.folder.listing(folder)
        if name not in taken:
            return name
        stem, dot, ext = name.rpartition(".")
        base = (stem, "." + ext) if dot and stem else (name, "")
        candidate, n = f"{base[0]}-{stamp()}{base[1]}", 2
        while candidate in taken:
            candidate, n = f"{base[0]}-{stamp()}-{n}{base[1]}", n + 1
        return candidate


def _note(res: FileResult, what: str) -> bytes:
    lines = [f"{res.name} {what}: {res.error or res.outcome}"]
    if res.duplicate_of is not None:
        lines.append(f"Earlier results (on the importing machine): {res.duplicate_of}")
    elif res.results is not None:
        lines.append(f"Results (on the importing machine): {res.results}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def default_work_dir(spec: RemoteSpec | str) -> Path:
    """``$XDG_STATE_HOME/kantata-importer/drop/<url slug>`` (``~/.local/state`` by default).

    Raises:
        RemoteError: ``spec`` is a URL that cannot be used (a password in it, no host).
    """
    import os

    if isinstance(spec, str):
        spec = parse_remote(spec)
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "kantata-importer" / "drop" / spec.slug()


def process_remote_drop(
    url: str,
    *,
    config: DropConfig,
    work_dir: str | Path | None = None,
    transport: httpx.BaseTransport | None = None,
    cancel: threading.Event | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_pass: Callable[[DropResult], None] | None = None,
    lock_timeout: float = 0.0,
) -> DropResult:
    """Import every complete file of a remote drop folder's ``inbox/``, each exactly once.

    Args:
        url: ``sftp://user@host[:port]/path``, ``s3://bucket/prefix`` or another fsspec URL.
        config: as for a local folder, plus how to reach the server (``ssh_key_file``,
            ``known_hosts``, ``endpoint_url``, ``network_timeout``) and ``results_back``.
        work_dir: the local work folder (default: :func:`default_work_dir`); one work folder
            per remote folder, which two runs never use at once (its lock says "busy").
        transport, cancel, on_file, on_pass, lock_timeout: as for ``process_drop_folder``.

    Returns:
        The per-file results; ``path`` of each is its remote place (a URL).

    Raises:
        RemoteError: the remote folder could not be reached (exit 5): unreachable, a host key
            that changed, refused credentials.
        AuthError: no API token is configured.
    """
    spec = parse_remote(url)
    work = Path(work_dir) if work_dir is not None else default_work_dir(spec)
    work.mkdir(parents=True, exist_ok=True)
    for sub in (*SUBFOLDERS, STATE_DIR):
        (work / sub).mkdir(exist_ok=True)
    work = work.resolve()
    if not config.token:
        raise AuthError(
            "no API token: set KANTATA_API_TOKEN, KANTATA_DROP_TOKEN_FILE or token_file in the"
            " config file"
        )
    result = DropResult(root=spec.url, started_at=now_iso())
    try:
        _remote_pass(spec, work, config, result, transport, cancel, on_file, lock_timeout)
    finally:
        result.finished_at = now_iso()
    if on_pass is not None:
        on_pass(result)
    return result


def _remote_pass(
    spec: RemoteSpec,
    work: Path,
    config: DropConfig,
    result: DropResult,
    transport: httpx.BaseTransport | None,
    cancel: threading.Event | None,
    on_file: Callable[[FileResult], None] | None,
    lock_timeout: float,
) -> None:
    lock = FolderLock(work / STATE_DIR / "lock")
    if not lock.acquire(timeout=lock_timeout):
        owner = lock.owner()
        result.busy, result.lock_owner = True, owner.describe() if owner else "another run"
        return
    folder = RemoteFolder(spec, config.access())
    stop = cancel or threading.Event()
    try:
        folder.connect()
        folder.ensure_layout(("inbox", "processing", "done", "failed"))
        with Ledger.open(work / STATE_DIR) as ledger:
            local = _Pass(work, config, ledger, transport, stop, None, DropResult(root=work))
            run = _RemotePass(folder, local, result, on_file)
            run.resume()
            settler = config.settler(
                lambda: folder.listing("inbox"),
                lambda name, size: folder.tail("inbox", name, size),
                cancel=stop,
            )
            ready = settler.ready()
            try:
                for name in ready:
                    if run.stop or local.stop or stop.is_set():
                        break
                    run.guarded(name, functools.partial(run.take, name, settler.signature))
            finally:
                ready.close()
            result.waiting.extend(settler.waiting)
            result.seen = len(settler.seen)
    except RemoteError as exc:
        if not result.files:
            raise
        result.remote_error = str(exc)
    finally:
        folder.close()
        lock.release()
