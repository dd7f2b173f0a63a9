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

import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from importer.core import InputError, RowSchemaSpec, load_row_schema
from importer.read._header_row import HeaderChoice
from importer.read._names import HeaderScorer, known_names, match_labels, normalise_header
from importer.read._suggest import HR_NUMBER_REASON, ColumnSuggestion, suggest_columns

__all__ = [
    "HeaderMap",
    "display_fields",
    "field_label",
    "header_scorer",
    "match_headers",
    "missing_columns",
    "normalise_header",
    "read_mapping_file",
]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_SHOWN = 2


def header_scorer(mapping: Mapping[str, str] | None = None) -> HeaderScorer:
    """A function telling how many schema columns a row's cells name (by name, alias or
    ``mapping`` key): the header row below a title or a date line is the one naming the most.
    Plain data (:class:`HeaderScorer`), so that a workbook's reader child can take it."""
    known = known_names(load_row_schema())
    return HeaderScorer(known, frozenset(normalise_header(k) for k in mapping or {}))


@dataclass(frozen=True)
class HeaderMap:
    """Which file column holds which schema column, and the file's other columns."""

    columns: dict[str, str]  # canonical column name -> the file's header label
    extras: tuple[str, ...]  # the file's other header labels, in file order
    names: dict[str, str] = field(default_factory=dict)  # name column -> the file's header label
    notes: tuple[str, ...] = ()  # choices made: "took 'Location' for geography, not 'Country'"


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
    samples: Sequence[Sequence[str]] = (),
    header: HeaderChoice | None = None,
) -> HeaderMap:
    """Match ``headers`` (labels as in the chunks) to the schema; raise InputError if impossible.

    ``where`` names the file (and sheet) in messages. ``mapping`` maps file headers to column
    names (ID or name columns) explicitly. ``required`` defaults to the schema's required
    columns; a required ID column is also satisfied by a name column standing in for it. When
    two headers match one column by alias, the alias listed first in the schema wins (a note
    in ``HeaderMap.notes`` says so). ``samples`` (the first data rows) and ``header`` (how the
    header row was found) make the message for a missing column say what to do: which column
    holds it (judged from its values, see :func:`importer.read.suggest_columns`), or which row
    to try with ``--header-row``.
    """
    spec = load_row_schema()
    if required is None:
        required = [c.name for c in spec.columns if c.required]
    found, notes = match_labels(headers, mapping or {}, where)
    if not found:
        _reject_data_row(headers, where, spec.column_names)
    missing = missing_columns(found, required)
    if missing:
        raise InputError(_missing_message(missing, headers, where, spec, samples, header, mapping))
    columns = {name: found[name] for name in spec.column_names if name in found}
    named = {a.name: found[a.name] for a in spec.alternates if a.name in found}
    used = {*columns.values(), *named.values()}
    return HeaderMap(
        columns=columns,
        extras=tuple(h for h in headers if h not in used),
        names=named,
        notes=notes,
    )


def missing_columns(found: Collection[str], required: Sequence[str] | None = None) -> list[str]:
    """The ``required`` columns (default: the schema's) that neither a column of ``found`` (ID or
    name columns) nor a name column standing in for them provides."""
    spec = load_row_schema()
    if required is None:
        required = [c.name for c in spec.columns if c.required]
    return [
        name
        for name in required
        if name not in found and not any(alt in found for alt in spec.stand_ins(name))
    ]


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
    missing: Sequence[str],
    headers: Sequence[str],
    where: str,
    spec: RowSchemaSpec,
    samples: Sequence[Sequence[str]],
    header: HeaderChoice | None,
    mapping: Mapping[str, str] | None,
) -> str:
    """One line: what is missing, the headers found (and on which row), and what to do."""
    quoted = ", ".join(
        repr(m) + (f" (or {' / '.join(map(repr, alts))})" if (alts := spec.stand_ins(m)) else "")
        for m in missing
    )
    noun = "column" if len(missing) == 1 else "columns"
    listing = ", ".join(repr(h) for h in headers) if headers else "none"
    on_row = f" on row {header.row}" if header is not None and header.row != 1 else ""
    todo: list[str] = []
    if header is not None and header.hint:
        todo.append(header.hint)
    families = {m: (m, *spec.stand_ins(m)) for m in missing}
    suggestions = suggest_columns(headers, samples, mapping=mapping)
    maps: list[str] = []
    covered: set[str] = set()
    for s in suggestions:
        family = next((f for f, members in families.items() if s.column in members), None)
        if s.column is None or s.sure or family is None:
            continue
        covered.update(f for f, members in families.items() if s.column in members)
        todo.append(f"{s.header!r} {s.reason}")
        maps.append(f"{s.header}={s.column}")
    if maps:
        todo[-1] += f': if so, --map "{",".join(maps)}"'  # the last reason: one sentence
    for name in missing:
        if name in covered or (name == "member_type" and "member_id" in missing):
            continue
        todo.append(_what_to_add(name, suggestions, spec))
    return f"{where}: missing required {noun} {quoted}; headers found{on_row}: {listing}; " + (
        "; ".join(todo)
    )


def _what_to_add(name: str, suggestions: Sequence[ColumnSuggestion], spec: RowSchemaSpec) -> str:
    """The advice for a missing column nothing in the file holds."""

    if name == "member_id":
        hr = [s.header for s in suggestions if s.reason == HR_NUMBER_REASON]
        said = f"{hr[0]!r} is an HR number, not a Kantata user id: " if hr else ""
        return (
            f"{said}add a column of the users' e-mail addresses (member_email) or of their "
            'Kantata user ids (member_id), or name it with --map "Header=member_email"'
        )
    names = [a for a in spec.stand_ins(name) if a != "member_email"]
    if names and name != "member_type":
        return (
            f'name the column that holds {name}: --map "Header={names[0]}" for names, '
            f'--map "Header={name}" for Kantata ids'
        )
    return f'name the column that holds {name}: --map "Header={name}"'
