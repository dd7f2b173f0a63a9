"""Pure batching: valid rows (in file order) -> bulk payloads of at most 100 objects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from importer.core import MAX_BATCH

FIELDS = ("geography_id", "department_id", "member_id", "member_type")
PAYLOAD_KEY = "organization_memberships"


@dataclass(frozen=True)
class Batch:
    """One bulk request's worth of rows.

    Attributes:
        number: 1-based position of the batch in the run.
        rows: the source rows, aligned with ``items``.
        items: the objects to send, ints as ints.
    """

    number: int
    rows: tuple[int, ...]
    items: tuple[dict[str, Any], ...]

    def payload(self) -> dict[str, list[dict[str, Any]]]:
        """The exact request body: ``{"organization_memberships": [...]}``."""
        return {PAYLOAD_KEY: list(self.items)}

    def sub(self, positions: list[int] | range) -> Batch:
        """A batch of some of this batch's rows (same number), e.g. one half when splitting."""
        return Batch(
            number=self.number,
            rows=tuple(self.rows[i] for i in positions),
            items=tuple(self.items[i] for i in positions),
        )

    def __len__(self) -> int:
        return len(self.rows)


def iter_batches(valid: pd.DataFrame, size: int = MAX_BATCH, *, start: int = 1) -> Iterator[Batch]:
    """Chunk ``valid`` (indexed by source row) into batches of at most ``size`` rows, in order.

    Payload dicts are built one batch at a time, so memory stays bounded on big inputs.
    """
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch size must be 1..{MAX_BATCH}, got {size}")
    rows = valid.index.to_numpy(dtype="int64")
    columns = [valid[f].to_numpy() for f in FIELDS]
    for number, lo in enumerate(range(0, len(rows), size), start=start):
        hi = lo + size
        geo, dept, member, kind = (c[lo:hi] for c in columns)
        items = tuple(
            {"geography_id": g, "department_id": d, "member_id": m, "member_type": t}
            for g, d, m, t in zip(
                geo.tolist(), dept.tolist(), member.tolist(), kind.tolist(), strict=True
            )
        )
        yield Batch(number=number, rows=tuple(rows[lo:hi].tolist()), items=items)
