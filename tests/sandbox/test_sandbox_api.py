"""The Kantata sandbox's create endpoint and basics, over real HTTP on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from importer.sandbox import SandboxConfig, SandboxServer

from .conftest import TOKEN, create, m, messages, stored

MEMBERSHIP_KEYS = {"id", "member_id", "member_type", "created_at", "updated_at"}


# -- basics -------------------------------------------------------------------------------------


def test_starts_quickly_on_loopback() -> None:
    """A sandbox starts in well under 2 s and serves on 127.0.0.1."""
    started = time.perf_counter()
    with SandboxServer(SandboxConfig(token=TOKEN)) as server:
        elapsed = time.perf_counter() - started
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/api/v1")
        response = httpx.get(
            f"{server.base_url}/users", headers={"Authorization": "Bearer " + TOKEN}
        )
        assert response.status_code == 200
    assert elapsed < 2.0


def test_random_token_by_default() -> None:
    """Without a configured token each sandbox makes up its own."""
    first, second = SandboxServer(), SandboxServer()
    assert len(first.token) >= 20
    assert first.token != second.token


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
)
def test_requests_without_the_token_are_401(
    sandbox: SandboxServer, headers: dict[str, str]
) -> None:
    """Missing, wrong or non-bearer credentials get the documented oauth 401."""
    for method, path in [("GET", "/users"), ("POST", "/organization_memberships")]:
        url = sandbox.base_url + path
        response = httpx.request(method, url, headers=headers, json={}, verify=False)
        assert response.status_code == 401
        assert response.json()["errors"] == [
            {"type": "oauth", "message": "Invalid OAuth 2 Request"}
        ]
    assert len(sandbox.memberships()) == 5


def test_unknown_path_is_404_json(client: httpx.Client) -> None:
    """An unknown endpoint is a 404 with the JSON errors shape."""
    response = client.get("/projects")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["type"] == "system"


def test_wrong_method_is_404(client: httpx.Client) -> None:
    """A known path with a method it lacks is a 404 (a Rails router has no such route)."""
    response = client.delete("/users")
    assert response.status_code == 404
    assert "errors" in response.json()


def test_json_suffix_and_trailing_slash(client: httpx.Client) -> None:
    """``/users.json`` and ``/users/`` are the same endpoint as ``/users``."""
    assert client.get("/users.json").json()["count"] == 200
    assert client.get("/users/").json()["count"] == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "Expected a JSON object"),
        (b'{"organization_membership": {}, "organization_memberships": []}', "Expected"),
        (b'{"organization_memberships": {"a": 1}}', "must be a list"),
        (b'{"organization_memberships": []}', "empty"),
    ],
)
def test_malformed_bodies_are_400(client: httpx.Client, body: bytes, fragment: str) -> None:
    """Unparseable or wrongly shaped bodies are a 400 in the errors shape."""
    response = client.post(
        "/organization_memberships", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert fragment in messages(response)[0]


def test_chunked_request_body_is_read(client: httpx.Client) -> None:
    """A body sent with Transfer-Encoding: chunked is accepted like any other."""

    def chunks() -> Iterator[bytes]:
        yield b'{"organization_membership": '
        yield json.dumps(m(105, 202, 10099)).encode()
        yield b"}"

    response = client.post("/organization_memberships", content=chunks())
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200


# -- creating memberships -----------------------------------------------------------------------


def test_single_create_response_shape(client: httpx.Client) -> None:
    """A single create answers 200 with exactly the documented shape and string values."""
    response = client.post(
        "/organization_memberships", json={"organization_membership": m(106, 203, 10006)}
    )
    assert response.status_code == 200
    body = response.json()
    created = body["organization_memberships"]["9006"]
    stamp = created["created_at"]
    assert stamp == created["updated_at"]
    assert body == {
        "count": 1,
        "meta": {"count": 1, "page_count": 1, "page_number": 1, "page_size": 20},
        "results": [{"key": "organization_memberships", "id": "9006"}],
        "organization_memberships": {
            "9006": {
                "id": "9006",
                "member_id": "10006",
                "member_type": "User",
                "created_at": stamp,
                "updated_at": stamp,
            }
        },
    }


def test_bulk_create_response_shape(client: httpx.Client, sandbox: SandboxServer) -> None:
    """A bulk create lists every created object by string id, in the documented shape."""
    response = create(client, m(105, 202, 10010), m(107, 204, 50001, "Workspace"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "meta", "results", "organization_memberships"}
    assert body["count"] == 2
    assert body["meta"] == {"count": 2, "page_count": 1, "page_number": 1, "page_size": 20}
    assert {ref["id"] for ref in body["results"]} == {"9006", "9007"}
    assert all(ref["key"] == "organization_memberships" for ref in body["results"])
    objects = body["organization_memberships"]
    assert set(objects) == {"9006", "9007"}
    for key, obj in objects.items():
        assert set(obj) == MEMBERSHIP_KEYS
        assert obj["id"] == key
        assert all(isinstance(value, str) for value in obj.values())
    assert objects["9007"]["member_type"] == "Workspace"
    assert ("Workspace", "50001") in stored(sandbox)


def test_results_are_in_server_order_not_request_order(client: httpx.Client) -> None:
    """``results`` follows the server's sort (newest first), not the order objects were sent."""
    sent = [m(105, 202, member) for member in (10020, 10021, 10022)]
    body = create(client, *sent).json()
    order = [body["organization_memberships"][ref["id"]]["member_id"] for ref in body["results"]]
    assert order == ["10022", "10021", "10020"]
    assert list(body["organization_memberships"]) == [ref["id"] for ref in body["results"]]


def test_new_ids_follow_the_highest(client: httpx.Client) -> None:
    """New memberships get increasing ids after the seed's 9001..9005."""
    first = create(client, m(105, 202, 10030)).json()["results"][0]["id"]
    second = create(client, m(105, 202, 10031)).json()["results"][0]["id"]
    assert (first, second) == ("9006", "9007")


def test_include_side_loads_organizations(client: httpx.Client) -> None:
    """``include=department,geography`` side-loads both organizations under ``organizations``."""
    body = create(client, m(105, 209, 10040), include="department,geography").json()
    assert set(body["organizations"]) == {"105", "209"}
    assert body["organizations"]["209"] == {
        "id": "209",
        "name": "Operations",
        "type": "Department",
        "parent_id": "202",
        "ancestor_ids": ["202", "201"],
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }
    only_geo = create(client, m(106, 210, 10041), include="geography").json()
    assert set(only_geo["organizations"]) == {"106"}


def test_unknown_include_is_400(client: httpx.Client, sandbox: SandboxServer) -> None:
    """An include other than department/geography is refused before anything is written."""
    response = create(client, m(105, 202, 10042), include="member")
    assert response.status_code == 400
    assert "member" in messages(response)[0]
    assert ("User", "10042") not in stored(sandbox)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {"department_id": 202, "member_id": 10050, "member_type": "User"},
            "Geography can't be blank",
        ),
        (m(105, None, 10050), "Department can't be blank"),
        (m(105, 202, ""), "Member can't be blank"),
        (
            {"geography_id": 105, "department_id": 202, "member_id": 10050},
            "Member type can't be blank",
        ),
        (m("abc", 202, 10050), 'Geography must be an integer (got "abc")'),
        (m("-5", 202, 10050), 'Geography must be an integer (got "-5")'),
        (m(105, 2.5, 10050), "Department must be an integer (got 2.5)"),
        (m(105, 202, True), "Member must be an integer (got true)"),
        (m(105, 202, 10050, "user"), 'Member type must be "User" or "Workspace" (got "user")'),
        (m(999, 202, 10050), "Geography 999 not found"),
        (m(201, 202, 10050), "Geography must be a Geography organization (201 is a Department)"),
        (m(105, 998, 10050), "Department 998 not found"),
        (m(105, 105, 10050), "Department must be a Department organization (105 is a Geography)"),
        (m(105, 202, 99999), "Member User 99999 not found"),
        (m(105, 202, 10050, "Workspace"), "Member Workspace 10050 not found"),
        (m(105, 202, 10001), "Member has already been taken"),
        ([105, 202], "Organization membership must be a JSON object (got [105, 202])"),
    ],
)
def test_validation_rules(
    client: httpx.Client, sandbox: SandboxServer, obj: Any, expected: str
) -> None:
    """Each broken object is a 422 validation error with a field and a precise message."""
    before = sandbox.memberships()
    for body in ({"organization_membership": obj}, {"organization_memberships": [obj]}):
        response = client.post("/organization_memberships", json=body)
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert set(error) == {"type", "message", "field"}
        assert (error["type"], error["message"]) == ("validation", expected)
    assert sandbox.memberships() == before


def test_one_object_can_have_several_errors(client: httpx.Client) -> None:
    """All of an object's problems are reported, none with an index."""
    response = create(client, m(201, 105, 10050, "Team"))
    assert messages(response) == [
        'Member type must be "User" or "Workspace" (got "Team")',
    ]
    response = create(client, m(201, 105, 99999))
    assert messages(response) == [
        "Geography must be a Geography organization (201 is a Department)",
        "Department must be a Department organization (105 is a Geography)",
        "Member User 99999 not found",
    ]


def test_digit_strings_are_accepted_as_integers(client: httpx.Client) -> None:
    """IDs sent as strings of digits are cast like Rails would."""
    response = create(client, m("105", "202", "10060"))
    assert response.status_code == 200
    created = next(iter(response.json()["organization_memberships"].values()))
    assert created["member_id"] == "10060"


def test_more_than_100_objects_is_refused_whole(
    client: httpx.Client, sandbox: SandboxServer
) -> None:
    """101 objects are a 400 and nothing is created; exactly 100 are fine."""
    objects = [m(105, 202, 10006 + i) for i in range(101)]
    response = create(client, *objects)
    assert response.status_code == 400
    assert "at most 100" in messages(response)[0]
    assert len(sandbox.memberships()) == 5
    response = create(client, *objects[:100])
    assert response.status_code == 200
    assert response.json()["count"] == 100
    assert len(sandbox.memberships()) == 105


def test_same_member_twice_in_one_request(client: httpx.Client, sandbox: SandboxServer) -> None:
    """The second occurrence of a member in one request is taken; atomic mode writes nothing."""
    response = create(client, m(105, 202, 10070), m(106, 203, 10070))
    assert response.status_code == 422
    assert messages(response) == ["Member has already been taken"]
    assert ("User", "10070") not in stored(sandbox)


def test_member_already_holding_a_membership_is_taken(client: httpx.Client) -> None:
    """A member with a membership (even an identical one) is refused with the documented text."""
    assert create(client, m(105, 202, 10071)).status_code == 200
    for obj in (m(105, 202, 10071), m(106, 203, 10071), m(105, 202, 10002)):
        assert messages(create(client, obj)) == ["Member has already been taken"]


@pytest.mark.parametrize(
    ("mode", "status", "listed"),
    [("atomic", 422, None), ("partial", 200, {"10080", "10082"}), ("partial-error", 422, None)],
)
def test_bulk_modes(
    client: httpx.Client, sandbox: SandboxServer, mode: str, status: int, listed: set[str] | None
) -> None:
    """atomic writes nothing; partial writes and lists the good ones; partial-error writes, 422s."""
    sandbox.set_knobs(bulk_mode=mode)
    response = create(client, m(105, 202, 10080), m(999, 202, 10081), m(105, 202, 10082))
    assert response.status_code == status
    if listed is None:
        assert messages(response) == ["Geography 999 not found"]
    else:
        objects = response.json()["organization_memberships"].values()
        assert {obj["member_id"] for obj in objects} == listed
        assert response.json()["count"] == 2
    expected = set() if mode == "atomic" else {("User", "10080"), ("User", "10082")}
    assert stored(sandbox) - {("User", str(10001 + i)) for i in range(5)} == expected


@pytest.mark.parametrize("mode", ["partial", "partial-error"])
def test_partial_modes_refuse_a_wholly_bad_batch(
    client: httpx.Client, sandbox: SandboxServer, mode: str
) -> None:
    """With nothing valid to write, even the partial modes answer 422."""
    sandbox.set_knobs(bulk_mode=mode)
    response = create(client, m(999, 202, 10083))
    assert response.status_code == 422
    assert len(sandbox.memberships()) == 5


def test_duplicate_of_an_invalid_object_is_not_taken(
    client: httpx.Client, sandbox: SandboxServer
) -> None:
    """A member's second object counts as a first when the first one was invalid."""
    sandbox.set_knobs(bulk_mode="partial")
    response = create(client, m(999, 202, 10084), m(106, 203, 10084), include="geography")
    assert response.status_code == 200
    created = next(iter(response.json()["organization_memberships"].values()))
    assert created["geography_id"] == "106"


def test_single_create_is_all_or_nothing_in_any_mode(
    client: httpx.Client, sandbox: SandboxServer
) -> None:
    """bulk_mode only concerns bulk requests: a bad single create is always refused."""
    sandbox.set_knobs(bulk_mode="partial")
    response = client.post(
        "/organization_memberships", json={"organization_membership": m(999, 1, 2)}
    )
    assert response.status_code == 422
