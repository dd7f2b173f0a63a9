"""The working folder of ``importer serve``: uploads, their edits, and runs.

Layout (all private to the user, 0700)::

    WORK/uploads/<id>/upload.json     name shown, file type, sheet, column choices
    WORK/uploads/<id>/input<.suffix>  the file as uploaded (never renamed after the browser's name)
    WORK/uploads/<id>/edits.sqlite    the cell edits made in the grid (the upload stays as it was)
    WORK/uploads/<id>/plan/           the last "check against the server" (plan.csv ...)
    WORK/runs/<id>/run.json           what was sent, how, and how it ended
    WORK/runs/<id>/input<.suffix>     the working copy that was sent (edits applied)
    WORK/runs/<id>/results/           the library's results: success.csv, errors.csv ... journal

Ids are random hex made here; the browser only ever names an upload, a run or a download by
such an id or a fixed file name, never by a path.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from importer.core import ApiSettings, ImporterError, InputError
from importer.jobs import Progress
from importer.web import _jobs

ID = re.compile(r"^[0-9a-f]{16}$")
DOWNLOADS = ("success.csv", "errors.csv", "errors.xlsx", "summary.json", "plan.csv")
_UPLOAD_META = "upload.json"
_RUN_META = "run.json"


def _new_id() -> str:
    return secrets.token_hex(8)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class Upload:
    """One uploaded file: its cells (edits applied), the check of every row, the last plan."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self.lock = threading.RLock()
        self.source: _jobs.Source | None = None
        self.checked: _jobs.Checked | None = None
        self.error: str | None = None
        self.plan_counts: dict[str, int] | None = None
        self.plan_error: str | None = None
        self._plan_rows: pd.DataFrame | None = None
        self.version = 0  # bumped by every edit, mapping or sheet change

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def input(self) -> Path:
        return self.folder / f"input{self.meta['suffix']}"

    @property
    def chosen(self) -> dict[str, str]:
        return dict(self.meta.get("chosen", {}))

    def save(self) -> None:
        _write_json(self.folder / _UPLOAD_META, self.meta)

    def _edits(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.folder / "edits.sqlite")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS edits (sheet TEXT NOT NULL, row INTEGER NOT NULL, "
            "col TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (sheet, row, col))"
        )
        return db

    def load(self, api: ApiSettings | None) -> None:
        """Read the file (the chosen sheet), apply the saved edits, check every row."""
        with self.lock:
            self.plan_counts = self._plan_rows = None
            try:
                source = _jobs.read_source(self.input, self.meta.get("sheet"), self.chosen)
            except ImporterError as exc:
                self.source, self.checked, self.error = None, None, _clean(str(exc), self)
                return
            self.error = None
            with closing(self._edits()) as db:
                rows = db.execute(
                    "SELECT row, col, value FROM edits WHERE sheet = ?", (source.sheet or "",)
                ).fetchall()
            for row, col, value in rows:
                if row in source.cells.index and col in source.cells.columns:
                    source.cells.at[row, col] = value
            self.source = source
            self.recheck(api)

    def recheck(self, api: ApiSettings | None, changed_row: int | None = None) -> None:
        with self.lock:
            assert self.source is not None
            self.version += 1
            self.checked = _jobs.check_rows(
                self.source, self.chosen, api=api, changed_row=changed_row, previous=self.checked
            )
            if self.checked.mapping_error:
                self.checked.mapping_error = _clean(self.checked.mapping_error, self)

    def edit(
        self, row: int, column: str, value: str, api: ApiSettings | None
    ) -> tuple[str, list[str]]:
        """Change one cell (kept in ``edits.sqlite``) and check again; the row's message and
        bad columns ("" and [] once it passes)."""
        with self.lock:
            source = self.source
            if source is None or row not in source.cells.index or column not in source.headers:
                raise InputError(f"no cell at row {row}, column {column!r}")
            if len(value.encode("utf-8")) > _jobs.MAX_CELL_BYTES:
                raise InputError(f"row {row}, column {column!r}: the value is too long")
            source.cells.at[row, column] = value
            with closing(self._edits()) as db, db:
                db.execute(
                    "INSERT OR REPLACE INTO edits VALUES (?, ?, ?, ?)",
                    (source.sheet or "", row, column, value),
                )
            self.plan_counts = self._plan_rows = None
            self.recheck(api, changed_row=row)
            checked = self.checked
            assert checked is not None
            if checked.headers is None or row not in checked.errors.index:
                return checked.mapping_error or "", []
            fields, message = checked.errors.loc[row, ["schema_fields", "error_message"]]
            return str(message), checked.bad_columns(str(fields))

    def edited(self) -> int:
        with closing(self._edits()) as db:
            return int(db.execute("SELECT count(*) FROM edits").fetchone()[0])

    def counts(self) -> dict[str, int]:
        if self.source is None or self.checked is None:
            return {}
        rows = len(self.source.cells)
        failed = len(self.checked.errors) if self.checked.headers is not None else rows
        return {"rows": rows, "valid": rows - failed, "errors": failed}

    def page(
        self, *, errors_only: bool, offset: int, limit: int, from_row: int | None = None
    ) -> tuple[int, int, list[dict[str, Any]]]:
        """Rows ``offset`` .. ``offset+limit`` of the grid (all rows, or the failing ones), or
        from the first shown row numbered ``from_row`` or after; (total, offset, rows)."""
        with self.lock:
            if self.source is None or self.checked is None:
                return 0, 0, []
            cells, errors = self.source.cells, self.checked.errors
            rows = errors.index if errors_only else cells.index
            total = len(rows)
            if from_row is not None:
                offset = min(int(rows.searchsorted(from_row)), max(total - 1, 0))
            shown = rows[offset : offset + limit]
            part = cells.loc[shown]
            found = errors.reindex(shown)
            out = []
            for row, values, field_, message in zip(
                shown.tolist(),
                part.itertuples(index=False, name=None),
                found["schema_fields"].tolist(),
                found["error_message"].tolist(),
                strict=True,
            ):
                bad = self.checked.bad_columns(field_) if isinstance(field_, str) else []
                out.append(
                    {
                        "row": row,
                        "cells": list(values),
                        "bad": bad,
                        "message": message if isinstance(message, str) else "",
                    }
                )
            return total, offset, out

    def working_copy(self, folder: Path) -> Path:
        """The file to send: the upload itself, or a copy with the edits and ignored columns."""
        with self.lock:
            assert self.source is not None
            ignored = _jobs.ignored_labels(self.source.headers, self.chosen)
            if not self.edited() and not ignored:
                target = folder / self.input.name
                shutil.copyfile(self.input, target)
                return target
            return _jobs.write_working_copy(self.source, self.chosen, folder)

    def plan(self, api: ApiSettings) -> dict[str, int]:
        """Check the rows as they are now against the server (``importer plan``).

        The upload is locked only to take its working copy: the grid stays usable while the
        server is asked. A plan overtaken by an edit or a new mapping is not shown.
        """
        with self.lock:
            assert self.source is not None
            version = self.version
            work = _private_dir(self.folder / f"work-{secrets.token_hex(4)}")
            path = self.working_copy(work)
            sheet, headers, chosen = self.source.sheet, self.source.headers, self.chosen
            top = self.source.header_row
        out = self.folder / f"plan-{secrets.token_hex(4)}"
        _private_dir(out)
        counts: dict[str, int] | None = None
        error: str | None = None
        try:
            counts = _jobs.plan(
                path, out, sheet=sheet, headers=headers, chosen=chosen, header_row=top, api=api
            )
        except ImporterError as exc:
            error = _clean(str(exc), self)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with self.lock:
            if version != self.version:
                shutil.rmtree(out, ignore_errors=True)
                self.plan_counts, self.plan_error = None, "the rows changed while checking"
                return {}
            shutil.rmtree(self.folder / "plan", ignore_errors=True)
            os.replace(out, self.folder / "plan")
            self.plan_counts, self.plan_error, self._plan_rows = counts, error, None
            return counts or {}

    def plan_page(self, cls: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            if self.plan_counts is None:
                return 0, []
            if self._plan_rows is None:
                self._plan_rows = _jobs.plan_rows(self.folder / "plan")
            frame = self._plan_rows
            chosen = frame[frame["action"] == cls]
            part = chosen.iloc[offset : offset + limit]
            return len(chosen), _records(part)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, r, strict=True)) for r in frame.itertuples(index=False)]


def _clean(message: str, upload: Upload) -> str:
    """A library message about the upload, with the working file's name as the person's."""
    for name in ("input.csv", "input.xlsx", upload.input.name):
        message = message.replace(name, str(upload.meta.get("name", name)))
    return message


@dataclass
class Run:
    """A send (or its undo): the thread doing it, its progress, its results."""

    folder: Path
    meta: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    phase: str = ""
    done: int = 0
    total: int | None = None
    started: float = 0.0
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

    def save(self) -> None:
        _write_json(self.folder / _RUN_META, self.meta)

    def on_progress(self, event: Progress) -> None:
        if event.phase == "send" and self.phase != "send":
            self.send_started = time.monotonic()
        self.phase, self.done, self.total = event.phase, event.done, event.total

    def status(self) -> dict[str, Any]:
        pace = 0.0
        if self.phase == "send" and self.done:
            pace = self.done / max(time.monotonic() - self.send_started, 1e-3)
        summary = self.meta.get("summary") or {}
        return {
            "id": self.id,
            "name": self.meta.get("name"),
            "upload": self.meta.get("upload"),
            "state": self.meta.get("state"),
            "differs": self.meta.get("differs"),
            "created": self.meta.get("created"),
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "pace": round(pace, 1),
            "retries": summary.get("retries"),
            "requests": self.watch.requests if self.watch else summary.get("requests"),
            "transient": self.watch.transient if self.watch else None,
            "counts": summary.get("counts"),
            "failed": _failed(summary.get("counts")),
            "message": self.meta.get("message"),
            "undo": self.meta.get("undo"),
            "files": [n for n in DOWNLOADS if (self.results / n).is_file()],
            "running": self.thread is not None and self.thread.is_alive(),
        }

    def outcome_page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            if self._outcomes is None:
                self._outcomes = _outcomes(self.results)
            frame = self._outcomes
            return len(frame), _records(frame.iloc[offset : offset + limit])


def _failed(counts: dict[str, int] | None) -> int | None:
    """Rows of a run that did not succeed (failed at any stage, or not sent)."""
    if not counts:
        return None
    return sum(v for k, v in counts.items() if k.startswith("failed") or k == "not_processed")


def _outcomes(results: Path) -> pd.DataFrame:
    """success.csv and errors.csv, in row order: row, outcome, id, message."""
    parts = []
    for name, ok in (("success.csv", True), ("errors.csv", False)):
        path = results / name
        if not path.is_file():
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if ok:
            outcome = frame["note"].where(frame["note"] != "", "created")
            part = pd.DataFrame(
                {
                    "row": frame["source_row"],
                    "outcome": outcome,
                    "membership": frame["organization_membership_id"],
                    "message": "",
                }
            )
        else:
            part = pd.DataFrame(
                {
                    "row": frame["source_row"],
                    "outcome": "failed: " + frame["error_stage"],
                    "membership": "",
                    "message": frame["error_message"],
                }
            )
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["row", "outcome", "membership", "message"])
    out = pd.concat(parts, ignore_index=True)
    return out.iloc[pd.to_numeric(out["row"], errors="coerce").argsort(kind="stable")]


class Store:
    """Uploads and runs of one working folder; runs are sent in threads of this process."""

    def __init__(self, root: Path, api: ApiSettings | None, *, batch_size: int = 100) -> None:
        self.root = _private_dir(root)
        self.api = api
        self.batch_size = batch_size
        self.uploads: dict[str, Upload] = {}
        self.runs: dict[str, Run] = {}
        self.lock = threading.Lock()
        for meta_path in sorted(_private_dir(root / "uploads").glob(f"*/{_UPLOAD_META}")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            self.uploads[meta["id"]] = Upload(meta_path.parent, meta)
        for meta_path in sorted(_private_dir(root / "runs").glob(f"*/{_RUN_META}")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("state") in ("sending", "undoing"):  # this process died while it ran
                meta["state"] = "interrupted"
                meta["message"] = "the server stopped while this ran; resume to finish it"
                _write_json(meta_path, meta)
            self.runs[meta["id"]] = Run(meta_path.parent, meta)

    # -- uploads ---------------------------------------------------------------------------

    def upload_path(self, suffix: str) -> tuple[str, Path]:
        """A new upload's id and the path its bytes go to (the name comes from us)."""
        uid = _new_id()
        folder = _private_dir(self.root / "uploads" / uid)
        return uid, folder / f"input{suffix}"

    def add_upload(self, uid: str, name: str, suffix: str, size: int) -> Upload:
        folder = self.root / "uploads" / uid
        meta = {
            "id": uid,
            "name": name,
            "suffix": suffix,
            "size": size,
            "created": _now(),
            "sheet": None,
            "chosen": {},
        }
        upload = Upload(folder, meta)
        upload.save()
        with self.lock:
            self.uploads[uid] = upload
        upload.load(self.api)
        if upload.source is not None:
            upload.meta["sheet"] = upload.source.sheet
            upload.meta["sheets"] = list(upload.source.sheets)
            upload.meta["chosen"] = dict(upload.checked.suggested) if upload.checked else {}
            upload.save()
        return upload

    def upload(self, uid: str) -> Upload:
        upload = self.uploads.get(uid) if ID.match(uid) else None
        if upload is None:
            raise KeyError(uid)
        if upload.source is None and upload.error is None:
            upload.load(self.api)
        return upload

    def delete_upload(self, uid: str) -> None:
        upload = self.upload(uid)
        with self.lock:
            del self.uploads[uid]
        shutil.rmtree(upload.folder, ignore_errors=True)

    # -- runs -------------------------------------------------------------------------------

    def run(self, rid: str) -> Run:
        run = self.runs.get(rid) if ID.match(rid) else None
        if run is None:
            raise KeyError(rid)
        return run

    def all_runs(self) -> Iterator[Run]:
        return iter(sorted(self.runs.values(), key=lambda r: str(r.meta["created"]), reverse=True))

    def start_run(self, upload: Upload, differs: str) -> Run:
        """Make the working copy of ``upload`` and send it in a thread."""
        if self.api is None:
            raise InputError("no API token: start importer serve with a token (or --sandbox)")
        if differs not in _jobs.DIFFERS_CHOICES:
            raise InputError(f"unknown choice for rows that differ: {differs!r}")
        if differs != "report" and not _jobs.supports_differs():
            raise InputError(f"'{differs}' needs a newer importer (issue 13)")
        with upload.lock:
            if upload.source is None or upload.checked is None:
                raise InputError(upload.error or "the file could not be read")
            if upload.checked.mapping_error:
                raise InputError(upload.checked.mapping_error)
            rid = _new_id()
            folder = _private_dir(self.root / "runs" / rid)
            path = upload.working_copy(folder)
            meta = {
                "id": rid,
                "upload": upload.id,
                "name": upload.meta["name"],
                "created": _now(),
                "input": path.name,
                "sheet": upload.source.sheet,
                "header_row": upload.source.header_row,
                "headers": list(upload.source.headers),
                "chosen": upload.chosen,
                "differs": differs,
                "state": "sending",
            }
        run = Run(folder, meta)
        run.save()
        with self.lock:
            self.runs[rid] = run
        self._start(run, self._send)
        return run

    def resume(self, run: Run) -> None:
        if run.thread is not None and run.thread.is_alive():
            raise InputError("this run is still going")
        if run.meta.get("state") not in ("interrupted", "refused"):
            raise InputError("only an interrupted or refused run can be resumed")
        run.cancel = threading.Event()
        run.meta.update(state="sending", message=None)
        run.save()
        self._start(run, self._send)

    def undo(self, run: Run) -> None:
        if not _jobs.supports_undo():
            raise InputError("undo needs a newer importer (importer.jobs.undo_run, issue 13)")
        if run.thread is not None and run.thread.is_alive():
            raise InputError("this run is still going")
        run.cancel = threading.Event()
        run.meta.update(state="undoing", message=None)
        run.save()
        self._start(run, self._undo)

    def _start(self, run: Run, body: Any) -> None:
        run.started = time.monotonic()
        run.phase, run.done, run.total = "", 0, None
        run.thread = threading.Thread(target=body, args=(run,), name=f"run-{run.id}", daemon=True)
        run.thread.start()

    def _send(self, run: Run) -> None:
        assert self.api is not None
        meta = run.meta
        run.watch = _jobs.Watch(self.api)
        try:
            result = _jobs.send(
                run.folder / meta["input"],
                run.results,
                sheet=meta["sheet"],
                headers=meta["headers"],
                chosen=meta["chosen"],
                header_row=meta.get("header_row", 1),
                differs=meta["differs"],
                api=self.api,
                batch_size=self.batch_size,
                progress=run.on_progress,
                cancel=run.cancel,
                transport=run.watch,
            )
        except ImporterError as exc:
            meta.update(state="error", message=str(exc))
        except Exception as exc:  # a bug: say so on the page rather than lose the thread
            meta.update(state="error", message=f"internal error: {type(exc).__name__}: {exc}")
        else:
            state = {130: "interrupted", 3: "refused"}.get(result.exit_code, "finished")
            meta.update(state=state, message=result.fatal, summary=result.summary)
        finally:
            run.watch.shut()
        run._outcomes = None
        run.save()

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
                state="undone" if result.exit_code == 0 else "finished",
                undo={"counts": result.counts, "exit_code": result.exit_code},
                message=result.fatal,
            )
        run.save()
