"""Header text -> the schema column it names: normalising, names and aliases, the user's
mapping. The base of :mod:`importer.read._headers` (the header map and its messages) and of
:mod:`importer.read._suggest` (suggestions judged from values)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from importer.core import InputError, RowSchemaSpec, load_row_schema

_SEPARATORS = re.compile(r"[\s_\-.:/()\[\]]+")


def normalise_header(text: str) -> str:
    """Casefolded, without accents, stripped (also of BOM and NBSP), with runs of spaces and
    ``_ - . : /`` and brackets as one ``_`` (``"Work Contact: Work Email"`` is
    ``work_contact_work_email``, ``"Ubicación"`` is ``ubicacion``)."""
    cleaned = text.replace("\ufeff", "")
    for _ in range(2):  # casefolding may make letters that decompose, and the other way round
        cleaned = unicodedata.normalize("NFKD", cleaned).casefold()
        cleaned = "".join(c for c in cleaned if not unicodedata.combining(c))
    return _SEPARATORS.sub("_", cleaned).strip("_")


@dataclass(frozen=True)
class HeaderScorer:
    """Rates a row as a header: how many schema columns its cells name (by name, alias or
    ``mapping`` key); :func:`importer.read.header_scorer` makes it. Plain data, so that a
    workbook's reader child (:mod:`importer.read._isolate`) can take it."""

    known: dict[str, tuple[str, int]]  # :func:`known_names`
    mapped: frozenset[str]  # normalised ``mapping`` keys

    def __call__(self, cells: Sequence[str]) -> int:
        named: set[str] = set()
        for cell in cells:
            text = normalise_header(cell)
            if text in self.mapped:
                named.add("map:" + text)
            elif text in self.known:
                named.add(self.known[text][0])
        return len(named)


def no_score(cells: Sequence[str]) -> int:
    """A header scorer that finds no column named anywhere: the header is then the first
    non-blank row (or the one asked for). Importable cheaply, so a reader child can take it."""
    return 0


def known_names(spec: RowSchemaSpec) -> dict[str, tuple[str, int]]:
    """Normalised column names and aliases -> (the column or name column they name, rank): the
    name itself is rank 0, its aliases 1, 2 ... in the schema's order (earlier wins a clash)."""
    known: dict[str, tuple[str, int]] = {}
    targets = [(c.name, c.aliases) for c in spec.columns]
    targets += [(a.name, a.aliases) for a in spec.alternates]
    for name, aliases in targets:
        for rank, text in enumerate((name, *aliases)):
            known.setdefault(normalise_header(text), (name, rank))
    return known


def match_labels(
    headers: Sequence[str], mapping: Mapping[str, str], where: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    """{column: file header} by the user's mapping, then by name or alias; and the notes."""
    spec = load_row_schema()
    names = (*spec.column_names, *(a.name for a in spec.alternates))
    known = known_names(spec)
    found: dict[str, str] = {}
    for header, name in _explicit(headers, mapping, names, where).items():
        found[name] = header
    explicit = set(found.values())
    auto: dict[str, tuple[str, int]] = {}
    notes: list[str] = []
    for header in headers:
        match = known.get(normalise_header(header)) if header not in explicit else None
        if match is None or match[0] in found:
            continue  # unknown, or chosen by the user's mapping: an extra column
        name, rank = match
        if name in auto:
            other, other_rank = auto[name]
            if rank == other_rank:
                raise InputError(
                    f"{where}: columns {other!r} and {header!r} both match {name}; rename or "
                    f'remove one of them, or choose one with --map "{other}={name}"'
                )
            kept, left = (other, header) if other_rank < rank else (header, other)
            notes.append(
                f'took {kept!r} for {name}, not {left!r} (choose with --map "{left}={name}")'
            )
            if other_rank < rank:
                continue
        auto[name] = (header, rank)
    found.update({name: header for name, (header, _) in auto.items()})
    return found, tuple(notes)


def match_headers_quietly(headers: Sequence[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """{file header: column} as :func:`match_headers` matches them, never raising (a broken
    mapping is left out)."""
    try:
        found, _ = match_labels(headers, mapping, "")
    except InputError:
        try:
            found, _ = match_labels(headers, {}, "")
        except InputError:
            return {}
    return {header: name for name, header in found.items()}


def _explicit(
    headers: Sequence[str], mapping: Mapping[str, str], names: Sequence[str], where: str
) -> dict[str, str]:
    """The user's mapping resolved to {file header label: column name}, checked."""
    resolved: dict[str, str] = {}
    by_target: dict[str, str] = {}
    listing = ", ".join(repr(h) for h in headers)
    for source, target in mapping.items():
        name = target.strip()
        if name not in names:
            name = next((n for n in names if normalise_header(n) == normalise_header(name)), "")
        if not name:
            raise InputError(
                f"column mapping {source!r} -> {target!r}: unknown column {target!r}; "
                f"columns are {', '.join(names)}"
            )
        header = _find_header(source, headers)
        if header is None:
            raise InputError(
                f"column mapping {source!r} -> {target!r}: {where} has no header {source!r}; "
                f"headers found: {listing}"
            )
        if name in by_target and by_target[name] != header:
            raise InputError(
                f"column mapping: both {by_target[name]!r} and {header!r} are mapped to {name}"
            )
        if resolved.get(header, name) != name:
            raise InputError(
                f"column mapping: {header!r} is mapped to both {resolved[header]} and {name}"
            )
        by_target[name] = header
        resolved[header] = name
    return resolved


def _find_header(source: str, headers: Sequence[str]) -> str | None:
    if source in headers:
        return source
    wanted = normalise_header(source)
    candidates = [h for h in headers if normalise_header(h) == wanted]
    return candidates[0] if len(candidates) == 1 else None
