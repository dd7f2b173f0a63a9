"""What each valid row needs, given what the server holds: the plan's four words.

:func:`classify` gives every valid row one of four words — the same in ``plan`` and ``run`` —
from batched look-ups only (``importer.api.Holdings`` for memberships):

* ``new``: the member holds no membership; the row's references exist: create it;
* ``exists``: the member holds an identical membership (same geography and department): nothing
  to write, the row succeeds with that membership's id;
* ``differs``: the member holds another membership: report, move or add (the user's choice,
  :func:`importer.send.decide`);
* ``missing reference``: no such geography/department (or one of the wrong type), no such
  user/workspace on the account, or a disabled user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from importer.api import Holdings, KantataClient, Member
from importer.core import DIFFERS, EXISTS, MISSING, NEW, PLAN_WORDS

__all__ = ["Verdicts", "classify", "members_of"]

_PEOPLE_SLICE = 20_000  # members whose user/workspace is looked up at a time (100 requests)


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


def members_of(frame: pd.DataFrame) -> Sequence[Member]:
    """The (member_id, member_type) pairs of a frame's rows, in order."""
    return list(
        zip(
            frame["member_id"].astype("int64").tolist(),
            frame["member_type"].astype(str).tolist(),
            strict=True,
        )
    )
