"""Match a file's header labels to the row schema's columns.

Matching is done on normalised text (:func:`normalise_header`): case, surrounding spaces, a BOM,
no-break spaces and runs of ``_``, ``-`` and spaces do not matter, so ``" Geography ID"``,
``geography-id`` and ``GEOGRAPHY_ID`` all name ``geography_id``. Each schema column also answers
to its aliases (``dept id`` -> ``department_id``). An explicit user mapping
``{file header: column}`` is applied first and wins over automatic matches.

Name columns (the schema's *alternates*: ``geography``, ``department``, ``member_email``,
``workspace``) are matched the same way and satisfy the ID column they stand in for; they are
returned in ``HeaderMap.names`` and resolved to IDs by ``importer.validate``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from importer.core import InputError, RowSchemaSpec, load_row_schema

__all__ = [
    "HeaderMap",
    "display_fields",
    "field_label",
    "header_scorer",
    "match_headers",
    "normalise_header",
    "read_mapping_file",
]

_SEPARATORS = re.compile(r"[\s_\-]+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_CUTOFF = 0.75  # below: a guess more often wrong than right; suggest --map instead
_SHOWN = 2


def normalise_header(text: str) -> str:
    """Casefolded, stripped (also of BOM and NBSP), with ``_``/``-``/space runs as one ``_``."""
    cleaned = text.replace("\ufeff", "").strip().casefold()
    return _SEPARATORS.sub("_", cleaned)


def _known_names(spec: RowSchemaSpec) -> dict[str, str]:
    """Normalised column names and aliases -> the column (or name column) they name."""
    known: dict[str, str] = {}
    targets = [(c.name, c.aliases) for c in spec.columns]
    targets += [(a.name, a.aliases) for a in spec.alternates]
    for name, aliases in targets:
        for text in (name, *aliases):
            known.setdefault(normalise_header(text), name)
    return known


def header_scorer(mapping: Mapping[str, str] | None = None) -> Callable[[Sequence[str]], int]:
    """A function telling how many schema columns a row's cells name (by name, alias or
    ``mapping`` key): the header row below a title or a date line is the one naming the most."""
    known = _known_names(load_row_schema())
    mapped = {normalise_header(k) for k in mapping or {}}

    def score(cells: Sequence[str]) -> int:
        named: set[str] = set()
        for cell in cells:
            text = normalise_header(cell)
            if text in mapped:
                named.add("map:" + text)
            elif text in known:
                named.add(known[text])
        return len(named)

    return score


@dataclass(frozen=True)
class HeaderMap:
    """Which file column holds which schema column, and the file's other columns."""

    columns: dict[str, str]  # canonical column name -> the file's header label
    extras: tuple[str, ...]  # the file's other header labels, in file order
    names: dict[str, str] = field(default_factory=dict)  # name column -> the file's header label


def field_label(header: str, name: str) -> str:
    """How an error names a column: the file's header, with the schema column in brackets
    where they differ by more than case and spacing (``Work Email [member_email]``, but
    ``Member Type``)."""
    return header if normalise_header(header) == name else f"{header} [{name}]"


def display_fields(fields: pd.Series, headers: HeaderMap) -> pd.Series:
    """``error_field`` values (schema names joined by ``"; "``) as the person's file names them,
    each column once: ``member_type; member_type`` -> ``Member Type [member_type]``.

    Works on the distinct values only (a few per file), so it costs nothing per row. Values
    already relabelled, and fields that are no file column (``member``), are left as they are.
    """
    labels = {**headers.columns, **headers.names}
    if fields.empty:
        return fields

    def relabel(value: str) -> str:
        parts = [field_label(labels[p], p) if p in labels else p for p in value.split("; ") if p]
        return "; ".join(dict.fromkeys(parts))

    distinct = fields.dropna().unique()
    return fields.map({v: relabel(str(v)) for v in distinct}).astype(fields.dtype)


def match_headers(
    headers: Sequence[str],
    *,
    where: str,
    mapping: Mapping[str, str] | None = None,
    required: Sequence[str] | None = None,
) -> HeaderMap:
    """Match ``headers`` (labels as in the chunks) to the schema; raise InputError if impossible.

    ``where`` names the file (and sheet) in messages. ``mapping`` maps file headers to column
    names (ID or name columns) explicitly. ``required`` defaults to the schema's required
    columns; a required ID column is also satisfied by a name column standing in for it.
    """
    spec = load_row_schema()
    names = (*spec.column_names, *(a.name for a in spec.alternates))
    if required is None:
        required = [c.name for c in spec.columns if c.required]
    known = _known_names(spec)

    found: dict[str, str] = {}
    for header, name in _explicit(headers, mapping or {}, names, where).items():
        found[name] = header
    explicit = set(found.values())
    auto: dict[str, str] = {}
    for header in headers:
        if header in explicit:
            continue
        match = known.get(normalise_header(header))
        if match is None or match in found:
            continue  # unknown, or chosen by the user's mapping: an extra column
        name = match
        if name in auto:
            raise InputError(
                f"{where}: columns {auto[name]!r} and {header!r} both match {name}; "
                "rename or remove one of them, or map one explicitly"
            )
        auto[name] = header
    found.update(auto)

    if not found:
        _reject_data_row(headers, where, spec.column_names)
    missing = [
        name
        for name in required
        if name not in found and not any(alt in found for alt in spec.stand_ins(name))
    ]
    if missing:
        raise InputError(_missing_message(missing, headers, where, spec))
    columns = {name: found[name] for name in spec.column_names if name in found}
    named = {a.name: found[a.name] for a in spec.alternates if a.name in found}
    used = {*columns.values(), *named.values()}
    return HeaderMap(
        columns=columns, extras=tuple(h for h in headers if h not in used), names=named
    )


def read_mapping_file(path: str | Path) -> dict[str, str]:
    """Read a header mapping from a TOML file: a ``[columns]`` table of ``"header" = "column"``.

    Example::

        [columns]
        "Dept" = "department_id"
        "Who" = "member_email"

    Raises:
        InputError: the file is missing, not TOML, or not shaped like that. Unknown target
            columns are reported by ``match_headers``, like those of ``--map``.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputError(
            f"cannot read mapping file {p}: {exc.strerror or exc}", path=str(p)
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"mapping file {p.name} is not valid TOML: {exc}", path=str(p)) from exc
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise InputError(
            f'mapping file {p.name} needs a [columns] table of "file header" = "column" lines',
            path=str(p),
        )
    bad = [k for k, v in columns.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InputError(
            f"mapping file {p.name}: the column for {bad[0]!r} must be a column name in quotes",
            path=str(p),
        )
    unknown = sorted(set(data) - {"columns"})
    if unknown:
        raise InputError(
            f"mapping file {p.name}: unknown section {unknown[0]!r} (only [columns])", path=str(p)
        )
    return {str(k): str(v).strip() for k, v in columns.items()}


def _aliases(spec: RowSchemaSpec) -> dict[str, tuple[str, ...]]:
    """Each column's name and aliases and those of its name columns, normalised (suggestions)."""
    out: dict[str, tuple[str, ...]] = {}
    for c in spec.columns:
        texts = [c.name, *c.aliases]
        texts += [t for a in c.alternates for t in (a.name, *a.aliases)]
        out[c.name] = tuple(normalise_header(t) for t in texts)
    return out


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


def _reject_data_row(headers: Sequence[str], where: str, names: Sequence[str]) -> None:
    """Raise when the header row is evidently a data row (mostly numbers, nothing matches)."""
    cells = [h for h in headers if h.strip() and not re.fullmatch(r"column_\d+", h)]
    numbers = sum(bool(_NUMBER.fullmatch(c.strip())) for c in cells)
    if cells and numbers * 2 > len(cells):
        shown = ", ".join(repr(c.strip()) for c in cells[:_SHOWN])
        more = ", ..." if len(cells) > _SHOWN else ""
        raise InputError(
            f"{where} has no header row: the first row looks like data ({shown}{more}). "
            f"Add a header row: {', '.join(names)}"
        )


def _missing_message(
    missing: Sequence[str], headers: Sequence[str], where: str, spec: RowSchemaSpec
) -> str:
    aliases = _aliases(spec)
    quoted = ", ".join(
        repr(m) + (f" (or {' / '.join(map(repr, alts))})" if (alts := spec.stand_ins(m)) else "")
        for m in missing
    )
    noun = "column" if len(missing) == 1 else "columns"
    listing = ", ".join(repr(h) for h in headers) if headers else "none"
    hints = []
    for name in missing:
        best = _closest(name, headers, aliases.get(name, (name,)))
        hints.append(
            f'closest match for {name}: {best!r} (if so: --map "{best}={name}")'
            if best
            else f'no close match for {name} (name the column that holds it: --map "Header={name}")'
        )
    return f"{where}: missing required {noun} {quoted}; headers found: {listing}; " + "; ".join(
        hints
    )


def _closest(name: str, headers: Sequence[str], targets: Sequence[str]) -> str | None:
    best: tuple[float, str] | None = None
    for header in headers:
        text = normalise_header(header)
        if not text:
            continue
        ratio = max(difflib.SequenceMatcher(None, text, t).ratio() for t in targets)
        if ratio >= _CUTOFF and (best is None or ratio > best[0]):
            best = (ratio, header)
    return best[1] if best else None
