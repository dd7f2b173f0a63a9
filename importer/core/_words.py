"""The words every stage and front-end shares: a row's status and failure stage in the reports,
the plan's action for a row, and the choices for a row whose member holds another membership.

Each is defined here once; the reports, ``plan.csv``, ``summary.json``, the journal and the web
page spell them the same way.
"""

from __future__ import annotations

__all__ = [
    "DIFFERS",
    "DIFFERS_ADD",
    "DIFFERS_MODES",
    "DIFFERS_MOVE",
    "DIFFERS_REPORT",
    "EXISTS",
    "MISSING",
    "NAME_COLUMNS",
    "NEW",
    "OUTCOME_COLUMNS",
    "PLAN_WORDS",
    "STAGE_NOT_PROCESSED",
    "STAGE_REMOTE",
    "STAGE_VALIDATION",
    "STATUS_CREATED",
    "STATUS_EXISTED",
    "STATUS_FAILED",
    "STATUS_MOVED",
    "STATUS_SUCCEEDED",
]

# A row's outcome (the ``status`` column of the reports).
STATUS_CREATED = "created"  # this run created the membership
STATUS_EXISTED = "existed"  # an identical membership was already on the server: nothing written
STATUS_MOVED = "moved"  # this run moved the member's one membership to the row's place
STATUS_FAILED = "failed"
#: The row's membership is in place: ``success.csv``.
STATUS_SUCCEEDED = (STATUS_CREATED, STATUS_EXISTED, STATUS_MOVED)
# Where a failed row failed (the ``error_stage`` column).
STAGE_VALIDATION = "validation"
STAGE_REMOTE = "remote"
STAGE_NOT_PROCESSED = "not_processed"

#: The columns the reports add to each input row.
OUTCOME_COLUMNS = [
    "status",
    "organization_membership_id",
    "note",
    "error_stage",
    "error_field",
    "error_message",
]

#: Columns the results add beside a row's ids: who and where, by name, from what the run looked
#: up anyway ("" when it did not: the input's own columns then say who it is).
NAME_COLUMNS = ["member_name", "geography_name", "department_name"]

# The plan's words (``plan.csv`` ``action``, summary counts, CLI), one per valid row.
NEW, EXISTS, DIFFERS, MISSING = "new", "exists", "differs", "missing reference"
PLAN_WORDS = (NEW, EXISTS, DIFFERS, MISSING)

# What to do with a row whose member holds another membership (``--move`` / ``--add``).
DIFFERS_REPORT, DIFFERS_MOVE, DIFFERS_ADD = "report", "move", "add"
DIFFERS_MODES = (DIFFERS_REPORT, DIFFERS_MOVE, DIFFERS_ADD)
