"""Shared by the sandbox's API and look-up tests: a sandbox with a known token, an HTTP client
authenticated for it, and small helpers to build and read requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from importer.sandbox import SandboxConfig, SandboxServer

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def m(geo: Any, dept: Any, member: Any, kind: Any = "User") -> dict[str, Any]:
    """One membership object as a client sends it."""
    return {"geography_id": geo, "department_id": dept, "member_id": member, "member_type": kind}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox with the bundled seed and the token ``TOKEN``."""
    with SandboxServer(SandboxConfig(token=TOKEN)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An HTTP client authenticated for ``sandbox``."""
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, verify=False) as http:
        yield http


def create(client: httpx.Client, *objects: dict[str, Any], **params: str) -> httpx.Response:
    """A bulk POST of ``objects``."""
    return client.post(
        "/organization_memberships", params=params, json={"organization_memberships": list(objects)}
    )


def messages(response: httpx.Response) -> list[str]:
    """The error messages of a reply (which must be an errors body)."""
    body = response.json()
    assert set(body) == {"errors"}
    return [error["message"] for error in body["errors"]]


def stored(sandbox: SandboxServer) -> set[tuple[str, str]]:
    """(member_type, member_id) of every membership the sandbox holds."""
    return {(row["member_type"], row["member_id"]) for row in sandbox.memberships()}
