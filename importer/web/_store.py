"""The working folder of ``importer serve``: uploads, runs, and the lock that lets one upload
have at most one run or undo at a time.

Layout (all private to the user, 0700)::

    WORK/uploads/<id>/upload.json     name shown, file type, sheet, header row, column choices
    WORK/uploads/<id>/input<.suffix>  the file as uploaded (never renamed after the browser's name)
    WORK/uploads/<id>/edits.sqlite    the cell edits and ignored rows (the upload stays as it was)
    WORK/uploads/<id>/plan/           the last check with Kantata (plan.csv ...)
    WORK/runs/<id>/run.json           what was sent, how, and how it ended
    WORK/runs/<id>/input<.suffix>     the working copy that was sent (edits applied)
    WORK/runs/<id>/results/           the library's results: success.csv, errors.csv ... journal
    WORK/locks/<upload id>.lock       held while a run or an undo of that upload goes on
    WORK/locks/<upload id>.run        which run that is
    WORK/locks/content-<key>.lock     held while a run or an undo of that file's content (its
    WORK/locks/content-<key>.run      sha256) goes on against this server, and which run it is

The locks are the results folder's lock of ``importer run`` (:class:`importer.core.FolderLock`, a
``flock`` the kernel releases however its holder ends): two tabs, two windows or two
``importer serve`` processes on one working folder cannot send the same upload twice at once,
nor the same file uploaded twice (the second would look the rows up before the first had
created them, and create them again).

Ids are random hex made here; the browser only ever names an upload, a run or a download by
such an id or a fixed file name, never by a path.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from importer.core import ApiSettings, FolderLock, ImporterError, InputError, Settings
from importer.jobs import ImportResult, Progress
from importer.web import _jobs, _results
from importer.web._files import new_id, now, private_dir, read_json, write_json
from importer.web._upload import Upload
from importer.web._words import plain

__all__ = ["DOWNLOADS", "ID", "Busy", "NotFound", "Run", "Store"]

ID = re.compile(r"^[0-9a-f]{16}$")
DOWNLOADS = ("success.csv", "errors.csv", "errors.xlsx", "summary.json", "undo.csv")
_UPLOAD_META = "upload.json"
_RUN_META = "run.json"
SENDING, UNDOING = "sending", "undoing"
#: States a run can go on from: stopped, refused, or ended with rows not sent or still in doubt.
RESUMABLE = ("interrupted", "refused", "finished")
_BUSY_STATES = (SENDING, UNDOING)
_DEFAULT_BATCH = Settings().options.batch_size  # run's default, defined once


def _run_meta(path: Path) -> dict[str, Any]:
    """A run's ``run.json`` (one saved by the page's first version, its choices laid flat, is
    given its recipe)."""
    meta = read_json(path)
    if "recipe" not in meta:
        meta["recipe"] = _jobs.Recipe.from_json(meta).to_json()
    return meta


class NotFound(LookupError):
    """No upload or run by that id."""


class Busy(Exception):
    """The upload is being sent or undone already (in this tab, another, or another process), or
    the same file, uploaded again, is (``other_upload``: the run belongs to another upload)."""

    def __init__(self, run_id: str | None, *, other_upload: bool = False) -> None:
        super().__init__(
            "already running: this file, uploaded again, is being sent or undone from its other "
            "upload; follow it there"
            if other_upload
            else "already running: this file is being sent or undone (in another tab or window); "
            "its progress is shown here"
        )
        self.run_id = run_id
        self.other_upload = other_upload


def content_key(sha256: str, api: ApiSettings) -> str:
    """The name of the lock of one file's content (its sha256) sent to one server."""
    server = api.base_url.strip().rstrip("/").casefold()
    return hashlib.sha256(f"{sha256}\n{server}".encode()).hexdigest()[:32]


@dataclass
class _Held:
    """The locks a run or an undo holds (its upload's, its content's), given up together."""

    locks: list[FolderLock]

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()


@dataclass
class Run:
    """A send (or its undo): the thread doing it, its progress, its results."""

    folder: Path
    meta: dict[str, Any]
    locks: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    phase: str = ""
    done: int = 0
    total: int | None = None
    send_started: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    watch: _jobs.Watch | None = None
    _outcomes: pd.DataFrame | None = None

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def results(self) -> Path:
        return self.folder / "results"

    @property
    def recipe(self) -> _jobs.Recipe:
        return _jobs.Recipe.from_json(self.meta["recipe"])

    def save(self) -> None:
        write_json(self.folder / _RUN_META, self.meta)

    def on_progress(self, event: Progress) -> None:
        if event.phase == "send" and self.phase != "send":
            self.send_started = time.monotonic()
        self.phase, self.done, self.total = event.phase, event.done, event.total

    def running_here(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _state(self) -> tuple[str, bool]:
        """The run's state and whether it is going on (here or in another process)."""
        state = str(self.meta.get("state"))
        if self.running_here():
            return state, True
        if state not in _BUSY_STATES:
            return state, False
        probe = FolderLock(self.locks / f"{self.meta['upload']}.lock")
        if not probe.acquire():
            return state, True  # going on in another process
        try:  # it ended in another process (which saved it before letting go), or died mid-way
            self.meta = _run_meta(self.folder / _RUN_META)
            self._outcomes = None
        finally:
            probe.release()
        state = str(self.meta.get("state"))
        return ("interrupted" if state in _BUSY_STATES else state), False

    def status(self) -> dict[str, Any]:
        pace = 0.0
        if self.phase == "send" and self.done:
            pace = self.done / max(time.monotonic() - self.send_started, 1e-3)
        summary = self.meta.get("summary") or {}
        state, running = self._state()
        return {
            "id": self.id,
            "name": self.meta.get("name"),
            "upload": self.meta.get("upload"),
            "state": state,
            "differs": self.meta["recipe"].get("differs"),
            "created": self.meta.get("created"),
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "pace": round(pace, 1),
            "retries": summary.get("retries"),
            "requests": self.watch.requests if self.watch else summary.get("requests"),
            "transient": self.watch.transient if self.watch else None,
            "counts": summary.get("counts"),
            "ignored": len(self.meta.get("ignored", [])),
            "message": self.said(self.meta.get("message")),
            "undo": self.meta.get("undo"),
            "files": [n for n in DOWNLOADS if (self.results / n).is_file()],
            "running": running,
            "elsewhere": running and not self.running_here(),
            "resumable": not running
            and (
                state in ("interrupted", "refused") or (state == "finished" and _unsent(self) > 0)
            ),
        }

    def said(self, message: object) -> str:
        """A library message about this run in the page's words (its folder named in words)."""
        text = plain(str(message)) if message else ""
        return text.replace(str(self.results), "this send's results").replace(
            str(self.folder), "this send's folder"
        )

    def outcomes(self) -> pd.DataFrame:
        with self.lock:
            if self._outcomes is None:
                self._outcomes = _results.outcomes(
                    self.results, self.recipe.chosen, list(self.meta.get("ignored", []))
                )
            return self._outcomes

    def outcome_page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        frame = self.outcomes()
        part = frame.iloc[offset : offset + limit]
        rows = [dict(zip(part.columns, r, strict=True)) for r in part.itertuples(index=False)]
        for r in rows:
            r["row"], r["undone"] = int(r["row"]), bool(r["undone"])
        return len(frame), rows

    def forget_outcomes(self) -> None:
        with self.lock:
            self._outcomes = None


class Store:
    """Uploads and runs of one working folder; runs are sent in threads of this process."""

    def __init__(
        self, root: Path, api: ApiSettings | None, *, batch_size: int = _DEFAULT_BATCH
    ) -> None:
        self.root = private_dir(root)
        self.locks = private_dir(root / "locks")
        self.api = api
        self.batch_size = batch_size
        self.uploads: dict[str, Upload] = {}
        self.runs: dict[str, Run] = {}
        self.lock = threading.Lock()
        for meta_path in sorted(private_dir(root / "uploads").glob(f"*/{_UPLOAD_META}")):
            meta = read_json(meta_path)
            self.uploads[meta["id"]] = Upload(meta_path.parent, meta)
        for meta_path in sorted(private_dir(root / "runs").glob(f"*/{_RUN_META}")):
            self._add_run(meta_path)

    def _add_run(self, meta_path: Path) -> Run | None:
        meta = _run_meta(meta_path)
        if not ID.match(str(meta.get("id", ""))):
            return None
        run = Run(meta_path.parent, meta, self.locks)
        self.runs[run.id] = run
        return run

    # -- uploads ---------------------------------------------------------------------------

    def upload_path(self, suffix: str) -> tuple[str, Path]:
        """A new upload's id and the path its bytes go to (the name comes from us)."""
        uid = new_id()
        folder = private_dir(self.root / "uploads" / uid)
        return uid, folder / f"input{suffix}"

    def discard(self, uid: str) -> None:
        """Remove an upload that never completed."""
        shutil.rmtree(self.root / "uploads" / uid, ignore_errors=True)

    def add_upload(self, uid: str, name: str, suffix: str, size: int, sha256: str) -> Upload:
        folder = self.root / "uploads" / uid
        meta = {"id": uid, "name": name, "suffix": suffix, "size": size, "sha256": sha256,
                "created": now(), "sheet": None, "header_row": None, "chosen": {},
                "differs": "report"}  # fmt: skip
        upload = Upload(folder, meta)
        upload.save()
        with self.lock:
            self.uploads[uid] = upload
        upload.load(self.api)
        return upload

    def upload(self, uid: str) -> Upload:
        upload = self.uploads.get(uid) if ID.match(uid) else None
        if upload is None:
            raise NotFound("no such file: it was cleaned up, or the address is wrong")
        if upload.first is None and upload.error is None:
            upload.load(self.api)
        return upload

    def delete_upload(self, uid: str) -> None:
        upload = self.upload(uid)
        lock = self._upload_lock(uid)
        if not lock.acquire():
            raise Busy(self._active(uid))
        try:
            with self.lock:
                del self.uploads[uid]
            shutil.rmtree(upload.folder, ignore_errors=True)
        finally:
            lock.release()

    def latest_run(self, uid: str) -> Run | None:
        mine = [r for r in self.runs.values() if r.meta.get("upload") == uid]
        return max(mine, key=lambda r: str(r.meta["created"])) if mine else None

    # -- runs -------------------------------------------------------------------------------

    def run(self, rid: str) -> Run:
        run = self.runs.get(rid) if ID.match(rid) else None
        if run is None and ID.match(rid):  # started by another process on this folder
            meta_path = self.root / "runs" / rid / _RUN_META
            if meta_path.is_file():
                run = self._add_run(meta_path)
        if run is None:
            raise NotFound("no such run")
        return run

    def all_runs(self) -> Iterator[Run]:
        return iter(sorted(self.runs.values(), key=lambda r: str(r.meta["created"]), reverse=True))

    def _upload_lock(self, uid: str) -> FolderLock:
        return FolderLock(self.locks / f"{uid}.lock")

    def _active(self, name: str) -> str | None:
        """The run that holds (or last held) the lock ``name`` (an upload's id, a content's)."""
        try:
            rid = (self.locks / f"{name}.run").read_text(encoding="ascii").strip()
        except OSError:
            return None
        return rid if ID.match(rid) else None

    def _hold(self, uid: str, rid: str, content: str | None) -> _Held:
        """Take the upload's lock for run ``rid``, then the lock of its content (``content_key``),
        or raise ``Busy`` naming the run that has one."""
        lock = self._upload_lock(uid)
        if not lock.acquire():
            raise Busy(self._active(uid))
        (self.locks / f"{uid}.run").write_text(rid, encoding="ascii")
        if content is None:
            return _Held([lock])
        same = FolderLock(self.locks / f"content-{content}.lock")
        if not same.acquire():
            lock.release()
            raise Busy(self._active(f"content-{content}"), other_upload=True)
        (self.locks / f"content-{content}.run").write_text(rid, encoding="ascii")
        return _Held([lock, same])

    def _content(self, upload: Upload | None) -> str | None:
        """The content key of ``upload`` for this server (``None``: no upload, no server)."""
        if upload is None or self.api is None:
            return None
        return content_key(upload.sha256, self.api)

    def sent_before(self, upload: Upload) -> list[dict[str, Any]]:
        """The runs of other uploads of the same file to this server, newest first."""
        content = self._content(upload)
        same = [
            r for r in self.all_runs()
            if r.meta.get("content") == content and r.meta.get("upload") != upload.id
        ]  # fmt: skip
        return [{"id": r.id, "name": r.meta.get("name"), "created": r.meta.get("created"),
                 "state": r.status()["state"]} for r in same]  # fmt: skip

    def start_run(self, upload: Upload) -> Run:
        """Make the working copy of ``upload`` and send it in a thread (one at a time)."""
        if self.api is None:
            raise InputError("no API token: this page can check files but not send them")
        rid = new_id()
        content = self._content(upload)
        lock = self._hold(upload.id, rid, content)
        try:
            with upload.lock:
                upload.ready_to_send()
                folder = private_dir(self.root / "runs" / rid)
                path = upload.working_copy(folder)
                meta = {"id": rid, "upload": upload.id, "name": upload.meta["name"],
                        "created": now(), "input": path.name, "state": SENDING,
                        "recipe": upload.recipe().to_json(), "content": content,
                        "ignored": upload.ignored_people()}  # fmt: skip
            run = Run(folder, meta, self.locks)
            run.save()
            with self.lock:
                self.runs[rid] = run
            self._start(run, self._send, lock)
        except BaseException:
            lock.release()
            raise
        return run

    def _run_content(self, run: Run) -> str | None:
        """The content key of ``run`` (recorded when it started; for a run saved before keys
        were, its upload's, if the upload is still there)."""
        content = run.meta.get("content")
        if content is None:
            content = self._content(self.uploads.get(str(run.meta.get("upload"))))
        return str(content) if content else None

    def resume(self, run: Run) -> None:
        _idle(run, RESUMABLE, "only a run that stopped before its end can go on")
        if run.status()["state"] == "finished" and not _unsent(run):
            raise InputError("every row of this run was sent: there is nothing to go on with")
        lock = self._hold(str(run.meta["upload"]), run.id, self._run_content(run))
        try:
            run.meta.update(state=SENDING, message=None)
            run.save()
            self._start(run, self._send, lock)
        except BaseException:
            lock.release()
            raise

    def undo(self, run: Run) -> None:
        _idle(run, ("finished", "interrupted", "undone"), "only a finished run can be undone")
        lock = self._hold(str(run.meta["upload"]), run.id, self._run_content(run))
        try:
            run.meta.update(state=UNDOING, message=None)
            run.save()
            self._start(run, self._undo, lock)
        except BaseException:
            lock.release()
            raise

    def _start(self, run: Run, body: Callable[[Run], None], lock: _Held) -> None:
        run.cancel = threading.Event()
        run.phase, run.done, run.total = "", 0, None

        def work() -> None:
            try:
                body(run)
            finally:
                run.forget_outcomes()
                run.save()
                lock.release()

        run.thread = threading.Thread(target=work, name=f"run-{run.id}", daemon=True)
        run.thread.start()

    def _send(self, run: Run) -> None:
        assert self.api is not None
        run.watch = _jobs.Watch(self.api)
        try:
            result = _jobs.send(
                run.folder / run.meta["input"], run.results, run.recipe, api=self.api,
                batch_size=self.batch_size, progress=run.on_progress, cancel=run.cancel,
                transport=run.watch,
            )  # fmt: skip
        except ImporterError as exc:
            run.meta.update(state="error", message=str(exc))
        except Exception as exc:  # a bug: say so on the page rather than lose the thread
            run.meta.update(state="error", message=f"internal error: {type(exc).__name__}: {exc}")
        else:
            run.meta.update(state=_ended(result), message=result.fatal, summary=result.summary)
        finally:
            run.watch.shut()

    def _undo(self, run: Run) -> None:
        assert self.api is not None
        try:
            result = _jobs.undo(
                run.results, api=self.api, progress=run.on_progress, cancel=run.cancel
            )
        except ImporterError as exc:
            run.meta.update(state="finished", message=f"undo failed: {exc}")
        except Exception as exc:
            run.meta.update(state="finished", message=f"internal error: {type(exc).__name__}")
        else:
            run.meta.update(
                state="undone" if result.exit_code == 0 else _ended(result),
                undo={"counts": result.counts, "exit_code": result.exit_code},
                message=result.fatal,
            )


def _idle(run: Run, states: tuple[str, ...], refusal: str) -> None:
    """Raise ``Busy`` if ``run`` is going on, ``InputError(refusal)`` if not in ``states``."""
    status = run.status()
    if status["running"]:
        raise Busy(run.id)
    if status["state"] not in states:
        raise InputError(refusal)


def _unsent(run: Run) -> int:
    """Rows of a run not sent, or whose outcome is still unknown (``not_processed``)."""
    counts = run.meta.get("summary", {}).get("counts") or {}
    return int(counts.get("not_processed") or 0)


def _ended(result: ImportResult) -> str:
    return {130: "interrupted", 3: "refused"}.get(result.exit_code, "finished")
