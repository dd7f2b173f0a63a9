"""The ``importer`` command: a thin layer over the library (``importer.run``).

Each command parses options, builds the config, calls one library function, prints, and maps
``ImporterError`` to an exit code: 0 all rows created/valid, 1 some rows failed, 2 the input could
not be read, 3 the server refused the run (token, unreachable).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from importer.config import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    TOKEN_ENV,
    ApiSettings,
    ImportOptions,
    read_token,
)
from importer.errors import ImporterError, InputError

if TYPE_CHECKING:
    from importer.run import ImportResult
    from importer.run import Progress as ProgressEvent

EXIT_REFUSED = 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never print locals (the token) in a traceback
    help="Load spreadsheets of organization memberships into Kantata OX.",
)
err = Console(stderr=True)
out = Console()

FileArg = Annotated[Path, typer.Argument(help="CSV/TSV/TXT, XLSX/XLSM, XLS or ODS file.")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Results folder (default: <file>-results next to the file).")
]
SheetOpt = Annotated[
    str | None, typer.Option("--sheet", help="Worksheet (default: the first visible one).")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help='Header mapping, e.g. "Dept=department_id,Who=member_id".'),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]


def parse_mapping(values: list[str] | None) -> dict[str, str]:
    """``["A=geography_id,B=member_id"]`` -> ``{"A": "geography_id", "B": "member_id"}``."""
    mapping: dict[str, str] = {}
    for value in values or []:
        for part in filter(None, (p.strip() for p in value.split(","))):
            header, sep, target = part.rpartition("=")
            if not sep or not header.strip() or not target.strip():
                raise InputError(f"--map expects HEADER=column pairs, got {part!r}")
            mapping[header.strip()] = target.strip()
    return mapping


class _Bar:
    """A progress bar that appears only once a run has taken more than a moment."""

    def __init__(self, quiet: bool, delay: float = 1.5) -> None:
        self.quiet = quiet
        self.delay = delay
        self.t0 = time.monotonic()
        self.bar: Progress | None = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet or time.monotonic() - self.t0 < self.delay:
            return
        if self.bar is None:
            self.bar = Progress(
                TextColumn("{task.description:>9}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
            self.bar.start()
        if event.phase not in self.tasks:
            self.tasks[event.phase] = self.bar.add_task(event.phase, total=event.total)
        self.bar.update(self.tasks[event.phase], completed=event.done, total=event.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_result(result: ImportResult, *, quiet: bool, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(result.summary, default=str))
        return
    if quiet:
        return
    table = Table(title=f"{result.summary['command']}: {result.summary['input']['path']}")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for key, value in result.counts.items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    err.print(table)
    if result.fatal:
        err.print(f"[bold red]stopped:[/] {result.fatal}")
    for name, path in sorted(result.files.items()):
        err.print(f"  {name:<14} {path}")


@contextmanager
def _stop_on_signals(quiet: bool) -> Iterator[threading.Event]:
    """First Ctrl-C/SIGTERM: stop sending, finish requests in flight, write results.

    A second Ctrl-C interrupts at once (the run journal still lets a re-run recover).
    """
    cancel = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if not quiet:
            err.print("stopping: waiting for requests in flight, then writing results ...")

    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _fail(exc: ImporterError) -> typer.Exit:
    err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


@app.command()
def validate(
    file: FileArg,
    out_dir: OutOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Check every row without any network; write errors.csv and summary.json.

    Example: importer validate people.xlsx --sheet Members
    """
    from importer.run import validate_file

    bar = _Bar(quiet or as_json)
    try:
        options = ImportOptions(sheet=sheet, mapping=parse_mapping(mapping))
        result = validate_file(file, out_dir=out_dir, options=options, progress=bar)
    except ImporterError as exc:
        raise _fail(exc) from None
    finally:
        bar.close()
    _print_result(result, quiet=quiet, as_json=as_json)
    raise typer.Exit(result.exit_code)


@app.command()
def run(
    file: FileArg,
    out_dir: OutOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help=f"API root (env {BASE_URL_ENV}; default {DEFAULT_BASE_URL})."
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help=f"File holding the token (or env {TOKEN_ENV})."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=100)] = 100,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=32)] = 4,
    max_rps: Annotated[
        float | None, typer.Option("--max-rps", help="Client-side request rate ceiling.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything but send; write payloads.jsonl.")
    ] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Import into a local sandbox started for this run.")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow plain http:// to a non-loopback host.")
    ] = False,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Discard the --out folder's run journal; do not resume."),
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate FILE, create its valid rows in bulk, write a result for every row.

    Example: KANTATA_API_TOKEN=... importer run people.xlsx --out results/
    """
    import os

    from importer.run import run_import

    bar = _Bar(quiet or as_json)
    with ExitStack() as stack:
        try:
            options = ImportOptions(
                sheet=sheet,
                mapping=parse_mapping(mapping),
                batch_size=batch_size,
                dry_run=dry_run,
                restart=restart,
            )
            if sandbox:
                from importer.sandbox import SandboxConfig, SandboxServer

                server = stack.enter_context(SandboxServer(SandboxConfig()))
                url, token = server.base_url, server.token
                if not quiet and not as_json:
                    err.print(f"sandbox running at {url} (stops when this run ends)")
            else:
                url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    token = read_token(token_file=token_file)
                for w in caught:
                    err.print(f"warning: {w.message}", markup=False)
                if not token and not dry_run:
                    err.print(
                        f"error: no API token: set {TOKEN_ENV} or pass --token-file PATH",
                        markup=False,
                    )
                    raise typer.Exit(EXIT_REFUSED)
            api = ApiSettings(
                base_url=url,
                token=token,
                concurrency=concurrency,
                max_rps=max_rps,
                insecure=insecure,
            )
            cancel = stack.enter_context(_stop_on_signals(quiet or as_json))
            result = run_import(
                file, out_dir=out_dir, options=options, api=api, progress=bar, cancel=cancel
            )
        except ImporterError as exc:
            raise _fail(exc) from None
        finally:
            bar.close()
    _print_result(result, quiet=quiet, as_json=as_json)
    raise typer.Exit(result.exit_code)


@app.command(name="sandbox")
def sandbox_cmd(
    port: Annotated[int, typer.Option("--port", help="0 = a free port.")] = 8765,
    seed: Annotated[
        Path | None, typer.Option("--seed", help="Seed JSON (default: the bundled one).")
    ] = None,
    db: Annotated[str, typer.Option("--db", help="SQLite file (default: in memory).")] = ":memory:",
    rate: Annotated[float | None, typer.Option("--rate", help="Requests/s before 429.")] = None,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="Fraction answered 503.")] = 0.0,
    drop_after_commit: Annotated[
        float, typer.Option("--drop-after-commit", help="Fraction of creates whose reply is lost.")
    ] = 0.0,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added latency.")] = 0.0,
    bulk_mode: Annotated[
        str, typer.Option("--bulk-mode", help="atomic | partial | partial-error")
    ] = "atomic",
    token: Annotated[str | None, typer.Option("--token", help="Bearer token to accept (default: random).")] = None,
) -> None:
    """Run a local Kantata sandbox on 127.0.0.1 until Ctrl-C.

    Example: importer sandbox --port 8765 --rate 5 --fail-rate 0.1
    """
    from importer.sandbox import SandboxConfig, serve_forever

    config = SandboxConfig(
        port=port,
        db_path=db,
        seed=seed,
        token=token,
        rate=rate,
        fail_rate=fail_rate,
        drop_after_commit=drop_after_commit,
        latency_ms=latency_ms,
        bulk_mode=bulk_mode,
    )
    serve_forever(config)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
