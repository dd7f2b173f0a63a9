"""One uploaded file and what the person did with it: the sheet, the header row, the columns,
the cell edits and ignored rows, the check of every row, the last check with Kantata.

On disk, in the upload's folder (see :mod:`importer.web._store`): ``upload.json`` (the choices)
and ``edits.sqlite`` (cell edits and ignored rows, per sheet and header row: the uploaded file
is never changed). In memory: the cells as read, and the check of every row.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from importer.core import ApiSettings, ImporterError, ImportOptions, InputError, sha256_file
from importer.read import ColumnSuggestion, FirstRows
from importer.web import _checks, _jobs
from importer.web._files import private_dir, write_json
from importer.web._results import who_and_where
from importer.web._words import IGNORE, plain, target_choices

__all__ = ["Upload"]

_META = "upload.json"
_PREVIEW_COLUMNS = 40  # cells of a row sent for the header step (wider rows are cut)
_PREVIEW_CHARS = 120
_SCHEMA = """
CREATE TABLE IF NOT EXISTS edits (sheet TEXT NOT NULL, header INTEGER NOT NULL,
    row INTEGER NOT NULL, col TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (sheet, header, row, col));
CREATE TABLE IF NOT EXISTS ignored (sheet TEXT NOT NULL, header INTEGER NOT NULL,
    row INTEGER NOT NULL, PRIMARY KEY (sheet, header, row));
"""
VIEWS = ("problems", "ignored", "all")


class Upload:
    """One uploaded file: its first rows, its cells (edits applied), the check of every row."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self.lock = threading.RLock()
        self.first: FirstRows | None = None
        self.sheet_note = ""
        self.source: _checks.Source | None = None
        self.checked: _checks.Checked | None = None
        self.suggested: dict[str, ColumnSuggestion] = {}
        self.error: str | None = None
        self.ignored: frozenset[int] = frozenset()
        self.plan_view: dict[str, Any] | None = None
        self.version = 0  # bumped by every change of the rows or the choices

    # -- what is stored ------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def input(self) -> Path:
        return self.folder / f"input{self.meta['suffix']}"

    @property
    def sha256(self) -> str:
        """The uploaded file's sha256 (taken as it arrived; for an upload of an earlier version
        of the page, now)."""
        found = self.meta.get("sha256")
        if not found:
            found = self.meta["sha256"] = sha256_file(self.input)
            self.save()
        return str(found)

    @property
    def chosen(self) -> dict[str, str]:
        return dict(self.meta.get("chosen") or {})

    @property
    def differs(self) -> str:
        return str(self.meta.get("differs") or "report")

    def recipe(self) -> _jobs.Recipe:
        source = self.source
        assert source is not None
        return _jobs.Recipe(
            sheet=source.sheet,
            header_row=source.header_row,
            headers=source.headers,
            chosen=self.chosen,
            differs=self.differs,
        )

    def save(self) -> None:
        write_json(self.folder / _META, self.meta)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.folder / "edits.sqlite")) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            with db:
                yield db

    def _key(self) -> tuple[str, int]:
        source = self.source
        assert source is not None
        return source.sheet or "", source.header_row

    # -- reading -------------------------------------------------------------------------------

    def load(self, api: ApiSettings | None) -> None:
        """Read the first rows and the cells (the chosen sheet and header row), apply the saved
        edits, suggest the columns if none are chosen, check every row."""
        with self.lock:
            self.plan_view = None
            self.first = self.source = self.checked = None
            try:
                self.first, self.sheet_note = _checks.preview(
                    self.input, self.meta.get("sheet"), self.meta.get("header_row")
                )
                self.meta.update(sheet=self.first.sheet, sheets=list(self.first.sheets))
                self.save()
                source = _checks.read_source(self.input, self.first.sheet, self.first.header_row)
            except ImporterError as exc:
                self.error = self._plain(str(exc))
                return
            self.error = None
            self.source = source
            self._apply_edits()
            self.suggested = _checks.suggestions(source)
            if set(self.chosen) != set(source.headers):
                self.meta["chosen"] = {h: s.column or IGNORE for h, s in self.suggested.items()}
            self.save()
            self._recheck(api)

    def _apply_edits(self) -> None:
        source = self.source
        assert source is not None
        with self._db() as db:
            edits = db.execute(
                "SELECT row, col, value FROM edits WHERE sheet = ? AND header = ?", self._key()
            ).fetchall()
            ignored = db.execute(
                "SELECT row FROM ignored WHERE sheet = ? AND header = ?", self._key()
            ).fetchall()
        cells = source.cells
        for row, col, value in edits:
            if row in cells.index and col in cells.columns:
                cells.at[row, col] = value
        self.ignored = frozenset(r for (r,) in ignored if r in cells.index)

    def _recheck(self, api: ApiSettings | None, changed_row: int | None = None) -> None:
        assert self.source is not None
        self.version += 1
        self.plan_view = None
        self.checked = _checks.check_rows(
            self.source,
            self.chosen,
            api=api,
            ignored=self.ignored,
            changed_row=changed_row,
            previous=self.checked,
        )
        if self.checked.mapping_error:
            self.checked.mapping_error = self._plain(self.checked.mapping_error)

    def _plain(self, message: str) -> str:
        """A library message about the upload in words, with the file's name as the person's."""
        message = plain(message)
        for name in ("input.csv", "input.xlsx", self.input.name):
            message = message.replace(name, str(self.meta.get("name", name)))
        return message

    # -- the person's choices ------------------------------------------------------------------

    def choose_sheet(self, sheet: str, api: ApiSettings | None) -> None:
        with self.lock:
            if sheet not in self.meta.get("sheets", []):
                raise InputError(f"this file has no sheet {sheet!r}")
            self.meta.update(sheet=sheet, header_row=None, chosen={})
            self.save()
            self.load(api)

    def choose_header(self, row: int, api: ApiSettings | None) -> None:
        with self.lock:
            if self.first is None or not 1 <= row <= len(self.first.rows):
                raise InputError(f"row {row} is not one of the rows shown")
            if not any(cell.strip() for cell in self.first.rows[row - 1]):
                raise InputError(f"row {row} is empty: it cannot hold the column names")
            self.meta.update(header_row=row, chosen={})
            self.save()
            self.load(api)

    def choose_columns(self, chosen: dict[str, str], api: ApiSettings | None) -> None:
        with self.lock:
            if self.source is None:
                raise InputError(self.error or "the file could not be read")
            allowed = {IGNORE, *(c["value"] for c in target_choices())}
            self.meta["chosen"] = {
                h: (c if c in allowed else IGNORE)
                for h in self.source.headers
                for c in [str(chosen.get(h, self.chosen.get(h, IGNORE)))]
            }
            self.save()
            self._recheck(api)

    def choose_differs(self, differs: str) -> None:
        ImportOptions(differs=differs)  # the library's own check of the word
        with self.lock:
            if differs != self.differs:
                self.meta["differs"] = differs
                self.save()
                self.plan_view = None

    # -- fixing rows ---------------------------------------------------------------------------

    def _cell_target(self, row: int, column: str) -> _checks.Source:
        source = self.source
        if source is None or row not in source.cells.index or column not in source.headers:
            raise InputError(f"no cell at row {row}, column {column!r}")
        return source

    def edit(self, row: int, column: str, value: str, api: ApiSettings | None) -> dict[str, Any]:
        """Change one cell and check again; the row as the grid shows it."""
        with self.lock:
            source = self._cell_target(row, column)
            _check_value(row, column, value)
            source.cells.at[row, column] = value
            with self._db() as db:
                db.execute("INSERT OR REPLACE INTO edits VALUES (?, ?, ?, ?, ?)",
                           (*self._key(), row, column, value))  # fmt: skip
            self._recheck(api, changed_row=row)
            return self.row(row)

    def _edit_many(self, column: str, changed: pd.Series, api: ApiSettings | None) -> int:
        """Set ``changed`` (row -> new value) in ``column``, keep the edits, check again."""
        source = self.source
        assert source is not None
        if changed.empty:
            return 0
        source.cells.loc[changed.index, column] = changed
        key = self._key()
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO edits VALUES (?, ?, ?, ?, ?)",
                [(*key, int(str(r)), column, str(v)) for r, v in changed.items()],
            )
        self._recheck(api)
        return len(changed)

    def fill_down(self, column: str, api: ApiSettings | None) -> int:
        """Every empty cell of ``column`` takes the value of the nearest filled cell above it
        (a grouped report writes a department once per group); how many cells changed."""
        with self.lock:
            source = self._column(column)
            values = source.cells[column]
            empty = values.str.strip() == ""
            filled = values.where(~empty).ffill()
            changed = filled[empty & filled.notna()]
            return self._edit_many(column, changed.astype(str), api)

    def replace(self, column: str, find: str, by: str, whole: bool, api: ApiSettings | None) -> int:
        """Replace ``find`` by ``by`` in ``column``: whole cells that read ``find`` (surrounding
        spaces aside), or every occurrence inside cells; how many cells changed."""
        with self.lock:
            source = self._column(column)
            if not whole and not find:
                raise InputError("say what to find")
            _check_value(0, column, by)
            values = source.cells[column]
            if whole:
                hit = values.str.strip() == find.strip()
                changed = pd.Series(by, index=values.index[hit], dtype=object)
            else:
                hit = values.str.contains(find, regex=False)
                changed = values[hit].str.replace(find, by, regex=False).astype(object)
            return self._edit_many(column, changed, api)

    def _column(self, column: str) -> _checks.Source:
        source = self.source
        if source is None or column not in source.headers:
            raise InputError(f"no column {column!r}")
        return source

    def ignore(self, row: int, ignored: bool, api: ApiSettings | None) -> dict[str, Any]:
        """Leave a row out of what is sent (or take it back); the row as the grid shows it."""
        with self.lock:
            source = self.source
            if source is None or row not in source.cells.index:
                raise InputError(f"no row {row}")
            with self._db() as db:
                if ignored:
                    db.execute("INSERT OR IGNORE INTO ignored VALUES (?, ?, ?)",
                               (*self._key(), row))  # fmt: skip
                else:
                    db.execute("DELETE FROM ignored WHERE sheet = ? AND header = ? AND row = ?",
                               (*self._key(), row))  # fmt: skip
            self.ignored = self.ignored | {row} if ignored else self.ignored - {row}
            self._recheck(api)
            return self.row(row)

    def ignored_people(self) -> list[dict[str, Any]]:
        """The ignored rows as the results show them: row, who, where."""
        source = self.source
        if source is None or not self.ignored:
            return []
        rows = sorted(self.ignored)
        people = who_and_where(source.cells.loc[rows], self.chosen)
        return [{"row": r, "who": w, "where": p} for r, (w, p) in zip(rows, people, strict=True)]

    def edited(self) -> int:
        if self.source is None:
            return 0
        with self._db() as db:
            found = db.execute(
                "SELECT count(*) FROM edits WHERE sheet = ? AND header = ?", self._key()
            ).fetchone()
        return int(found[0])

    # -- what the page shows -------------------------------------------------------------------

    def counts(self) -> dict[str, int | None]:
        """rows, ignored, problems, ready: the one count every part of the page shows
        (``problems``/``ready`` are ``None`` while the columns are not all chosen)."""
        if self.source is None:
            return {}
        rows, ignored = len(self.source.cells), len(self.ignored)
        checked = self.checked
        if checked is None or checked.headers is None:
            return {"rows": rows, "ignored": ignored, "problems": None, "ready": None}
        problems = len(checked.errors)
        return {"rows": rows, "ignored": ignored, "problems": problems,
                "ready": rows - ignored - problems}  # fmt: skip

    def _view_rows(self, view: str) -> pd.Index:
        assert self.source is not None
        assert self.checked is not None
        if view == "problems":
            return self.checked.errors.index
        if view == "ignored":
            return pd.Index(sorted(self.ignored), dtype="int64")
        return self.source.cells.index

    def page(
        self, view: str, offset: int, limit: int, from_row: int | None = None
    ) -> tuple[int, int, list[dict[str, Any]]]:
        """Rows ``offset`` .. ``offset+limit`` of a view (``VIEWS``), or from the first row
        numbered ``from_row`` or after; (total, offset, rows)."""
        with self.lock:
            if self.source is None or self.checked is None:
                return 0, 0, []
            rows = self._view_rows(view)
            total = len(rows)
            if from_row is not None:
                offset = min(int(rows.searchsorted(from_row)), max(total - 1, 0))
            return total, offset, [self.row(r) for r in rows[offset : offset + limit]]

    def row(self, row: int) -> dict[str, Any]:
        """One row as the grid shows it: cells, the columns at fault, the problem, ignored."""
        assert self.source is not None
        checked = self.checked
        values = self.source.cells.loc[row]
        cells = [str(v) for v in values]
        bad: list[str] = []
        message = ""
        if checked is not None and checked.headers is not None and row in checked.errors.index:
            found = checked.errors.loc[row]
            bad = checked.bad_columns(str(found["schema_fields"]))
            message = plain(str(found["error_message"]))
        return {"row": int(row), "cells": cells, "bad": bad, "message": message,
                "ignored": row in self.ignored}  # fmt: skip

    def header_step(self) -> dict[str, Any]:
        """The first rows, cut to what a page shows, and the header row taken."""
        first = self.first
        if first is None:
            return {"rows": [], "row": None, "chosen": False}
        shown = first.rows[: max(_checks.PREVIEW_ROWS, first.header_row + 8)]
        rows = [[c[:_PREVIEW_CHARS] for c in r[:_PREVIEW_COLUMNS]] for r in shown]
        width = max((len(r) for r in shown), default=0)
        choice = first.header
        return {
            "rows": rows,
            "row": first.header_row,
            "chosen": self.meta.get("header_row") is not None,
            "width": width,
            "reason": plain(choice.reason) if choice is not None and not choice.asked else "",
            "hint": plain(choice.hint) if choice is not None else "",
        }

    def columns_step(self) -> list[dict[str, Any]]:
        """Each column: examples, the choice, and the suggestion (sure or a guess, and why)."""
        if self.source is None:
            return []
        chosen = self.chosen
        out = []
        for h in self.source.headers:
            found = self.suggested.get(h)
            why = found.reason if found is not None and not found.sure else ""
            out.append(
                {
                    "header": h,
                    "samples": list(found.samples) if found is not None else [],
                    "chosen": chosen.get(h, IGNORE),
                    "suggested": (found.column if found is not None else None) or IGNORE,
                    "sure": bool(found and found.sure),
                    "reason": plain(f"It {why}") if why else "",
                }
            )
        return out

    def notes(self) -> list[str]:
        notes = [self.sheet_note] if self.sheet_note else []
        if self.first is not None:
            notes += [plain(n) for n in self.first.notes]
        if self.source is not None:
            notes += [plain(n) for n in self.source.notes if not n.startswith("header found")]
        return [n for n in dict.fromkeys(notes) if n]

    # -- sending -------------------------------------------------------------------------------

    def working_copy(self, folder: Path) -> Path:
        """The file to send: the upload itself, or a copy with the edits, the columns left
        out and the rows ignored."""
        with self.lock:
            source = self.source
            assert source is not None
            renamed = _checks.ignored_labels(source.headers, self.chosen)
            if not self.edited() and not renamed and not self.ignored:
                target = folder / self.input.name
                shutil.copyfile(self.input, target)
                return target
            return _checks.write_working_copy(source, self.chosen, folder, self.ignored)

    def ready_to_send(self) -> None:
        """Raise ``InputError`` (in words) unless the rows can be checked or sent."""
        if self.source is None or self.checked is None:
            raise InputError(self.error or "the file could not be read")
        if self.checked.mapping_error:
            raise InputError(self.checked.mapping_error)

    def plan(self, api: ApiSettings) -> dict[str, Any]:
        """Check the rows as they are now with the server (``importer plan``).

        The upload is locked only to take its working copy: the grid stays usable while the
        server is asked. A check overtaken by an edit or a new choice is not shown.
        """
        with self.lock:
            self.ready_to_send()
            version, recipe = self.version, self.recipe()
            work = private_dir(self.folder / f"work-{secrets.token_hex(4)}")
            path = self.working_copy(work)
        out = private_dir(self.folder / f"plan-{secrets.token_hex(4)}")
        view: dict[str, Any] | None = None
        error: str | None = None
        try:
            view = _jobs.plan(path, out, recipe, api=api)
        except ImporterError as exc:
            error = self._plain(str(exc))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with self.lock:
            if version != self.version:
                shutil.rmtree(out, ignore_errors=True)
                raise InputError("the rows changed while checking; check again")
            shutil.rmtree(self.folder / "plan", ignore_errors=True)
            os.replace(out, self.folder / "plan")
            if view is not None:
                view["counts"]["ignored"] = len(self.ignored)
            self.plan_view = None if error else view
            if error:
                raise InputError(error)
            assert view is not None
            return view

    def plan_rows(self, group: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            if self.plan_view is None:
                return 0, []
            return _jobs.plan_rows(
                self.folder / "plan", self.differs, group, self.chosen, offset, limit
            )


def _check_value(row: int, column: str, value: str) -> None:
    if len(value.encode("utf-8")) > _checks.MAX_CELL_BYTES:
        raise InputError(f"row {row}, column {column!r}: the value is too long")
