"""``importer validate``: check every row of a file; write ``errors.csv`` and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from importer.core import EXIT_OK, EXIT_ROWS_FAILED, ApiSettings, ImportOptions
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import ImportResult, ProgressCallback

if TYPE_CHECKING:
    import httpx

__all__ = ["validate_file"]


def validate_file(
    path: str | Path,
    *,
    out_dir: str | Path | None = None,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
    api: ApiSettings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """Check every row of ``path``; write ``errors.csv`` and the summary.

    No network, unless the file has name columns (``department``, ``member_email`` ...): those
    are resolved to IDs through ``api`` (GET requests only).

    Raises:
        InputError: the file cannot be read, the sheet is unknown, a required column is missing,
            names must be resolved but ``api`` has no token.
        ApiError: names could not be looked up (token refused, server unreachable).
    """
    if progress is not None and not isinstance(progress, Heartbeat):
        with Heartbeat(progress) as beat:  # events at least every second or two
            return validate_file(
                path, out_dir=out_dir, options=options, progress=beat, api=api, transport=transport
            )
    from importer.jobs._skeleton import Source  # the data stack loads here

    source = Source.open(path, options or ImportOptions(), out_dir)
    api = api or ApiSettings.from_env()
    checked = source.check(api, transport=transport, progress=progress, stream_errors=True)
    v = checked.validated
    counts = {"rows": v.rows, "valid": v.rows - v.failed, "failed_validation": v.failed}
    exit_code = EXIT_OK if v.failed == 0 else EXIT_ROWS_FAILED
    extra = {"columns": v.headers.columns, "extra_columns": list(v.headers.extras)}
    return source.finish("validate", counts, exit_code, checked.files, extra)
