"""Batching: order kept, nothing lost, at most 100 per payload, ints as ints."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.send import iter_batches


def valid_frame(n: int, start: int = 2) -> pd.DataFrame:
    """Typed valid rows as validation returns them."""
    return pd.DataFrame(
        {
            "geography_id": [101] * n,
            "department_id": [202] * n,
            "member_id": list(range(10001, 10001 + n)),
            "member_type": ["User"] * n,
        },
        index=pd.Index(range(start, start + n), name="source_row", dtype="int64"),
    ).astype({"geography_id": "int64", "department_id": "int64", "member_id": "int64"})


def test_payload_is_exactly_the_documented_shape() -> None:
    """The body is {"organization_memberships": [{4 fields}]}, with JSON integers."""
    batch = next(iter_batches(valid_frame(2)))
    body = json.loads(json.dumps(batch.payload()))
    assert body == {
        "organization_memberships": [
            {"geography_id": 101, "department_id": 202, "member_id": 10001, "member_type": "User"},
            {"geography_id": 101, "department_id": 202, "member_id": 10002, "member_type": "User"},
        ]
    }
    assert batch.rows == (2, 3)


@pytest.mark.parametrize("size", [0, 101])
def test_batch_size_out_of_range_is_refused(size: int) -> None:
    """The API takes 1..100 objects per request."""
    with pytest.raises(ValueError, match="batch size"):
        list(iter_batches(valid_frame(3), size))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=0, max_value=450), size=st.integers(min_value=1, max_value=100))
def test_batches_keep_order_and_lose_nothing(n: int, size: int) -> None:
    """Concatenated batches give back every row once, in file order, each batch <= size."""
    frame = valid_frame(n)
    batches = list(iter_batches(frame, size))
    assert len(batches) == -(-n // size)
    assert all(1 <= len(b) <= size for b in batches)
    assert [r for b in batches for r in b.rows] == list(frame.index)
    assert [i["member_id"] for b in batches for i in b.items] == list(frame["member_id"])
    assert [b.number for b in batches] == list(range(1, len(batches) + 1))
