"""Which column of the schema each of a file's columns may hold: judged from its header AND its
values, so that a suggestion cannot place people wrongly.

* A column matched by name, alias or the user's mapping is *sure*.
* Otherwise a header close to a column's names (or containing one of them) is a guess, and its
  values choose the target: names (text, not whole numbers) go to the name column
  (``department``, ``geography``, ``workspace``), never to an ID column; e-mail addresses go to
  ``member_email``; whole numbers to the ID column.
* A column of e-mail addresses is ``member_email`` and one of ``User``/``Workspace`` is
  ``member_type`` whatever its header says.
* An HR system's own number (Employee ID, Personalnummer, Matricule, Worker ID, Associate ID,
  File Number, badge or payroll ids ...) is never proposed as ``member_id``: Kantata user ids
  are not HR numbers.

Used for the message of a missing column (one line saying what to do) and by the web page's
column step; it reads only the few rows already read to find the header.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from importer.core import RowSchemaSpec, load_row_schema
from importer.read._header_row import EMAIL, NUMBER, TEXT, cell_kind
from importer.read._names import match_headers_quietly, normalise_header

__all__ = ["ColumnSuggestion", "is_hr_number", "suggest_columns"]

HR_NUMBER_REASON = "is an HR number, not a Kantata user id"
_CUTOFF = 0.75  # header similarity below which a header alone suggests nothing
_SHARE = 0.8  # the share of a column's values that decides what it holds
_SAMPLES = 3
_WHOLE = re.compile(r"\d+(?:\.0+)?")
#: Words of the headers of HR numbers (normalised): an HR word with an id word, or one of the
#: words that alone mean an HR number. Never a Kantata user id.
_HR_WORDS = frozenset(
    (
        *("employee", "employe", "employes", "empleado", "emp", "personnel", "personal"),
        *("personeel", "mitarbeiter", "werknemer", "medewerker", "staff", "badge", "payroll"),
        *("paie", "nomina", "worker", "associate", "person", "file", "hr", "sap", "salarie"),
        *("trabajador", "colaborador"),
    )
)
_ID_WORDS = frozenset(("id", "no", "nr", "num", "number", "nummer", "numero", "code", "key", "#"))
_HR_ALONE = frozenset(
    (
        *("matricule", "matricula", "personalnummer", "personalnr", "personeelsnummer"),
        *("mitarbeiternummer", "legajo", "ssn", "badge", "aoid"),
    )
)
_HR_GLUED = re.compile(
    r"(?:employee|emp|worker|associate|person|staff|badge|payroll)(?:id|no|nr|num)"
)


def is_hr_number(header: str) -> bool:
    """Whether ``header`` names an HR system's number for a person (``Employee ID``,
    ``Personalnummer``, ``Matricule``, ``Worker ID``, ``Associate ID``, ``File Number``,
    ``Employee #`` ...): never a Kantata user id."""
    words = normalise_header(header).split("_")
    if _HR_ALONE.intersection(words) or any(_HR_GLUED.fullmatch(w) for w in words):
        return True
    return bool(_HR_WORDS.intersection(words)) and bool(_ID_WORDS.intersection(words))


@dataclass(frozen=True)
class ColumnSuggestion:
    """What one of a file's columns holds, for the person to confirm.

    Attributes:
        header: the file's header label.
        column: the schema column (an ID column or a name column) it holds, or None.
        sure: True when matched by name, alias or the user's mapping; False for a guess.
        reason: one line saying why (or, with ``column`` None, why not, when it matters:
            ``"is an HR number, not a Kantata user id"``); it reads after the header:
            ``'Dept' is named like department and holds names (e.g. 'Sales'), not ids``.
        samples: a few distinct non-blank values of the column.
    """

    header: str
    column: str | None
    sure: bool
    reason: str
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Profile:
    kind: str  # "email", "whole", "text", "type" (User/Workspace), "mixed" or "" (no values)
    samples: tuple[str, ...]


def _profile(values: Sequence[str]) -> _Profile:
    filled = [v.strip() for v in values if v.strip()]
    samples = tuple(dict.fromkeys(filled))[:_SAMPLES]
    if not filled:
        return _Profile("", samples)
    kinds = [cell_kind(v) for v in filled]
    n = len(filled)
    if sum(v.casefold() in ("user", "workspace") for v in filled) >= _SHARE * n:
        return _Profile("type", samples)
    if kinds.count(EMAIL) >= _SHARE * n:
        return _Profile("email", samples)
    whole = sum(
        k == NUMBER and bool(_WHOLE.fullmatch(v)) for k, v in zip(kinds, filled, strict=True)
    )
    if whole >= _SHARE * n:
        return _Profile("whole", samples)
    if sum(k == TEXT for k in kinds) >= _SHARE * n:
        return _Profile("text", samples)
    return _Profile("mixed", samples)


def _families(spec: RowSchemaSpec) -> dict[str, tuple[str, ...]]:
    """Each ID column with its name columns: ``department_id -> (department_id, department)``."""
    return {c.name: (c.name, *(a.name for a in c.alternates)) for c in spec.columns}


def _similarity(header: str, texts: Sequence[str]) -> float:
    """How close a header is to any of ``texts`` (normalised): difflib's ratio, or 0.8 when one
    of them (4 letters or more) is a whole word run inside it (``home_department_code``)."""
    text = normalise_header(header)
    if not text:
        return 0.0
    best = 0.0
    for t in texts:
        if len(t) >= 4 and re.search(rf"(?:^|_){re.escape(t)}(?:_|$)", text):
            best = max(best, 0.8)
        best = max(best, difflib.SequenceMatcher(None, text, t).ratio())
    return best


def _names_of(spec: RowSchemaSpec, column: str) -> tuple[str, ...]:
    """A column's name and aliases, normalised."""
    for c in spec.columns:
        if c.name == column:
            return tuple(normalise_header(t) for t in (c.name, *c.aliases))
    for a in spec.alternates:
        if a.name == column:
            return tuple(normalise_header(t) for t in (a.name, *a.aliases))
    return ()


def _guess(
    header: str,
    profile: _Profile,
    open_families: Mapping[str, tuple[str, ...]],
    spec: RowSchemaSpec,
) -> tuple[str | None, str]:
    """The column an unmatched header may hold, and why (None and a reason, or None and "")."""
    example = f" (e.g. {profile.samples[0]!r})" if profile.samples else ""
    if profile.kind == "email" and "member_id" in open_families:
        return "member_email", f"holds e-mail addresses{example}"
    if profile.kind == "type" and "member_type" in open_families:
        return "member_type", f"holds member types{example}"
    if is_hr_number(header) and profile.kind != "email":
        return None, HR_NUMBER_REASON
    best: tuple[float, str] | None = None
    for family, members in open_families.items():
        texts = [t for m in members for t in _names_of(spec, m)]
        ratio = _similarity(header, texts)
        if ratio >= _CUTOFF and (best is None or ratio > best[0]):
            best = (ratio, family)
    if best is None:
        return None, ""
    family = best[1]
    names = [m for m in open_families[family] if m != family]
    if profile.kind in ("text", "mixed") and names:
        # Names, not numbers: the name column (never the ID column, whose check would fail).
        target = next((n for n in names if n != "member_email"), names[0])
        if (
            family == "member_id"
            and target == "workspace"
            and _similarity(header, _names_of(spec, "workspace")) < _CUTOFF
        ):
            return None, ""  # people's names: not a workspace, and no id either
        return target, f"is named like {family} and holds names{example}, not ids"
    if profile.kind in ("whole", "") or not names:
        numbers = f" and holds whole numbers{example}" if example else ""
        return family, f"is named like {family}{numbers}"
    return None, ""


def suggest_columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]] = (),
    *,
    mapping: Mapping[str, str] | None = None,
) -> tuple[ColumnSuggestion, ...]:
    """Say, for each of a file's columns, which schema column it holds (sure or a guess).

    Args:
        headers: the header labels (``SourceInfo.headers``).
        rows: the first data rows, cells in header order (``SourceInfo.samples``; rows may be
            short). Without them, only headers are judged.
        mapping: the user's ``{file header: column}`` choices, taken as sure.

    Returns:
        One suggestion per header, in file order. A guess goes only to a column not already
        held by a sure match (or by a name column standing in for it), and no two guesses
        share a target (the first in file order has it).
    """
    spec = load_row_schema()
    sure = match_headers_quietly(headers, mapping or {})
    held = set(sure.values())
    families = _families(spec)
    # A column is open while neither it nor a column standing in for it is held.
    open_families = {
        f: members
        for f, members in families.items()
        if not held.intersection((f, *spec.stand_ins(f)))
    }
    columns = list(zip(*rows, strict=False)) if rows else []
    out: list[ColumnSuggestion] = []
    taken: set[str] = set()
    for position, header in enumerate(headers):
        values = [str(r[position]) for r in rows if position < len(r)] if columns else []
        profile = _profile(values)
        if header in sure:
            how = "mapped" if header in (mapping or {}) else "named"
            out.append(ColumnSuggestion(header, sure[header], True, how, profile.samples))
            continue
        column, why = _guess(header, profile, open_families, spec)
        if column is not None and column in taken:
            column, why = None, ""
        if column is not None:
            taken.add(column)
        out.append(ColumnSuggestion(header, column, False, why, profile.samples))
    return tuple(out)
