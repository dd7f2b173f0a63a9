"""The ``importer`` command: a thin layer over the library (``importer.jobs``).

Each command parses options, builds the config, calls one library function, prints, and maps
``ImporterError`` to an exit code: 0 all rows created/valid, 1 some rows failed, 2 the input could
not be read, 3 the server refused the run (token, unreachable).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from importer.cli._options import (
    AddOpt,
    BaseUrlOpt,
    InsecureOpt,
    MapFileOpt,
    MoveOpt,
    SandboxOpt,
    ServerTimeLimitOpt,
    TokenFileOpt,
    api_settings,
    differs_mode,
    mapping_from,
)
from importer.cli._progress import PROGRESS_EVERY_S, ProgressView
from importer.core import (
    DEFAULT_BASE_URL,
    EXIT_INTERRUPTED,
    MAX_BATCH,
    TOKEN_ENV,
    ApiSettings,
    ImporterError,
    ImportOptions,
    InputError,
    Settings,
    damaged_journal_message,
    printable,
)
from importer.sandbox import sandbox_cmd

if TYPE_CHECKING:
    from importer.jobs import ImportResult


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never print locals (the token) in a traceback
    help="Load spreadsheets of organization memberships into Kantata OX.",
)
err = Console(stderr=True)
out = Console()
# `importer sandbox` is the sandbox's own command (the same as `python -m importer.sandbox`).
app.command(name="sandbox")(sandbox_cmd)

FileArg = Annotated[Path, typer.Argument(help="CSV/TSV/TXT, XLSX/XLSM, XLS or ODS file.")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Results folder (default: <file name>-results next to the file)."),
]
SheetOpt = Annotated[
    str | None, typer.Option("--sheet", help="Worksheet (default: the first visible one).")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help='Header mapping, e.g. "Dept=department_id,Who=member_id".'),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")]
ProgressEveryOpt = Annotated[
    float,
    typer.Option(
        "--progress-every",
        min=1,
        metavar="SECONDS",
        help="Without a terminal: a progress line at least this often.",
    ),
]
HeaderRowOpt = Annotated[
    int | None,
    typer.Option(
        "--header-row",
        min=1,
        help="Row holding the column names, as Excel numbers it (default: found in rows 1-20).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
MaxRowsOpt = Annotated[
    int, typer.Option("--max-rows", min=1, help="Refuse an input with more data rows than this.")
]
MaxFileMbOpt = Annotated[
    int | None,
    typer.Option(
        "--max-file-mb", min=1, help="Refuse a larger input, in MB (default 1024 text, 200 Excel)."
    ),
]


BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Objects per bulk request.")
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency", min=1, max=32, help="Ceiling on requests in flight (found below it)."
    ),
]
#: Every option's default: the settings' own (importer.core.Settings), never restated here.
DEFAULTS = Settings()

MaxMemoryMbOpt = Annotated[
    int | None,
    typer.Option(
        "--max-memory-mb",
        min=1,
        help="Memory a workbook read may need, in MB (default: 2048, or 1/4 of RAM if less).",
    ),
]


ReadTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--read-timeout",
        min=0.001,
        help="Seconds a workbook read may take before it is stopped (default: 60 + 10 per MB).",
    ),
]


def _limits(
    max_rows: int, max_file_mb: int | None, max_memory_mb: int | None, read_timeout: float | None
) -> dict[str, Any]:
    """ImportOptions' limits from --max-rows / --max-file-mb / --max-memory-mb / --read-timeout."""
    return {
        "max_rows": max_rows,
        "max_file_bytes": max_file_mb << 20 if max_file_mb else None,
        "max_memory_mb": max_memory_mb,
        "read_timeout": read_timeout,
    }


def _print_result(result: ImportResult, *, quiet: bool, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(result.summary, default=str))
    if quiet or as_json:
        # Quiet silences progress and tables, never why a run stopped.
        if result.fatal:
            err.print(f"error: {result.fatal}", markup=False, highlight=False, soft_wrap=True)
        return
    for note in result.summary.get("notes", ()):
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    where = result.summary.get("input", {}).get("path") or result.summary.get("results", "")
    table = Table(title=f"{result.summary['command']}: {where}")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    # A resumed run: what this run did, apart from what earlier runs of the folder did.
    this_run = result.summary.get("counts_this_run") or {}
    earlier = result.summary.get("counts_earlier_runs") or {}
    if earlier:
        table.add_column("this run", justify="right")
        table.add_column("earlier runs", justify="right")
    for key, value in result.counts.items():
        split = [f"{this_run[key]:,}", f"{earlier[key]:,}"] if key in earlier else ["", ""]
        table.add_row(key.replace("_", " "), f"{value:,}", *(split if earlier else []))
    err.print(table)
    if result.fatal:
        err.print(f"[bold red]stopped:[/] {escape(printable(result.fatal))}")
    for name, path in sorted(result.files.items()):
        err.print(f"  {name:<14} {path}")


def _say_from_a_signal_handler(line: str) -> None:
    """Write ``line`` to stderr from a signal handler: straight to the file descriptor.

    The handler runs between two bytecodes of the main thread, which may be half-way through
    importing a module or writing to ``sys.stderr``; printing through rich there re-entered a
    lazy import of rich's and killed the run with a traceback. ``os.write`` imports nothing and
    takes no lock.
    """
    data = (line + "\n").encode()
    with suppress(AttributeError, OSError, ValueError):  # no real stderr (tests): best effort
        os.write(sys.stderr.fileno(), data)


@contextmanager
def _stop_on_signals(quiet: bool) -> Iterator[threading.Event]:
    """First Ctrl-C/SIGTERM: stop sending, finish requests in flight, write results.

    A second Ctrl-C interrupts at once (the run journal still lets a re-run recover).
    """
    cancel = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            # The second one stops at once, whatever is running: the journal's committed records
            # let the same command recover, exactly as after kill -9.
            _say_from_a_signal_handler("stopped at once; run the same command again to resume")
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        if not quiet:
            _say_from_a_signal_handler(
                "stopping: waiting for requests in flight, then writing results ..."
            )

    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        if not cancel.is_set():  # once stopping, a further signal still means "stop at once"
            for sig, old in previous.items():
                signal.signal(sig, old)


def storage_message(exc: OSError | sqlite3.Error) -> str:
    """One line for a file the run could not write or read: which one, and what to do."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return damaged_journal_message("the run journal (journal.sqlite in the --out folder)", exc)
    path = getattr(exc, "filename", None)
    where = f"{path}: " if path else ""
    number = getattr(exc, "errno", None)
    full = number in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "full" in str(exc)
    if full:
        what = "the disk is full (or a file-size limit was reached)"
        todo = "free some space or choose another --out folder, then run the same command again"
    elif number in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "cannot write here (permission denied or a read-only disk)"
        todo = "choose a writable --out folder"
    elif number in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        what = "a file stands where a folder is needed (or a folder where a file is)"
        todo = "choose another --out folder"
    else:
        what = getattr(exc, "strerror", None) or str(exc)
        todo = "check the --out folder and run the same command again"
    return f"{where}{what}; {todo}"


def _fail(exc: ImporterError) -> typer.Exit:
    err.print(f"error: {printable(str(exc))}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


@dataclass
class _Job:
    """One ``validate``/``run``/``plan`` invocation: its progress bar, resources and result."""

    bar: ProgressView
    stack: ExitStack
    announce: bool
    result: ImportResult | None = None

    def api(self, *, required: bool, **options: Any) -> ApiSettings | None:
        """The API settings from the command's options (see ``cli_api.api_settings``)."""
        return api_settings(self.stack, err, announce=self.announce, required=required, **options)


def _streaming_pool() -> None:
    """The CLI's choice, for its own process: pyarrow's jemalloc pool (see importer.read).
    The library never changes the process-wide pool by itself."""
    from importer.read import use_streaming_pool

    use_streaming_pool()


@contextmanager
def _job(
    *, quiet: bool, as_json: bool, reads: bool = False, every: float = PROGRESS_EVERY_S
) -> Iterator[_Job]:
    """Run a command's body: a library error becomes one line and its exit code; on success
    the summary is printed and the process exits with the result's code. ``reads``: the command
    reads an input file, so this process takes pyarrow's streaming memory pool first."""
    if reads:
        _streaming_pool()
    view = ProgressView(err, quiet=quiet or as_json, every=every)
    job = _Job(view, ExitStack(), announce=not (quiet or as_json))
    with job.stack:
        try:
            yield job
        except ImporterError as exc:
            raise _fail(exc) from None
        except (OSError, sqlite3.Error) as exc:
            raise _fail(InputError(storage_message(exc))) from None
        finally:
            job.bar.close()
    assert job.result is not None, "the command set no result"
    _print_result(job.result, quiet=quiet, as_json=as_json)
    raise typer.Exit(job.result.exit_code)


@app.command()
def validate(
    file: FileArg,
    out_dir: OutOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    map_file: MapFileOpt = None,
    header_row: HeaderRowOpt = None,
    remote: Annotated[
        bool, typer.Option("--remote", help="Also ask the server what a run would do (= plan).")
    ] = False,
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    sandbox: SandboxOpt = False,
    insecure: InsecureOpt = False,
    max_rows: MaxRowsOpt = DEFAULTS.options.max_rows,
    max_file_mb: MaxFileMbOpt = None,
    max_memory_mb: MaxMemoryMbOpt = None,
    read_timeout: ReadTimeoutOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    progress_every: ProgressEveryOpt = PROGRESS_EVERY_S,
) -> None:
    """Check every row; write errors.csv and summary.json.

    No network, unless the file has name columns (department, member_email ...: resolved to IDs
    with the API token) or --remote is given (then as plan: also ask what a run would do).

    Example: importer validate people.xlsx --sheet Members
    """
    from importer.jobs import plan_file, validate_file

    with _job(quiet=quiet, as_json=as_json, reads=True, every=progress_every) as job:
        options = ImportOptions(
            sheet=sheet,
            mapping=mapping_from(mapping, map_file),
            header_row=header_row,
            **_limits(max_rows, max_file_mb, max_memory_mb, read_timeout),
        )
        api = job.api(
            required=remote,
            sandbox=sandbox,
            base_url=base_url,
            token_file=token_file,
            insecure=insecure,
        )
        if remote and api is not None:
            job.result = plan_file(
                file,
                api=api,
                out_dir=out_dir,
                options=options,
                progress=job.bar,
                command="validate --remote",
            )
        else:
            job.result = validate_file(
                file, out_dir=out_dir, options=options, progress=job.bar, api=api
            )


@app.command()
def run(
    file: FileArg,
    out_dir: OutOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    map_file: MapFileOpt = None,
    header_row: HeaderRowOpt = None,
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    batch_size: BatchSizeOpt = DEFAULTS.options.batch_size,
    concurrency: ConcurrencyOpt = DEFAULTS.api.concurrency,
    max_rps: Annotated[
        float | None,
        typer.Option("--max-rps", help="Ceiling on requests/s (the rate is learned below it)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything but send; write payloads.jsonl.")
    ] = False,
    sandbox: SandboxOpt = False,
    insecure: InsecureOpt = False,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Discard the --out folder's run journal; do not resume."),
    ] = False,
    move: MoveOpt = False,
    add: AddOpt = False,
    server_time_limit: ServerTimeLimitOpt = DEFAULTS.api.server_time_limit,
    max_rows: MaxRowsOpt = DEFAULTS.options.max_rows,
    max_file_mb: MaxFileMbOpt = None,
    max_memory_mb: MaxMemoryMbOpt = None,
    read_timeout: ReadTimeoutOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    progress_every: ProgressEveryOpt = PROGRESS_EVERY_S,
) -> None:
    """Validate FILE, write what its valid rows need (create, or move with --move), write a
    result for every row. Rows identical to what the server holds cost no write.

    Example: KANTATA_API_TOKEN=... importer run people.xlsx --out results/
    """

    from importer.jobs import run_import

    with _job(quiet=quiet, as_json=as_json, reads=True, every=progress_every) as job:
        if sandbox and not dry_run:
            # A sandbox is fresh each time: its results can never be resumed against it.
            restart = True
            if not (quiet or as_json):
                err.print("sandbox: a fresh server, so this run starts over in its results folder")
        options = ImportOptions(
            sheet=sheet,
            mapping=mapping_from(mapping, map_file),
            header_row=header_row,
            batch_size=batch_size,
            dry_run=dry_run,
            restart=restart,
            differs=differs_mode(move, add),
            **_limits(max_rows, max_file_mb, max_memory_mb, read_timeout),
        )
        found = job.api(
            required=not dry_run,
            sandbox=sandbox,
            base_url=base_url,
            token_file=token_file,
            insecure=insecure,
        )
        api = dataclasses.replace(
            found or ApiSettings(base_url=base_url or DEFAULT_BASE_URL, insecure=insecure),
            concurrency=concurrency,
            max_rps=max_rps,
            server_time_limit=server_time_limit,
        )
        cancel = job.stack.enter_context(_stop_on_signals(quiet or as_json))
        job.result = run_import(
            file, out_dir=out_dir, options=options, api=api, progress=job.bar, cancel=cancel
        )


@app.command()
def plan(
    file: FileArg,
    out_dir: OutOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    map_file: MapFileOpt = None,
    header_row: HeaderRowOpt = None,
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    sandbox: SandboxOpt = False,
    insecure: InsecureOpt = False,
    move: MoveOpt = False,
    add: AddOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    progress_every: ProgressEveryOpt = PROGRESS_EVERY_S,
) -> None:
    """Say what run would do with each row (new, exists, differs, missing reference, invalid);
    write nothing. Same look-ups and words as run.

    Writes plan.csv (every row), errors.csv (rows that would fail) and summary.json.
    Example: KANTATA_API_TOKEN=... importer plan people.xlsx --move
    """
    from importer.jobs import plan_file

    with _job(quiet=quiet, as_json=as_json, reads=True, every=progress_every) as job:
        options = ImportOptions(
            sheet=sheet,
            mapping=mapping_from(mapping, map_file),
            header_row=header_row,
            differs=differs_mode(move, add),
        )
        api = job.api(
            required=True,
            sandbox=sandbox,
            base_url=base_url,
            token_file=token_file,
            insecure=insecure,
        )
        assert api is not None  # required=True: a missing token has exited already
        job.result = plan_file(file, api=api, out_dir=out_dir, options=options, progress=job.bar)


@app.command()
def undo(
    results: Annotated[Path, typer.Argument(help="The results folder of the run to reverse.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be undone (undo-plan.csv).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Undo rows whose membership has changed since the run too."),
    ] = False,
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    insecure: InsecureOpt = False,
    server_time_limit: ServerTimeLimitOpt = DEFAULTS.api.server_time_limit,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    progress_every: ProgressEveryOpt = PROGRESS_EVERY_S,
) -> None:
    """Reverse a run: delete the memberships it created, move back the ones it moved.

    Rows whose membership changed since the run are refused (--force to undo them anyway);
    resumable and exactly once like run. Writes undo.csv and undo-summary.json.
    Example: KANTATA_API_TOKEN=... importer undo people.xlsx-results --dry-run
    """
    from importer.jobs import undo_run

    with _job(quiet=quiet, as_json=as_json, every=progress_every) as job:
        api = job.api(
            required=True,
            sandbox=False,
            base_url=base_url,
            token_file=token_file,
            insecure=insecure,
        )
        assert api is not None
        api = dataclasses.replace(api, server_time_limit=server_time_limit)
        cancel = job.stack.enter_context(_stop_on_signals(quiet or as_json))
        job.result = undo_run(
            results, api=api, dry_run=dry_run, force=force, progress=job.bar, cancel=cancel
        )


@app.command()
def doctor(
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    sandbox: SandboxOpt = False,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Check an account before the first import, read-only: the token, both organization trees,
    whether member-id lists are honoured, several memberships per member, latency, 429s.

    Exit 0 ready, 2 not ready (no organizations of a type), 3 token or server failed.
    Example: KANTATA_API_TOKEN=... importer doctor
    """
    from importer.jobs import check_account

    with ExitStack() as stack:
        try:
            api = api_settings(
                stack,
                err,
                sandbox=sandbox,
                base_url=base_url,
                token_file=token_file,
                insecure=insecure,
                announce=not (quiet or as_json),
                required=True,
            )
            assert api is not None
            report = check_account(api)
        except ImporterError as exc:
            raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif not quiet:
        for line in report.lines():
            err.print(line, markup=False, highlight=False)
    if quiet and report.problems:
        for problem in report.problems:
            err.print(f"error: {problem}", markup=False, highlight=False)
    raise typer.Exit(report.exit_code)


@app.command()
def template(
    path: Annotated[Path, typer.Argument(help="The .xlsx workbook to write.")],
    ids: Annotated[
        bool, typer.Option("--ids", help="ID headers (geography_id ...) instead of names.")
    ] = False,
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    sandbox: SandboxOpt = False,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a workbook to fill in, with the right headers and a member_type dropdown.

    With a token, it also lists the geographies and departments with their IDs.

    Example: KANTATA_API_TOKEN=... importer template members.xlsx
    """
    from importer.jobs import write_template

    with ExitStack() as stack:
        try:
            api = api_settings(
                stack,
                err,
                sandbox=sandbox,
                base_url=base_url,
                token_file=token_file,
                insecure=insecure,
                announce=not quiet,
                required=False,
            )
            written = write_template(path, api=api, ids=ids)
        except ImporterError as exc:
            raise _fail(exc) from None
    if not quiet:
        lists = "with the organization lists" if api else "(no token: no organization lists)"
        err.print(f"template written: {written} {lists}", markup=False, soft_wrap=True)


def _default_work_dir() -> Path:
    import os

    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "kantata-importer" / "web"


@app.command(name="serve")
def serve_cmd(
    port: Annotated[int, typer.Option("--port", help="Loopback port (default 0: a free one).")] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Uploads, edits and runs (default: $XDG_DATA_HOME/kantata-importer/web).",
        ),
    ] = None,
    base_url: BaseUrlOpt = None,
    token_file: TokenFileOpt = None,
    sandbox: SandboxOpt = False,
    insecure: InsecureOpt = False,
    batch_size: BatchSizeOpt = DEFAULTS.options.batch_size,
    concurrency: ConcurrencyOpt = DEFAULTS.api.concurrency,
    max_rps: Annotated[
        float | None, typer.Option("--max-rps", help="Client-side request rate ceiling.")
    ] = None,
) -> None:
    """Serve a local web page to upload, fix, check and send a file (127.0.0.1 only).

    Prints the page's address, which holds a secret key; nothing is opened unless --open.
    Example: KANTATA_API_TOKEN=... importer serve --open
    """
    try:
        from importer.web import WebConfig, bind_loopback, serve
    except ImportError as exc:  # the optional extra is not installed
        err.print(
            f"error: importer serve needs the web extra ({exc.name}): "
            "pip install 'kantata-importer[web]'",
            markup=False,
        )
        raise typer.Exit(2) from None

    with ExitStack() as stack:
        try:
            found = api_settings(
                stack,
                err,
                sandbox=sandbox,
                base_url=base_url,
                token_file=token_file,
                insecure=insecure,
                announce=True,
                required=False,
            )
        except ImporterError as exc:
            raise _fail(exc) from None
        api = (
            dataclasses.replace(found, concurrency=concurrency, max_rps=max_rps) if found else None
        )
        if api is None:
            err.print(f"no API token ({TOKEN_ENV}): files can be checked but not sent")
        try:
            sock = bind_loopback(port)
        except OSError as exc:
            raise _fail(InputError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}")) from None
        config = WebConfig(
            work_dir=work_dir or _default_work_dir(),
            api=api,
            port=sock.getsockname()[1],
            batch_size=batch_size,
        )
        url = config.url()
        out.print(url, markup=False, highlight=False, soft_wrap=True)
        err.print(f"working folder: {config.work_dir}; Ctrl-C stops", markup=False)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        serve(config, sock=sock)


@app.command(name="drop")
def drop_cmd(
    folder: Annotated[
        str,
        typer.Argument(
            help="Drop folder (files arrive in FOLDER/inbox), or sftp://user@host[:port]/path, "
            "s3://bucket/prefix"
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML config (default: importer.toml in FOLDER, or in --work-dir)."
        ),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Remote folders: the local work folder (results, ledger, lock); default "
            "~/.local/state/kantata-importer/drop/<url>.",
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running, polling the inbox.")
    ] = False,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="Append the JSON lines here, not stdout.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only problems on stderr (for cron mail).")
    ] = False,
) -> None:
    """Import every complete file in FOLDER/inbox once; one JSON line per run.

    A file is complete when it stays unchanged across a wait within this run (stable_seconds),
    a CSV's last line is ended, and its trigger file is there if the folder uses them; the run
    waits for files still being written up to wait_seconds and imports them as they complete.

    Exit code: 0 every file imported, nothing to do, or busy (another run holds the folder; the
    JSON line says which), 1 a file failed or had failed rows, 2 bad configuration, 3 the server
    refused (token, unreachable), 5 the remote folder failed (unreachable, host key, login),
    130 interrupted.
    Example (cron): importer drop /srv/hr-drop --quiet --log-file /var/log/importer-drop.jsonl
    """
    from importer.cli._drop import drop_output, error_record, now_iso, run_drop

    started = now_iso()
    try:
        with drop_output(err, quiet=quiet, log_file=log_file) as out, ExitStack() as stack:
            try:
                cancel = stack.enter_context(_stop_on_signals(quiet))
                _streaming_pool()
                code = run_drop(
                    folder, config=config, watch=watch, out=out, cancel=cancel, work_dir=work_dir
                )
            except OSError as exc:  # the drop folder itself: permissions, a full disk ...
                failure = InputError(f"{folder}: {exc}")
                out.record(error_record(str(folder), failure, started))
                raise failure from None
            except ImporterError as exc:
                out.record(error_record(str(folder), exc, started))
                raise
    except ImporterError as exc:
        raise _fail(exc) from None
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    code: int | str | None = 0
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    except SystemExit as exc:
        code = exc.code
    # Results are written and the journal committed. A request still in flight on a worker
    # thread (after Ctrl-C) must not hold the process up at exit, nor leave a window in which a
    # further Ctrl-C meets Python's default handler during interpreter shutdown.
    if isinstance(code, str):
        err.print(code)
        code = 1
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
