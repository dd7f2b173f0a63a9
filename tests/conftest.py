"""Shared fixtures: a fresh sandbox per test (real HTTP on loopback), instant retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from importer.core import ApiSettings, RetryPolicy
from importer.sandbox import SandboxConfig, SandboxServer

HEADER = ["geography_id", "department_id", "member_id", "member_type"]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox with the bundled seed, in memory, all knobs off."""
    with SandboxServer(SandboxConfig(random_seed=7, request_time_limit_s=1.0)) as server:
        yield server


def settings_for(server: SandboxServer, **kwargs: Any) -> ApiSettings:
    """ApiSettings pointing at ``server`` with fast retries and the server's time limit.

    The client waits the server's time limit before looking up a row in doubt; the sandbox's
    limit is set to seconds so these tests stay fast.
    """
    kwargs.setdefault(
        "retry", RetryPolicy(attempts=10, timeout=60, wait_initial=0.01, wait_max=0.05)
    )
    kwargs.setdefault("server_time_limit", server.config.request_time_limit_s)
    return ApiSettings(base_url=server.base_url, token=server.token, **kwargs)


@pytest.fixture
def api(sandbox: SandboxServer) -> ApiSettings:
    """Settings for the ``sandbox`` fixture."""
    return settings_for(sandbox)


def write_csv(
    path: Path,
    rows: list[list[Any]],
    header: list[str] | None = None,
    *,
    sep: str = ",",
    encoding: str = "utf-8",
) -> Path:
    """A small delimited file."""
    lines = [sep.join(header or HEADER)] + [sep.join(str(c) for c in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook with the given sheets (first row of each = header)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def big_seed(path: Path, n_users: int, first_id: int = 20001) -> Path:
    """The bundled seed plus ``n_users`` extra users (ids from ``first_id``), for volume tests."""
    seed = json.loads(bundled_seed_path().read_text(encoding="utf-8"))
    seed["users"] += [
        {"id": i, "full_name": f"Load Test {i}", "email_address": f"load.{i}@acme.example"}
        for i in range(first_id, first_id + n_users)
    ]
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def bundled_seed_path() -> Path:
    """The sandbox's bundled seed file."""
    return Path(__file__).resolve().parent.parent / "importer" / "sandbox" / "seed.json"
