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

from pathlib import Path
from typing import TYPE_CHECKING

from importer.core import ApiSettings, InputError

if TYPE_CHECKING:
    import httpx

__all__ = ["write_template"]


def write_template(
    path: str | Path,
    *,
    api: ApiSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    ids: bool = False,
    rows: int = 10_000,
) -> Path:
    """Write an import template workbook to ``path`` (``.xlsx``).

    Args:
        path: the workbook to write (replaced if it exists).
        api: with a token, add the ``Geographies`` and ``Departments`` reference sheets.
        transport: an httpx transport to use instead of the network (tests, proxies).
        ids: headers for IDs (``geography_id`` ...) instead of names (``geography`` ...).
        rows: how many rows of ``Members`` get the dropdowns.

    Returns:
        The path written.

    Raises:
        InputError: ``path`` is not an ``.xlsx`` file name, or cannot be written.
        ApiError: the organizations could not be listed (token refused, server unreachable).
    """
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise InputError(f"the template must be an .xlsx file, got {target.name}")
    from importer.jobs import _workbook  # openpyxl and the name look-ups load here

    return _workbook.write(target, api=api, transport=transport, ids=ids, rows=rows)
