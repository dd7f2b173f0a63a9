"""``importer template``: a workbook to fill in, with the headers the importer reads.

Sheets:

* ``Members``: the header row (name columns by default: ``geography``, ``department``,
  ``member_email``, ``workspace``, ``member_type``; the ID columns with ``ids=True``), a dropdown
  on ``member_type`` and, when the reference sheets are there, on the organization columns;
* ``Instructions``: what each column means and how the file is checked;
* with an API connection: ``Geographies`` and ``Departments``, every organization of each tree
  with its ID, parent and path, for people to pick from (one paged listing, GET only).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from importer.api import KantataClient
from importer.core import ApiSettings, InputError, load_row_schema
from importer.validate import Organization, Resolver

__all__ = ["ID_COLUMNS", "MEMBERS_SHEET", "NAME_COLUMNS", "write"]

MEMBERS_SHEET = "Members"
NAME_COLUMNS = ("geography", "department", "member_email", "workspace", "member_type")
ID_COLUMNS = ("geography_id", "department_id", "member_id", "member_type")
_TREES = {"geography": "Geographies", "department": "Departments"}
_BOLD = Font(bold=True)


def write(
    target: Path,
    *,
    api: ApiSettings | None,
    transport: httpx.BaseTransport | None,
    ids: bool,
    rows: int,
) -> Path:
    """``write_template`` (``importer.jobs``): the organizations listed, the workbook written."""
    trees: dict[str, list[Organization]] = {}
    if api is not None and api.token:
        with KantataClient(api, transport=transport) as client:
            resolver = Resolver(client)
            trees = {kind: resolver.organizations(kind) for kind in _TREES}
    headers = ID_COLUMNS if ids else NAME_COLUMNS
    wb = Workbook()
    members = wb.active
    assert members is not None
    members.title = MEMBERS_SHEET
    _header(members, list(headers), width=24)
    _choices(members, headers.index("member_type"), rows)
    instructions = wb.create_sheet("Instructions")
    for line in _instructions(headers, api if trees else None):
        instructions.append([line])
    instructions.column_dimensions["A"].width = 110
    for kind, sheet in _TREES.items():
        if kind in trees:
            _reference(wb.create_sheet(sheet), trees[kind])
            column = headers.index(f"{kind}_id" if ids else kind)
            _pick(members, column, rows, sheet, "A" if ids else "B", len(trees[kind]))
    tmp = target.with_name(target.name + ".part")
    try:
        wb.save(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}", path=str(target)) from exc
    return target


def _header(ws: Worksheet, labels: list[str], *, width: int) -> None:
    ws.append(labels)
    for cell in ws[1]:
        cell.font = _BOLD
        ws.column_dimensions[cell.column_letter].width = width
    ws.freeze_panes = "A2"


def _letter(index: int) -> str:
    return chr(ord("A") + index)


def _choices(ws: Worksheet, column: int, rows: int) -> None:
    """A dropdown of the member types; anything else is refused by Excel."""
    choices = next(c.choices for c in load_row_schema().columns if c.name == "member_type")
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="member_type",
        error=f"Choose {' or '.join(choices)}",
    )
    ws.add_data_validation(dv)
    dv.add(f"{_letter(column)}2:{_letter(column)}{rows + 1}")


def _pick(ws: Worksheet, column: int, rows: int, sheet: str, source: str, n: int) -> None:
    """A dropdown from a reference sheet; other values are allowed after a warning."""
    dv = DataValidation(
        type="list",
        formula1=f"{sheet}!${source}$2:${source}${n + 1}",  # OOXML: no leading "="
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="Not in the list",
        error=f"Not on the {sheet} sheet; the import will check it against Kantata.",
    )
    ws.add_data_validation(dv)
    dv.add(f"{_letter(column)}2:{_letter(column)}{rows + 1}")


def _reference(ws: Worksheet, orgs: list[Organization]) -> None:
    """One organization per row: id, name, parent, path, and a note on duplicate names."""
    by_id = {o.id: o for o in orgs}
    _header(ws, ["id", "name", "parent", "path", "note"], width=28)
    counts: dict[str, list[int]] = {}
    for o in orgs:
        counts.setdefault(o.name.casefold(), []).append(o.id)
    for o in orgs:
        chain, node, seen = [o.name], o, {o.id}
        while node.parent_id in by_id and node.parent_id not in seen:
            node = by_id[node.parent_id]
            seen.add(node.id)
            chain.append(node.name)
        others = [i for i in counts[o.name.casefold()] if i != o.id]
        note = f"same name as {', '.join(map(str, others))}: give the ID" if others else ""
        parent = by_id[o.parent_id].name if o.parent_id in by_id else ""
        ws.append([o.id, o.name, parent, " > ".join(reversed(chain)), note])


def _instructions(headers: tuple[str, ...], api: ApiSettings | None) -> list[str]:
    spec = load_row_schema()
    described = {c.name: c.description for c in spec.columns}
    described.update({a.name: a.description for a in spec.alternates})
    lines = [
        "How to fill in this template",
        "",
        f"One row per member (a user or a workspace) on the '{MEMBERS_SHEET}' sheet. Columns:",
        *(f"  {h}: {described.get(h, '')}" for h in headers),
        "",
    ]
    if "member_email" in headers:
        lines += [
            "Fill member_email for a user or workspace for a project, not both; member_type may "
            "then stay empty.",
            "Names are matched ignoring case and extra spaces. A name that matches nothing or "
            "several things is reported with the candidates; then give the ID instead",
            "(add a column geography_id, department_id or member_id: when both are given the ID "
            "is used and the name must agree with it).",
        ]
    lines += [
        "A member can have one place in each tree: list each member once.",
        "",
        "Check the file first:  importer validate FILE   (importer plan FILE also asks Kantata "
        "which rows exist already)",
        "Then import it:        importer run FILE",
        "Rows that fail are written to errors.csv / errors.xlsx: correct them there and run that "
        "file again; the results name each row's original row.",
    ]
    if api is not None:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines += [
            "",
            f"The {' and '.join(_TREES.values())} sheets list the organizations of "
            f"{api.base_url} as of {when}.",
        ]
    return lines
