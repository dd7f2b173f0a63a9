"""What each classified row gets: the one rule ``plan`` and ``run`` share.

``classify`` gives every valid row a plan word; ``decide`` turns the words into what is done, for
the user's choice about a member holding another membership (``differs``: ``report``, ``move``
or ``add``):

* ``exists``: nothing to write; the row succeeds with the identical membership's id;
* ``missing reference``: fails;
* ``differs``: fails with ``report``; with ``move``, is moved when the member holds exactly one
  membership and fails otherwise; with ``add``, is created beside the one held;
* ``new``: is created.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from importer.core import (
    DIFFERS,
    DIFFERS_ADD,
    DIFFERS_MODES,
    DIFFERS_MOVE,
    DIFFERS_REPORT,
    EXISTS,
    MISSING,
    NEW,
)

__all__ = ["Decisions", "check_differs", "decide"]

_HINT = {
    DIFFERS_REPORT: "; run with --move to move it, or --add to add another membership",
    DIFFERS_MOVE: "; --move moves a member's only membership: this one holds several, fix by hand",
}


@dataclass(frozen=True)
class Decisions:
    """What a run does with each classified row (frames indexed by source row).

    Attributes:
        exists: rows already in place: their verdicts (``membership_id`` the identical one).
        failed: rows that fail, with ``error_field`` and ``error_message``.
        create: the rows to create.
        move: the verdicts of the rows to move (``membership_id``, ``prev_geography_id``,
            ``prev_department_id``).
    """

    exists: pd.DataFrame
    failed: pd.DataFrame
    create: pd.Index
    move: pd.DataFrame


def check_differs(differs: str) -> None:
    """Raise ``ValueError`` unless ``differs`` is ``report``, ``move`` or ``add``."""
    if differs not in DIFFERS_MODES:
        raise ValueError(f"differs must be one of {', '.join(DIFFERS_MODES)}, not {differs!r}")


def decide(verdicts: pd.DataFrame, differs: str) -> Decisions:
    """What each row of ``verdicts`` (``classify``'s frame) gets, for the ``differs`` choice.

    Raises:
        ValueError: ``differs`` is not one of ``report``, ``move``, ``add``.
    """
    check_differs(differs)
    action = verdicts["action"]
    differing = action == DIFFERS
    movable = differing & (verdicts["holds"] == 1)
    failing = action == MISSING
    if differs == DIFFERS_REPORT:
        failing |= differing
    elif differs == DIFFERS_MOVE:
        failing |= differing & ~movable
    bad = verdicts[failing]
    message = bad["detail"].astype(str)
    if differs in _HINT:
        message = message.where(bad["action"] != DIFFERS, message + _HINT[differs])
    creating = (action == NEW) | (differing if differs == DIFFERS_ADD else False)
    return Decisions(
        exists=verdicts[action == EXISTS],
        failed=pd.DataFrame(
            {"error_field": bad["field"], "error_message": message}, index=bad.index
        ),
        create=verdicts.index[creating.to_numpy()],
        move=verdicts[movable] if differs == DIFFERS_MOVE else verdicts.iloc[:0],
    )
