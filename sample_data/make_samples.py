"""Regenerate the bundled samples from the sandbox seed: ``python sample_data/make_samples.py``.

``people.xlsx`` is a realistic HR export as people send it: title-case headers with spaces, an
alias header ("Dept ID"), numbers stored as numbers and as text, mixed-case member types, blank
rows, an extra "Employee"/"Notes" column, a second sheet, and deliberate mistakes of every kind
(marked in the Notes column). ``people.csv`` is its twin: UTF-8 with BOM, ``;`` delimiter.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import openpyxl

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "importer" / "sandbox" / "seed.json"
HEADER = ["Geography ID", " Dept ID", "Member ID", "member type", "Employee", "Notes"]


def rows(seed: dict[str, Any]) -> list[list[Any] | None]:
    """The sample's rows; None is a blank row."""
    users = {u["id"]: u["full_name"] for u in seed["users"]}
    titles = {w["id"]: w["title"] for w in seed["workspaces"]}
    geos, depts = [105, 106, 107, 108], [202, 203, 204, 205, 206, 207, 208]
    out: list[list[Any] | None] = []
    for i, member in enumerate(range(10006, 10031)):
        kind = ("User", "user", "USER")[i % 3]
        geo: Any = geos[i % 4]
        if i % 5 == 1:
            geo = float(geo)  # a number cell Excel shows as 106
        if i % 7 == 3:
            geo = f" {geo} "  # text with stray spaces
        out.append([geo, depts[i % 7], member, kind, users[member], ""])
        if i == 11:
            out.append(None)  # a blank row in the middle
    for j, ws in enumerate(range(50001, 50006)):
        out.append([geos[j % 4], 208, ws, "workspace", titles[ws], "project"])
    out += [
        [105, 202, 10001, "User", users[10001], "already in Kantata exactly like this"],
        [106, 203, 10002, "User", users[10002], "already in Kantata elsewhere: conflict"],
        [105, 202, 10031.5, "User", users[10031], "ERROR: fractional member id"],
        ["abc", 202, 10032, "User", users[10032], "ERROR: geography is not a number"],
        [105, -3, 10033, "User", users[10033], "ERROR: negative department"],
        [105, 202, 10034, "", users[10034], "ERROR: member type missing"],
        [105, 202, 10035, "Contractor", users[10035], "ERROR: unknown member type"],
        [107, 204, 10006, "user", users[10006], "ERROR: duplicate of an earlier row"],
        [999, 202, 10036, "User", users[10036], "ERROR: no such geography (server)"],
        [105, 202, 99999, "User", "Unknown Person", "ERROR: no such user (server)"],
        [105, 105, 10037, "User", users[10037], "ERROR: 105 is a geography (server)"],
        [None, None, None, None, None, None],
        [108, "00207", 10038, "User", users[10038], "leading zeros are fine"],
        None,
        None,
    ]
    return out


def write_xlsx(path: Path, data: list[list[Any] | None], seed: dict[str, Any]) -> None:
    """The workbook: the members sheet first, a reference sheet second."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Members"
    ws.append(HEADER)
    for row in data:
        ws.append(row or [])
    ref = wb.create_sheet("Reference")
    ref.append(["id", "name", "type"])
    for org in seed["organizations"]:
        ref.append([org["id"], org["name"], org["type"]])
    wb.save(path)


def write_csv(path: Path, data: list[list[Any] | None]) -> None:
    """The CSV twin: UTF-8 with BOM and ';' as Excel writes in much of Europe."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        for row in data:
            cells = [
                "" if c is None else (f"{c:g}" if isinstance(c, float) else c) for c in row or []
            ]
            writer.writerow(cells or ["", "", "", "", "", ""])


def main() -> None:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    data = rows(seed)
    write_xlsx(HERE / "people.xlsx", data, seed)
    write_csv(HERE / "people.csv", data)


if __name__ == "__main__":
    main()
