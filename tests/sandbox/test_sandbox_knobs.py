"""The Kantata sandbox's fault knobs, counters, persistence and command line."""

from __future__ import annotations

import inspect
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.sandbox import KNOB_NAMES, Counters, Knobs, SandboxConfig, SandboxServer, sandbox_cmd
from importer.sandbox.__main__ import main as sandbox_main

TOKEN = "knob-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def m(member: int, kind: str = "User", geo: int = 105, dept: int = 202) -> dict[str, Any]:
    return {"geography_id": geo, "department_id": dept, "member_id": member, "member_type": kind}


def http_client(server: SandboxServer, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=AUTH, verify=False, **kwargs)


def create(client: httpx.Client, *objects: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/organization_memberships", json={"organization_memberships": list(objects)}
    )


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(token=TOKEN, random_seed=3)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with http_client(sandbox) as http:
        yield http


# -- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """Over the rate, requests get 429 + an integer Retry-After and nothing is done."""
    sandbox.set_knobs(rate=2)
    statuses = [create(client, m(10010 + i)).status_code for i in range(6)]
    assert statuses[:2] == [200, 200]
    assert statuses.count(429) >= 3
    response = create(client, m(10020))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["errors"][0]["type"] == "system"
    assert sandbox.counters.rate_limited == statuses.count(429) + 1
    assert len(sandbox.memberships()) == 5 + statuses.count(200)


def test_rate_limit_refills(sandbox: SandboxServer, client: httpx.Client) -> None:
    """The token bucket refills at ``rate`` per second."""
    sandbox.set_knobs(rate=20)
    statuses = [client.get("/users").status_code for _ in range(40)]
    assert 429 in statuses
    time.sleep(0.15)
    assert client.get("/users").status_code == 200


# -- 503s ---------------------------------------------------------------------------------------


def run_statuses(config: SandboxConfig, count: int) -> list[int]:
    with SandboxServer(config) as server, http_client(server) as http:
        return [http.get("/users").status_code for _ in range(count)]


def test_fail_rate_is_roughly_right_and_deterministic() -> None:
    """fail_rate answers about that fraction 503, the same ones for the same random_seed."""
    config = SandboxConfig(token=TOKEN, fail_rate=0.3, random_seed=11)
    first = run_statuses(config, 300)
    assert set(first) == {200, 503}
    assert 0.2 <= first.count(503) / len(first) <= 0.4
    assert run_statuses(config, 300) == first


def test_a_503_does_nothing(sandbox: SandboxServer, client: httpx.Client) -> None:
    """A request failed by fail_rate writes nothing and says so in the errors shape."""
    sandbox.set_knobs(fail_rate=1.0)
    response = create(client, m(10030))
    assert response.status_code == 503
    assert response.json()["errors"][0]["type"] == "system"
    assert len(sandbox.memberships()) == 5
    counters = sandbox.counters
    assert (counters.failed, counters.create_requests, counters.by_status) == (1, 0, {503: 1})


# -- lost replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("single", [True, False])
def test_drop_after_commit_loses_the_reply_but_commits(
    sandbox: SandboxServer, client: httpx.Client, single: bool
) -> None:
    """The client sees the connection closed with no response, yet the write is stored."""
    sandbox.set_knobs(drop_after_commit=1.0)
    body: dict[str, Any] = (
        {"organization_membership": m(10040)}
        if single
        else {"organization_memberships": [m(10040), m(10041)]}
    )
    with pytest.raises(httpx.TransportError):
        client.post("/organization_memberships", json=body)
    members = {row["member_id"] for row in sandbox.memberships()}
    assert "10040" in members
    assert single or "10041" in members
    counters = sandbox.counters
    assert counters.dropped == 1
    assert counters.objects_created == (1 if single else 2)
    sandbox.set_knobs(drop_after_commit=0.0)
    again = create(client, m(10040))
    assert again.json()["errors"][0]["message"] == "Member has already been taken"


def test_drop_needs_a_commit(sandbox: SandboxServer, client: httpx.Client) -> None:
    """A refused create is still answered (nothing was committed to lose the reply of)."""
    sandbox.set_knobs(drop_after_commit=1.0)
    assert create(client, m(10001)).status_code == 422
    assert client.get("/users").status_code == 200
    assert sandbox.counters.dropped == 0


def test_drop_fraction_is_roughly_right() -> None:
    """About drop_after_commit of the committed creates lose their reply, all are stored."""
    config = SandboxConfig(token=TOKEN, drop_after_commit=0.5, random_seed=5)
    with SandboxServer(config) as server, http_client(server) as http:
        lost = 0
        for i in range(60):
            try:
                create(http, m(10100 + i))
            except httpx.TransportError:
                lost += 1
        assert 15 <= lost <= 45
        assert server.counters.dropped == lost
        assert len(server.memberships()) == 65


# -- latency and concurrency --------------------------------------------------------------------


def test_latency_is_added(sandbox: SandboxServer, client: httpx.Client) -> None:
    """latency_ms delays every request by at least that much."""
    client.get("/users")
    sandbox.set_knobs(latency_ms=150)
    started = time.perf_counter()
    client.get("/users")
    assert time.perf_counter() - started >= 0.15


def test_concurrency_peak_counts_parallel_requests(sandbox: SandboxServer) -> None:
    """Requests handled at the same time raise concurrency_peak."""
    sandbox.set_knobs(latency_ms=300)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def one(client: httpx.Client) -> None:
        barrier.wait()
        statuses.append(client.get("/organizations").status_code)

    with http_client(sandbox) as http:
        threads = [threading.Thread(target=one, args=(http,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 8
    assert sandbox.counters.concurrency_peak >= 6


def test_sequential_requests_have_peak_one(sandbox: SandboxServer, client: httpx.Client) -> None:
    """One request at a time keeps concurrency_peak at 1."""
    for _ in range(5):
        client.get("/users")
    assert sandbox.counters.concurrency_peak == 1


# -- counters and control -----------------------------------------------------------------------


def test_counters(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Counters track requests, creates, objects, the largest batch and statuses."""
    create(client, *(m(10200 - i) for i in range(7)))
    create(client, m(10001))
    create(client, *(m(10060 + i) for i in range(101)))
    client.get("/users")
    httpx.get(sandbox.base_url + "/users", verify=False)
    assert sandbox.counters == Counters(
        requests=5,
        create_requests=3,
        objects_created=7,
        rate_limited=0,
        failed=0,
        dropped=0,
        largest_batch=101,
        concurrency_peak=1,
        by_status={200: 2, 400: 1, 401: 1, 422: 1},
    )
    sandbox.reset_counters()
    assert sandbox.counters == Counters()


def test_control_endpoints(sandbox: SandboxServer, client: httpx.Client) -> None:
    """/_sandbox/* reads counters and sets knobs, needs the token, skips knobs and counters."""
    sandbox.set_knobs(fail_rate=1.0)
    assert client.get("/users").status_code == 503
    counters = client.get("/_sandbox/counters").json()
    assert counters["failed"] == 1
    assert counters["by_status"] == {"503": 1}
    knobs = client.post("/_sandbox/knobs", json={"fail_rate": 0, "bulk_mode": "partial"}).json()
    assert knobs == {**vars(Knobs()), "bulk_mode": "partial"}
    assert client.post("/_sandbox/knobs", json={"colour": 1}).status_code == 400
    assert client.post("/_sandbox/reset").json()["requests"] == 0
    assert httpx.get(sandbox.base_url + "/_sandbox/counters", verify=False).status_code == 401
    assert sandbox.counters.requests == 0


def test_set_knobs_validates(sandbox: SandboxServer) -> None:
    """Unknown knobs and out-of-range values are refused and change nothing."""
    with pytest.raises(TypeError, match="unknown sandbox knob"):
        sandbox.set_knobs(colour="red")
    with pytest.raises(ValueError, match="fail_rate"):
        sandbox.set_knobs(latency_ms=10, fail_rate=1.5)
    with pytest.raises(ValueError, match="bulk_mode"):
        sandbox.set_knobs(bulk_mode="best-effort")
    assert sandbox.knobs.latency_ms == 0.0
    sandbox.set_knobs(rate=None, latency_ms=5)
    assert sandbox.knobs.latency_ms == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [{"fail_rate": -0.1}, {"rate": 0}, {"latency_ms": -1}, {"port": 70000}, {"max_per_page": 0}],
)
def test_config_validation(kwargs: dict[str, Any]) -> None:
    """SandboxConfig refuses impossible settings up front."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SandboxConfig(**kwargs)


# -- persistence and lifecycle ------------------------------------------------------------------


def test_state_persists_in_a_db_file(tmp_path: Path) -> None:
    """With db_path a file, memberships survive a restart and the seed is not loaded twice."""
    config = SandboxConfig(token=TOKEN, db_path=str(tmp_path / "sandbox.db"))
    with SandboxServer(config) as first, http_client(first) as http:
        assert create(http, m(10090), m(10091)).status_code == 200
    with SandboxServer(config) as second, http_client(second) as http:
        assert len(second.memberships()) == 7
        assert create(http, m(10090)).json()["errors"][0]["message"] == (
            "Member has already been taken"
        )
        assert create(http, m(10092)).json()["results"] == [
            {"key": "organization_memberships", "id": "9008"}
        ]
        assert http.get("/users").json()["count"] == 200


def test_memory_state_readable_after_stop() -> None:
    """memberships() still answers after stop (a snapshot taken when stopping)."""
    server = SandboxServer(SandboxConfig(token=TOKEN)).start()
    with http_client(server) as http:
        create(http, m(10095))
    server.stop()
    server.stop()
    assert [row["member_id"] for row in server.memberships()][-1] == "10095"
    assert not server.running


def test_stop_closes_idle_keep_alive_connections(sandbox: SandboxServer) -> None:
    """Stopping does not wait for clients holding idle keep-alive connections."""
    with http_client(sandbox) as http:
        assert http.get("/users").status_code == 200
        started = time.perf_counter()
        sandbox.stop()
        assert time.perf_counter() - started < 1.0
        with pytest.raises(httpx.TransportError):
            http.get("/users")


def test_custom_seed(tmp_path: Path) -> None:
    """A seed file replaces the bundled data."""
    seed = tmp_path / "seed.json"
    seed.write_text(
        '{"organizations": [{"id": 1, "name": "World", "type": "Geography",'
        ' "parent_id": null}], "users": [{"id": 7, "full_name": "Ada Lovelace",'
        ' "email_address": "ada@example.org"}], "workspaces": [], "organization_memberships": []}'
    )
    with SandboxServer(SandboxConfig(token=TOKEN, seed=seed)) as server, http_client(server) as h:
        assert h.get("/users").json()["users"]["7"]["full_name"] == "Ada Lovelace"
        assert h.get("/organizations").json()["count"] == 1
        assert server.memberships() == []


# -- command line -------------------------------------------------------------------------------


def test_cli_has_every_switch_with_the_config_default() -> None:
    """``importer sandbox`` has one option per switch, defaulting to SandboxConfig's value."""
    params = inspect.signature(sandbox_cmd).parameters
    defaults = SandboxConfig()
    for name in KNOB_NAMES:
        assert params[name].default == getattr(defaults, name), name
    result = CliRunner().invoke(app, ["sandbox", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in KNOB_NAMES:
        assert "--" + name.replace("_", "-") in result.output


def test_python_m_sandbox_is_the_same_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m importer.sandbox`` shares the options of ``importer sandbox``."""
    monkeypatch.setenv("COLUMNS", "200")
    assert sandbox_main(["--help"]) == 0
    assert "--memberships-per-member" in capsys.readouterr().out
    assert sandbox_main(["--bulk-mode", "sometimes", "--port", "0"]) == 2
    assert "bulk_mode must be one of" in capsys.readouterr().err


def test_busy_port_is_one_line_and_exit_2() -> None:
    """A busy port prints one line suggesting --port 0, no traceback, exit code 2."""
    with SandboxServer(SandboxConfig(token=TOKEN)) as busy:
        result = CliRunner().invoke(app, ["sandbox", "--port", str(busy.port)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"sandbox: port {busy.port} is busy; try --port 0 (a free port)"
    ]


def test_cli_serves_and_stops_on_sigint() -> None:
    """``python -m importer.sandbox --port 0`` prints its URL and token, serves, stops on SIGINT."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "importer.sandbox", "--port", "0", "--token", "cli-token"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()

        def read(stream: IO[str]) -> None:
            for line in stream:
                lines.put(line)

        reader = threading.Thread(target=read, args=(proc.stdout,))
        reader.start()
        banner: list[str] = []
        while not banner or "Ctrl+C" not in banner[-1]:
            banner.append(lines.get(timeout=20))
        url = next(word for line in banner for word in line.split() if word.startswith("http://"))
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/api/v1")
        assert any("cli-token" in line for line in banner)
        headers = {"Authorization": "Bearer cli-token"}
        assert httpx.get(url + "/workspaces", headers=headers, verify=False).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        reader.join(timeout=5)
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert any("stopped" in line for line in rest)
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
