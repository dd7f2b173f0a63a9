"""Write the per-row results: ``success.csv``, ``errors.csv`` (+ ``errors.xlsx``), ``summary.json``.

Rows are written chunk by chunk as the input is streamed (memory stays bounded), each joined with
its outcome. Every cell that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab or CR) is written with a leading apostrophe; the loader strips that apostrophe
again, so an edited errors file can be fed straight back to ``importer run``.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from importer.core import (
    EXCEL_COLUMNS,
    FORMULA_START,
    NAME_COLUMNS,
    OUTCOME_COLUMNS,
    STATUS_SUCCEEDED,
    make_out_dir,
    private_enough,
    private_opener,
)
from importer.report._csv import csv_text, escape_formula_cells, text_column
from importer.report._xlsx import XlsxSheetWriter

SUCCESS_FILE = "success.csv"
ERRORS_FILE = "errors.csv"
ERRORS_XLSX = "errors.xlsx"
SUMMARY_FILE = "summary.json"
PAYLOADS_FILE = "payloads.jsonl"
_FLUSH_ROWS = 20_000  # result rows gathered before they are written
_RESERVED = ("sheet", "source_row", *OUTCOME_COLUMNS, *NAME_COLUMNS)
logger = logging.getLogger(__name__)


def escape_labels(labels: Sequence[str]) -> list[str]:
    """Header labels escaped like cells (an input header may be ``=HYPERLINK(...)`` too)."""
    return [f"'{label}" if re.match(FORMULA_START, label) else label for label in labels]


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
        excel: also write ``errors.xlsx`` (for Excel input), streamed alongside ``errors.csv``.
        labels: input label -> label in the results, for the input columns to carry (default:
            all of them, those clashing with a report column prefixed ``input_``).
        ids: extra columns of ``success.csv`` taken from the outcomes passed to ``write_chunk``
            (the IDs that names were resolved to).
        names: columns of both files taken from the outcomes, before the outcome's own (who
            and where by name: ``member_name``, ``geography_name``, ``department_name``).
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
        names: Sequence[str] = (),
    ) -> None:
        self.out_dir = out_dir
        make_out_dir(out_dir)
        self.sheet = sheet or ""
        self.labels = dict(labels) if labels is not None else output_labels(input_columns)
        self._carried = list(self.labels) if labels is not None else None
        self._ids = list(ids)
        self._names = list(names)
        self.input_columns = input_columns
        self.excel = excel
        self.counts = {"success_rows": 0, "error_rows": 0}
        inputs = list(self.labels.values())
        self._success_columns = [
            "sheet",
            "source_row",
            *inputs,
            *self._ids,
            *self._names,
            "status",
            "organization_membership_id",
            "note",
        ]
        self._error_columns = [
            "sheet",
            "source_row",
            *inputs,
            *self._names,
            "error_stage",
            "error_field",
            "error_message",
        ]
        self._files: dict[str, tuple[Path, Any]] = {}
        self._open(ERRORS_FILE, self._error_columns)
        if write_success:
            self._open(SUCCESS_FILE, self._success_columns)
        self._pending: dict[str, list[str]] = {}  # CSV text not yet written, by file
        self._pending_rows: dict[str, int] = {}
        self.warnings: list[str] = []  # what the reports could not hold (for the summary)
        self._xlsx: XlsxSheetWriter | None = None
        # errors.xlsx holds at most Excel's 16,384 columns: past that, the last input columns
        # are left out (the error columns stay); errors.csv has them all.
        self._xlsx_columns = list(range(len(self._error_columns)))
        if len(self._error_columns) > EXCEL_COLUMNS:
            tail = 3 + len(self._names)  # the names and the error columns stay
            cut = EXCEL_COLUMNS - tail
            self._xlsx_columns = [
                *range(cut),
                *range(len(self._error_columns) - tail, len(self._error_columns)),
            ]
            left_out = len(self._error_columns) - EXCEL_COLUMNS
            self._warn(
                f"{ERRORS_XLSX} leaves out the last {left_out:,} input columns (from "
                f"{self._error_columns[cut]!r}): a worksheet holds at most {EXCEL_COLUMNS:,} "
                f"columns; {ERRORS_FILE} has them all"
            )
        if excel:
            try:
                self._xlsx = XlsxSheetWriter(
                    self._part(ERRORS_XLSX),
                    "errors",
                    escape_labels([self._error_columns[i] for i in self._xlsx_columns]),
                    numeric=("source_row",),
                    opener=private_opener,
                )
            except BaseException:
                self.abort()
                raise

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        logger.warning("%s", message)

    def _part(self, name: str) -> Path:
        """Where ``name`` is written until it is complete."""
        return self.out_dir / f"{name}.part"

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
        at = np.flatnonzero(has)
        source_rows = chunk.index.to_numpy()[at]
        joined = outcomes.reindex(source_rows)
        carried = self._carried if self._carried is not None else list(chunk.columns)
        # Arrow text columns all the way to the files: building pandas frames of a few failed
        # rows per chunk costs more than the rows themselves.
        inputs = {self.labels[name]: text_column(chunk[name].iloc[at]) for name in carried}
        ok = joined["status"].isin(STATUS_SUCCEEDED).to_numpy()
        for name, picked, extra in (
            (
                SUCCESS_FILE,
                ok,
                [*self._ids, *self._names, "status", "organization_membership_id", "note"],
            ),
            (ERRORS_FILE, ~ok, [*self._names, "error_stage", "error_field", "error_message"]),
        ):
            if name not in self._files or not picked.any():
                continue
            where = pa.array(np.flatnonzero(picked))
            n = len(where)
            data: dict[str, tuple[pa.Array | np.ndarray, bool]] = {  # (cells, may be formulas)
                "sheet": (pa.array(np.full(n, self.sheet, dtype=object), pa.large_string()), True),
                "source_row": (source_rows[picked], False),  # a number in errors.xlsx
            }
            data.update((label, (values.take(where), True)) for label, values in inputs.items())
            for column in extra:
                values = joined[column].iloc[picked]
                data[column] = (text_column(values), values.dtype.kind not in "iufb")
            labels = self._success_columns if name == SUCCESS_FILE else self._error_columns
            self._append(name, [data[label] for label in labels])
            key = "success_rows" if name == SUCCESS_FILE else "error_rows"
            self.counts[key] += n

    def _append(self, name: str, columns: list[tuple[pa.Array | np.ndarray, bool]]) -> None:
        # Rendered at once (Arrow kernels, a few ms), written in batches of _FLUSH_ROWS rows.
        escaped = [
            escape_formula_cells(c) if risky and isinstance(c, pa.Array) else c
            for c, risky in columns
        ]
        pending = self._pending.setdefault(name, [])
        pending.append(csv_text([text_column(c) for c in escaped]))
        self._pending_rows[name] = self._pending_rows.get(name, 0) + len(escaped[0])
        if name == ERRORS_FILE and self._xlsx is not None:
            # text stays text: formulas were escaped above
            self._xlsx.append([escaped[i] for i in self._xlsx_columns])
        if self._pending_rows[name] >= _FLUSH_ROWS:
            self._flush(name)

    def _flush(self, name: str) -> None:
        pending = self._pending.pop(name, [])
        self._pending_rows.pop(name, None)
        if pending:
            _, fh = self._files[name]
            fh.write("".join(pending))

    def close(self) -> dict[str, Path]:
        """Finish every file (atomically renamed into place); return them by name.

        If a file cannot be written (a full disk), every unfinished file is removed and the
        error raised.
        """
        try:
            return self._close()
        except BaseException:
            self.abort()
            raise

    def _close(self) -> dict[str, Path]:
        for name in list(self._pending):
            self._flush(name)
        written: dict[str, Path] = {}
        for name, (final, fh) in self._files.items():
            fh.close()
            os.replace(fh.name, final)
            private_enough(final)
            written[name] = final
        if self._xlsx is not None:
            try:
                self._xlsx.close()
            except (ValueError, zipfile.LargeZipFile) as exc:  # the CSV files are in place
                self._xlsx.abort()
                self._xlsx = None
                self._warn(
                    f"{ERRORS_XLSX} could not be written ({exc}); {ERRORS_FILE} has every row"
                )
                return written
            if self._xlsx.dropped:  # past Excel's last row: errors.csv has them all
                self._warn(
                    f"{ERRORS_XLSX} holds the first {self._xlsx.rows:,} failed rows; the other "
                    f"{self._xlsx.dropped:,} are in {ERRORS_FILE} only"
                )
            final = self.out_dir / ERRORS_XLSX
            os.replace(self._part(ERRORS_XLSX), final)
            private_enough(final)
            written[ERRORS_XLSX] = final
        return written

    def abort(self) -> None:
        """Drop the unfinished files (the run failed before its results were complete)."""
        for _, fh in self._files.values():
            with contextlib.suppress(OSError):  # a last buffer a full disk refused: gone anyway
                fh.close()
            Path(fh.name).unlink(missing_ok=True)
        if self._xlsx is not None:
            self._xlsx.abort()  # removes errors.xlsx.part
