"""What the server already holds, looked up in bulk, and what each valid row therefore needs.

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

:func:`classify` then gives every valid row one of four words — the same in ``plan`` and ``run``:

* ``new``: the member holds no membership; the row's references exist: create it;
* ``exists``: the member holds an identical membership (same geography and department): nothing
  to write, the row succeeds with that membership's id;
* ``differs``: the member holds another membership: report, move or add (the user's choice);
* ``missing reference``: no such geography/department (or one of the wrong type), no such
  user/workspace on the account, or a disabled user.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from importer.api import (
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
from importer.core import (
    DIFFERS,
    EXISTS,
    MISSING,
    NEW,
    PLAN_WORDS,
    RejectedBatchError,
)

__all__ = [
    "LISTS_HONOURED",
    "LISTS_IGNORED",
    "LISTS_UNKNOWN",
    "Holdings",
    "Verdicts",
    "classify",
    "organizations_of",
]

# Whether ``member_id=1,2,3`` is honoured by this server.
LISTS_HONOURED, LISTS_IGNORED, LISTS_UNKNOWN = "honoured", "ignored", "unknown"
_LIST_MAX = 200  # member ids per request when lists are honoured
_PEOPLE_SLICE = 20_000  # members whose user/workspace is looked up at a time (100 requests)

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


@dataclass(frozen=True)
class Verdicts:
    """The plan of every valid row (indexed by source row).

    Columns: ``action`` (a plan word), ``membership_id`` (exists: the identical one; differs:
    the one to move when the member holds exactly one), ``holds`` (how many memberships the
    member holds), ``prev_geography_id``/``prev_department_id`` (the one to move), ``field`` and
    ``detail`` (why, for differs and missing reference).
    """

    frame: pd.DataFrame

    def count(self) -> dict[str, int]:
        counts = self.frame["action"].value_counts()
        return {word: int(counts.get(word, 0)) for word in PLAN_WORDS}


def _org_problems(ids: pd.Series, want: str, orgs: dict[int, tuple[str, str]]) -> pd.Series:
    """Per row: "" or why ``ids`` is not an organization of type ``want``."""
    out = pd.Series("", index=ids.index, dtype=object)
    word = want.lower()
    for org_id in ids.unique():
        org = orgs.get(int(org_id))
        if org is None:
            problem = f"{word} {org_id} not found on the account"
        elif org[0].casefold() != want.casefold():
            problem = f"{word} {org_id} is a {org[0]} ({org[1]}), not a {want}"
        else:
            continue
        out[ids == org_id] = problem
    return out


def classify(
    valid: pd.DataFrame,
    *,
    client: KantataClient,
    holdings: Holdings,
    organizations: dict[int, tuple[str, str]],
) -> Verdicts:
    """The plan word of every row of ``valid`` (columns geography_id, department_id, member_id,
    member_type; indexed by source row), from batched look-ups only.

    Args:
        valid: the rows to classify.
        client: for users/workspaces by id (200 a request, only for members holding nothing
            or another membership).
        holdings: the membership look-ups.
        organizations: every organization of the account: id -> (type, name).
    """
    n = len(valid)
    geo = valid["geography_id"].astype("int64")
    dept = valid["department_id"].astype("int64")
    mid = valid["member_id"].astype("int64")
    mtype = valid["member_type"].astype(str)
    action = np.full(n, NEW, dtype=object)
    membership = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    fields = np.full(n, "", dtype=object)
    holds = np.zeros(n, dtype="int64")
    prev_geo = np.full(n, None, dtype=object)
    prev_dept = np.full(n, None, dtype=object)

    geo_problem = _org_problems(geo, "Geography", organizations).to_numpy()
    dept_problem = _org_problems(dept, "Department", organizations).to_numpy()
    bad_ref = (geo_problem != "") | (dept_problem != "")
    detail[bad_ref] = np.where(
        (geo_problem != "") & (dept_problem != ""),
        geo_problem + "; " + dept_problem,
        geo_problem + dept_problem,
    )[bad_ref]
    fields[bad_ref] = np.where(geo_problem != "", "geography_id", "department_id")[bad_ref]
    action[bad_ref] = MISSING

    geo_a, dept_a, mid_a = geo.to_numpy(), dept.to_numpy(), mid.to_numpy()
    members = list(zip(mid_a.tolist(), mtype.tolist(), strict=True))
    held = holdings.lookup(set(members), fresh=False)
    holder = np.asarray([bool(held.get(m)) for m in members], dtype=bool)
    for i in np.flatnonzero(holder & ~bad_ref):
        ms = held[members[i]]
        holds[i] = len(ms)
        same = next((m for m in ms if m.at(int(geo_a[i]), int(dept_a[i]))), None)
        if same is not None:
            action[i], membership[i] = EXISTS, same.id
            continue
        action[i] = DIFFERS
        fields[i] = "member_id"
        if len(ms) == 1:
            membership[i] = ms[0].id
            prev_geo[i], prev_dept[i] = ms[0].geography_id, ms[0].department_id

    # A member holding a membership exists; the others are looked up (200 a request), and so
    # are those holding another one, whose message names them.
    differs = action == DIFFERS
    looked = (~holder & ~bad_ref) | differs
    names = _MemberNames(n)
    org_names = {k: v[1] for k, v in organizations.items()}
    for member_type, lookup in (
        ("User", client.users_by_id),
        ("Workspace", client.workspaces_by_id),
    ):
        rows = np.flatnonzero(looked & (mtype.to_numpy() == member_type))
        word = member_type.lower()
        # In slices, so that a million new members are never a million Person objects at once.
        for lo in range(0, len(rows), _PEOPLE_SLICE):
            part = rows[lo : lo + _PEOPLE_SLICE]
            found = lookup(mid_a[part].tolist())
            labels = []
            for i in part:
                person = found.get(int(mid_a[i]))
                labels.append("" if person is None else person.label)
                if differs[i]:
                    ms = held[members[i]]
                    listing = "; ".join(m.describe(org_names) for m in ms[:5]) + (
                        f" and {len(ms) - 5} more" if len(ms) > 5 else ""
                    )
                    who = f"{labels[-1]} ({mid_a[i]})" if labels[-1] else str(mid_a[i])
                    detail[i] = f"{member_type} {who} already holds {listing}"
                elif person is None:
                    action[i], fields[i] = MISSING, "member_id"
                    detail[i] = f"no {word} {mid_a[i]} on the account"
                elif person.disabled:
                    action[i], fields[i] = MISSING, "member_id"
                    detail[i] = f"{word} {mid_a[i]} ({person.label}) is disabled on the account"
            names.add(part, labels)
    frame = pd.DataFrame(
        {
            "action": action,
            "membership_id": membership,
            "holds": holds,
            "prev_geography_id": prev_geo,
            "prev_department_id": prev_dept,
            "field": fields,
            "detail": detail,
            "member_name": names.column(),
        },
        index=valid.index,
    )
    return Verdicts(frame)


class _MemberNames:
    """The labels of looked-up members, kept as Arrow text (a million new members cost a few
    tens of MB, not a million Python strings): ``""`` for rows not looked up."""

    def __init__(self, n: int) -> None:
        self._at = np.full(n, -1, dtype=np.int64)
        self._parts: list[pa.Array] = []
        self._count = 0

    def add(self, rows: np.ndarray, labels: list[str]) -> None:
        self._at[rows] = np.arange(self._count, self._count + len(labels))
        self._parts.append(pa.array(labels, pa.large_string()))
        self._count += len(labels)

    def column(self) -> pd.api.extensions.ExtensionArray:
        values = pa.concat_arrays([*self._parts, pa.array([""], pa.large_string())])
        at = np.where(self._at < 0, self._count, self._at)
        return pd.arrays.ArrowExtensionArray(values.take(pa.array(at)))


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


def members_of(frame: pd.DataFrame) -> Sequence[Member]:
    """The (member_id, member_type) pairs of a frame's rows, in order."""
    return list(
        zip(
            frame["member_id"].astype("int64").tolist(),
            frame["member_type"].astype(str).tolist(),
            strict=True,
        )
    )
