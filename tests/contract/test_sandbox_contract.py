"""The sandbox follows docs/kantata-api.md to the letter: one test per documented fact.

Plain httpx over real HTTP against a :class:`SandboxServer`. Each docstring names the section
of docs/kantata-api.md it checks; facts from the published OpenAPI files name the file. Switches
for what the reference leaves open are tested both ways at the end.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from importer.sandbox import KNOB_NAMES, SandboxConfig, SandboxServer, bundled_seed

TOKEN = "contract-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UK, ENGINEERING, DESIGN, GERMANY = 105, 202, 203, 106
OFF_PROJECT = 10201  # on the account, on no project with the caller
DISABLED = 10211
ARCHIVED = 50041
ME = 10001


def m(member: int, geo: int = UK, dept: int = ENGINEERING, kind: str = "User") -> dict[str, Any]:
    """One membership object as a client sends it."""
    return {"geography_id": geo, "department_id": dept, "member_id": member, "member_type": kind}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(token=TOKEN, random_seed=3)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, timeout=10) as http:
        yield http


def create(client: httpx.Client, *objects: dict[str, Any], **params: str) -> httpx.Response:
    return client.post(
        "/organization_memberships", params=params, json={"organization_memberships": list(objects)}
    )


def ids(body: dict[str, Any]) -> list[str]:
    return [ref["id"] for ref in body["results"]]


# -- § Basics --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_bad_or_missing_token_is_the_oauth_401(
    sandbox: SandboxServer, headers: dict[str, str]
) -> None:
    """A bad or missing token -> 401 with the exact oauth error body.

    docs/kantata-api.md § Basics."""
    response = httpx.get(f"{sandbox.base_url}/users", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]}


def test_ids_are_strings_in_responses(client: httpx.Client) -> None:
    """docs/kantata-api.md § Basics: IDs are integers in requests and strings in responses."""
    body = create(client, m(10030), include="geography,department").json()
    obj = body["organization_memberships"][body["results"][0]["id"]]
    assert all(
        isinstance(obj[k], str) for k in ("id", "member_id", "geography_id", "department_id")
    )


def test_validation_error_carries_field(client: httpx.Client) -> None:
    """docs/kantata-api.md § Basics: a validation error carries a `field` (e.g. geography_id)."""
    response = create(client, m(10030, geo=999999))
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["type"] == "validation"
    assert error["field"] == "geography_id"
    assert set(error) == {"type", "message", "field"}


def test_errors_are_always_the_errors_shape(client: httpx.Client) -> None:
    """docs/kantata-api.md § Basics: errors are always {"errors": [{"type", "message", ...}]}."""
    for response in (
        client.get("/organization_memberships/123456789"),
        client.get("/organization_memberships", params={"per_page": "x"}),
        client.post("/organization_memberships", content=b"{nope"),
    ):
        assert response.status_code in (400, 404)
        errors = response.json()["errors"]
        assert errors
        assert all({"type", "message"} <= set(e) for e in errors)


def test_unknown_query_parameters_are_ignored(client: httpx.Client) -> None:
    """An unknown parameter changes nothing, never a 4xx.

    docs/kantata-api.md § Basics (a Rails API)."""
    plain = client.get("/organization_memberships").json()
    odd = client.get("/organization_memberships", params={"colour": "red", "member": "1"})
    assert odd.status_code == 200
    assert odd.json() == plain


def test_deeply_nested_body_is_a_400(client: httpx.Client) -> None:
    """docs/kantata-api.md § Basics: errors shape; a deeply nested body is a 400, never a 500."""
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/organization_memberships", content=body)
    assert response.status_code == 400
    assert "errors" in response.json()


def test_huge_body_is_refused_from_content_length(sandbox: SandboxServer) -> None:
    """docs/kantata-api.md § Basics: a body over 10 MB is refused (400) before it is read."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/organization_memberships HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n".encode()
            + b"Content-Length: 50000000\r\n\r\n{"
        )
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400")


def test_server_ends_a_slow_write_at_the_time_limit() -> None:
    """A request is ended server-side at the limit; nothing commits.

    docs/kantata-api.md § Basics."""
    config = SandboxConfig(token=TOKEN, request_time_limit_s=0.3, commit_delay_ms=600)
    with SandboxServer(config) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as c:
        started = time.perf_counter()
        response = create(c, m(10030))
        assert response.status_code == 503
        assert 0.25 <= time.perf_counter() - started < 0.6
        assert "10030" not in {row["member_id"] for row in server.memberships()}


def test_a_write_finished_before_the_limit_commits() -> None:
    """docs/kantata-api.md § Basics: a write completed before the time limit is committed."""
    config = SandboxConfig(token=TOKEN, request_time_limit_s=1.0, commit_delay_ms=100)
    with SandboxServer(config) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as c:
        assert create(c, m(10030)).status_code == 200
        assert "10030" in {row["member_id"] for row in server.memberships()}


def test_request_time_limit_defaults_to_three_minutes() -> None:
    """docs/kantata-api.md § Basics: every request times out server-side after 3 minutes."""
    assert SandboxConfig().request_time_limit_s == 180


# -- § Response format -----------------------------------------------------------------------------


def test_list_response_shape(client: httpx.Client) -> None:
    """Count, meta, results [{key,id}], objects by string id.

    docs/kantata-api.md § Response format."""
    body = client.get("/organizations", params={"per_page": 5}).json()
    assert set(body) == {"count", "meta", "results", "organizations"}
    assert body["meta"] == {"count": 18, "page_count": 4, "page_number": 1, "page_size": 5}
    assert body["count"] == 18
    assert all(ref["key"] == "organizations" for ref in body["results"])
    assert list(body["organizations"]) == ids(body)
    assert all(body["organizations"][i]["id"] == i for i in ids(body))


def test_results_are_in_server_order_not_request_order(client: httpx.Client) -> None:
    """Results follow the server's sort order (newest first).

    docs/kantata-api.md § Response format."""
    body = create(client, m(10030), m(10031), m(10032)).json()
    members = [body["organization_memberships"][i]["member_id"] for i in ids(body)]
    assert members == ["10032", "10031", "10030"]


def test_per_page_defaults_to_20_and_caps_at_200(client: httpx.Client) -> None:
    """docs/kantata-api.md § Response format: per_page default 20, maximum 200."""
    assert len(client.get("/users").json()["results"]) == 20
    body = client.get("/users", params={"per_page": 500}).json()
    assert body["meta"]["page_size"] == 200
    assert len(body["results"]) == 200


def test_page_numbers(client: httpx.Client) -> None:
    """docs/kantata-api.md § Response format: page (default 1) walks the listing."""
    first = client.get("/organizations", params={"per_page": 10}).json()
    second = client.get("/organizations", params={"per_page": 10, "page": 2}).json()
    assert second["meta"]["page_number"] == 2
    assert len(ids(first)) == 10
    assert len(ids(second)) == 8
    assert not set(ids(first)) & set(ids(second))


def test_limit_and_offset(client: httpx.Client) -> None:
    """docs/kantata-api.md § Response format: limit/offset page a listing too."""
    all_ids = ids(client.get("/organizations", params={"per_page": 50}).json())
    body = client.get("/organizations", params={"limit": 4, "offset": 3}).json()
    assert ids(body) == all_ids[3:7]
    assert body["count"] == 18


def test_only_returns_just_those_ids_without_404(client: httpx.Client) -> None:
    """Only=1,2,3 returns those ids, no 404 for an absent one.

    docs/kantata-api.md § Response format."""
    response = client.get("/organizations", params={"only": "105,202,999999"})
    assert response.status_code == 200
    assert sorted(ids(response.json())) == ["105", "202"]


def test_default_filters_apply_to_only(client: httpx.Client) -> None:
    """An object hidden by a default filter is simply absent.

    docs/kantata-api.md § Response format."""
    assert ids(client.get("/users", params={"only": f"{ME},{OFF_PROJECT},{DISABLED}"}).json()) == [
        str(ME)
    ]
    assert ids(client.get("/workspaces", params={"only": f"50001,{ARCHIVED}"}).json()) == ["50001"]


# -- § The endpoint: POST /organization_memberships ------------------------------------------------


def test_single_create(client: httpx.Client) -> None:
    """docs/kantata-api.md § The endpoint: the single form {"organization_membership": {...}}."""
    response = client.post("/organization_memberships", json={"organization_membership": m(10030)})
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_bulk_create_up_to_100(client: httpx.Client) -> None:
    """docs/kantata-api.md § The endpoint: bulk up to 100 objects under the plural key."""
    response = create(client, *(m(10030 + i) for i in range(100)))
    assert response.status_code == 200
    assert response.json()["count"] == 100


def test_bulk_over_100_is_refused(sandbox: SandboxServer, client: httpx.Client) -> None:
    """docs/kantata-api.md § The endpoint: more than 100 objects in one request is refused."""
    response = create(client, *(m(10030 + i) for i in range(101)))
    assert response.status_code == 400
    assert len(sandbox.memberships()) == 5


@pytest.mark.parametrize("missing", ["geography_id", "department_id", "member_id", "member_type"])
def test_all_four_fields_are_required(client: httpx.Client, missing: str) -> None:
    """All four fields are required (the error names the field).

    docs/kantata-api.md § The endpoint."""
    obj = m(10030)
    del obj[missing]
    response = create(client, obj)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [missing]


def test_member_type_user_or_workspace(client: httpx.Client) -> None:
    """docs/kantata-api.md § The endpoint: member_type is User or Workspace."""
    assert create(client, m(50001, kind="Workspace")).status_code == 200
    refused = create(client, m(10030, kind="Team"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "member_type"


# -- § The organization membership object ----------------------------------------------------------


def test_department_and_geography_ids_only_when_included(client: httpx.Client) -> None:
    """Department_id only when included.

    docs/kantata-api.md § The organization membership object."""
    plain = client.get("/organization_memberships", params={"only": "9001"}).json()
    assert set(plain["organization_memberships"]["9001"]) == {
        "id",
        "member_id",
        "member_type",
        "created_at",
        "updated_at",
    }
    assert "organizations" not in plain
    geo = client.get("/organization_memberships", params={"only": "9001", "include": "geography"})
    obj = geo.json()["organization_memberships"]["9001"]
    assert obj["geography_id"] == str(UK)
    assert "department_id" not in obj


def test_include_side_loads_organizations(client: httpx.Client) -> None:
    """docs/kantata-api.md § The endpoint: include=department,geography side-loads organizations."""
    body = create(client, m(10030), include="department,geography").json()
    obj = body["organization_memberships"][ids(body)[0]]
    assert (obj["geography_id"], obj["department_id"]) == (str(UK), str(ENGINEERING))
    assert set(body["organizations"]) == {str(UK), str(ENGINEERING)}


def test_primary_absent_without_the_feature(client: httpx.Client) -> None:
    """docs/kantata-api.md § The organization membership object: primary only with the feature."""
    body = create(client, m(10030)).json()
    assert "primary" not in body["organization_memberships"][ids(body)[0]]


# -- § Updating and deleting -----------------------------------------------------------------------


def test_show_a_membership(client: httpx.Client) -> None:
    """A membership is addressed by id; unknown -> 404.

    docs/kantata-api.md § Updating and deleting."""
    body = client.get("/organization_memberships/9001", params={"include": "department"}).json()
    assert ids(body) == ["9001"]
    assert body["organization_memberships"]["9001"]["department_id"] == str(ENGINEERING)
    assert client.get("/organization_memberships/424242").status_code == 404


def test_put_moves_a_membership(client: httpx.Client) -> None:
    """docs/kantata-api.md § Updating and deleting: PUT moves a member, returns the object."""
    body = create(client, m(10030)).json()
    new_id = ids(body)[0]
    before = body["organization_memberships"][new_id]["updated_at"]
    time.sleep(1.05)  # timestamps have whole seconds
    response = client.put(
        f"/organization_memberships/{new_id}",
        params={"include": "geography,department"},
        json={"organization_membership": {"geography_id": GERMANY}},
    )
    assert response.status_code == 200
    obj = response.json()["organization_memberships"][new_id]
    assert (obj["geography_id"], obj["department_id"]) == (str(GERMANY), str(ENGINEERING))
    assert obj["updated_at"] > before


def test_put_validates_with_field(client: httpx.Client) -> None:
    """A bad organization in a PUT is a validation error.

    docs/kantata-api.md § Basics/§ Updating."""
    response = client.put(
        "/organization_memberships/9001",
        json={"organization_membership": {"department_id": UK}},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "department_id"


def test_put_unknown_id_is_404(client: httpx.Client) -> None:
    """docs/kantata-api.md § Updating and deleting: PUT on an unknown id -> 404."""
    response = client.put(
        "/organization_memberships/424242", json={"organization_membership": {"geography_id": UK}}
    )
    assert response.status_code == 404


def test_delete_is_204_without_body(sandbox: SandboxServer, client: httpx.Client) -> None:
    """docs/kantata-api.md § Updating and deleting: DELETE -> 204, no body; unknown id -> 404."""
    response = client.delete("/organization_memberships/9001")
    assert response.status_code == 204
    assert response.content == b""
    assert "9001" not in {row["id"] for row in sandbox.memberships()}
    assert client.delete("/organization_memberships/9001").status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"member_id": "10002"}, ["9002"]),
        ({"member_type": "Workspace"}, []),
        ({"department_id": str(DESIGN)}, []),
        ({"geography_id": str(UK)}, ["9005", "9004", "9003", "9002", "9001"]),
        ({"primary": "true", "member_id": "10001"}, ["9001"]),
        ({"created_before": "2025-01-01T00:00:00Z"}, ["9005", "9004", "9003", "9002", "9001"]),
        ({"updated_after": "2025-01-01T00:00:00Z"}, []),
    ],
)
def test_membership_filters(
    client: httpx.Client, params: dict[str, str], expected: list[str]
) -> None:
    """docs/kantata-api.md § Updating and deleting: the GET /organization_memberships filters."""
    response = client.get("/organization_memberships", params=params)
    assert response.status_code == 200
    assert ids(response.json()) == expected


def test_created_after_finds_new_memberships(client: httpx.Client) -> None:
    """docs/kantata-api.md § Updating and deleting: created_after/updated_after filter by time."""
    create(client, m(10030))
    body = client.get("/organization_memberships", params={"created_after": "2025-01-01"}).json()
    assert [o["member_id"] for o in body["organization_memberships"].values()] == ["10030"]


# -- § Lookups: organizations ----------------------------------------------------------------------


def test_organization_fields(client: httpx.Client) -> None:
    """Organization fields id, name, parent_id, ancestor_ids, type...

    docs/kantata-api.md § Lookups."""
    org = client.get("/organizations", params={"only": "105"}).json()["organizations"]["105"]
    assert set(org) == {
        "id",
        "name",
        "parent_id",
        "ancestor_ids",
        "type",
        "created_at",
        "updated_at",
    }
    assert (org["type"], org["parent_id"], sorted(org["ancestor_ids"])) == (
        "Geography",
        "102",
        ["101", "102"],
    )


def test_organization_type_filter(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: filter `type` (Geography or Department)."""
    body = client.get("/organizations", params={"type": "Geography", "per_page": 50}).json()
    assert body["count"] == 8
    assert {o["type"] for o in body["organizations"].values()} == {"Geography"}


def test_organization_matching(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: `matching` finds names "like" the text."""
    body = client.get("/organizations", params={"matching": "operations"}).json()
    assert sorted(o["name"] for o in body["organizations"].values()) == [
        "Operations",
        "People Operations",
        "Service Operations",
    ]


def test_organization_order(client: httpx.Client) -> None:
    """Order alphabetical:asc by default; created_at also accepted.

    docs/kantata-api.md § Lookups."""
    body = client.get("/organizations", params={"per_page": 50}).json()
    names = [body["organizations"][i]["name"] for i in ids(body)]
    assert names == sorted(names)
    by_created = client.get("/organizations", params={"per_page": 50, "order": "created_at:asc"})
    assert by_created.status_code == 200
    assert ids(by_created.json()) != ids(body)


def test_all_organizations_in_two_pages_of_200(tmp_path: Path) -> None:
    """docs/kantata-api.md § Lookups: at most 400 organizations, two pages of 200 fetch them all."""
    seed = json.loads(bundled_seed().read_text(encoding="utf-8"))
    seed["organizations"] += [
        {"id": 1000 + i, "name": f"Team {i}", "type": "Department", "parent_id": 201}
        for i in range(400 - len(seed["organizations"]))
    ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    with (
        SandboxServer(SandboxConfig(token=TOKEN, seed=path)) as server,
        httpx.Client(base_url=server.base_url, headers=AUTH) as c,
    ):
        pages = [
            c.get("/organizations", params={"per_page": 200, "page": p}).json() for p in (1, 2)
        ]
    assert pages[0]["meta"]["page_count"] == 2
    assert len(set(ids(pages[0])) | set(ids(pages[1]))) == 400


@pytest.mark.parametrize("problem", ["duplicate names", "401 organizations"])
def test_seed_refused_if_no_real_account_could_hold_it(tmp_path: Path, problem: str) -> None:
    """docs/kantata-api.md § Lookups: names unique on the account; at most 400 organizations."""
    seed = json.loads(bundled_seed().read_text(encoding="utf-8"))
    if problem == "duplicate names":
        seed["organizations"][-1]["name"] = seed["organizations"][-2]["name"]
    else:
        seed["organizations"] += [
            {"id": 1000 + i, "name": f"Team {i}", "type": "Department", "parent_id": 201}
            for i in range(401 - len(seed["organizations"]))
        ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    with pytest.raises(ValueError, match=r"unique|at most 400"):
        SandboxServer(SandboxConfig(seed=path))


def test_bundled_seed_names_are_unique() -> None:
    """docs/kantata-api.md § Lookups: organization names are unique on the account."""
    names = [o["name"] for o in json.loads(bundled_seed().read_text())["organizations"]]
    assert len(names) == len(set(names))


# -- § Lookups: users ------------------------------------------------------------------------------


def test_users_default_to_those_sharing_a_project(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: by default only users who share a project with the caller."""
    default = client.get("/users", params={"per_page": 200}).json()
    assert str(OFF_PROJECT) not in ids(default)
    mine = client.get("/users", params={"per_page": 200, "on_my_account": "true"}).json()
    assert str(OFF_PROJECT) in ids(mine)
    assert mine["count"] == default["count"] + 10


def test_disabled_users_hidden_unless_show_disabled(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: disabled users are hidden unless show_disabled=true."""
    by_id = {"only": str(DISABLED)}
    assert ids(client.get("/users", params=by_id).json()) == []
    assert ids(client.get("/users", params={**by_id, "show_disabled": "true"}).json()) == [
        str(DISABLED)
    ]
    both = {"only": "10216", "show_disabled": "true"}
    assert ids(client.get("/users", params=both).json()) == []
    assert ids(client.get("/users", params={**both, "on_my_account": "true"}).json()) == ["10216"]


def test_user_fields(client: httpx.Client) -> None:
    """Users have id, full_name, email_address (nothing undocumented).

    docs/kantata-api.md § Lookups."""
    user = client.get("/users", params={"only": "10002"}).json()["users"]["10002"]
    assert set(user) == {"id", "full_name", "email_address"}


def test_include_account_membership(client: httpx.Client) -> None:
    """users OpenAPI: include=account_membership side-loads account_memberships (disabled_at)."""
    params = {"only": f"{ME},{DISABLED}", "show_disabled": "true", "include": "account_membership"}
    body = client.get("/users", params=params).json()
    disabled = body["users"][str(DISABLED)]
    membership = body["account_memberships"][disabled["account_membership_id"]]
    assert membership["disabled_at"] is not None
    mine = body["account_memberships"][body["users"][str(ME)]["account_membership_id"]]
    assert mine["disabled_at"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"by_email_address": "liam.tanaka@acme.example"}, ["10002"]),
        ({"by_email_address": "liam.tanaka@acme"}, []),
        (
            {"by_email_addresses": "liam.tanaka@acme.example,olivia.smith@acme.example"},
            ["10002", "10001"],
        ),
        ({"by_full_name": "Liam Tan"}, ["10002"]),
        ({"matching": "olivia.smith"}, ["10001"]),
        ({"search": "Amara Cohen"}, ["10003"]),
    ],
)
def test_user_filters(client: httpx.Client, params: dict[str, str], expected: list[str]) -> None:
    """By_email_address (exact), by_email_addresses, by_full_name, ...

    docs/kantata-api.md § Lookups."""
    assert ids(client.get("/users", params=params).json()) == expected


def test_by_email_addresses_up_to_200(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: by_email_addresses takes up to 200 addresses."""
    emails = [f"u{i}@x.example" for i in range(201)]
    ok = client.get("/users", params={"by_email_addresses": ",".join(emails[:200])})
    assert ok.status_code == 200
    assert client.get("/users", params={"by_email_addresses": ",".join(emails)}).status_code == 400


def test_users_me(client: httpx.Client) -> None:
    """users OpenAPI /users/me: the token's own user, in the list format."""
    body = client.get("/users/me").json()
    assert ids(body) == [str(ME)]
    assert set(body["users"][str(ME)]) == {"id", "full_name", "email_address"}


# -- § Lookups: workspaces -------------------------------------------------------------------------


def test_archived_workspaces_excluded_by_default(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: archived projects excluded unless include_archived=true."""
    params = {"per_page": 200}
    assert client.get("/workspaces", params=params).json()["count"] == 40
    assert (
        client.get("/workspaces", params={**params, "include_archived": "true"}).json()["count"]
        == 43
    )
    assert client.get("/workspaces", params={**params, "archived": "include"}).json()["count"] == 43
    only = client.get("/workspaces", params={**params, "archived": "only"}).json()
    assert sorted(ids(only)) == ["50041", "50042", "50043"]


def test_workspace_fields(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: workspaces have id, title (+ documented basics)."""
    body = client.get("/workspaces", params={"only": "50001"}).json()
    assert set(body["workspaces"]["50001"]) == {"id", "title", "created_at", "updated_at"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web red", ["50001"]),
        ("the website", ["50001"]),
        ("edesign", []),
        ("DATA PLAT", ["50040", "50039"]),
    ],
)
def test_workspace_matching_starts_each_word(
    client: httpx.Client, text: str, expected: list[str]
) -> None:
    """docs/kantata-api.md § Lookups: matching starts each word (any case), stop words ignored."""
    body = client.get("/workspaces", params={"matching": text, "order": "title:asc"}).json()
    assert sorted(ids(body)) == sorted(expected)


def test_workspace_search(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: search as free text, or title:'Acme'."""
    assert ids(client.get("/workspaces", params={"search": "title:'Acme'"}).json()) == ["50036"]
    assert ids(client.get("/workspaces", params={"search": "rebrand"}).json()) == ["50036"]


def test_workspaces_default_order_updated_at_desc(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: workspaces order by updated_at:desc by default."""
    body = client.get("/workspaces", params={"per_page": 50}).json()
    stamps = [body["workspaces"][i]["updated_at"] for i in ids(body)]
    assert stamps == sorted(stamps, reverse=True)
    assert ids(body) != sorted(ids(body), reverse=True)


def test_matching_title_is_not_a_parameter(client: httpx.Client) -> None:
    """docs/kantata-api.md § Lookups: matching_title is no filter: ignored, everything returned."""
    body = client.get("/workspaces", params={"matching_title": "Acme"}).json()
    assert body["count"] == 40


def test_workspaces_have_their_own_rate_limit(sandbox: SandboxServer, client: httpx.Client) -> None:
    """GET /workspaces has its own, stricter limit (others unaffected).

    docs/kantata-api.md § Basics."""
    sandbox.set_knobs(workspaces_rate=1)
    assert client.get("/workspaces").status_code == 200
    assert client.get("/workspaces").status_code == 429
    assert client.get("/organizations").status_code == 200


# -- switches, both ways ---------------------------------------------------------------------------


def test_every_knob_is_a_config_field_and_settable(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """Each switch is a SandboxConfig field and a runtime knob (POST /_sandbox/knobs)."""
    current = client.get("/_sandbox/knobs").json()
    assert set(current) == set(KNOB_NAMES)
    assert all(hasattr(SandboxConfig(), name) for name in KNOB_NAMES)
    assert client.post("/_sandbox/knobs", json={"echo_token": True}).json()["echo_token"] is True
    assert client.post("/_sandbox/knobs", json={"colour": "red"}).status_code == 400


@pytest.mark.parametrize("mode", ["atomic", "partial"])
def test_switch_bulk_mode(sandbox: SandboxServer, client: httpx.Client, mode: str) -> None:
    """Switch bulk_mode: a bulk with a bad object is refused whole (atomic) or partly applied."""
    sandbox.set_knobs(bulk_mode=mode)
    response = create(client, m(10030), m(10031, geo=999999))
    created = "10030" in {row["member_id"] for row in sandbox.memberships()}
    assert (response.status_code, created) == ((422, False) if mode == "atomic" else (200, True))


@pytest.mark.parametrize("mode", ["one", "many"])
def test_switch_memberships_per_member(
    sandbox: SandboxServer, client: httpx.Client, mode: str
) -> None:
    """Switch memberships_per_member: a second membership is refused as taken, or accepted."""
    sandbox.set_knobs(memberships_per_member=mode)
    response = create(client, m(10001), include="geography")  # identical to seeded 9001
    if mode == "one":
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert "already been taken" in error["message"]
        assert error["field"] == "member_id"
    else:
        assert response.status_code == 200
        listed = client.get("/organization_memberships", params={"member_id": "10001"}).json()
        flags = {o["id"]: o["primary"] for o in listed["organization_memberships"].values()}
        assert flags["9001"] is True
        assert list(flags.values()).count(True) == 1


@pytest.mark.parametrize("mode", ["honoured", "ignored", "refused"])
def test_switch_member_id_lists(sandbox: SandboxServer, client: httpx.Client, mode: str) -> None:
    """Switch member_id_lists: member_id=1,2 honoured, ignored (everything listed), or refused."""
    sandbox.set_knobs(member_id_lists=mode)
    response = client.get("/organization_memberships", params={"member_id": "10001,10002"})
    if mode == "refused":
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "member_id"
        return
    assert response.status_code == 200
    assert len(ids(response.json())) == (2 if mode == "honoured" else 5)


@pytest.mark.parametrize("status", [422, 400])
def test_switch_validation_status(
    sandbox: SandboxServer, client: httpx.Client, status: int
) -> None:
    """Switch validation_status: validation errors answered 422 or 400."""
    sandbox.set_knobs(validation_status=status)
    assert create(client, m(10030, geo=999999)).status_code == status


@pytest.mark.parametrize(("retry_after", "forced"), [(True, None), (True, 100000), (False, None)])
def test_switch_retry_after(
    sandbox: SandboxServer, client: httpx.Client, retry_after: bool, forced: float | None
) -> None:
    """Switches retry_after/retry_after_s: Retry-After sent or not, or forced to a value."""
    sandbox.set_knobs(rate=0.5, retry_after=retry_after, retry_after_s=forced)
    client.get("/users")
    response = client.get("/users")
    assert response.status_code == 429
    header = response.headers.get("Retry-After")
    if not retry_after:
        assert header is None
    else:
        assert header == ("100000" if forced else "2")


@pytest.mark.parametrize("rate", [None, 1.0])
def test_switch_rate(sandbox: SandboxServer, client: httpx.Client, rate: float | None) -> None:
    """Switch rate: a general limit on all requests (off by default)."""
    sandbox.set_knobs(rate=rate)
    statuses = [client.get("/organizations").status_code for _ in range(3)]
    assert (429 in statuses) == (rate is not None)


@pytest.mark.parametrize(("burst", "at_once"), [(None, 3), (1.0, 1), (5.0, 5)])
def test_switch_burst(
    sandbox: SandboxServer, client: httpx.Client, burst: float | None, at_once: int
) -> None:
    """Switch burst: the general limit is a token bucket of ``rate`` a second holding ``burst``
    (default: a second's worth): that many requests pass at once, the next is refused until a
    token is back, and then one passes per 1/rate seconds."""
    sandbox.set_knobs(rate=3, burst=burst)
    statuses = [client.get("/organizations").status_code for _ in range(at_once + 1)]
    assert statuses == [200] * at_once + [429]
    time.sleep(0.4)  # one token back (3 a second), not two
    statuses = [client.get("/organizations").status_code for _ in range(2)]
    assert statuses == [200, 429]


def test_switch_burst_must_be_a_whole_request(sandbox: SandboxServer) -> None:
    """A bucket holding less than one request would refuse everything: refused as a knob."""
    with pytest.raises(ValueError, match="burst"):
        sandbox.set_knobs(burst=0.5)


@pytest.mark.parametrize("rate", [None, 1.0])
def test_switch_workspaces_rate(
    sandbox: SandboxServer, client: httpx.Client, rate: float | None
) -> None:
    """Switch workspaces_rate: the stricter /workspaces limit, or none."""
    sandbox.set_knobs(workspaces_rate=rate)
    statuses = [client.get("/workspaces").status_code for _ in range(3)]
    assert (429 in statuses) == (rate is not None)


@pytest.mark.parametrize("delay_ms", [0, 300])
def test_switch_commit_delay(sandbox: SandboxServer, client: httpx.Client, delay_ms: int) -> None:
    """Switch commit_delay_ms: a write takes that long before it commits."""
    sandbox.set_knobs(commit_delay_ms=delay_ms)
    started = time.perf_counter()
    assert create(client, m(10030)).status_code == 200
    assert (time.perf_counter() - started >= 0.3) == (delay_ms > 0)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_switch_omit_created(sandbox: SandboxServer, client: httpx.Client, fraction: float) -> None:
    """Switch omit_created: created objects left out of the 200 (all still committed)."""
    sandbox.set_knobs(omit_created=fraction)
    response = create(client, m(10030), m(10031))
    assert response.status_code == 200
    assert len(ids(response.json())) == (2 if fraction == 0 else 0)
    assert {"10030", "10031"} <= {row["member_id"] for row in sandbox.memberships()}


@pytest.mark.parametrize("trickle", [0.0, 0.2])
def test_switch_trickle(sandbox: SandboxServer, client: httpx.Client, trickle: float) -> None:
    """Switch trickle_s: the reply body arrives one byte every N seconds."""
    sandbox.set_knobs(trickle_s=trickle)
    received = 0
    started = time.perf_counter()
    with client.stream("GET", "/organizations") as response:
        for chunk in response.iter_raw():
            received += len(chunk)
            if time.perf_counter() - started > 0.5:
                break
    assert (received < 10) == (trickle > 0)


@pytest.mark.parametrize("echo", [False, True])
def test_switch_echo_token(sandbox: SandboxServer, client: httpx.Client, echo: bool) -> None:
    """Switch echo_token: error messages quote the request's bearer token, at varying offsets."""
    sandbox.set_knobs(echo_token=echo)
    messages = [
        create(client, m(10030, geo=999999)).json()["errors"][0]["message"] for _ in range(4)
    ]
    assert all((TOKEN in text) == echo for text in messages)
    if echo:
        assert len({text.index(TOKEN) for text in messages}) > 1


@pytest.mark.parametrize("redirect", [False, True])
def test_switch_redirect(sandbox: SandboxServer, client: httpx.Client, redirect: bool) -> None:
    """Switch redirect: every API request answered 301 to the same path."""
    sandbox.set_knobs(redirect=redirect)
    response = client.get("/users", params={"per_page": 2})
    if redirect:
        assert response.status_code == 301
        assert response.headers["Location"] == "/api/v1/users?per_page=2"
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_switch_fail_rate(sandbox: SandboxServer, client: httpx.Client, fraction: float) -> None:
    """Switch fail_rate: that fraction of requests answered 503."""
    sandbox.set_knobs(fail_rate=fraction)
    assert client.get("/users").status_code == (503 if fraction else 200)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_switch_drop_after_commit_on_delete(
    sandbox: SandboxServer, client: httpx.Client, fraction: float
) -> None:
    """Switch drop_after_commit: applies to DELETE (and PUT) too: committed, reply lost."""
    sandbox.set_knobs(drop_after_commit=fraction)
    if fraction:
        with pytest.raises(httpx.TransportError):
            client.delete("/organization_memberships/9001")
    else:
        assert client.delete("/organization_memberships/9001").status_code == 204
    assert "9001" not in {row["id"] for row in sandbox.memberships()}


@pytest.mark.parametrize("limit_s", [0.2, 5.0])
def test_switch_request_time_limit_on_put(
    sandbox: SandboxServer, client: httpx.Client, limit_s: float
) -> None:
    """Switch request_time_limit_s: a PUT past the limit is abandoned (503), else committed."""
    sandbox.set_knobs(request_time_limit_s=limit_s, commit_delay_ms=400)
    response = client.put(
        "/organization_memberships/9001",
        json={"organization_membership": {"geography_id": GERMANY}},
    )
    assert response.status_code == (503 if limit_s < 0.4 else 200)
    moved = sandbox.memberships()[0]["geography_id"] == str(GERMANY)
    assert moved == (limit_s > 0.4)


@pytest.mark.parametrize("latency", [0, 200])
def test_switch_latency(sandbox: SandboxServer, client: httpx.Client, latency: int) -> None:
    """Switch latency_ms: added to every request."""
    sandbox.set_knobs(latency_ms=latency)
    started = time.perf_counter()
    client.get("/users")
    assert (time.perf_counter() - started >= 0.2) == (latency > 0)


@pytest.mark.parametrize(
    ("path", "hidden", "unhide"),
    [
        ("/users", OFF_PROJECT, {"on_my_account": "true"}),
        ("/users", DISABLED, {"show_disabled": "true"}),
        ("/workspaces", ARCHIVED, {"include_archived": "true"}),
    ],
)
def test_show_route_404s_for_an_object_hidden_by_a_default_filter(
    client: httpx.Client, path: str, hidden: int, unhide: dict[str, str]
) -> None:
    """docs/kantata-api.md § Response format: a hidden object is absent: a show route then 404s."""
    assert client.get(f"{path}/{hidden}").status_code == 404
    shown = client.get(f"{path}/{hidden}", params=unhide)
    assert shown.status_code == 200
    assert ids(shown.json()) == [str(hidden)]


def test_a_read_slower_than_the_time_limit_is_ended(sandbox: SandboxServer) -> None:
    """docs/kantata-api.md § Basics: the server ends any request (reads too) at its time limit."""
    sandbox.set_knobs(request_time_limit_s=0.2, latency_ms=2000)
    started = time.perf_counter()
    response = httpx.get(f"{sandbox.base_url}/users", headers=AUTH)
    assert response.status_code == 503
    assert time.perf_counter() - started < 1.5
