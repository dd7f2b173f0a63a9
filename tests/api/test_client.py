"""The API client over real HTTP to the sandbox: auth, shapes, error mapping, retries."""

from __future__ import annotations

import json
import threading
import time
from email.utils import formatdate

import httpx
import pytest

from importer.api import KantataClient
from importer.api._client import check_base_url, parse_retry_after
from importer.core import (
    ApiSettings,
    AuthError,
    BadResponseError,
    Cancelled,
    InputError,
    OutcomeUnknownError,
    RedirectedError,
    RejectedBatchError,
    RetryPolicy,
    ServerWaitError,
    TransientApiError,
    UnreachableError,
)
from importer.sandbox import SandboxServer

from ..conftest import settings_for

ITEM = {"geography_id": 105, "department_id": 202, "member_id": 10010, "member_type": "User"}


def test_bulk_create_returns_objects_with_their_places(sandbox: SandboxServer) -> None:
    """Created memberships carry member and place (include=department,geography), any order."""
    items = [dict(ITEM, member_id=m) for m in (10010, 10011, 10012)] + [
        dict(ITEM, member_id=50001, member_type="Workspace")
    ]
    with KantataClient(settings_for(sandbox)) as client:
        created = {m.member: m for m in client.create_memberships(items)}
    assert set(created) == {(10010, "User"), (10011, "User"), (10012, "User"), (50001, "Workspace")}
    assert all(m.at(105, 202) for m in created.values())
    stored = {(int(m["member_id"]), m["member_type"]): str(m["id"]) for m in sandbox.memberships()}
    assert all(stored[k] == m.id for k, m in created.items())


def test_wrong_token_is_auth_error_and_not_retried(sandbox: SandboxServer) -> None:
    """401 stops at once with a message that says what to check."""
    api = ApiSettings(base_url=sandbox.base_url, token="wrong")
    with KantataClient(api) as client, pytest.raises(AuthError, match="KANTATA_API_TOKEN"):
        client.create_memberships([ITEM])
    assert sandbox.counters.requests == 1


def test_refused_batch_carries_server_messages(sandbox: SandboxServer) -> None:
    """A 422 is a RejectedBatchError with the server's own words and field, sent once."""
    with KantataClient(settings_for(sandbox)) as client, pytest.raises(RejectedBatchError) as info:
        client.create_memberships([dict(ITEM, geography_id=999)])
    assert info.value.status in (400, 422)
    assert any("999" in m for m in info.value.messages)
    assert "geography_id" in info.value.fields
    assert sandbox.counters.create_requests == 1


def test_503s_are_retried_until_success(sandbox: SandboxServer) -> None:
    """With half of all requests failing, the create still succeeds through retries."""
    sandbox.set_knobs(fail_rate=0.5)
    with KantataClient(settings_for(sandbox)) as client:
        created = client.create_memberships([ITEM])
    assert [m.member for m in created] == [(10010, "User")]
    assert len(sandbox.memberships()) == 6  # 5 seeded + 1


def test_429_pauses_the_shared_limiter_for_retry_after(sandbox: SandboxServer) -> None:
    """A 429's Retry-After holds every sender of the client (the limiter), then succeeds."""
    sandbox.set_knobs(rate=0.5)  # burst of 1, then 429 with Retry-After: 2
    with KantataClient(settings_for(sandbox)) as client:
        client.create_memberships([ITEM])
        client.create_memberships([dict(ITEM, member_id=10011)])
        assert client.limiter.waited >= 1.0
    assert sandbox.counters.rate_limited >= 1
    assert len(sandbox.memberships()) == 7


def test_lost_reply_is_outcome_unknown_and_not_resent(sandbox: SandboxServer) -> None:
    """A create whose reply is lost is never blindly re-sent by the client."""
    sandbox.set_knobs(drop_after_commit=1.0)
    with KantataClient(settings_for(sandbox)) as client, pytest.raises(OutcomeUnknownError):
        client.create_memberships([ITEM])
    assert sandbox.counters.create_requests == 1
    assert any(int(m["member_id"]) == 10010 for m in sandbox.memberships())


def test_membership_listing_pages_and_carries_places(sandbox: SandboxServer) -> None:
    """Listing memberships pages through everything and asks for their places."""
    with KantataClient(settings_for(sandbox)) as client:
        found = list(client.memberships({"member_type": "User"}))
    assert sorted(m.member_id for m in found) == [10001, 10002, 10003, 10004, 10005]
    assert all(m.geography_id is not None and m.department_id is not None for m in found)


def test_unreachable_server_is_transient_after_retries() -> None:
    """Nobody listening: retried, then a TransientApiError (the run's exit 3)."""
    api = ApiSettings(
        base_url="http://127.0.0.1:9/api/v1", token="t", retry=RetryPolicy(attempts=2, timeout=5)
    )
    with KantataClient(api) as client, pytest.raises(TransientApiError, match="cannot reach"):
        client.create_memberships([ITEM])


def test_a_host_that_never_answered_is_given_up_on_quickly() -> None:
    """No request ever reached the host: "cannot reach HOST" after unreachable_after seconds."""
    policy = RetryPolicy(attempts=1000, timeout=600, wait_initial=0.05, unreachable_after=0.5)
    api = ApiSettings(base_url="http://127.0.0.1:9/api/v1", token="t", retry=policy)
    started = time.monotonic()
    with KantataClient(api) as client, pytest.raises(UnreachableError, match="cannot reach"):
        client.request("GET", "organizations")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b"<html>Service Unavailable</html>", BadResponseError),
        (200, b'{"organization_memberships": {"1": {"id": "1"', BadResponseError),
        (200, b"[]", BadResponseError),
        (200, b'{"organization_memberships": []}', BadResponseError),
        (422, b"<html>oops</html>", RejectedBatchError),
        (502, b"Bad gateway", OutcomeUnknownError),
    ],
)
def test_unexpected_replies_are_errors_not_crashes(status: int, body: bytes, error: type) -> None:
    """Replies that break the API's promises become typed errors with the status recorded."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    api = ApiSettings(base_url="https://api.example.test/api/v1", token="t")
    with KantataClient(api, transport=transport) as client, pytest.raises(error) as info:
        client.create_memberships([ITEM])
    assert info.value.status == status


def test_token_is_sent_as_bearer_and_never_in_repr() -> None:
    """The Authorization header carries the token; the client's repr does not."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        assert json.loads(request.content) == {"organization_memberships": [ITEM]}
        return httpx.Response(200, json={"organization_memberships": {}, "results": []})

    api = ApiSettings(base_url="https://api.example.test/api/v1", token="s3cret-token")
    with KantataClient(api, transport=httpx.MockTransport(handler)) as client:
        client.create_memberships([ITEM])
        assert "s3cret-token" not in repr(client._http.auth) + repr(api)
    assert seen == ["Bearer s3cret-token"]


def test_plain_http_refused_unless_loopback_or_insecure() -> None:
    """The token never travels over plain http to a remote host by accident."""
    with pytest.raises(InputError, match="plain http"):
        check_base_url("http://api.example.com/api/v1")
    assert check_base_url("http://127.0.0.1:8000/api/v1/") == "http://127.0.0.1:8000/api/v1"
    assert check_base_url("http://api.example.com/api/v1", insecure=True)


def test_retry_after_as_seconds_or_http_date() -> None:
    """Retry-After is read as seconds or as an HTTP date."""
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)


def test_a_huge_retry_after_stops_instead_of_hanging(sandbox: SandboxServer) -> None:
    """Retry-After: 100000 (27 h): the client stops at once with a message saying so."""
    sandbox.set_knobs(rate=0.5, retry_after_s=100000)
    started = time.monotonic()
    with KantataClient(settings_for(sandbox)) as client:
        client.request("GET", "organizations")
        with pytest.raises(ServerWaitError, match=r"27\.8 h"):
            client.request("GET", "organizations")
    assert time.monotonic() - started < 5


def test_cancel_wakes_a_wait_for_retry_after(sandbox: SandboxServer) -> None:
    """A Retry-After wait ends as soon as the run's cancel event is set (Ctrl-C, SIGTERM)."""
    sandbox.set_knobs(rate=0.5, retry_after_s=60)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with KantataClient(settings_for(sandbox), cancel=cancel) as client:
        client.request("GET", "organizations")
        with pytest.raises(Cancelled):
            client.request("GET", "organizations")
    assert time.monotonic() - started < 5


def test_a_trickling_reply_ends_at_the_whole_request_deadline(sandbox: SandboxServer) -> None:
    """A reply sent one byte at a time cannot keep a request alive past its deadline."""
    sandbox.set_knobs(trickle_s=0.2)
    api = settings_for(sandbox, timeout=0.5, server_time_limit=0.5)
    started = time.monotonic()
    with KantataClient(api) as client, pytest.raises(OutcomeUnknownError, match="incomplete"):
        client.create_memberships([ITEM])
    assert time.monotonic() - started < 30


def test_a_redirect_is_named_as_one(sandbox: SandboxServer) -> None:
    """A 301 says redirected and where to, not "reply is not JSON"."""
    sandbox.set_knobs(redirect=True)
    with (
        KantataClient(settings_for(sandbox)) as client,
        pytest.raises(RedirectedError, match="redirected POST organization_memberships"),
    ):
        client.create_memberships([ITEM])


def test_documented_minimal_replies_are_understood() -> None:
    """String ids, fields only when included, member_type in any case, nothing extra."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["include"] == "department,geography"
        body = {
            "count": 1,
            "meta": {"count": 1, "page_count": 1, "page_number": 1, "page_size": 20},
            "results": [{"key": "organization_memberships", "id": "77"}],
            "organization_memberships": {
                "77": {"id": "77", "member_id": "10010", "member_type": "user"}
            },
        }
        return httpx.Response(200, json=body)

    api = ApiSettings(base_url="https://api.example.test/api/v1", token="t")
    with KantataClient(api, transport=httpx.MockTransport(handler)) as client:
        (m,) = client.memberships({"member_id": "10010"})
    assert (m.id, m.member, m.geography_id, m.department_id) == ("77", (10010, "User"), None, None)


def test_identity_names_user_and_account_membership_not_the_token(
    sandbox: SandboxServer,
) -> None:
    """GET /users/me identifies the token's user and account membership."""
    with KantataClient(settings_for(sandbox)) as client:
        me = client.identity()
    assert me.user_id == "10001"
    assert me.account_membership_id
    assert sandbox.token not in me.describe()


def test_people_lookups_see_new_hires_disabled_users_and_archived_projects(
    sandbox: SandboxServer,
) -> None:
    """Users off every project, disabled users and archived workspaces are all found."""
    with KantataClient(settings_for(sandbox)) as client:
        users = client.users_by_id([10001, 10201, 10211, 99999])
        spaces = client.workspaces_by_id([50001, 50041])
    assert set(users) == {10001, 10201, 10211}
    assert users[10211].disabled
    assert not users[10201].disabled
    assert set(spaces) == {50001, 50041}
