"""Load spreadsheets of organization memberships into Kantata OX.

Library use (what the ``importer`` command does)::

    from importer import ApiSettings, ImportOptions, run_import

    result = run_import(
        "people.xlsx",
        out_dir="results",
        api=ApiSettings(base_url="https://api.mavenlink.com/api/v1", token=token),
    )
    print(result.exit_code, result.counts)

Also ``validate_file`` (no network unless names must be resolved), ``plan_file`` (what a run
would do), and the drop-folder job: ``process_drop_folder(root, config=load_drop_config(root))``.
"""

from typing import TYPE_CHECKING, Any

from importer.config import ApiSettings, ImportOptions, RetryPolicy
from importer.errors import (
    ApiError,
    AuthError,
    BadResponseError,
    ImporterError,
    InputError,
    JournalError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedBatchError,
    SchemaDefinitionError,
    TransientApiError,
)

if TYPE_CHECKING:
    from importer.drop import (
        DropConfig,
        DropResult,
        FileResult,
        load_drop_config,
        process_drop_folder,
        watch,
    )
    from importer.plan import plan_file
    from importer.result import ImportResult, Progress
    from importer.run import run_import, validate_file

# name -> module: the pipeline pulls in pandas and pandera; it is imported only when asked for,
# so that `importer sandbox` and `importer --help` start fast.
_LAZY = {
    "ImportResult": "importer.result",
    "Progress": "importer.result",
    "run_import": "importer.run",
    "validate_file": "importer.run",
    "plan_file": "importer.plan",
    "process_drop_folder": "importer.drop._folder",
    "watch": "importer.drop._folder",
    "DropConfig": "importer.drop._config",
    "load_drop_config": "importer.drop._config",
    "DropResult": "importer.drop._result",
    "FileResult": "importer.drop._result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'importer' has no attribute {name!r}")


__all__ = [
    "ApiError",
    "ApiSettings",
    "AuthError",
    "BadResponseError",
    "DropConfig",
    "DropResult",
    "FileResult",
    "ImportOptions",
    "ImportResult",
    "ImporterError",
    "InputError",
    "JournalError",
    "OutcomeUnknownError",
    "Progress",
    "RateLimitedError",
    "RejectedBatchError",
    "RetryPolicy",
    "SchemaDefinitionError",
    "TransientApiError",
    "load_drop_config",
    "plan_file",
    "process_drop_folder",
    "run_import",
    "validate_file",
    "watch",
]
