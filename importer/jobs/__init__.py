"""The commands as library calls: ``validate_file``, ``plan_file``, ``run_import``, ``undo_run``,
``check_account`` (doctor) and ``write_template``, and what they give back (``ImportResult``,
``Progress``, the exit codes).

The jobs that read a file share one skeleton (``_skeleton.py``: open the input, look names up,
check every row, then only report, plan or send, and write the results and the summary); each
job is its few lines of differences. Importing this package loads neither pandas nor the rest of
the data stack: a job imports the skeleton when it runs, so ``importer doctor`` (HTTP only)
never does. Everything else in this package is private (``_name.py``).
"""

from importer.core import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_ROWS_FAILED
from importer.jobs._doctor import check_account
from importer.jobs._plan import plan_file
from importer.jobs._result import PLAN_FILE, ImportResult, Progress, ProgressCallback
from importer.jobs._run import run_import
from importer.jobs._template import write_template
from importer.jobs._undo import undo_run
from importer.jobs._validate import validate_file

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
    "plan_file",
    "run_import",
    "undo_run",
    "validate_file",
    "write_template",
]
