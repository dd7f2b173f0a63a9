"""Send creates and moves, and account for every row, exactly once, whatever the server does.

* Before every request its rows are journaled *in flight* with the time it left (a move also with
  the place the member held before), so a crash leaves nothing unaccounted for.
* A create refused as a whole (400/422) is over on the server: what it may have applied (some
  servers apply bulk requests partly) is looked up, then the rest is split in halves until each
  bad row is alone, so every good row is still created and each bad row gets the server's words.
* Objects missing from a 200 reply are looked up (the request is over, so the look-up is
  authoritative), never blindly re-sent.
* A request whose reply was lost may still be executing on the server, for up to the server's
  time limit (3 minutes on the real API): its rows are *parked*. They are looked up only once
  that time has passed since the request left, and only the absent are sent again. So a row is
  never created twice, even on accounts that accept several memberships per member.
* "Member has already been taken": a membership identical to the row is a success (its id is
  reported); a different one is an error naming it.

Outcomes are reported into a sink as soon as they are known, so a fatal error that escapes
mid-batch loses nothing already learned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from importer.api import Holdings, KantataClient, Membership
from importer.core import (
    STAGE_NOT_PROCESSED,
    STAGE_REMOTE,
    STATUS_CREATED,
    STATUS_EXISTED,
    STATUS_MOVED,
    BadResponseError,
    OutcomeUnknownError,
    RejectedBatchError,
)
from importer.send._batch import Batch
from importer.send._journal import KIND_CREATE, KIND_MOVE

NOTE_EXISTED = "identical membership already on the server"
NOTE_CONFIRMED = "created; confirmed by lookup after the reply was lost"
NOTE_OMITTED = "created; the server's reply left it out, confirmed by lookup"
NOTE_MOVE_CONFIRMED = "moved; confirmed by lookup after the reply was lost"
_TAKEN_HINTS = ("already", "taken", "exists")
_FIELD_WORDS = (
    ("geography", "geography_id"),
    ("department", "department_id"),
    ("member type", "member_type"),
    ("member_type", "member_type"),
    ("member", "member_id"),
)
_MARGIN = 5.0  # seconds past the server's time limit before a look-up can be trusted
# ``sent_at`` of a request whose (unusable) reply arrived: the server is done with it, so
# a look-up can be trusted at once.
_ANSWERED = float("-inf")


class Sink(Protocol):
    """Where the sender reports: in-flight records before requests, outcomes after."""

    def in_flight(
        self,
        rows: Sequence[int],
        batch: int,
        *,
        kind: str = ...,
        places: Sequence[tuple[int, int]] | None = ...,
        moves: Sequence[tuple[str, int | None, int | None]] | None = ...,
        members: Sequence[tuple[int, str]] | None = ...,
    ) -> float: ...

    def created(
        self,
        rows: Sequence[int],
        ids: Sequence[str],
        note: str = "",
        *,
        status: str = STATUS_CREATED,
        updated: Sequence[str | None] | None = None,
    ) -> None: ...

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None: ...

    def release(self, rows: Sequence[int]) -> None: ...


@dataclass(frozen=True)
class Move:
    """One row whose member's single membership is to be moved to the row's place."""

    row: int
    membership_id: str
    geography_id: int
    department_id: int
    prev_geography_id: int | None
    prev_department_id: int | None


@dataclass
class _Parked:
    """Rows whose request may still be executing on the server."""

    kind: str
    sent_at: float
    batch: Batch | None = None
    move: Move | None = None
    reason: str = ""

    def rows(self) -> list[int]:
        if self.batch is not None:
            return list(self.batch.rows)
        assert self.move is not None
        return [self.move.row]


def _key(item: dict[str, Any]) -> tuple[int, str, int, int]:
    return (
        int(item["member_id"]),
        str(item["member_type"]),
        int(item["geography_id"]),
        int(item["department_id"]),
    )


def _held_key(m: Membership) -> tuple[int, str, int, int] | None:
    if m.geography_id is None or m.department_id is None:
        return None
    return (m.member_id, m.member_type, m.geography_id, m.department_id)


class BatchSender:
    """Sends creates (bulk) and moves (one by one) and reports each row's outcome.

    Args:
        client: the API client.
        sink: records in-flight rows and receives outcomes (the journal and the run's record).
        holdings: the membership look-ups (for anything in doubt).
        reconcile_rounds: how many times rows in doubt are looked up and re-sent before they are
            left, in doubt, for the next run.
        clock: for tests.
    """

    def __init__(
        self,
        client: KantataClient,
        sink: Sink,
        holdings: Holdings,
        *,
        reconcile_rounds: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.sink = sink
        self.holdings = holdings
        self.reconcile_rounds = reconcile_rounds
        self._clock = clock
        self._lock = threading.Lock()
        self._parked: list[_Parked] = []
        self.reconciled = 0
        self.on_wait: Callable[[float, int], None] | None = None
        self.org_names: dict[int, str] = {}  # organization id -> name, for messages

    @property
    def splits(self) -> int:
        return self.client.counts["splits"]

    # -- creates ------------------------------------------------------------------------------
    def send(self, batch: Batch, *, again: bool = False) -> None:
        """Create ``batch``'s rows; every row gets an outcome or is parked in doubt.

        ``again``: these rows were left out of a 200 reply and then not found: if this reply
        leaves them out too, they are parked (re-sent a bounded number of times), never re-sent
        in a loop.
        """
        if not len(batch):
            return
        places = [(int(i["geography_id"]), int(i["department_id"])) for i in batch.items]
        members = [(int(i["member_id"]), str(i["member_type"])) for i in batch.items]
        sent_at = self.sink.in_flight(
            batch.rows, batch.number, kind=KIND_CREATE, places=places, members=members
        )
        try:
            created = self.client.create_memberships(batch.items)
        except RejectedBatchError as exc:
            if len(batch) == 1:
                self._refused_alone(batch, exc)
                return
            rest = self._confirm(batch, NOTE_CONFIRMED)  # a partial bulk may have applied some
            if not len(rest):
                return
            self.client.counts.add("splits")
            if len(rest) < len(batch):
                self.send(rest)
                return
            mid = len(rest) // 2
            self.send(rest.sub(range(mid)))
            self.send(rest.sub(range(mid, len(rest))))
            return
        except OutcomeUnknownError as exc:
            self._park(_Parked(KIND_CREATE, sent_at, batch=batch, reason=str(exc)))
            return
        except BadResponseError as exc:
            # A whole reply came back (unusable): the request is over, look it up at once.
            self._park(_Parked(KIND_CREATE, _ANSWERED, batch=batch, reason=str(exc)))
            return
        by_key = {k: m for m in created if (k := _held_key(m)) is not None}
        rows, ids, missing, updated = [], [], [], []
        for i, item in enumerate(batch.items):
            found = by_key.get(_key(item))
            if found is not None:
                rows.append(batch.rows[i])
                ids.append(found.id)
                updated.append(found.updated_at)
            else:
                missing.append(i)
        if rows:
            self.sink.created(rows, ids, updated=updated)
        if missing:
            # The reply is in, so the request is over: look up what it left out, send the rest.
            rest = self._confirm(batch.sub(missing), NOTE_OMITTED)
            if not len(rest):
                return
            if not again:
                self.send(rest, again=True)
                return
            reason = "HTTP 200 reply without the created objects, and not found by a look-up"
            self._park(_Parked(KIND_CREATE, _ANSWERED, batch=rest, reason=reason))

    def _confirm(self, batch: Batch, note: str) -> Batch:
        """Rows of ``batch`` now held identically on the server are created (by this run: they
        were new when classified); returns the batch of the others."""
        self.reconciled += 1
        held = self.holdings.lookup(
            {(int(i["member_id"]), str(i["member_type"])) for i in batch.items}
        )
        rows, ids, rest, updated = [], [], [], []
        for i, item in enumerate(batch.items):
            same = next(
                (
                    m
                    for m in held.get((int(item["member_id"]), str(item["member_type"])), [])
                    if _held_key(m) == _key(item)
                ),
                None,
            )
            if same is not None:
                rows.append(batch.rows[i])
                ids.append(same.id)
                updated.append(same.updated_at)
            else:
                rest.append(i)
        if rows:
            self.sink.created(rows, ids, note, updated=updated)
        return batch.sub(rest)

    def _refused_alone(self, batch: Batch, exc: RejectedBatchError) -> None:
        item, row = batch.items[0], batch.rows[0]
        message = "; ".join(exc.messages) or str(exc)
        field = next((f for f in exc.fields if f), "") or _field_of(message)
        if any(hint in message.lower() for hint in _TAKEN_HINTS):
            member = (int(item["member_id"]), str(item["member_type"]))
            held = self.holdings.lookup({member}).get(member, [])
            same = next((m for m in held if _held_key(m) == _key(item)), None)
            if same is not None:
                self.sink.created([row], [same.id], NOTE_EXISTED, status=STATUS_EXISTED)
                return
            if held:
                listing = "; ".join(m.describe(self.org_names) for m in held[:5])
                self.sink.failed(
                    [row],
                    STAGE_REMOTE,
                    "member_id",
                    f"{member[1]} {member[0]} already holds {listing}; server said: {message}",
                )
                return
        self.sink.failed(
            [row], STAGE_REMOTE, field, f"server refused (HTTP {exc.status}): {message}"
        )

    # -- moves --------------------------------------------------------------------------------
    def move(self, move: Move, number: int = 0) -> None:
        """Move one member's single membership to the row's place (``PUT``)."""
        sent_at = self.sink.in_flight(
            [move.row],
            number,
            kind=KIND_MOVE,
            places=[(move.geography_id, move.department_id)],
            moves=[(move.membership_id, move.prev_geography_id, move.prev_department_id)],
        )
        try:
            moved = self.client.move_membership(
                move.membership_id, move.geography_id, move.department_id
            )
        except RejectedBatchError as exc:
            message = "; ".join(exc.messages) or str(exc)
            field = next((f for f in exc.fields if f), "") or _field_of(message)
            if exc.status == 404:
                message = f"membership {move.membership_id} no longer exists ({message})"
            self.sink.failed(
                [move.row], STAGE_REMOTE, field, f"move refused (HTTP {exc.status}): {message}"
            )
            return
        except OutcomeUnknownError as exc:
            self._park(_Parked(KIND_MOVE, sent_at, move=move, reason=str(exc)))
            return
        except BadResponseError as exc:
            self._park(_Parked(KIND_MOVE, _ANSWERED, move=move, reason=str(exc)))
            return
        self.sink.created(
            [move.row],
            [move.membership_id],
            status=STATUS_MOVED,
            updated=[moved.updated_at if moved else None],
        )

    # -- rows in doubt ------------------------------------------------------------------------
    def _park(self, parked: _Parked) -> None:
        with self._lock:
            self._parked.append(parked)

    def park_resumed(self, batch: Batch | None, move: Move | None, sent_at: float) -> None:
        """Rows an earlier run left in flight (its request sent at ``sent_at``)."""
        kind = KIND_CREATE if batch is not None else KIND_MOVE
        reason = "resumed after an interruption"
        self._park(_Parked(kind, sent_at, batch=batch, move=move, reason=reason))

    @property
    def in_doubt(self) -> int:
        with self._lock:
            return sum(len(p.rows()) for p in self._parked)

    def settle(self) -> None:
        """Resolve every parked request: wait until the server can no longer be executing it,
        look it up, confirm what it applied, send the rest again (a few rounds); rows still in
        doubt after that are reported ``not_processed`` and stay in flight for the next run."""
        for round_ in range(self.reconcile_rounds + 1):
            with self._lock:
                parked, self._parked = self._parked, []
            if not parked:
                return
            ready = max(p.sent_at for p in parked) + self.client.settings.server_time_limit
            wait = ready + _MARGIN - self._clock()
            if wait > 0:
                if self.on_wait is not None:
                    self.on_wait(wait, sum(len(p.rows()) for p in parked))
                self.client.wait(wait)
            last = round_ == self.reconcile_rounds
            self._settle_creates([p for p in parked if p.kind == KIND_CREATE], last)
            self._settle_moves([p for p in parked if p.kind == KIND_MOVE], last)

    def _settle_creates(self, parked: list[_Parked], last: bool) -> None:
        if not parked:
            return
        for p in parked:
            assert p.batch is not None
            rest = self._confirm(p.batch, NOTE_CONFIRMED)
            if not len(rest):
                continue
            if last:
                self._still_in_doubt(list(rest.rows), p.reason)
                continue
            self.sink.release(list(rest.rows))
            self.send(rest)

    def _settle_moves(self, parked: list[_Parked], last: bool) -> None:
        if not parked:
            return
        moves = [p.move for p in parked if p.move is not None]
        current = self.client.memberships_by_id(m.membership_id for m in moves)
        for p, move in zip(parked, moves, strict=True):
            now = current.get(move.membership_id)
            if now is None:
                self.sink.failed(
                    [move.row],
                    STAGE_REMOTE,
                    "member_id",
                    f"membership {move.membership_id} no longer exists on the server",
                )
            elif now.at(move.geography_id, move.department_id):
                self.sink.created(
                    [move.row],
                    [move.membership_id],
                    NOTE_MOVE_CONFIRMED,
                    status=STATUS_MOVED,
                    updated=[now.updated_at],
                )
            elif last:
                self._still_in_doubt([move.row], p.reason)
            else:
                self.move(move)

    def _still_in_doubt(self, rows: list[int], reason: str) -> None:
        self.sink.failed(
            rows,
            STAGE_NOT_PROCESSED,
            "",
            f"sent, but the outcome is still unknown after repeated attempts ({reason}); run "
            "the same command again: it looks these rows up before sending anything",
        )


def _field_of(message: str) -> str:
    """The column a server message is about, when it names one ("Geography 999 not found")."""
    words = message.lower()
    for prefix, column in _FIELD_WORDS:
        if words.startswith(prefix):
            return column
    return ""
