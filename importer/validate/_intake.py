"""What an input's header row says: its columns, its name columns, whether it is a resubmission.

``read_intake`` matches the header row (no network). An input that is one of our own reports
(``errors.csv``/``errors.xlsx``, edited and fed back to ``importer run``) is recognised by its
report columns (``source_row`` with ``error_message``): those are not read as data, and the
results carry each row's ``original_sheet``/``original_row`` instead, so the results of a
resubmission say which row of the first file each one came from, however many rounds it takes.

``Intake.prepare`` turns a chunk into what ``validate_chunk`` takes, resolving names to IDs when
the file has name columns (``name_lookups`` connects it to the API for that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from importer.api import KantataClient
from importer.core import (
    NAME_COLUMNS,
    OUTCOME_COLUMNS,
    TOKEN_ENV,
    ApiSettings,
    InputError,
    load_row_schema,
)
from importer.read import HeaderChoice, HeaderMap, Table, match_headers
from importer.validate._lookups import Resolver
from importer.validate._resolve import Resolved, resolve_chunk

__all__ = [
    "ORIGINAL_ROW",
    "ORIGINAL_SHEET",
    "Intake",
    "name_lookups",
    "origin_digest",
    "read_intake",
]

ORIGINAL_SHEET = "original_sheet"
ORIGINAL_ROW = "original_row"
#: Columns our reports add; in a resubmitted report they are not data.
REPORT_COLUMNS = frozenset(
    {"sheet", "source_row", ORIGINAL_SHEET, ORIGINAL_ROW, *OUTCOME_COLUMNS, *NAME_COLUMNS}
)


@dataclass
class Intake:
    """The matched header row of an input and how its columns reach the results.

    Attributes:
        headers: which file column holds which schema column, and its name columns.
        labels: for a resubmission, input label -> label in the results for the columns
            carried there (``None``: every input column, as the report writer does by default).
        resubmission: the input is one of our reports, fed back.
        resolver: the name lookups, while connected (see ``name_lookups``).
        names_checked: whether name columns were resolved (False: no token, and every name
            column stood beside its ID column).
        lookups: GET requests made to resolve names.
        member_labels: once the lookups are done, the members they found by name, by (member
            type, id): their labels, for the results (``Resolver.member_labels``).
    """

    headers: HeaderMap
    labels: dict[str, str] | None = None
    resubmission: bool = False
    resolver: Resolver | None = None
    names_checked: bool = False
    lookups: int = 0
    member_labels: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def needs_names(self) -> bool:
        """True when some ID column is given only by names (nothing to validate without them)."""
        spec = load_row_schema()
        return any(
            c.required and c.name not in self.headers.columns
            for c in spec.columns
            if any(a in self.headers.names for a in spec.stand_ins(c.name))
        )

    @property
    def filled(self) -> dict[str, str]:
        """Schema columns filled from names (absent from the file) -> their label in results."""
        if not self.headers.names:
            return {}
        spec = load_row_schema()
        taken = {*self.headers.columns.values(), *self.headers.names.values(), *self.headers.extras}
        taken.update(self.labels.values() if self.labels else ())
        return {
            c: c if c not in taken else f"resolved_{c}"
            for c in spec.column_names
            if c not in self.headers.columns
        }

    def resolved_ids(self, valid: pd.DataFrame) -> pd.DataFrame:
        """The ``filled`` columns of validated rows, labelled for the results (as text)."""
        filled = self.filled
        return valid[list(filled)].rename(columns=filled).astype("str")

    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` says about names and resubmission."""
        out: dict[str, Any] = {}
        if self.headers.names:
            out.update(
                name_columns=self.headers.names,
                names_checked=self.names_checked,
                lookup_requests=self.lookups,
            )
        if self.resubmission:
            out["resubmission"] = True
        return out

    def prepare(self, chunk: pd.DataFrame) -> Resolved:
        """``chunk`` as ``validate_chunk`` takes it: cells, header map and earlier errors."""
        if self.resolver is None:
            return Resolved(chunk, self.headers, _NO_ERRORS)
        return resolve_chunk(chunk, self.headers, self.resolver)


_NO_ERRORS = pd.DataFrame({"row": pd.Series(dtype="int64"), "field": [], "message": []})


def is_report(headers: Sequence[str]) -> bool:
    """True for the header row of one of our own result files (errors or success)."""
    names = set(headers)
    return "source_row" in names and bool({"error_message", "organization_membership_id"} & names)


def read_intake(
    headers: Sequence[str],
    *,
    where: str,
    mapping: dict[str, str] | None,
    samples: Sequence[Sequence[str]] = (),
    header: HeaderChoice | None = None,
) -> Intake:
    """Match an input's header labels (see ``match_headers``); recognise a resubmitted report.

    ``samples`` (the first data rows) and ``header`` (how the header row was found) let the
    message for a missing column say what to do.

    Raises:
        InputError: a required column is missing, a mapping is wrong.
    """
    if not is_report(headers):
        return Intake(
            match_headers(
                headers, where=where, mapping=mapping or None, samples=samples, header=header
            )
        )
    data = [h for h in headers if h not in REPORT_COLUMNS]
    matched = match_headers(data, where=where, mapping=mapping or None)
    labels: dict[str, str] = {}
    sheet = ORIGINAL_SHEET if ORIGINAL_SHEET in headers else "sheet"
    if sheet in headers:
        labels[sheet] = ORIGINAL_SHEET
    labels[ORIGINAL_ROW if ORIGINAL_ROW in headers else "source_row"] = ORIGINAL_ROW
    labels.update({h: h for h in data})
    return Intake(matched, labels, resubmission=True)


def origin_digest(table: Table, intake: Intake) -> str:
    """What identifies a resubmitted report across edits: which row of the first file each of
    its rows came from (sheet and row, in order), not the cells the person fixes."""
    labels = intake.labels or {}
    carried = [h for h, label in labels.items() if label in (ORIGINAL_SHEET, ORIGINAL_ROW)]
    digest = hashlib.sha256()
    for chunk in table.chunks():
        rows = chunk.index.to_numpy().astype("str").tolist()
        columns = [chunk[h].astype("str").tolist() for h in carried]
        for values in zip(rows, *columns, strict=True):
            digest.update(("\x1f".join(values) + "\x1e").encode("utf-8"))
    return digest.hexdigest()


@contextmanager
def name_lookups(
    intake: Intake,
    api: ApiSettings | None,
    *,
    where: str,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[Intake]:
    """Connect ``intake`` to the API for the block when it has name columns (GET requests only).

    Without a token, name columns that stand beside their ID columns are left unchecked; names
    that replace an ID column are an InputError (nothing could be validated).
    """
    if not intake.headers.names:
        yield intake
        return
    if api is None or not api.token:
        if intake.needs_names:
            columns = ", ".join(intake.headers.names.values())
            raise InputError(
                f"{where}: the name columns ({columns}) are resolved to IDs through the Kantata "
                f"API: set {TOKEN_ENV} or pass --token-file (or try --sandbox)"
            )
        yield intake
        return
    with KantataClient(api, transport=transport) as client:
        intake.resolver = Resolver(client)
        intake.names_checked = True
        try:
            yield intake
        finally:
            intake.member_labels = intake.resolver.member_labels()
            intake.resolver = None
            intake.lookups = client.requests_sent
