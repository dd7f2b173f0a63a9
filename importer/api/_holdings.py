"""What the server already holds, looked up in bulk: the memberships of a set of members.

:class:`Holdings` finds the existing memberships of a set of members, choosing per run whichever
costs fewer requests:

* list every membership of the account (``GET /organization_memberships``, 200 a page; the first
  page says how many there are), or
* look the members up by ``member_id``: a comma list of 200 ids a request when the server honours
  such a list, else one member a request. Whether it does is *not documented*
  (docs/kantata-api.md § Updating and deleting), so it is probed at the start of the run with two
  members known to hold memberships: both found and nothing else means honoured.

Whatever the strategy, every object a filtered listing returns is checked against what was asked:
a Rails API ignores a filter it does not know and returns *everything*, and trusting it would make
every member look as if it held every membership. A filter found ignored is not used again.

Pure look-ups (no pandas): ``importer doctor`` uses them to describe an account, the send stage
(``importer.send.classify``) to give each row its plan word.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from importer.api._client import (
    INCLUDE_ORGS,
    MEMBERSHIPS,
    PER_PAGE,
    KantataClient,
    Membership,
    memberships_in,
    objects_in,
    page_count,
    total_count,
)
from importer.core import RejectedBatchError

__all__ = [
    "LISTS_HONOURED",
    "LISTS_IGNORED",
    "LISTS_UNKNOWN",
    "Holdings",
    "Member",
    "organizations_of",
]

# Whether ``member_id=1,2,3`` is honoured by this server.
LISTS_HONOURED, LISTS_IGNORED, LISTS_UNKNOWN = "honoured", "ignored", "unknown"
_LIST_MAX = 200  # member ids per request when lists are honoured

Member = tuple[int, str]


@dataclass
class Holdings:
    """The existing memberships of members, looked up in bulk (see the module docstring).

    Attributes:
        lists: whether the server honours ``member_id`` lists (after :meth:`probe`).
        total: memberships on the account (from the first page of a full listing).
        several: ``True`` once a membership with a ``primary`` field or two memberships of one
            member were seen (an account with several memberships per member).
    """

    client: KantataClient
    lists: str = LISTS_UNKNOWN
    total: int | None = None
    several: bool | None = None
    single_ok: bool = True  # False once a one-id filter came back with other members
    _first: list[Membership] | None = field(default=None, repr=False)
    _probed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- the probe ---------------------------------------------------------------------------
    def probe(self, *, lists: bool = False) -> None:
        """Learn the account's size and whether ``member_id`` lists work (at most 2 requests).

        Args:
            lists: test lists even when the account is small enough to be listed whole (which
                is what a run then does, so a run never needs to know).
        """
        with self._lock:
            if not self._probed:
                self._probe(lists)
                self._probed = True

    def _probe(self, force_lists: bool) -> None:
        first = self.client.request(
            "GET", MEMBERSHIPS, params={"include": INCLUDE_ORGS, "page": 1, "per_page": PER_PAGE}
        )
        self._first = memberships_in(first)
        self._learn(self._first)
        count = total_count(first)
        pages = page_count(first, MEMBERSHIPS)
        self.total = count if count is not None else len(self._first) * pages
        if pages <= 1:
            # Listing everything costs nothing more: lists never need to be used.
            self.total = len(self._first)
            if not force_lists:
                return
        by_type: dict[str, list[int]] = {}
        for m in self._first:
            ids = by_type.setdefault(m.member_type, [])
            if m.member_id not in ids:
                ids.append(m.member_id)
        pair = next(((t, ids[:2]) for t, ids in by_type.items() if len(ids) >= 2), None)
        if pair is None:
            return
        member_type, ids = pair
        try:
            got = self._listing({"member_id": f"{ids[0]},{ids[1]}", "member_type": member_type})
        except RejectedBatchError:
            # A server that refuses the list (400/422) honours it no more than one ignoring it.
            self.lists = LISTS_IGNORED
            return
        members = {m.member for m in got}
        asked = {(i, member_type) for i in ids}
        self.lists = LISTS_HONOURED if members == asked else LISTS_IGNORED

    def _learn(self, found: Iterable[Membership]) -> None:
        seen: set[Member] = set()
        for m in found:
            if m.primary is not None or m.member in seen:
                self.several = True
            seen.add(m.member)

    def _listing(self, params: dict[str, str]) -> list[Membership]:
        found = list(self.client.memberships(params))
        self._learn(found)
        return found

    # -- look-ups ----------------------------------------------------------------------------
    def lookup(
        self, members: Iterable[Member], *, fresh: bool = True
    ) -> dict[Member, list[Membership]]:
        """The memberships each of ``members`` holds (members holding none are absent: use
        ``.get(member, [])``), whichever way is cheaper.

        Args:
            members: (member_id, member_type) pairs.
            fresh: ask the server now. ``False`` (classification at the start of a run, before
                anything was written) may reuse the probe's first page of the full listing.
        """
        self.probe()
        wanted = set(members)
        by_type: dict[str, list[int]] = {}
        for member_id, member_type in sorted(wanted):
            by_type.setdefault(member_type, []).append(member_id)
        held: dict[Member, list[Membership]] = {}
        if not wanted:
            return held
        if self._listing_is_cheaper(by_type):
            found: Iterable[Membership] = self._everything(fresh)
        else:
            found = self._by_member(by_type)
        for m in found:
            if m.member in wanted:
                held.setdefault(m.member, []).append(m)
        return held

    def _listing_is_cheaper(self, by_type: dict[str, list[int]]) -> bool:
        pages = math.ceil((self.total or 0) / PER_PAGE)
        if pages <= 1 or not self.single_ok:
            return True
        if self.lists == LISTS_HONOURED:
            asks = sum(math.ceil(len(ids) / _LIST_MAX) for ids in by_type.values())
        else:
            asks = sum(len(ids) for ids in by_type.values())
        return pages <= asks

    def _everything(self, fresh: bool = True) -> list[Membership]:
        if not fresh and self._first is not None and math.ceil((self.total or 0) / PER_PAGE) <= 1:
            return list(self._first)
        found = self._listing({})
        self.total = len(found)
        return found

    def _by_member(self, by_type: dict[str, list[int]]) -> list[Membership]:
        found: list[Membership] = []
        for member_type, ids in by_type.items():
            size = _LIST_MAX if self.lists == LISTS_HONOURED else 1
            lo = 0
            while lo < len(ids):
                chunk = ids[lo : lo + size]
                params = {"member_id": ",".join(map(str, chunk)), "member_type": member_type}
                got = self._listing(params)
                asked = {(i, member_type) for i in chunk}
                if any(m.member not in asked for m in got):
                    # The filter was ignored: never trust it again, and redo this part.
                    if size > 1:
                        self.lists = LISTS_IGNORED
                        size = 1
                        continue
                    self.single_ok = False
                    return self._everything()
                found.extend(got)
                lo += len(chunk)
        return found


def organizations_of(client: KantataClient) -> dict[int, tuple[str, str]]:
    """Every organization of the account, id -> (type, name): one paged listing (at most 400
    organizations, docs/kantata-api.md § Lookups: 2 pages of 200)."""
    out: dict[int, tuple[str, str]] = {}
    for page in client.pages("organizations"):
        for key, obj in objects_in(page, "organizations").items():
            out[int(obj.get("id") or key)] = (
                str(obj.get("type") or ""),
                str(obj.get("name") or ""),
            )
    return out
