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
import stat
from pathlib import Path
from typing import Any

import pandas as pd

from importer.outcomes import CREATED, OUTCOME_COLUMNS

FORMULA_START = r"^[=+\-@\t\r]"
SUCCESS_FILE = "success.csv"
ERRORS_FILE = "errors.csv"
ERRORS_XLSX = "errors.xlsx"
SUMMARY_FILE = "summary.json"
PAYLOADS_FILE = "payloads.jsonl"
_RESERVED = ("sheet", "source_row", *OUTCOME_COLUMNS)


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix an apostrophe to every text cell a spreadsheet would treat as a formula."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype.kind in "iuf":
            continue
        text = col.astype("str")
        risky = text.str.contains(FORMULA_START, regex=True)
        if risky.any():
            out[name] = text.where(~risky, "'" + text)
    return out


def _private_enough(path: Path) -> None:
    """Files follow the user's umask, but never end up world-writable."""
    mode = path.stat().st_mode
    if mode & stat.S_IWOTH:
        path.chmod(mode & ~stat.S_IWOTH)


def _output_labels(input_columns: tuple[str, ...]) -> dict[str, str]:
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
    """

    def __init__(
        self,
        out_dir: Path,
        input_columns: tuple[str, ...],
        *,
        sheet: str | None,
        write_success: bool = True,
        excel: bool = False,
    ) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.sheet = sheet or ""
        self.labels = _output_labels(input_columns)
        self.input_columns = input_columns
        self.excel = excel
        self.counts = {"success_rows": 0, "error_rows": 0}
        inputs = list(self.labels.values())
        self._success_columns = [
            "sheet",
            "source_row",
            *inputs,
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

    def _open(self, name: str, columns: list[str]) -> None:
        final = self.out_dir / name
        tmp = final.with_name(final.name + ".part")
        fh = tmp.open("w", encoding="utf-8-sig", newline="")
        csv.writer(fh).writerow(columns)
        self._files[name] = (final, fh)

    def write_chunk(self, chunk: pd.DataFrame, outcomes: pd.DataFrame) -> None:
        """Write the rows of ``chunk`` that have an outcome (``outcomes`` indexed by source row)."""
        joined = outcomes.reindex(chunk.index)
        has = joined["status"].notna().to_numpy()
        if not has.any():
            return
        rows = chunk[has].rename(columns=self.labels)
        joined = joined[has]
        rows.insert(0, "source_row", rows.index.to_numpy())
        rows.insert(0, "sheet", self.sheet)
        ok = (joined["status"] == CREATED).to_numpy()
        if SUCCESS_FILE in self._files and ok.any():
            good = rows[ok].assign(
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
        _, fh = self._files[name]
        escape_formulas(frame).to_csv(fh, header=False, index=False, lineterminator="\r\n")

    def close(self) -> dict[str, Path]:
        """Finish every file (atomically renamed into place); return them by name."""
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
        ws.append(self._error_columns)
        for frame in self._xlsx_rows:
            for values in frame.itertuples(index=False, name=None):
                ws.append(list(values))  # text stays text: formulas were escaped above
        wb.save(tmp)
        os.replace(tmp, final)
        _private_enough(final)
        return final


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as pretty JSON, atomically."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    _private_enough(path)
    return path
