"""Write the per-row results: ``success.csv``, ``errors.csv`` (+ ``errors.xlsx``), ``summary.json``.

Rows are written chunk by chunk as the input is streamed (memory stays bounded), each joined with
its outcome. Every cell that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab or CR) is written with a leading apostrophe; the loader strips that apostrophe
again, so an edited errors file can be fed straight back to ``importer run``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow
import pyarrow.compute as pc

from importer.outcomes import CREATED, OUTCOME_COLUMNS

FORMULA_START = r"^[=+\-@\t\r]"
SUCCESS_FILE = "success.csv"
ERRORS_FILE = "errors.csv"
ERRORS_XLSX = "errors.xlsx"
SUMMARY_FILE = "summary.json"
PAYLOADS_FILE = "payloads.jsonl"
_FLUSH_ROWS = 20_000  # result rows gathered before they are written
_RESERVED = ("sheet", "source_row", *OUTCOME_COLUMNS)


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix an apostrophe to every text cell a spreadsheet would treat as a formula."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype.kind in "iuf":
            continue
        text = col.astype("str")
        # Most columns have no such cell: an Arrow kernel finds that out quickly.
        if not pc.any(pc.match_substring_regex(pyarrow.array(text), FORMULA_START)).as_py():
            continue
        risky = text.str.contains(FORMULA_START, regex=True)
        out[name] = text.where(~risky, "'" + text)
    return out


def _private_enough(path: Path) -> None:
    """Files follow the user's umask, but never end up world-writable."""
    mode = path.stat().st_mode
    if mode & stat.S_IWOTH:
        path.chmod(mode & ~stat.S_IWOTH)


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file gets the umask minus others' write bit."""
    return os.open(path, flags, 0o664)


def make_out_dir(path: Path) -> Path:
    """Create the results folder and missing parents: the umask applies, minus others' write."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o775, exist_ok=True)
    return path


def escape_labels(labels: Sequence[str]) -> list[str]:
    """Header labels escaped like cells (an input header may be ``=HYPERLINK(...)`` too)."""
    return [f"'{label}" if re.match(FORMULA_START, label) else label for label in labels]


_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_value(value: Any) -> Any:
    """Control characters XML cannot hold, written as Excel writes them (``_x0007_``)."""
    if isinstance(value, str) and _XML_ILLEGAL.search(value):
        return _XML_ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    return value


def output_labels(input_columns: tuple[str, ...]) -> dict[str, str]:
    """Input columns whose header clashes with a report column get an ``input_`` prefix."""
    return {c: (f"input_{c}" if c in _RESERVED else c) for c in input_columns}


class ReportWriter:
    """Streams result rows into the output folder.

    Args:
        out_dir: the folder (created if missing).
        input_columns: the input's header labels, in file order (all carried unchanged).
        sheet: the sheet name written in the ``sheet`` column ("" for CSV input).
        write_success: False for ``validate`` (no success file: nothing was created).
        excel: also write ``errors.xlsx`` (for Excel input).
        labels: input label -> label in the results, for the input columns to carry (default:
            all of them, those clashing with a report column prefixed ``input_``).
        ids: extra columns of ``success.csv`` taken from the outcomes passed to ``write_chunk``
            (the IDs that names were resolved to).
    """

    def __init__(
        self,
        out_dir: Path,
        input_columns: tuple[str, ...],
        *,
        sheet: str | None,
        write_success: bool = True,
        excel: bool = False,
        labels: Mapping[str, str] | None = None,
        ids: Sequence[str] = (),
    ) -> None:
        self.out_dir = out_dir
        make_out_dir(out_dir)
        self.sheet = sheet or ""
        self.labels = dict(labels) if labels is not None else output_labels(input_columns)
        self._carried = list(self.labels) if labels is not None else None
        self._ids = list(ids)
        self.input_columns = input_columns
        self.excel = excel
        self.counts = {"success_rows": 0, "error_rows": 0}
        inputs = list(self.labels.values())
        self._success_columns = [
            "sheet",
            "source_row",
            *inputs,
            *self._ids,
            "organization_membership_id",
            "note",
        ]
        self._error_columns = [
            "sheet",
            "source_row",
            *inputs,
            "error_stage",
            "error_field",
            "error_message",
        ]
        self._files: dict[str, tuple[Path, Any]] = {}
        self._open(ERRORS_FILE, self._error_columns)
        if write_success:
            self._open(SUCCESS_FILE, self._success_columns)
        self._xlsx_rows: list[pd.DataFrame] = []
        self._pending: dict[str, list[pd.DataFrame]] = {}

    def _open(self, name: str, columns: list[str]) -> None:
        final = self.out_dir / name
        tmp = final.with_name(final.name + ".part")
        fh = open(tmp, "w", encoding="utf-8", newline="", opener=private_opener)  # noqa: SIM115
        # The BOM by hand: the "utf-8-sig" codec encodes in Python, once per row pandas writes.
        fh.write("\ufeff")
        csv.writer(fh).writerow(escape_labels(columns))
        self._files[name] = (final, fh)

    def write_chunk(self, chunk: pd.DataFrame, outcomes: pd.DataFrame) -> None:
        """Write the rows of ``chunk`` that have an outcome (``outcomes`` indexed by source row)."""
        # Look the chunk's rows up, then join only those that have an outcome: for ``validate``
        # that is the 1 % that failed, not a chunk-long frame of empty outcomes.
        has = chunk.index.isin(outcomes.index[outcomes["status"].notna().to_numpy()])
        if not has.any():
            return
        picked = chunk[has] if self._carried is None else chunk.loc[has, self._carried]
        rows = picked.rename(columns=self.labels)
        joined = outcomes.reindex(chunk.index[has])
        rows.insert(0, "source_row", rows.index.to_numpy())
        rows.insert(0, "sheet", self.sheet)
        ok = (joined["status"] == CREATED).to_numpy()
        if SUCCESS_FILE in self._files and ok.any():
            good = rows[ok].assign(
                **{c: joined.loc[ok, c].to_numpy() for c in self._ids},
                organization_membership_id=joined.loc[ok, "organization_membership_id"].to_numpy(),
                note=joined.loc[ok, "note"].to_numpy(),
            )
            self._append(SUCCESS_FILE, good[self._success_columns])
            self.counts["success_rows"] += int(ok.sum())
        if (~ok).any():
            bad = rows[~ok].assign(
                error_stage=joined.loc[~ok, "error_stage"].to_numpy(),
                error_field=joined.loc[~ok, "error_field"].to_numpy(),
                error_message=joined.loc[~ok, "error_message"].to_numpy(),
            )[self._error_columns]
            self._append(ERRORS_FILE, bad)
            self.counts["error_rows"] += int((~ok).sum())
            if self.excel:
                self._xlsx_rows.append(escape_formulas(bad))

    def _append(self, name: str, frame: pd.DataFrame) -> None:
        # A chunk's few failed rows are gathered and written together: escaping and writing cost
        # ~10 ms per call, whatever the number of rows (memory stays bounded by _FLUSH_ROWS).
        pending = self._pending.setdefault(name, [])
        pending.append(frame)
        if sum(len(f) for f in pending) >= _FLUSH_ROWS:
            self._flush(name)

    def _flush(self, name: str) -> None:
        pending = self._pending.pop(name, [])
        if pending:
            _, fh = self._files[name]
            frame = pending[0] if len(pending) == 1 else pd.concat(pending)
            escape_formulas(frame).to_csv(fh, header=False, index=False, lineterminator="\r\n")

    def close(self) -> dict[str, Path]:
        """Finish every file (atomically renamed into place); return them by name."""
        for name in list(self._pending):
            self._flush(name)
        written: dict[str, Path] = {}
        for name, (final, fh) in self._files.items():
            fh.close()
            os.replace(fh.name, final)
            _private_enough(final)
            written[name] = final
        if self.excel:
            written[ERRORS_XLSX] = self._write_xlsx()
        return written

    def abort(self) -> None:
        """Drop the unfinished files (the run failed before its results were complete)."""
        for _, fh in self._files.values():
            fh.close()
            Path(fh.name).unlink(missing_ok=True)

    def _write_xlsx(self) -> Path:
        from openpyxl import Workbook

        final = self.out_dir / ERRORS_XLSX
        tmp = final.with_name(final.name + ".part")
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("errors")
        ws.append([_xlsx_value(label) for label in escape_labels(self._error_columns)])
        for frame in self._xlsx_rows:
            for values in frame.itertuples(index=False, name=None):
                # text stays text: formulas were escaped above
                ws.append([_xlsx_value(value) for value in values])
        with open(tmp, "wb", opener=private_opener) as fh:
            wb.save(fh)
        os.replace(tmp, final)
        _private_enough(final)
        return final


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as pretty JSON, atomically."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", opener=private_opener) as fh:
        fh.write(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    _private_enough(path)
    return path
