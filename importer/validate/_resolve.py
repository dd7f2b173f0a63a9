"""Names to IDs: ``Engineering`` -> 202, ``jane.doe@acme.example`` -> 10042.

The stage between load and validate, used only when a file has name columns (the schema's
*alternates*: ``geography``, ``department``, ``member_email``, ``workspace``). The lookups go
through a :class:`~importer.validate.Resolver` (read once per run, never per row).

Matching ignores case and runs of whitespace. :func:`resolve_chunk` fills the ID columns of a
chunk (vectorised: one lookup per distinct name) and turns no match, several matches, or a name
that disagrees with the ID given beside it into row errors that list the candidates. A row's own
ID wins over its name; the name is then only checked against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from importer.core import ESCAPED_FORMULA, AlternateSpec, RowSchemaSpec, load_row_schema
from importer.read import HeaderMap
from importer.validate._lookups import Entry, Resolver, clean_name, name_key, name_query

__all__ = ["Resolved", "Resolver", "resolve_chunk"]

_ESCAPED = re.compile(ESCAPED_FORMULA)  # our report's formula escaping (importer.report)
_WHOLE = re.compile(r"\+?0*([1-9][0-9]{0,17})(?:\.0*)?")
_SHOWN = 5  # candidates listed in one message


@dataclass(frozen=True)
class Resolved:
    """A chunk ready for validation.

    Attributes:
        cells: one text column per schema column (named canonically), IDs filled from names.
        headers: the header map of ``cells``.
        errors: row errors of resolution: ``row``, ``field``, ``message``, ``column`` (the
            schema column the error stands for, not to be checked again), as ``validate_chunk``
            takes them in ``prior``.
    """

    cells: pd.DataFrame
    headers: HeaderMap
    errors: pd.DataFrame


def _per_value(cells: pd.Series, fn: Callable[[str], str]) -> pd.Series:
    """``fn`` applied once per distinct cell value (names repeat: few distinct values)."""
    codes, uniques = pd.factorize(cells.astype("str"))
    done = np.asarray([fn(str(u)) for u in uniques] + [""], dtype=object)
    return pd.Series(done[codes], index=cells.index, dtype=object)


def _clean(text: str) -> str:
    """A name as written, for matching and messages: unescaped, whitespace runs collapsed."""
    return clean_name(_ESCAPED.sub(r"\1", text))


def _digits(text: str) -> str:
    """A whole-number cell as canonical digits ("+0202.0" -> "202"); "" for anything else."""
    match = _WHOLE.fullmatch(_clean(text))
    return match.group(1) if match else ""


def _shown(cells: pd.Series) -> pd.Series:
    """Every cell ``_clean``-ed ("" for an empty one)."""
    return _per_value(cells, _clean)


def _id_text(cells: pd.Series) -> pd.Series:
    """Every cell as ``_digits``."""
    return _per_value(cells, _digits)


def _listing(entries: list[Entry]) -> str:
    shown = ", ".join(f"{e.id} ({e.label})" for e in entries[:_SHOWN])
    more = len(entries) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _errors(
    rows: pd.Index, field: str, message: pd.Series | np.ndarray | str, column: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": rows.to_numpy(dtype="int64"),
            "field": field,
            "message": message.to_numpy() if isinstance(message, pd.Series) else message,
            "column": column,
        }
    )


def _problem(alt: AlternateSpec, text: str, found: list[Entry], resolver: Resolver) -> str:
    """Why ``text`` does not designate exactly one entry, with the candidates."""
    if found:
        return f"{alt.name} {text!r} is ambiguous: {_listing(found)}; use {alt.column}"
    disabled = resolver.catalog(alt.lookup).disabled.get(name_key(text))
    if disabled is not None:
        return (
            f"{alt.name} {text!r} is disabled on the account ({disabled.id}, {disabled.label}); "
            "enable the user in Kantata or remove the row"
        )
    message = f"{alt.name} {text!r} not found"
    close = resolver.catalog(alt.lookup).suggest(name_key(text))
    if close:
        message += f"; did you mean {_listing(close)}?"
    if alt.lookup in ("geography", "department"):
        other = resolver.catalog("department" if alt.lookup == "geography" else "geography")
        elsewhere = other.entries(name_key(text))
        if elsewhere:
            message += f"; {text!r} is a {other.kind}: {_listing(elsewhere)}"
    return message


def _match(
    alt: AlternateSpec, shown: pd.Series, given: pd.Series, resolver: Resolver
) -> tuple[pd.Series, pd.DataFrame]:
    """Resolve the non-empty names ``shown``; ``given`` holds the row's own ID ("" if none).

    Works on the distinct names (``codes`` number them) and maps the answers back to the rows.

    Returns the IDs found for rows without an ID of their own ("" where not exactly one), and
    the errors: no or several matches (rows without an ID), or a name that does not designate
    the row's ID.
    """
    catalog = resolver.catalog(alt.lookup)
    codes, names = pd.factorize(shown)
    keys = [name_key(str(n)) for n in names]
    catalog.find(dict(zip(keys, (name_query(str(n)) for n in names), strict=True)))
    found = [catalog.entries(k) for k in keys]
    single = np.asarray([str(f[0].id) if len(f) == 1 else "" for f in found], dtype=object)
    problem = np.asarray(
        [
            _problem(alt, str(n), f, resolver) if len(f) != 1 else ""
            for n, f in zip(names, found, strict=True)
        ],
        dtype=object,
    )
    own = (given != "").to_numpy()
    ids = pd.Series(np.where(own, "", single[codes]), index=shown.index, dtype=object)
    failed = ~own & (problem[codes] != "")
    errors = [_errors(shown.index[failed], alt.name, problem[codes][failed], alt.column)]
    allowed = pd.MultiIndex.from_tuples(
        [(i, str(e.id)) for i, f in enumerate(found) for e in f], names=["code", "id"]
    )
    mine = pd.MultiIndex.from_arrays([codes[own], given.to_numpy()[own]], names=["code", "id"])
    wrong = np.zeros(len(shown), dtype=bool)
    wrong[own] = ~mine.isin(allowed)
    if wrong.any():
        ids_given = given[wrong]
        labels = {
            i: f" ({catalog.by_id[int(i)].label})" if int(i) in catalog.by_id else ""
            for i in ids_given.unique()
        }
        named = np.where(single[codes][wrong] == "", "not found or ambiguous", single[codes][wrong])
        message = (
            f"{alt.name} '"
            + shown[wrong]
            + "' ("
            + named
            + f") does not match {alt.column} "
            + ids_given
            + ids_given.map(labels)
            + "; correct or clear one of them"
        )
        errors.append(_errors(message.index, alt.name, message, ""))
    return ids, pd.concat(errors, ignore_index=True)


def resolve_chunk(
    chunk: pd.DataFrame,
    headers: HeaderMap,
    resolver: Resolver,
    *,
    spec: RowSchemaSpec | None = None,
) -> Resolved:
    """Fill the ID columns of ``chunk`` from its name columns.

    A row's own ID wins: its name is then only checked against it. A name column that implies
    another column (``member_email`` -> ``member_type`` User) fills that column where it is
    empty and must agree with it where it is not.

    Args:
        chunk: text cells as the loader returns them, indexed by source row.
        headers: the chunk's header map, with ``names`` (the name columns present).
        resolver: the run's lookups.
        spec: the row spec (default: the bundled one).

    Returns:
        The schema columns as text, ready for ``validate_chunk``, and the resolution errors.

    Raises:
        ApiError: a lookup failed (token refused, server unreachable, malformed reply).
    """
    spec = spec or load_row_schema()
    index = chunk.index
    cells = {c: chunk[headers.columns[c]] for c in spec.column_names if c in headers.columns}
    errors: list[pd.DataFrame] = [_errors(index[:0], "", "", "")]
    implied: dict[str, _Implied] = {}
    for column in spec.columns:
        alts = [a for a in column.alternates if a.name in headers.names]
        if alts:
            shown = {a.name: _shown(chunk[headers.names[a.name]]) for a in alts}
            errors += _fill(column.name, alts, shown, cells, implied, resolver)
    for target, imp in implied.items():
        errors.append(imp.check(target, cells))
    out = pd.DataFrame({c: cells[c] for c in spec.column_names}, index=index)
    columns = {c: c for c in spec.column_names}
    frame = pd.concat(errors, ignore_index=True)
    return Resolved(out, HeaderMap(columns=columns, extras=()), frame)


@dataclass
class _Implied:
    """Values a column gets from name columns (``member_type`` User for an email)."""

    values: pd.Series  # "" where no name column implies anything
    who: dict[str, str]  # value -> the name column implying it
    nameless: pd.Series  # rows already failed for having no usable name

    def check(self, target: str, cells: dict[str, pd.Series]) -> pd.DataFrame:
        """Fill ``cells[target]`` where empty; errors where the row's own value disagrees."""
        index = self.values.index
        if target not in cells:
            cells[target] = self.values
            # "member_type is required" would only repeat the error those rows already have.
            return _errors(index[self.nameless & (self.values == "")], target, "", target)
        own = _shown(cells[target])
        cells[target] = cells[target].mask(own == "", self.values)
        cover = _errors(
            index[self.nameless & (self.values == "") & (own == "")], target, "", target
        )
        folded = _per_value(own, str.casefold)
        wrong = (
            (self.values != "") & (own != "") & (folded != _per_value(self.values, str.casefold))
        )
        message = (
            f"{target} '"
            + own[wrong]
            + "' does not match "
            + self.values[wrong].map(self.who)
            + " (a "
            + self.values[wrong]
            + "); correct or clear one of them"
        )
        return pd.concat([cover, _errors(message.index, target, message, "")], ignore_index=True)


def _fill(
    column: str,
    alts: list[AlternateSpec],
    shown: dict[str, pd.Series],
    cells: dict[str, pd.Series],
    implied: dict[str, _Implied],
    resolver: Resolver,
) -> list[pd.DataFrame]:
    """Fill ``cells[column]`` from its name columns; return the errors."""
    index = next(iter(shown.values())).index
    empty = pd.Series("", index=index, dtype=object)
    present = _shown(cells[column]) != "" if column in cells else empty != ""
    given = _id_text(cells[column]) if column in cells else empty
    named = {a.name: shown[a.name] != "" for a in alts}
    count = pd.DataFrame(named).sum(axis=1)
    both = count > 1
    errors = []
    if both.any():
        message = " and ".join(a.name for a in alts) + " are both given; keep one"
        errors.append(_errors(index[both], "member", message, column))
    nothing = (count == 0) & ~present
    nameless = both | nothing
    if nothing.any() and column not in cells:
        message = " or ".join(a.name for a in alts) + " is required"
        errors.append(_errors(index[nothing], alts[0].name, message, column))
    filled = empty
    for alt in alts:
        rows = named[alt.name] & ~both
        for target, value in alt.implies:
            imp = implied.setdefault(target, _Implied(empty, {}, empty != ""))
            imp.values = imp.values.mask(rows, value)
            imp.who[value] = alt.name
            imp.nameless = imp.nameless | nameless
        # An ID cell that is not a number is validation's to report: the name is not used then.
        rows &= ~(present & (given == ""))
        if rows.any():
            ids, found = _match(alt, shown[alt.name][rows], given[rows], resolver)
            filled = filled.mask(rows, ids.reindex(index, fill_value=""))
            errors.append(found)
    cells[column] = cells[column].mask(~present, filled) if column in cells else filled
    return errors
