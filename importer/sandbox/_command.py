"""``importer sandbox`` (and ``python -m importer.sandbox``): the sandbox's command line, one
option a switch of ``SandboxConfig``.

It lives with the sandbox, not in ``importer.cli``, so that the sandbox needs nothing of the
importer but ``importer.core``; the ``importer`` command registers it as its ``sandbox``.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated

import typer

from importer.sandbox._knobs import SandboxConfig
from importer.sandbox._server import serve_forever

__all__ = ["sandbox_cmd"]


def sandbox_cmd(
    port: Annotated[int, typer.Option("--port", help="0 = a free port.")] = 8765,
    seed: Annotated[
        Path | None, typer.Option("--seed", help="Seed JSON (default: the bundled one).")
    ] = None,
    db: Annotated[str, typer.Option("--db", help="SQLite file (default: in memory).")] = ":memory:",
    token: Annotated[
        str | None, typer.Option("--token", help="Bearer token to accept (default: random).")
    ] = None,
    random_seed: Annotated[
        int | None, typer.Option("--random-seed", help="Make the random faults repeatable.")
    ] = None,
    max_per_page: Annotated[
        int, typer.Option("--max-per-page", help="Largest per_page/limit honoured.")
    ] = 200,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Requests/s (all requests) before 429; off.")
    ] = None,
    workspaces_rate: Annotated[
        float | None,
        typer.Option(
            "--workspaces-rate",
            help="Requests/s on /workspaces before 429 (a guess: the real figure is unpublished).",
        ),
    ] = 5.0,
    retry_after: Annotated[
        bool, typer.Option("--retry-after/--no-retry-after", help="Send Retry-After with a 429.")
    ] = True,
    retry_after_s: Annotated[
        float | None,
        typer.Option("--retry-after-s", help="Force the Retry-After value (e.g. 100000)."),
    ] = None,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="Fraction answered 503.")] = 0.0,
    drop_after_commit: Annotated[
        float, typer.Option("--drop-after-commit", help="Fraction of writes whose reply is lost.")
    ] = 0.0,
    fail_after_commit: Annotated[
        float,
        typer.Option(
            "--fail-after-commit",
            help="Fraction of writes answered 503 after they committed (a gateway).",
        ),
    ] = 0.0,
    late_commit: Annotated[
        float,
        typer.Option(
            "--late-commit",
            help="Fraction of writes whose reply is lost at once; the write commits later.",
        ),
    ] = 0.0,
    late_commit_s: Annotated[
        float | None,
        typer.Option(
            "--late-commit-s",
            help="Seconds after arrival a late write commits (default: just before the limit).",
        ),
    ] = None,
    write_faults: Annotated[
        str,
        typer.Option(
            "--write-faults",
            help="Faults for the next writes, in order: comma list of ok, 429, 503, "
            "503-after-commit, drop, late, hang.",
        ),
    ] = "",
    stop_answering: Annotated[
        str,
        typer.Option("--stop-answering", help="Leave requests unanswered: no | writes | all."),
    ] = "no",
    stop_answering_after: Annotated[
        int | None,
        typer.Option(
            "--stop-answering-after",
            help="Requests --stop-answering still lets through before it takes effect.",
        ),
    ] = None,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added latency.")] = 0.0,
    commit_delay_ms: Annotated[
        float, typer.Option("--commit-delay-ms", help="A write takes this long to commit.")
    ] = 0.0,
    request_time_limit_s: Annotated[
        float,
        typer.Option("--request-time-limit-s", help="The server ends a request after this (503)."),
    ] = 180.0,
    bulk_mode: Annotated[
        str,
        typer.Option(
            "--bulk-mode", help="Bulk create with bad objects: atomic | partial | partial-error."
        ),
    ] = "atomic",
    memberships_per_member: Annotated[
        str,
        typer.Option(
            "--memberships-per-member",
            help="one (a second membership is refused as taken) | many (accepted; primary field).",
        ),
    ] = "one",
    member_id_lists: Annotated[
        str,
        typer.Option(
            "--member-id-lists",
            help="member_id=1,2 in GET (documented as one integer): refused | ignored | first "
            "| honoured.",
        ),
    ] = "refused",
    email_match: Annotated[
        str,
        typer.Option(
            "--email-match",
            help="by_email_address(es): exact (as documented) | case-insensitive.",
        ),
    ] = "exact",
    third_party_writes: Annotated[
        str,
        typer.Option(
            "--third-party-writes",
            help="At each write fault another client creates a membership for those members: "
            "off | identical | other.",
        ),
    ] = "off",
    max_target_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-target-bytes",
            help="A front proxy's limit on the request target: 414 past it (default: none).",
        ),
    ] = None,
    max_header_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-header-bytes",
            help="A front proxy's limit on the request headers: 431 past it (default: none).",
        ),
    ] = None,
    validation_status: Annotated[
        int, typer.Option("--validation-status", help="Status of validation errors: 422 | 400.")
    ] = 422,
    omit_created: Annotated[
        float,
        typer.Option("--omit-created", help="Fraction of created objects left out of a 200."),
    ] = 0.0,
    trickle_s: Annotated[
        float, typer.Option("--trickle-s", help="Send reply bodies one byte every N seconds.")
    ] = 0.0,
    echo_token: Annotated[
        bool, typer.Option("--echo-token", help="Error messages quote the bearer token.")
    ] = False,
    redirect: Annotated[
        bool, typer.Option("--redirect", help="Answer every API request 301 to itself.")
    ] = False,
) -> None:
    """Run a local Kantata sandbox on 127.0.0.1 until Ctrl-C.

    By default it follows docs/kantata-api.md; each switch selects a behaviour the reference leaves
    open, or a fault. The same switches can be changed at runtime: POST /_sandbox/knobs.

    Example: importer sandbox --port 8765 --rate 5 --fail-rate 0.1
    """
    try:
        config = SandboxConfig(
            port=port,
            db_path=db,
            seed=seed,
            token=token,
            random_seed=random_seed,
            max_per_page=max_per_page,
            rate=rate,
            workspaces_rate=workspaces_rate,
            retry_after=retry_after,
            retry_after_s=retry_after_s,
            fail_rate=fail_rate,
            drop_after_commit=drop_after_commit,
            fail_after_commit=fail_after_commit,
            late_commit=late_commit,
            late_commit_s=late_commit_s,
            write_faults=write_faults,
            stop_answering=stop_answering,
            stop_answering_after=stop_answering_after,
            latency_ms=latency_ms,
            commit_delay_ms=commit_delay_ms,
            request_time_limit_s=request_time_limit_s,
            bulk_mode=bulk_mode,
            memberships_per_member=memberships_per_member,
            member_id_lists=member_id_lists,
            email_match=email_match,
            third_party_writes=third_party_writes,
            max_target_bytes=max_target_bytes,
            max_header_bytes=max_header_bytes,
            validation_status=validation_status,
            omit_created=omit_created,
            trickle_s=trickle_s,
            echo_token=echo_token,
            redirect=redirect,
        )
        serve_forever(config)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = f"sandbox: port {port} is busy; try --port 0 (a free port)"
        else:
            message = f"sandbox: {exc}"
        typer.echo(message, err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # a bad switch value, an invalid seed
        typer.echo(f"sandbox: {exc}", err=True)
        raise typer.Exit(2) from None
