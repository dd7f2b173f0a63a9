"""The commands as library calls: ``validate_file``, ``plan_file``, ``run_import``, ``undo_run``,
``check_account`` (doctor) and ``write_template``, and what they give back (``ImportResult``,
``Progress``, the exit codes).

Each job opens the input, looks names up, checks the rows, then plans, sends or only reports; the
front-ends (``cli``, ``web``, ``drop``) call these and nothing below them. Everything else in
this package is private (``_name.py``).
"""

from importer.core import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_ROWS_FAILED
from importer.jobs._doctor import check_account
from importer.jobs._plan import PLAN_FILE, plan_file
from importer.jobs._result import ImportResult, Progress, ProgressCallback
from importer.jobs._run import run_import, validate_file
from importer.jobs._table import default_out_dir, open_input, with_cell_notes
from importer.jobs._template import write_template
from importer.jobs._undo import undo_run

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_ROWS_FAILED",
    "PLAN_FILE",
    "ImportResult",
    "Progress",
    "ProgressCallback",
    "check_account",
    "default_out_dir",
    "open_input",
    "plan_file",
    "run_import",
    "undo_run",
    "validate_file",
    "with_cell_notes",
    "write_template",
]
