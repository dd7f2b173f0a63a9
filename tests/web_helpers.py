"""Helpers for the ``importer serve`` tests: a signed-in client, the CLI's results to compare."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from typer.testing import CliRunner

from importer.core import ApiSettings
from importer.sandbox import SandboxConfig, SandboxServer
from importer.web import WebConfig, create_app

from .waiting import wait_for

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def csrf_of(config: WebConfig) -> str:
    """The CSRF token the pages carry (derived from the secret)."""
    return hmac.new(config.secret.encode(), b"csrf", "sha256").hexdigest()


def signed_in(config: WebConfig) -> TestClient:
    """A test client holding the session cookie and sending the CSRF header."""
    client = TestClient(create_app(config))
    client.get(f"/?key={config.secret}", follow_redirects=False)
    client.headers["X-CSRF-Token"] = csrf_of(config)
    return client


def web_config(work: Path, server: SandboxServer | None, **kwargs: Any) -> WebConfig:
    """A config for the test client (its Host is ``testserver``)."""
    api = ApiSettings(base_url=server.base_url, token=server.token) if server else None
    return WebConfig(work, api=api, extra_hosts=("testserver",), **kwargs)


def upload(client: TestClient, path: Path, name: str | None = None) -> str:
    """Upload ``path``; its id."""
    reply = client.put(f"/api/uploads?name={name or path.name}", content=path.read_bytes())
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def wait_for_run(client: TestClient, rid: str, timeout: float = 60) -> dict[str, Any]:
    """Poll a run until its thread ends; its status (an AssertionError if it never ends)."""

    def ended() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get(f"/api/runs/{rid}").json()
        return None if status["running"] else status

    return wait_for(ended, timeout=timeout, what=f"run {rid} to end", interval=0.05)


def cli_errors_csv(edited: Path, out: Path) -> bytes:
    """``importer run edited --out out`` against a fresh sandbox; the errors.csv it writes."""
    from importer.cli._app import app

    with SandboxServer(SandboxConfig()) as server:
        result = CliRunner().invoke(
            app,
            ["run", str(edited), "--base-url", server.base_url, "--out", str(out), "--quiet"],
            env={"KANTATA_API_TOKEN": server.token},
        )
    assert result.exit_code == 1, result.output
    return (out / "errors.csv").read_bytes()


def edit_sample_csv(target: Path, old: str, new: str) -> Path:
    """people.csv with one cell changed as a person would in a text editor."""
    text = (SAMPLES / "people.csv").read_text(encoding="utf-8-sig")
    assert text.count(old) == 1
    target.write_text(text.replace(old, new), encoding="utf-8-sig")
    return target
