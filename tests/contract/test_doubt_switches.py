"""The sandbox's switches for what the reference leaves open about writes in doubt, the size of a
request, e-mail matching, ``member_id`` lists and other clients, each tested both ways.

docs/kantata-api.md § More facts and open points: whether a 503 to a write means "not applied",
whether a request can commit after the client gave up on it, how long a request target may be,
whether "exactly match" includes letter case; § Updating and deleting: ``member_id`` is one
integer. Plain httpx over real HTTP against a :class:`SandboxServer`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from importer.sandbox import SandboxConfig, SandboxServer

from ..waiting import wait_for

TOKEN = "doubt-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UK, GERMANY, ENGINEERING = 105, 106, 202


def m(member: int, geo: int = UK, dept: int = ENGINEERING) -> dict[str, Any]:
    return {"geography_id": geo, "department_id": dept, "member_id": member, "member_type": "User"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(token=TOKEN, random_seed=3)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, timeout=10) as http:
        yield http


def create(client: httpx.Client, *objects: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/organization_memberships", json={"organization_memberships": list(objects)}
    )


def held(sandbox: SandboxServer, member: int) -> list[tuple[str, str]]:
    """(geography, department) of every membership ``member`` holds."""
    return [
        (row["geography_id"], row["department_id"])
        for row in sandbox.memberships()
        if row["member_id"] == str(member)
    ]


# -- member_id: one integer ---------------------------------------------------------------------


def test_member_id_list_is_refused_by_default(client: httpx.Client) -> None:
    """docs/kantata-api.md § Updating and deleting: member_id is documented as one integer, so
    by default a comma list is a 400 validation error naming the field."""
    response = client.get("/organization_memberships", params={"member_id": "10001,10002"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "member_id"
    one = client.get("/organization_memberships", params={"member_id": "10002"}).json()
    assert [o["member_id"] for o in one["organization_memberships"].values()] == ["10002"]


def test_switch_member_id_lists_first(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Switch member_id_lists=first: a list cast like Ruby's to_i lists only the first member."""
    sandbox.set_knobs(member_id_lists="first")
    body = client.get("/organization_memberships", params={"member_id": "10002,10001"}).json()
    assert [o["member_id"] for o in body["organization_memberships"].values()] == ["10002"]


# -- e-mail matching ----------------------------------------------------------------------------


@pytest.mark.parametrize("match", ["exact", "case-insensitive"])
@pytest.mark.parametrize("param", ["by_email_address", "by_email_addresses"])
def test_switch_email_match(
    sandbox: SandboxServer, client: httpx.Client, match: str, param: str
) -> None:
    """Switch email_match: addresses "exactly match" (the default, users OpenAPI) or any case."""
    assert sandbox.knobs.email_match == "exact"
    sandbox.set_knobs(email_match=match)
    for written, found in (
        ("olivia.smith@acme.example", True),
        ("Olivia.Smith@ACME.example", None),
    ):
        body = client.get("/users", params={param: written}).json()
        expected = found if found is not None else match == "case-insensitive"
        assert (list(body["users"]) == ["10001"]) is expected, written


# -- writes in doubt ----------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_switch_fail_after_commit(
    sandbox: SandboxServer, client: httpx.Client, fraction: float
) -> None:
    """Switch fail_after_commit: a committed write answered 503 (a gateway), or answered 200."""
    sandbox.set_knobs(fail_after_commit=fraction)
    response = create(client, m(10030))
    assert response.status_code == (503 if fraction else 200)
    assert response.json().get("errors", [{}])[0].get("type", "system") == "system"
    assert held(sandbox, 10030) == [(str(UK), str(ENGINEERING))]
    assert sandbox.counters.failed_after_commit == (1 if fraction else 0)


def test_fail_after_commit_applies_to_moves_and_deletes(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """fail_after_commit: PUT and DELETE too are applied, then answered 503."""
    sandbox.set_knobs(fail_after_commit=1.0)
    moved = client.put(
        "/organization_memberships/9001",
        json={"organization_membership": {"geography_id": GERMANY}},
    )
    assert moved.status_code == 503
    assert held(sandbox, 10001) == [(str(GERMANY), str(ENGINEERING))]
    assert client.delete("/organization_memberships/9002").status_code == 503
    assert held(sandbox, 10002) == []


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_switch_late_commit(sandbox: SandboxServer, client: httpx.Client, fraction: float) -> None:
    """Switch late_commit: the reply is lost at once, not yet committed; the write commits
    ``late_commit_s`` later (within the server's time limit)."""
    sandbox.set_knobs(late_commit=fraction, late_commit_s=1.0)
    if not fraction:
        assert create(client, m(10030)).status_code == 200
        assert held(sandbox, 10030)
        return
    with pytest.raises(httpx.TransportError):
        create(client, m(10030))
    assert held(sandbox, 10030) == []  # the server is still working on it
    wait_for(
        lambda: held(sandbox, 10030) == [(str(UK), str(ENGINEERING))],
        timeout=10,
        what="the late commit",
    )
    assert sandbox.counters.late_commits == 1


def test_late_commit_happens_within_the_time_limit(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """A late commit asked for after the request time limit happens just before the limit (the
    server ends every request by then)."""
    sandbox.set_knobs(late_commit=1.0, late_commit_s=60.0, request_time_limit_s=0.5)
    started = time.monotonic()
    with pytest.raises(httpx.TransportError):
        create(client, m(10030))
    wait_for(lambda: held(sandbox, 10030), timeout=5, what="the late commit")
    assert time.monotonic() - started < 5.0


def test_switch_write_faults_serves_a_schedule(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """Switch write_faults: each write takes the next scheduled fault; reads take none; then the
    random knobs apply again."""
    sandbox.set_knobs(write_faults="429,503,503-after-commit,drop,ok")
    assert create(client, m(10030)).status_code == 429
    assert client.get("/users").status_code == 200
    assert create(client, m(10030)).status_code == 503
    assert held(sandbox, 10030) == []
    assert sandbox.knobs.write_faults == "503-after-commit,drop,ok"
    assert create(client, m(10030)).status_code == 503
    assert held(sandbox, 10030) == [(str(UK), str(ENGINEERING))]
    with pytest.raises(httpx.TransportError):
        create(client, m(10031))
    assert held(sandbox, 10031)
    assert create(client, m(10032)).status_code == 200
    assert sandbox.knobs.write_faults == ""
    assert create(client, m(10033)).status_code == 200


def test_write_faults_refuses_unknown_names(sandbox: SandboxServer) -> None:
    """A schedule naming an unknown fault is refused whole."""
    with pytest.raises(ValueError, match="unknown fault 'sometimes'"):
        sandbox.set_knobs(write_faults="429,sometimes")
    assert sandbox.knobs.write_faults == ""


@pytest.mark.parametrize("mode", ["no", "writes", "all"])
def test_switch_stop_answering(sandbox: SandboxServer, mode: str) -> None:
    """Switch stop_answering: from the moment it is set, writes (or every request) get no reply
    at all, and nothing they asked for is done."""
    sandbox.set_knobs(stop_answering=mode)
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, timeout=0.5) as client:
        if mode == "no":
            assert create(client, m(10030)).status_code == 200
        else:
            with pytest.raises(httpx.ReadTimeout):
                create(client, m(10030))
            assert held(sandbox, 10030) == []
        if mode == "all":
            with pytest.raises(httpx.ReadTimeout):
                client.get("/users")
        else:
            assert client.get("/users").status_code == 200


def test_stop_answering_after_lets_some_through(sandbox: SandboxServer) -> None:
    """stop_answering_after: that many requests are still answered, then none."""
    sandbox.set_knobs(stop_answering="writes", stop_answering_after=1)
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, timeout=0.5) as client:
        assert create(client, m(10030)).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            create(client, m(10031))
    assert sandbox.counters.unanswered == 1


def test_a_server_not_answering_still_stops(sandbox: SandboxServer) -> None:
    """Requests left unanswered end (connection closed) when the sandbox stops."""
    sandbox.set_knobs(stop_answering="all")
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, timeout=5) as client:
        started = time.monotonic()
        threading.Timer(0.3, sandbox.stop).start()
        with pytest.raises(httpx.TransportError):
            client.get("/users")
        assert time.monotonic() - started < 4.0


# -- other clients ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["off", "identical", "other"])
def test_switch_third_party_writes(sandbox: SandboxServer, client: httpx.Client, kind: str) -> None:
    """Switch third_party_writes: while a create is in doubt (here: a 503 before anything was
    done) another client creates a membership for the same member: none, an identical one, or
    one in another geography. The sandbox knows which are not the client's."""
    sandbox.set_knobs(third_party_writes=kind, write_faults="503")
    assert create(client, m(10030)).status_code == 503
    places = held(sandbox, 10030)
    theirs = sandbox.third_party_ids()
    if kind == "off":
        assert (places, theirs) == ([], set())
        return
    assert len(places) == 1
    assert (places[0] == (str(UK), str(ENGINEERING))) == (kind == "identical")
    assert len(theirs) == 1
    assert sandbox.counters.third_party_created == 1


def test_third_party_writes_follow_the_account_rule(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """A third party's create is refused like anyone's: on a one-membership account it adds
    nothing for a member whose membership was committed before the reply was lost."""
    sandbox.set_knobs(third_party_writes="identical", write_faults="drop")
    with pytest.raises(httpx.TransportError):
        create(client, m(10030))
    assert held(sandbox, 10030) == [(str(UK), str(ENGINEERING))]
    assert sandbox.third_party_ids() == set()
    sandbox.set_knobs(memberships_per_member="many", write_faults="503-after-commit")
    assert create(client, m(10031)).status_code == 503
    assert held(sandbox, 10031) == [(str(UK), str(ENGINEERING))] * 2
    assert len(sandbox.third_party_ids()) == 1


# -- the size of a request ----------------------------------------------------------------------


def _emails(n: int, length: int = 70) -> str:
    return ",".join(
        f"{i:04d}".ljust(length - len("@acme.example"), "x") + "@acme.example" for i in range(n)
    )


@pytest.mark.parametrize("limit", [None, 8192])
def test_switch_max_target_bytes(
    sandbox: SandboxServer, client: httpx.Client, limit: int | None
) -> None:
    """Switch max_target_bytes: a front proxy's limit on the request target (default: none, as
    the reference states none) answers 414 with its own HTML page, not the API's errors."""
    assert sandbox.knobs.max_target_bytes is None
    sandbox.set_knobs(max_target_bytes=limit)
    long = client.get("/users", params={"by_email_addresses": _emails(200)})
    short = client.get("/users", params={"by_email_addresses": _emails(50)})
    assert short.status_code == 200
    if limit is None:
        assert long.status_code == 200
        return
    assert long.status_code == 414
    assert long.headers["content-type"].startswith("text/html")
    assert sandbox.counters.too_large == 1


@pytest.mark.parametrize("limit", [None, 4096])
def test_switch_max_header_bytes(
    sandbox: SandboxServer, client: httpx.Client, limit: int | None
) -> None:
    """Switch max_header_bytes: headers past a front proxy's limit are answered 431."""
    sandbox.set_knobs(max_header_bytes=limit)
    response = client.get("/users", headers={"X-Padding": "p" * 5000})
    assert response.status_code == (431 if limit else 200)
    assert client.get("/users").status_code == 200
