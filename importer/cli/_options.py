"""Options shared by the commands that talk to the API, and how they become settings."""

from __future__ import annotations

import os
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from importer.core import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    EXIT_REFUSED,
    TOKEN_ENV,
    ApiSettings,
    InputError,
    parse_mapping,
    read_token,
)

BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help=f"API root (env {BASE_URL_ENV}; default {DEFAULT_BASE_URL})."),
]
TokenFileOpt = Annotated[
    Path | None, typer.Option("--token-file", help=f"File holding the token (or env {TOKEN_ENV}).")
]
SandboxOpt = Annotated[
    bool, typer.Option("--sandbox", help="Use a local sandbox started for this command.")
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow plain http:// to a non-loopback host.")
]
ServerTimeLimitOpt = Annotated[
    float,
    typer.Option(
        "--server-time-limit",
        min=0.0,
        help="Seconds after which the server ends a request (Kantata: 180). Rows whose reply was "
        "lost are looked up only once this long has passed. Lower it only for a stand-in server.",
    ),
]
MoveOpt = Annotated[
    bool,
    typer.Option(
        "--move", help="A member holding one other membership: move it to the row's place (PUT)."
    ),
]
AddOpt = Annotated[
    bool,
    typer.Option(
        "--add",
        help="A member holding another membership: add this one too (accounts that allow several).",
    ),
]


def differs_mode(move: bool, add: bool) -> str:
    """``--move``/``--add`` as ``ImportOptions.differs``; both at once is an error."""
    if move and add:
        raise InputError("--move and --add exclude each other: choose one")
    return "move" if move else "add" if add else "report"


MapFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--map-file", help='TOML header mapping: [columns] "Dept" = "department_id" (--map wins).'
    ),
]


def mapping_from(values: list[str] | None, map_file: Path | None) -> dict[str, str]:
    """The header mapping of ``--map-file`` and ``--map`` (``--map`` wins for a header)."""
    from importer.read import read_mapping_file  # the data stack: only when a file is read

    mapping = read_mapping_file(map_file) if map_file is not None else {}
    for value in values or []:
        mapping.update(parse_mapping(value))
    return mapping


def api_settings(
    stack: ExitStack,
    err: Console,
    *,
    sandbox: bool,
    base_url: str | None,
    token_file: Path | None,
    insecure: bool,
    announce: bool,
    required: bool,
) -> ApiSettings | None:
    """Settings from the options; ``--sandbox`` starts one, stopped when ``stack`` closes.

    Without a token: ``None``, or, when ``required``, a one-line error and exit code 3.
    """
    if sandbox:
        from importer.sandbox import SandboxConfig, SandboxServer

        server = stack.enter_context(SandboxServer(SandboxConfig()))
        if announce:
            err.print(f"sandbox running at {server.base_url} (stops when this command ends)")
        return ApiSettings(base_url=server.base_url, token=server.token, insecure=insecure)
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        token = read_token(token_file=token_file)
    for w in caught:
        err.print(f"warning: {w.message}", markup=False)
    if token:
        return ApiSettings(base_url=url, token=token, insecure=insecure)
    if required:
        err.print(f"error: no API token: set {TOKEN_ENV} or pass --token-file PATH", markup=False)
        raise typer.Exit(EXIT_REFUSED)
    return None
