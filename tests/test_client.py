"""The API client over real HTTP to the sandbox: auth, shapes, error mapping, retries."""

from __future__ import annotations

import json
from email.utils import formatdate

import httpx
import pytest

from importer.client import KantataClient, check_base_url, parse_retry_after
from importer.config import ApiSettings, RetryPolicy
from importer.errors import (
    AuthError,
    BadResponseError,
    InputError,
    OutcomeUnknownError,
    RejectedBatchError,
    TransientApiError,
)
from importer.sandbox import SandboxServer

from .conftest import settings_for

ITEM = {"geography_id": 105, "department_id": 202, "member_id": 10010, "member_type": "User"}


def test_bulk_create_maps_objects_by_member_not_position(sandbox: SandboxServer) -> None:
    """Created ids are keyed by (member_id, member_type), whatever the order of results."""
    items = [dict(ITEM, member_id=m) for m in (10010, 10011, 10012)] + [
        dict(ITEM, member_id=50001, member_type="Workspace")
    ]
    with KantataClient(settings_for(sandbox)) as client:
        created = client.create_memberships(items)
    assert set(created) == {(10010, "User"), (10011, "User"), (10012, "User"), (50001, "Workspace")}
    stored = {(int(m["member_id"]), m["member_type"]): str(m["id"]) for m in sandbox.memberships()}
    assert all(stored[k] == m.id for k, m in created.items())


def test_wrong_token_is_auth_error_and_not_retried(sandbox: SandboxServer) -> None:
    """401 stops at once with a message that says what to check."""
    api = ApiSettings(base_url=sandbox.base_url, token="wrong")
    with KantataClient(api) as client, pytest.raises(AuthError, match="KANTATA_API_TOKEN"):
        client.create_memberships([ITEM])
    assert sandbox.counters.requests == 1


def test_refused_batch_carries_server_messages(sandbox: SandboxServer) -> None:
    """A 400 is a RejectedBatchError with the server's own words, sent once."""
    with KantataClient(settings_for(sandbox)) as client, pytest.raises(RejectedBatchError) as info:
        client.create_memberships([dict(ITEM, geography_id=999)])
    assert info.value.status == 400
    assert any("999" in m for m in info.value.messages)
    assert sandbox.counters.create_requests == 1


def test_503s_are_retried_until_success(sandbox: SandboxServer) -> None:
    """With half of all requests failing, the create still succeeds through retries."""
    sandbox.set_knobs(fail_rate=0.5)
    with KantataClient(settings_for(sandbox)) as client:
        created = client.create_memberships([ITEM])
    assert (10010, "User") in created
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


def test_find_memberships_pages_through_results(sandbox: SandboxServer) -> None:
    """Lookups by member ids return every existing membership."""
    with KantataClient(settings_for(sandbox)) as client:
        found = client.find_memberships([10001, 10002, 10003, 10004, 10005, 10099], "User")
    assert sorted(m.member_id for m in found) == [10001, 10002, 10003, 10004, 10005]


def test_unreachable_server_is_transient_after_retries() -> None:
    """Nobody listening: retried, then a TransientApiError (the run's exit 3)."""
    api = ApiSettings(
        base_url="http://127.0.0.1:9/api/v1", token="t", retry=RetryPolicy(attempts=2, timeout=5)
    )
    with KantataClient(api) as client, pytest.raises(TransientApiError, match="cannot reach"):
        client.create_memberships([ITEM])


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b"<html>Service Unavailable</html>", BadResponseError),
        (200, b'{"organization_memberships": {"1": {"id": "1"', BadResponseError),
        (200, b"[]", BadResponseError),
        (200, b'{"count": 1}', BadResponseError),
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
