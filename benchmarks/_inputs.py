"""Benchmark inputs: membership files with a known share of bad rows, and a matching seed.

Everything is generated from a fixed random seed, so two runs on two machines read the same
bytes. Valid rows look like real exports: mostly plain IDs, a few ``"201.0"`` (a number column
saved as float), ``" 104 "`` (stray spaces) and ``"user"`` (lower case), which the importer
accepts. Bad rows have exactly one problem each, drawn from :data:`BAD_KINDS`; a few are
duplicates of a member on an earlier row (often in an earlier chunk).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv

HEADER = ("geography_id", "department_id", "member_id", "member_type")
GEOGRAPHIES = np.arange(101, 109)  # the bundled seed's Geography organizations
DEPARTMENTS = np.arange(201, 211)  # ... and its Department organizations
FIRST_USER = 20001  # users FIRST_USER .. FIRST_USER + n - 1 are added to the seed
# (column, bad cell); "duplicate" repeats the member of an earlier row.
BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("geography_id", "abc"),
    ("geography_id", ""),
    ("department_id", "0"),
    ("department_id", "12.5"),
    ("member_id", "-5"),
    ("member_id", "1e6"),
    ("member_type", "Person"),
    ("member_type", ""),
    ("member_id", "duplicate"),
)
VERSION = 1  # bump when the generated content changes (cached inputs are then rebuilt)


@dataclass(frozen=True)
class Rows:
    """Generated cells (text, per column) and which rows are bad."""

    columns: dict[str, np.ndarray]  # column name -> object array of str
    bad: np.ndarray  # bool per row

    @property
    def n(self) -> int:
        return len(self.bad)


def make_rows(n: int, *, bad_fraction: float, seed: int = 20240301) -> Rows:
    """``n`` rows of text cells, ``bad_fraction`` of them invalid (one problem each)."""
    rng = np.random.default_rng(seed)
    geo = rng.choice(GEOGRAPHIES, n).astype("U12").astype(object)
    dept = rng.choice(DEPARTMENTS, n).astype("U12").astype(object)
    member = (FIRST_USER + np.arange(n)).astype("U12").astype(object)
    kind = np.full(n, "User", dtype=object)
    # Harmless variety the importer must accept (0.5 % each).
    variety = rng.random(n)
    dept[variety < 0.005] = dept[variety < 0.005] + ".0"
    spaced = (variety >= 0.005) & (variety < 0.010)
    geo[spaced] = " " + geo[spaced] + " "
    kind[(variety >= 0.010) & (variety < 0.015)] = "user"
    columns = {"geography_id": geo, "department_id": dept, "member_id": member, "member_type": kind}

    bad = np.zeros(n, dtype=bool)
    n_bad = round(n * bad_fraction)
    if n_bad:
        where = np.sort(rng.choice(np.arange(1, n), n_bad, replace=False))
        bad[where] = True
        which = rng.integers(0, len(BAD_KINDS), n_bad)
        for k, (column, cell) in enumerate(BAD_KINDS):
            rows = where[which == k]
            if cell == "duplicate":
                earlier = (rng.random(len(rows)) * rows).astype(np.int64)
                member[rows] = member[earlier]
                kind[rows] = "User"
            else:
                columns[column][rows] = cell
    return Rows(columns, bad)


def write_csv(rows: Rows, path: Path) -> Path:
    """Comma-separated UTF-8, quoted only where needed, ``\\n`` line ends."""
    table = pa.table({name: pa.array(rows.columns[name], pa.string()) for name in HEADER})
    tmp = path.with_name(path.name + ".part")
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
    tmp.replace(path)
    return path


def write_xlsx(rows: Rows, path: Path) -> Path:
    """One sheet ``Members``; ID cells that are whole numbers are numeric cells, as in Excel."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Members")
    ws.append(list(HEADER))
    ids = [rows.columns[name] for name in HEADER[:3]]
    numeric = [np.char.isdigit(column.astype(str)) for column in ids]
    kinds = rows.columns["member_type"]
    for i in range(rows.n):
        cells: list[object] = [
            int(c[i]) if num[i] else c[i] for c, num in zip(ids, numeric, strict=True)
        ]
        cells.append(kinds[i])
        ws.append(cells)
    tmp = path.with_name(path.name + ".part.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    return path


def write_seed(path: Path, n_users: int, bundled: Path) -> Path:
    """The bundled sandbox seed plus users ``FIRST_USER ..`` (one per generated row)."""
    seed = json.loads(bundled.read_text(encoding="utf-8"))
    seed["users"] += [
        {"id": i, "full_name": f"Load Test {i}", "email_address": f"load.{i}@acme.example"}
        for i in range(FIRST_USER, FIRST_USER + n_users)
    ]
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def cached(path: Path, build: object, key: dict[str, object]) -> Path:
    """Build ``path`` with ``build(path)`` unless it exists with the same ``key`` (a sidecar)."""
    stamp = path.with_name(path.name + ".json")
    wanted = json.dumps({**key, "version": VERSION}, sort_keys=True)
    if path.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return path
    assert callable(build)
    build(path)
    stamp.write_text(wanted, encoding="utf-8")
    return path
