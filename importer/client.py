"""The Kantata OX API client (httpx, sync, thread-safe; the transport is injectable).

It speaks the API and nothing else: bulk create, list with pagination, lookups. Transient failures
are retried here (stamina, exponential backoff with full jitter, ``Retry-After`` honoured through a
limiter shared by all threads). A create whose outcome is unknown (reply lost, gateway timeout) is
*not* retried: it raises ``OutcomeUnknownError`` so the caller can ask the server what happened.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import stamina

from importer.config import ApiSettings
from importer.errors import (
    ApiError,
    AuthError,
    BadResponseError,
    InputError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedBatchError,
    TransientApiError,
)
from importer.ratelimit import RateLimiter
from importer.redact import install_log_redaction, register_secret, server_text

USER_AGENT = "kantata-importer/0.1"
_SAFE_TO_RETRY_STATUS = {408, 425, 429, 503}  # the server did not act on the request
_UNSURE_STATUS = {500, 502, 504}  # a gateway/server failure: a write may have happened
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_TOKEN = re.compile(r"[!-~]*")  # visible ASCII: what an HTTP header can carry
_BAD_JSON = (ValueError, RecursionError)  # JSONDecodeError, UnicodeDecodeError, deep nesting


@dataclass(frozen=True)
class Membership:
    """An organization membership as the server holds it."""

    id: str
    geography_id: int
    department_id: int
    member_id: int
    member_type: str

    @property
    def member(self) -> tuple[int, str]:
        return (self.member_id, self.member_type)


class _BearerAuth(httpx.Auth):
    """Adds the token at send time; it is never part of the client's repr or logs."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


def check_base_url(base_url: str, *, insecure: bool = False) -> str:
    """Refuse plain http:// to anything but loopback unless ``insecure``; return the URL."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InputError(f"--base-url must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and not insecure:
        raise InputError(
            f"refusing to send the API token over plain http to {parts.hostname}; "
            "use https, or pass --insecure if you really mean it"
        )
    return base_url.rstrip("/")


def check_token(token: str) -> str:
    """Refuse a token that cannot travel in a header; the message never shows the token."""
    if not _TOKEN.fullmatch(token):
        raise InputError(
            "the API token holds a character an HTTP header cannot carry (a space, a line break "
            "or a non-ASCII character); check KANTATA_API_TOKEN / --token-file"
        )
    return token


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_messages(response: httpx.Response) -> list[str]:
    """The server's own words (its ``errors``, else the start of its text), secrets removed."""
    try:
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        messages = [str(e.get("message", e)) for e in errors or [] if isinstance(e, dict)]
        if messages:
            return [server_text(m, 500) for m in messages]
    except (*_BAD_JSON, AttributeError):
        pass
    text = server_text(response.text, 200)
    return [f"HTTP {response.status_code}: {text or server_text(response.reason_phrase, 80)}"]


class KantataClient:
    """Talks to the Kantata OX API.

    Args:
        settings: base URL, token, timeouts, concurrency, retry policy.
        transport: an httpx transport (tests, proxies); default: httpx's own.
        limiter: a shared ``RateLimiter`` (default: one built from ``settings.max_rps``).
        on_retry: called with a short reason each time a request is retried (for progress output).
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = check_base_url(settings.base_url, insecure=settings.insecure)
        register_secret(check_token(settings.token))
        install_log_redaction()
        self.limiter = limiter or RateLimiter(settings.max_rps)
        self._on_retry = on_retry
        pool = max(4, settings.concurrency * 2)
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            auth=_BearerAuth(settings.token),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=settings.timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self.requests_sent = 0
        self.retries = 0

    def __enter__(self) -> KantataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the one place requests are made ------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool,
    ) -> dict[str, Any]:
        policy = self.settings.retry
        tries = 0

        def backoff(exc: Exception) -> bool | float:
            nonlocal tries
            if not isinstance(exc, TransientApiError) or isinstance(exc, OutcomeUnknownError):
                return False
            tries += 1
            self.retries += 1
            if self._on_retry is not None:
                self._on_retry(str(exc))
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                return min(exc.retry_after, policy.max_retry_after)
            ceiling = min(policy.wait_max, policy.wait_initial * 2 ** (tries - 1))
            return random.uniform(0, ceiling)  # full jitter

        for attempt in stamina.retry_context(
            on=backoff, attempts=policy.attempts, timeout=policy.timeout
        ):
            with attempt:
                return self._once(method, path, params=params, body=body, idempotent=idempotent)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        idempotent: bool,
    ) -> dict[str, Any]:
        self.limiter.acquire()
        self.requests_sent += 1
        try:
            response = self._http.request(method, path, params=params, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientApiError(f"cannot reach {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:
            message = f"no reply from {self.base_url} ({type(exc).__name__}: {exc})"
            if idempotent:
                raise TransientApiError(message) from exc
            raise OutcomeUnknownError(message) from exc
        status = response.status_code
        if status in (401, 403):
            raise AuthError(
                f"the server refused the API token (HTTP {status}): "
                + "; ".join(_error_messages(response))
                + ". Check KANTATA_API_TOKEN / --token-file and the token's permissions",
                status=status,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.limiter.pause(retry_after if retry_after is not None else 1.0)
            raise RateLimitedError("rate limited (HTTP 429)", retry_after=retry_after)
        if status in _SAFE_TO_RETRY_STATUS or (status >= 500 and idempotent):
            raise TransientApiError(f"server busy (HTTP {status})", status=status)
        if status in _UNSURE_STATUS or status >= 500:
            raise OutcomeUnknownError(f"server error (HTTP {status}) after sending", status=status)
        if status >= 400:
            messages = _error_messages(response)
            raise RejectedBatchError(
                f"refused (HTTP {status}): " + "; ".join(messages), status=status, messages=messages
            )
        try:
            data = response.json()
        except _BAD_JSON as exc:
            raise BadResponseError(
                f"HTTP {status} reply is not JSON: {server_text(response.text, 120)!r}",
                status=status,
            ) from exc
        if not isinstance(data, dict):
            raise BadResponseError(f"HTTP {status} reply is not a JSON object", status=status)
        self.limiter.succeeded()
        return data

    # -- endpoints ---------------------------------------------------------------------------
    def create_memberships(
        self, items: Sequence[Mapping[str, Any]]
    ) -> dict[tuple[int, str], Membership]:
        """POST a bulk create; return the created memberships keyed by (member_id, member_type).

        Objects are matched to the request by content, never by position (the API sorts
        ``results`` its own way). Objects the server did not create are simply absent.
        """
        data = self._request(
            "POST",
            "organization_memberships",
            body={"organization_memberships": list(items)},
            idempotent=False,
        )
        return {m.member: m for m in _memberships(data)}

    def find_memberships(self, member_ids: Sequence[int], member_type: str) -> list[Membership]:
        """Existing memberships of these members (one listing, paged)."""
        found: list[Membership] = []
        ids = sorted(set(member_ids))
        for lo in range(0, len(ids), 100):
            params = {
                "member_id": ",".join(map(str, ids[lo : lo + 100])),
                "member_type": member_type,
            }
            for page in self.pages("organization_memberships", params):
                found.extend(_memberships(page))
        return found

    def pages(
        self, endpoint: str, params: Mapping[str, Any] | None = None, *, per_page: int = 200
    ) -> Iterator[dict[str, Any]]:
        """Yield every page of a list endpoint."""
        page = 1
        while True:
            data = self._request(
                "GET",
                endpoint,
                params={**(params or {}), "page": page, "per_page": per_page},
                idempotent=True,
            )
            yield data
            meta = data.get("meta") or {}
            try:
                page_count = int(meta.get("page_count", 1))
            except (TypeError, ValueError, AttributeError) as exc:
                raise BadResponseError(
                    f"bad pagination meta from {endpoint}: {server_text(repr(meta), 200)}"
                ) from exc
            if page >= page_count:
                return
            page += 1


def _memberships(data: Mapping[str, Any]) -> list[Membership]:
    objects = data.get("organization_memberships")
    if not isinstance(objects, dict):
        raise BadResponseError("reply has no 'organization_memberships' object", status=200)
    out = []
    for key, obj in objects.items():
        try:
            out.append(
                Membership(
                    id=str(obj.get("id", key)),
                    geography_id=int(obj["geography_id"]),
                    department_id=int(obj["department_id"]),
                    member_id=int(obj["member_id"]),
                    member_type=str(obj["member_type"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadResponseError(
                f"malformed organization membership in reply: {server_text(repr(obj), 200)}",
                status=200,
            ) from exc
    return out


__all__ = ["ApiError", "KantataClient", "Membership", "check_base_url", "parse_retry_after"]
