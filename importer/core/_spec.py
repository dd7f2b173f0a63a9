"""Find and read the declarative row schema shipped in ``schemas/``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from importer.core._errors import SchemaDefinitionError

_NAME = "organization_membership.toml"


_LOOKUPS = ("geography", "department", "user", "workspace")


@dataclass(frozen=True)
class AlternateSpec:
    """A column of names that may stand in for an ID column (resolved through the API).

    Attributes:
        name: the canonical name, e.g. ``department``.
        lookup: where the ID is found: ``geography``, ``department``, ``user`` or ``workspace``.
        column: the ID column it stands in for, e.g. ``department_id``.
        implies: other columns' values for rows that use it (``{"member_type": "User"}``).
    """

    name: str
    lookup: str
    column: str
    aliases: tuple[str, ...]
    implies: tuple[tuple[str, str], ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the row schema."""

    name: str
    kind: str
    required: bool
    aliases: tuple[str, ...]
    choices: tuple[str, ...] = ()
    description: str = ""
    alternates: tuple[AlternateSpec, ...] = ()


@dataclass(frozen=True)
class RowSchemaSpec:
    """The whole row schema: columns, the uniqueness key and the API's batch limit."""

    name: str
    endpoint: str
    max_batch: int
    columns: tuple[ColumnSpec, ...]
    unique: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def alternates(self) -> tuple[AlternateSpec, ...]:
        """Every name column, in schema order."""
        return tuple(a for c in self.columns for a in c.alternates)

    def stand_ins(self, column: str) -> tuple[str, ...]:
        """The name columns that can satisfy ``column``: its alternates and those implying it."""
        return tuple(
            a.name for a in self.alternates if a.column == column or column in dict(a.implies)
        )


def _schema_path() -> Path:
    here = Path(__file__).resolve().parent.parent
    # Installed wheel: schemas/ is copied to importer/_schemas; source checkout: ../schemas.
    for candidate in (here / "_schemas" / _NAME, here.parent / "schemas" / _NAME):
        if candidate.is_file():
            return candidate
    raise SchemaDefinitionError(f"the row schema {_NAME} is missing from the installation")


def _parse(raw: dict[str, Any]) -> RowSchemaSpec:
    try:
        columns = tuple(
            ColumnSpec(
                name=c["name"],
                kind=c["kind"],
                required=bool(c.get("required", True)),
                aliases=tuple(c.get("aliases", ())),
                choices=tuple(c.get("choices", ())),
                description=c.get("description", ""),
                alternates=tuple(_alternate(a, c["name"]) for a in c.get("alternates", ())),
            )
            for c in raw["columns"]
        )
        spec = RowSchemaSpec(
            name=raw["name"],
            endpoint=raw["endpoint"],
            max_batch=int(raw["max_batch"]),
            columns=columns,
            unique=tuple(raw["unique"]["columns"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaDefinitionError(f"the row schema {_NAME} is malformed: {exc!r}") from exc
    for col in spec.columns:
        if col.kind not in {"positive_int", "choice"}:
            raise SchemaDefinitionError(f"column {col.name}: unknown kind {col.kind!r}")
        if col.kind == "choice" and not col.choices:
            raise SchemaDefinitionError(f"column {col.name}: a choice column needs choices")
    _check_names(spec)
    return spec


def _alternate(raw: dict[str, Any], column: str) -> AlternateSpec:
    lookup = raw["lookup"]
    if lookup not in _LOOKUPS:
        raise SchemaDefinitionError(
            f"alternate {raw['name']}: unknown lookup {lookup!r} (known: {', '.join(_LOOKUPS)})"
        )
    return AlternateSpec(
        name=raw["name"],
        lookup=lookup,
        column=column,
        aliases=tuple(raw.get("aliases", ())),
        implies=tuple((str(k), str(v)) for k, v in dict(raw.get("implies", {})).items()),
        description=raw.get("description", ""),
    )


def _check_names(spec: RowSchemaSpec) -> None:
    """Every name and alias must designate one column: a clash would make matching arbitrary."""
    seen: dict[str, str] = {}
    columns = {c.name: c for c in spec.columns}
    entries = [(c.name, (c.name, *c.aliases)) for c in spec.columns]
    entries += [(a.name, (a.name, *a.aliases)) for a in spec.alternates]
    for owner, texts in entries:
        for text in texts:
            key = " ".join(text.replace("_", " ").replace("-", " ").casefold().split())
            if seen.setdefault(key, owner) != owner:
                raise SchemaDefinitionError(f"{text!r} names both {seen[key]} and {owner}")
    for alt in spec.alternates:
        for target, value in alt.implies:
            if target not in columns or value not in columns[target].choices:
                raise SchemaDefinitionError(
                    f"alternate {alt.name}: implies {target} = {value!r}, not a choice of a column"
                )


@cache
def load_row_schema() -> RowSchemaSpec:
    """Return the membership row schema (read once per process)."""
    with _schema_path().open("rb") as fh:
        return _parse(tomllib.load(fh))
