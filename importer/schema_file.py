"""Find and read the declarative row schema shipped in ``schemas/``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from importer.errors import SchemaDefinitionError

_NAME = "organization_membership.toml"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the row schema."""

    name: str
    kind: str
    required: bool
    aliases: tuple[str, ...]
    choices: tuple[str, ...] = ()
    description: str = ""


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


def _schema_path() -> Path:
    here = Path(__file__).resolve().parent
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
    return spec


@cache
def load_row_schema() -> RowSchemaSpec:
    """Return the membership row schema (read once per process)."""
    with _schema_path().open("rb") as fh:
        return _parse(tomllib.load(fh))
