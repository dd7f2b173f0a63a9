"""Sending a batch: bisection of refused batches, partial servers, lost replies, conflicts."""

from __future__ import annotations

import pandas as pd
import pytest

from importer.api import Holdings, KantataClient
from importer.core import STATUS_CREATED, STATUS_EXISTED
from importer.report import Outcomes
from importer.sandbox import SandboxServer
from importer.send._batch import Batch
from importer.send._dispatch import Recorder
from importer.send._send import NOTE_CONFIRMED, NOTE_EXISTED, BatchSender

from ..conftest import settings_for


def make_batch(specs: list[tuple[int, int, int, str]], first_row: int = 2) -> Batch:
    """A batch from (geography, department, member, type) tuples."""
    items = tuple(
        {"geography_id": g, "department_id": d, "member_id": m, "member_type": t}
        for g, d, m, t in specs
    )
    return Batch(number=1, rows=tuple(range(first_row, first_row + len(items))), items=items)


def send(sandbox: SandboxServer, batch: Batch) -> tuple[pd.DataFrame, BatchSender]:
    """Send one batch to the sandbox (rows in doubt settled); return the outcomes frame."""
    outcomes = Outcomes()
    with KantataClient(settings_for(sandbox)) as client:
        sender = BatchSender(client, Recorder(outcomes, None), Holdings(client))
        sender.send(batch)
        sender.settle()
    return outcomes.frame(), sender


GOOD = [(105, 202, m, "User") for m in range(10010, 10040)]


@pytest.mark.parametrize("mode", ["atomic", "partial", "partial-error"])
def test_refused_batch_is_split_until_bad_rows_are_alone(sandbox: SandboxServer, mode: str) -> None:
    """Whatever the bulk semantics: good rows created once, bad rows get the server's message."""
    sandbox.set_knobs(bulk_mode=mode)
    specs = list(GOOD)
    specs[7] = (999, 202, 10017, "User")  # unknown geography
    specs[20] = (105, 202, 99999, "User")  # unknown user
    frame, sender = send(sandbox, make_batch(specs))
    assert len(frame) == 30
    failed = frame[frame["status"] != STATUS_CREATED]
    assert list(failed.index) == [9, 22]
    assert "999" in failed.loc[9, "error_message"]
    assert failed.loc[9, "error_stage"] == "remote"
    assert failed.loc[9, "error_field"] == "geography_id"
    assert failed.loc[22, "error_field"] == "member_id"
    created_members = sorted(int(m["member_id"]) for m in sandbox.memberships())
    expected = sorted(
        [*range(10001, 10006), *(m for _, _, m, _ in specs if m not in (10017, 99999))]
    )
    assert created_members == expected  # each exactly once
    if mode == "atomic":
        assert sender.splits > 0


def test_identical_existing_membership_is_success_with_its_id(sandbox: SandboxServer) -> None:
    """Refused as taken, the member holding exactly this membership: existed, its id reported."""
    existing = next(m for m in sandbox.memberships() if int(m["member_id"]) == 10001)
    frame, _ = send(
        sandbox,
        make_batch(
            [(int(existing["geography_id"]), int(existing["department_id"]), 10001, "User")]
        ),
    )
    assert frame.loc[2, "status"] == STATUS_EXISTED
    assert frame.loc[2, "organization_membership_id"] == str(existing["id"])
    assert frame.loc[2, "note"] == NOTE_EXISTED


def test_different_existing_membership_is_a_conflict_naming_it(sandbox: SandboxServer) -> None:
    """A member placed elsewhere already: an error naming the existing geography/department."""
    existing = next(m for m in sandbox.memberships() if int(m["member_id"]) == 10002)
    frame, _ = send(sandbox, make_batch([(108, 210, 10002, "User")]))
    message = frame.loc[2, "error_message"]
    assert frame.loc[2, "error_field"] == "member_id"
    assert f"geography {existing['geography_id']}" in message
    assert f"department {existing['department_id']}" in message


def test_lost_reply_is_reconciled_not_resent(sandbox: SandboxServer) -> None:
    """Reply lost after commit: parked, looked up after the server's limit; nothing sent twice."""
    sandbox.set_knobs(drop_after_commit=1.0)
    frame, sender = send(sandbox, make_batch(GOOD[:10]))
    assert (frame["status"] == STATUS_CREATED).all()
    assert set(frame["note"]) == {NOTE_CONFIRMED}
    assert sandbox.counters.create_requests == 1
    assert sender.reconciled == 1
    assert len(sandbox.memberships()) == 15
