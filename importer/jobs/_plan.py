"""Pre-flight: ``importer run`` without writing. What the run would do with each row, asked of
the server with the same batched look-ups and the same decisions (``importer.send``).

Each row gets an ``action``: one of the plan's four words, ``new``, ``exists``, ``differs``,
``missing reference`` — or ``invalid`` when it fails validation. Against an unchanged server
its counts equal what ``run`` then does.

It writes ``plan.csv`` (every row: its action, the IDs found from names, the existing
membership), ``errors.csv`` (invalid rows and conflicts, to fix and resubmit) and
``summary.json``. Only GET requests are sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from importer.core import EXIT_OK, EXIT_ROWS_FAILED, ApiSettings, ImportOptions, make_out_dir
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import ImportResult, ProgressCallback

if TYPE_CHECKING:
    import httpx

__all__ = ["plan_file"]


def plan_file(
    path: str | Path,
    *,
    api: ApiSettings,
    out_dir: str | Path | None = None,
    options: ImportOptions | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: ProgressCallback | None = None,
    command: str = "plan",
) -> ImportResult:
    """Say, for every row of ``path``, whether a run would create it, find it, or fail it.

    Args:
        path: the input file.
        api: where to look (GET requests only: nothing is created).
        out_dir: the results folder (default: ``<name>-results`` next to the input).
        options: sheet and header mapping (batch options are ignored).
        transport: an httpx transport to use instead of the network (tests, proxies).
        progress: called with ``Progress`` events while validating.
        command: the command named in ``summary.json``.

    Returns:
        Counts ``rows``, ``valid``, ``failed_validation``, ``new``, ``exists``, ``differs``,
        ``missing_reference``; exit code 0 when every row would succeed, else 1.

    Raises:
        InputError: the file cannot be read, a required column is missing, no token.
        ApiError: the server refused the lookups (token, unreachable).
    """
    if progress is not None and not isinstance(progress, Heartbeat):
        with Heartbeat(progress) as beat:  # events at least every second or two
            return plan_file(
                path,
                api=api,
                out_dir=out_dir,
                options=options,
                transport=transport,
                progress=beat,
                command=command,
            )
    from importer.jobs import _steps  # the data stack loads here
    from importer.jobs._skeleton import Source

    options = options or ImportOptions()
    source = Source.open(path, options, out_dir)
    checked = source.check(api, transport=transport, progress=progress)
    planned = _steps.plan_rows(source, checked, api, transport)
    source.lap("lookup")
    make_out_dir(source.out)
    files = _steps.write_plan(source, planned)
    source.lap("report")
    source.total()
    exit_code = EXIT_OK if not planned.would_fail else EXIT_ROWS_FAILED
    extra = {
        "base_url": api.base_url,
        "requests_by_kind": planned.requests,
        "differs": options.differs,
        **planned.facts,
    }
    return source.finish(command, _steps.plan_counts(checked, planned), exit_code, files, extra)
