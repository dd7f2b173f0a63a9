"""The Kantata sandbox's list endpoints, lookups and seed, over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.sandbox import SandboxConfig, SandboxServer, bundled_seed
from importer.sandbox._make_seed import render

from .conftest import AUTH, TOKEN, create, m, messages, stored

# -- listing memberships ------------------------------------------------------------------------


@pytest.fixture
def listed(client: httpx.Client) -> httpx.Client:
    """Three memberships on top of the seed's five (users 10001..10005 at 105/202)."""
    response = create(
        client, m(106, 203, 10010), m(107, 209, 50001, "Workspace"), m(108, 210, 10011)
    )
    assert response.status_code == 200
    return client


@pytest.mark.parametrize(
    ("params", "members"),
    [
        ({"member_id": "10010"}, {"10010"}),
        ({"member_id": "50001", "member_type": "Workspace"}, {"50001"}),
        ({"member_id": "10010", "member_type": "Workspace"}, set()),
        ({"member_type": "Workspace"}, {"50001"}),
        ({"only": "9001,9003"}, {"10001", "10003"}),
        ({"geography_id": "105"}, {str(10001 + i) for i in range(5)}),
        ({"department_id": "209"}, {"50001"}),
        ({"department_id": "210", "geography_id": "108"}, {"10011"}),
        ({"member_id": ""}, {str(10001 + i) for i in range(5)} | {"10010", "50001", "10011"}),
    ],
)
def test_list_memberships_filters(
    listed: httpx.Client, params: dict[str, str], members: set[str]
) -> None:
    """member_id, member_type, only, geography_id and department_id filter the list (a
    member_id list: see tests/contract's member_id_lists switch)."""
    body = listed.get("/organization_memberships", params=params).json()
    assert {obj["member_id"] for obj in body["organization_memberships"].values()} == members
    assert body["count"] == len(members)


def test_list_memberships_include(listed: httpx.Client) -> None:
    """The list endpoint side-loads organizations too, and only on request."""
    params = {"member_id": "50001", "include": "geography,department"}
    body = listed.get("/organization_memberships", params=params).json()
    assert set(body["organizations"]) == {"107", "209"}
    assert "organizations" not in listed.get("/organization_memberships").json()


def test_pagination_meta(client: httpx.Client) -> None:
    """page/per_page slice the newest-first list and ``meta`` tells the page count."""
    pages = [
        client.get("/organization_memberships", params={"per_page": 2, "page": page}).json()
        for page in (1, 2, 3, 4)
    ]
    assert [[ref["id"] for ref in page["results"]] for page in pages] == [
        ["9005", "9004"],
        ["9003", "9002"],
        ["9001"],
        [],
    ]
    assert pages[1]["meta"] == {"count": 5, "page_count": 3, "page_number": 2, "page_size": 2}
    assert all(page["count"] == 5 for page in pages)
    default = client.get("/organization_memberships").json()["meta"]
    assert default == {"count": 5, "page_count": 1, "page_number": 1, "page_size": 20}


def test_per_page_is_capped() -> None:
    """per_page above max_per_page is served as max_per_page."""
    with (
        SandboxServer(SandboxConfig(token=TOKEN, max_per_page=7)) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http,
    ):
        body = http.get("/users", params={"per_page": 500}).json()
    assert body["meta"] == {"count": 200, "page_count": 29, "page_number": 1, "page_size": 7}
    assert len(body["results"]) == 7


def test_default_cap_is_200(client: httpx.Client) -> None:
    """By default per_page goes up to 200."""
    body = client.get("/users", params={"per_page": 1000}).json()
    assert body["meta"]["page_size"] == 200
    assert len(body["users"]) == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/organization_memberships", {"page": "0"}),
        ("/organization_memberships", {"per_page": "abc"}),
        ("/organization_memberships", {"member_id": "10001,x"}),
        ("/organization_memberships", {"member_type": "user"}),
        ("/organization_memberships", {"only": ",".join(["1"] * 1001)}),
        ("/organizations", {"type": "Team"}),
        ("/users", {"only": "abc"}),
    ],
)
def test_bad_list_parameters_are_400(
    client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    """Malformed filters and pagination are a 400 naming the parameter."""
    response = client.get(path, params=params)
    assert response.status_code == 400
    assert next(iter(params)) in messages(response)[0]


def test_empty_list_has_zero_pages(client: httpx.Client) -> None:
    """A filter matching nothing answers count 0 and page_count 0."""
    body = client.get("/organization_memberships", params={"member_id": "123"}).json()
    assert body["meta"] == {"count": 0, "page_count": 0, "page_number": 1, "page_size": 20}
    assert body["results"] == []
    assert body["organization_memberships"] == {}


# -- lookups ------------------------------------------------------------------------------------


def org_ids(body: dict[str, Any]) -> list[str]:
    return [ref["id"] for ref in body["results"]]


def test_organizations_lookup(client: httpx.Client) -> None:
    """Organizations filter by type, case-insensitive name substring and ids (names A-Z)."""
    geographies = client.get("/organizations", params={"type": "Geography"}).json()
    assert sorted(org_ids(geographies)) == [str(i) for i in range(101, 109)]
    matching = client.get("/organizations", params={"matching": "OPERATIONS"}).json()
    assert org_ids(matching) == ["209", "207", "210"]
    both = {"matching": "operations", "type": "Department", "only": "209,210,105"}
    assert org_ids(client.get("/organizations", params=both).json()) == ["209", "210"]
    everything = client.get("/organizations", params={"per_page": 50}).json()
    assert everything["count"] == 18
    assert everything["organizations"]["101"] == {
        "id": "101",
        "name": "Global",
        "type": "Geography",
        "parent_id": None,
        "ancestor_ids": [],
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }
    assert everything["organizations"]["105"]["parent_id"] == "102"
    assert everything["organizations"]["105"]["ancestor_ids"] == ["102", "101"]
    assert "organization_memberships" not in everything


def test_users_lookup(client: httpx.Client) -> None:
    """Users are found by exact email, by name/email substring, and by id."""
    by_email = client.get("/users", params={"by_email_address": "olivia.smith@acme.example"}).json()
    assert by_email["users"] == {
        "10001": {
            "id": "10001",
            "full_name": "Olivia Smith",
            "email_address": "olivia.smith@acme.example",
        }
    }
    assert client.get("/users", params={"by_email_address": "olivia"}).json()["count"] == 0
    found = client.get("/users", params={"search": "SMITH", "per_page": 200}).json()
    assert found["count"] >= 1
    for user in found["users"].values():
        assert "smith" in (user["full_name"] + user["email_address"]).lower()
    only = client.get("/users", params={"only": "10200,10001"}).json()
    assert org_ids(only) == ["10001", "10200"]  # alphabetical: Olivia Smith, Patrick ...
    assert client.get("/users").json()["meta"]["page_count"] == 10


def test_workspaces_lookup(client: httpx.Client) -> None:
    """Workspaces are searched by title, case-insensitively; two share "Data Platform"."""
    body = client.get("/workspaces", params={"search": "data platform"}).json()
    assert {k: w["title"] for k, w in body["workspaces"].items()} == {
        "50039": "Data Platform",
        "50040": "Data Platform",
    }
    assert org_ids(client.get("/workspaces", params={"search": "website"}).json()) == ["50001"]
    assert client.get("/workspaces", params={"per_page": 100}).json()["count"] == 40


# -- the seed -----------------------------------------------------------------------------------


def test_bundled_seed_is_current() -> None:
    """seed.json is exactly what make_seed.py generates."""
    assert bundled_seed().read_text(encoding="utf-8") == render()


def test_seed_contents() -> None:
    """The seed has the fixed ids the sample spreadsheets rely on."""
    seed = json.loads(bundled_seed().read_text(encoding="utf-8"))
    orgs = {org["id"]: org for org in seed["organizations"]}
    assert sorted(orgs) == [*range(101, 109), *range(201, 211)]
    assert {orgs[i]["type"] for i in range(101, 109)} == {"Geography"}
    assert len({org["name"] for org in orgs.values()}) == len(orgs)
    assert seed["current_user_id"] == 10001
    users = seed["users"]
    assert [u["id"] for u in users] == list(range(10001, 10217))
    assert len({u["full_name"] for u in users}) == 216
    assert len({u["email_address"] for u in users}) == 216
    assert all(u["email_address"] == u["email_address"].lower() for u in users)
    off = [u["id"] for u in users if u.get("on_project") is False]
    assert off == [*range(10201, 10211), 10216]
    assert [u["id"] for u in users if u.get("disabled")] == list(range(10211, 10217))
    active = [w for w in seed["workspaces"] if not w.get("archived")]
    titles = [w["title"].casefold() for w in active]
    assert [w["id"] for w in active] == list(range(50001, 50041))
    assert len(set(titles)) == 39
    assert titles[-2:] == ["data platform", "data platform"]
    archived = [w["id"] for w in seed["workspaces"] if w.get("archived")]
    assert archived == [50041, 50042, 50043]
    members = [(x["id"], x["member_id"]) for x in seed["organization_memberships"]]
    assert members == [(9001 + i, 10001 + i) for i in range(5)]


# -- a property: whatever the batch, the store stays consistent --------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[SandboxServer, httpx.Client]]:
    server = SandboxServer(SandboxConfig(token=TOKEN)).start()
    with httpx.Client(base_url=server.base_url, headers=AUTH, verify=False) as http:
        yield server, http
    server.stop()


_objects = st.builds(
    m,
    st.sampled_from([105, 106, 201, 999]),
    st.sampled_from([202, 209, 105]),
    st.integers(10001, 10200),
    st.sampled_from(["User", "User", "Workspace"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(_objects, min_size=1, max_size=12),
    mode=st.sampled_from(["atomic", "partial", "partial-error"]),
)
def test_batches_keep_the_store_consistent(
    shared: tuple[SandboxServer, httpx.Client], batch: list[dict[str, Any]], mode: str
) -> None:
    """For any batch and mode, exactly the valid objects are written (or none), once each."""
    server, http = shared
    server.set_knobs(bulk_mode=mode)
    before = stored(server)
    valid: list[tuple[str, str]] = []
    for obj in batch:
        member = (obj["member_type"], str(obj["member_id"]))
        ok = obj["geography_id"] in (105, 106) and obj["department_id"] in (202, 209)
        if ok and obj["member_type"] == "User" and member not in before and member not in valid:
            valid.append(member)
    response = create(http, *batch)
    all_valid = len(valid) == len(batch)
    written = set(valid) if all_valid or mode != "atomic" else set()
    assert stored(server) == before | written
    assert len(server.memberships()) == len(stored(server))
    assert response.status_code == (200 if all_valid or (mode == "partial" and valid) else 422)
