"""Load spreadsheets of organization memberships into Kantata OX.

Library use (what the ``importer`` command does)::

    from importer import ApiSettings
    from importer.jobs import run_import

    result = run_import(
        "people.xlsx",
        out_dir="results",
        api=ApiSettings(base_url="https://api.mavenlink.com/api/v1", token=token),
    )
    print(result.exit_code, result.counts)

``importer.jobs`` also has ``validate_file`` (no network unless names must be resolved),
``plan_file`` (what a run would do) and ``undo_run``; ``importer.drop`` the drop-folder job:
``process_drop_folder(root, config=load_drop_config(root))``. This package itself exports only
the settings and the exception tree, which need neither pandas nor HTTP.
"""

from importer.core import (
    ApiError,
    ApiSettings,
    AuthError,
    BadResponseError,
    ImporterError,
    ImportOptions,
    InputError,
    JournalError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedBatchError,
    RetryPolicy,
    SchemaDefinitionError,
    Settings,
    TransientApiError,
)

__all__ = [
    "ApiError",
    "ApiSettings",
    "AuthError",
    "BadResponseError",
    "ImportOptions",
    "ImporterError",
    "InputError",
    "JournalError",
    "OutcomeUnknownError",
    "RateLimitedError",
    "RejectedBatchError",
    "RetryPolicy",
    "SchemaDefinitionError",
    "Settings",
    "TransientApiError",
]
