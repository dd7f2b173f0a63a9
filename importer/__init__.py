"""Load spreadsheets of organization memberships into Kantata OX.

Library use (what the ``importer`` command does)::

    from importer import ApiSettings, ImportOptions, run_import

    result = run_import(
        "people.xlsx",
        out_dir="results",
        api=ApiSettings(base_url="https://api.mavenlink.com/api/v1", token=token),
    )
    print(result.exit_code, result.counts)
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
    from importer.run import ImportResult, Progress, run_import, validate_file

_LAZY = {"ImportResult", "Progress", "run_import", "validate_file"}


def __getattr__(name: str) -> Any:
    # The pipeline pulls in pandas and pandera; import it only when asked for, so that
    # `importer sandbox` and `importer --help` start fast.
    if name in _LAZY:
        from importer import run

        return getattr(run, name)
    raise AttributeError(f"module 'importer' has no attribute {name!r}")


__all__ = [
    "ApiError",
    "ApiSettings",
    "AuthError",
    "BadResponseError",
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
    "run_import",
    "validate_file",
]
