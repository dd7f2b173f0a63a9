"""Send one batch and account for every row of it, whatever the server does.

* A batch refused as a whole (400/422) is split in halves until each bad row is alone, so every
  good row is still created and each bad row gets the server's own message.
* Objects missing from a 200 (a server that applies bulk requests partially) are sent again on
  their own, to learn why.
* A reply that was lost (the server may have written) is never blindly re-sent: the server is
  asked which of those members now hold a membership; only the rest are sent again.
* "Member has already been taken": a membership identical to the row is a success (its id is
  reported); a different one is an error naming the existing geography and department.

Outcomes are reported into a sink as soon as they are known, so an ``AuthError`` or an exhausted
retry budget that escapes mid-batch loses nothing already learned.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from importer.batch import Batch
from importer.client import KantataClient, Membership
from importer.errors import BadResponseError, OutcomeUnknownError, RejectedBatchError
from importer.outcomes import STAGE_NOT_PROCESSED, STAGE_REMOTE, OutcomeSink

# Pre-existing, or written by a bulk request the server refused (some servers apply part of it):
# the API cannot tell the two apart, and both mean the row's membership is in place.
NOTE_EXISTED = "identical membership already on the server"
NOTE_CONFIRMED = "created; confirmed by lookup after the reply was lost"
_TAKEN_HINTS = ("already", "taken", "exists")
_FIELD_WORDS = (
    ("geography", "geography_id"),
    ("department", "department_id"),
    ("member type", "member_type"),
    ("member_type", "member_type"),
    ("member", "member_id"),
)


def _key(item: dict[str, Any]) -> tuple[int, str]:
    return (int(item["member_id"]), str(item["member_type"]))


def _same_place(item: dict[str, Any], m: Membership) -> bool:
    return m.geography_id == int(item["geography_id"]) and m.department_id == int(
        item["department_id"]
    )


class BatchSender:
    """Sends batches through a client and reports each row's outcome into ``sink``.

    Args:
        client: the API client.
        sink: receives created/failed outcomes as they become known.
        reconcile_rounds: how many times rows in doubt are looked up and re-sent before they are
            reported as failed.
    """

    def __init__(self, client: KantataClient, sink: OutcomeSink, *, reconcile_rounds: int = 3):
        self.client = client
        self.sink = sink
        self.reconcile_rounds = reconcile_rounds
        self.splits = 0
        self.reconciled = 0

    def send(self, batch: Batch) -> None:
        """Send ``batch``; every row gets exactly one outcome unless an ApiError escapes."""
        self._send(batch, self.reconcile_rounds)

    def recheck(self, batch: Batch) -> None:
        """Rows whose earlier request may have been applied: look up first, re-send the rest."""
        self._reconcile(batch, self.reconcile_rounds, reason="resumed after an interruption")

    def _send(self, batch: Batch, rounds: int) -> None:
        if not len(batch):
            return
        try:
            created = self.client.create_memberships(batch.items)
        except RejectedBatchError as exc:
            if len(batch) == 1:
                self._refused_alone(batch, exc)
                return
            self.splits += 1
            mid = len(batch) // 2
            self._send(batch.sub(range(mid)), rounds)
            self._send(batch.sub(range(mid, len(batch))), rounds)
            return
        except (OutcomeUnknownError, BadResponseError) as exc:
            self._reconcile(batch, rounds, reason=str(exc))
            return
        done_rows, done_ids, missing = [], [], []
        for i, item in enumerate(batch.items):
            found = created.get(_key(item))
            if found is not None and _same_place(item, found):
                done_rows.append(batch.rows[i])
                done_ids.append(found.id)
            else:
                missing.append(i)
        if done_rows:
            self.sink.created(done_rows, done_ids)
        if not missing:
            return
        rest = batch.sub(missing)
        if len(rest) < len(batch):
            # A partially applied bulk request: ask again for the others, to learn why.
            self._send(rest, rounds)
        else:
            # 200 without our objects: the reply cannot be trusted; ask the server.
            self._reconcile(rest, rounds, reason="HTTP 200 reply without the created objects")

    def _lookup(self, batch: Batch) -> dict[tuple[int, str], Membership]:
        by_type: dict[str, list[int]] = defaultdict(list)
        for item in batch.items:
            by_type[str(item["member_type"])].append(int(item["member_id"]))
        existing: dict[tuple[int, str], Membership] = {}
        for member_type, ids in by_type.items():
            for m in self.client.find_memberships(ids, member_type):
                existing.setdefault(m.member, m)
        return existing

    def _reconcile(self, batch: Batch, rounds: int, *, reason: str) -> None:
        """The outcome is unknown: record what the server now holds, re-send the rest."""
        self.reconciled += 1
        existing = self._lookup(batch)
        rows, ids, rest = [], [], []
        for i, item in enumerate(batch.items):
            m = existing.get(_key(item))
            if m is not None and _same_place(item, m):
                rows.append(batch.rows[i])
                ids.append(m.id)
            else:
                rest.append(i)
        if rows:
            self.sink.created(rows, ids, NOTE_CONFIRMED)
        if not rest:
            return
        if rounds <= 0:
            self.sink.failed(
                [batch.rows[i] for i in rest],
                STAGE_NOT_PROCESSED,
                "",
                f"outcome unknown after repeated attempts ({reason}); run the same command "
                "again to re-check and resend",
            )
            return
        self._send(batch.sub(rest), rounds - 1)

    def _refused_alone(self, batch: Batch, exc: RejectedBatchError) -> None:
        item, row = batch.items[0], batch.rows[0]
        message = "; ".join(exc.messages) or str(exc)
        if any(hint in message.lower() for hint in _TAKEN_HINTS):
            existing = self._lookup(batch).get(_key(item))
            if existing is not None and _same_place(item, existing):
                self.sink.created([row], [existing.id], NOTE_EXISTED)
                return
            if existing is not None:
                self.sink.failed(
                    [row],
                    STAGE_REMOTE,
                    "member",
                    f"{item['member_type']} {item['member_id']} already has a membership "
                    f"(id {existing.id}) in geography {existing.geography_id}, department "
                    f"{existing.department_id}; server said: {message}",
                )
                return
        self.sink.failed(
            [row],
            STAGE_REMOTE,
            _field_of(message),
            f"server refused (HTTP {exc.status}): {message}",
        )


def _field_of(message: str) -> str:
    """The column a server message is about, when it names one ("Geography 999 not found")."""
    words = message.lower()
    for prefix, column in _FIELD_WORDS:
        if words.startswith(prefix):
            return column
    return ""
