"""The Kantata OX API client (httpx, sync, thread-safe; the transport is injectable).

It speaks the API as ``docs/kantata-api.md`` documents it, and nothing else:

* every membership create, update and listing asks for ``include=department,geography`` (the
  only way the reply carries ``department_id``/``geography_id``), and a reply without them is
  still accepted (the fields are then ``None``);
* ids are read as the strings the API returns; ``member_type`` is compared case-insensitively;
* users are looked up with ``on_my_account=true&show_disabled=true`` (a new hire on no project,
  or a disabled user, is otherwise invisible) and archived workspaces with
  ``include_archived=true``;
* a refusal's ``field`` is kept when the server gives one.

Transient failures are retried here (exponential backoff with full jitter; ``Retry-After``
honoured through a limiter shared by all threads, up to ``RetryPolicy.max_retry_after``). A write
whose outcome is unknown (reply lost, gateway error, the reply outran the server's own time
limit) is *not* retried: it raises ``OutcomeUnknownError`` so the caller can ask the server what
happened once the server can no longer be executing it. Every wait wakes up on the ``cancel``
event (Ctrl-C/SIGTERM) and raises :class:`~importer.core.Cancelled`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from importer.api._pace import ConcurrencyLimit
from importer.api._ratelimit import RateLimiter
from importer.api._redact import install_log_redaction, register_secret, server_text
from importer.core import (
    ApiError,
    ApiSettings,
    AuthError,
    BadResponseError,
    Cancelled,
    InputError,
    OutcomeUnknownError,
    RateLimitedError,
    RedirectedError,
    RejectedBatchError,
    ServerWaitError,
    TransientApiError,
    UnreachableError,
    member_label,
    org_label,
)

USER_AGENT = "kantata-importer/0.1"
MEMBERSHIPS = "organization_memberships"
INCLUDE_ORGS = "department,geography"  # docs/kantata-api.md § The organization membership object
PER_PAGE = 200  # docs/kantata-api.md § Response format: per_page maximum 200
ONLY_MAX = 200  # ids per ``only=`` / ``by_email_addresses=`` request
MEMBER_TYPES = ("User", "Workspace")
LOOKUPS_IN_FLIGHT = 8  # look-up requests at once (within --concurrency)
_SAFE_TO_RETRY_STATUS = {408, 425, 429, 503}  # the server did not act on the request
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_TOKEN = re.compile(r"[!-~]*")  # visible ASCII: what an HTTP header can carry
_BAD_JSON = (ValueError, RecursionError)  # JSONDecodeError, UnicodeDecodeError, deep nesting
_MAX_REPLY = 64 * 1024 * 1024  # a reply larger than this is not an API answer
_KINDS = {"GET": "lookups", "POST": "creates", "PUT": "moves", "DELETE": "deletes"}
# Retries are told to the log (shown when the application configures logging: a log file, a
# verbose handler), never printed; their count is in the summary.
RETRY_LOGGER = "importer.retry"
_retry_log = logging.getLogger(RETRY_LOGGER)


def canonical_member_type(value: object) -> str:
    """``"user"``/``"USER"`` -> ``"User"``; anything else unchanged (as text)."""
    text = str(value)
    for known in MEMBER_TYPES:
        if text.casefold() == known.casefold():
            return known
    return text


@dataclass(frozen=True)
class Membership:
    """An organization membership as the server holds it.

    ``geography_id``/``department_id`` are ``None`` when the reply did not carry them (the API
    returns them only when included); ``primary`` only on accounts with the primary-organization
    feature.
    """

    id: str
    member_id: int
    member_type: str
    geography_id: int | None = None
    department_id: int | None = None
    primary: bool | None = None
    updated_at: str | None = None

    @property
    def member(self) -> tuple[int, str]:
        return (self.member_id, self.member_type)

    def at(self, geography_id: int, department_id: int) -> bool:
        """True when this membership is in exactly this geography and department."""
        return self.geography_id == geography_id and self.department_id == department_id

    def describe(self, names: Mapping[int, str] | None = None) -> str:
        """``membership 9001 (geography United Kingdom (105), department Engineering (202))``
        for messages: organization ``names`` by id, where known (else the ids alone)."""
        geo, dept = org_label(self.geography_id, names), org_label(self.department_id, names)
        return f"membership {self.id} (geography {geo}, department {dept})"


@dataclass(frozen=True)
class Person:
    """A user or workspace as a by-id or by-email look-up returns it."""

    id: int
    label: str
    email: str = ""
    disabled: bool = False


@dataclass(frozen=True)
class Identity:
    """Who the token belongs to (``GET /users/me``): never contains the token itself."""

    base_url: str
    user_id: str
    account_membership_id: str

    def describe(self) -> str:
        return (
            f"{self.base_url} (user {self.user_id}, account membership "
            f"{self.account_membership_id or '?'})"
        )


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
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def human_seconds(seconds: float) -> str:
    """``97200`` -> ``27 h``; ``150`` -> ``2.5 min``; ``12`` -> ``12 s``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def _errors(body: bytes, status: int, reason: str) -> tuple[list[str], list[str]]:
    """The server's own words and fields (``errors[].message``/``.field``), secrets removed.

    docs/kantata-api.md § Basics: errors are ``{"errors": [{"type", "message", "field"?}]}``.
    """
    try:
        data = json.loads(body)
        errors = data.get("errors") if isinstance(data, dict) else None
        pairs = [
            (server_text(str(e.get("message", e)), 500), str(e.get("field") or ""))
            for e in errors or []
            if isinstance(e, dict)
        ]
        if pairs:
            return [m for m, _ in pairs], [f for _, f in pairs]
    except (*_BAD_JSON, AttributeError):
        pass
    text = " ".join(body.decode("utf-8", "replace").split())
    return [f"HTTP {status}: {server_text(text, 200) or reason}"], [""]


class RequestCounts:
    """Requests sent, by kind (``lookups``, ``creates``, ``moves``, ``deletes``) plus ``retries``
    and ``rate_limited`` (429s seen); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts[kind] += n

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self._counts[kind]

    def snapshot(self) -> dict[str, int]:
        """Every kind, zeros included, for the summary."""
        with self._lock:
            kinds = (*_KINDS.values(), "retries", "rate_limited", "splits")
            return {k: int(self._counts[k]) for k in kinds}


class KantataClient:
    """Talks to the Kantata OX API.

    Args:
        settings: base URL, token, timeouts, concurrency, retry policy, server time limit.
        transport: an httpx transport (tests, proxies); default: httpx's own.
        limiter: a shared ``RateLimiter`` (default: one built from ``settings.max_rps``); its
            rate is learned from the server's 429s, ``max_rps`` is only its ceiling.
        on_retry: called with a short reason each time a request is retried (for progress output).
        cancel: an event that, once set, makes every wait (backoff, rate limit) stop at once with
            :class:`~importer.core.Cancelled`.
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        on_retry: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = check_base_url(settings.base_url, insecure=settings.insecure)
        register_secret(check_token(settings.token))
        install_log_redaction()
        self.cancel = cancel or threading.Event()
        self.limiter = limiter or RateLimiter(settings.max_rps, sleep=self.wait)
        # ``/workspaces`` has its own, stricter limit on the real API: its requests also pass a
        # limiter of their own, which learns that limit (docs/kantata-api.md § Lookups).
        self.workspaces_limiter = RateLimiter(settings.max_rps, sleep=self.wait)
        # How many requests may be in flight (learned; ``settings.concurrency`` is the ceiling):
        # the send pool asks it before starting each request.
        self.pace = ConcurrencyLimit(settings.concurrency)
        self._on_retry = on_retry
        pool = max(4, settings.concurrency * 2)
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            auth=_BearerAuth(settings.token),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=settings.timeout,
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self.counts = RequestCounts()
        self._answered = threading.Event()  # some request to this host got an HTTP answer
        self._started = time.monotonic()
        self.latencies: list[float] = []  # seconds per answered request (doctor, benchmarks)
        self.retry_after_seen: list[float | None] = []  # each 429's Retry-After (None: absent)

    @property
    def requests_sent(self) -> int:
        """Every request sent, all kinds together."""
        return sum(self.counts[k] for k in _KINDS.values())

    @property
    def retries(self) -> int:
        return self.counts["retries"]

    def __enter__(self) -> KantataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def wait(self, seconds: float) -> None:
        """Wait ``seconds``, unless the run is being cancelled (then raise ``Cancelled``)."""
        if seconds > 0 and self.cancel.wait(seconds):
            raise Cancelled("stopped while waiting")
        if self.cancel.is_set():
            raise Cancelled("stopped while waiting")

    # -- the one place requests are made ------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """One API call with retries; returns the JSON object of the reply (``{}`` for a 204).

        Raises:
            OutcomeUnknownError: a non-idempotent request may or may not have been applied.
            RejectedBatchError: a 4xx refusal (its messages and fields).
            FatalApiError: token refused, host unreachable, server asks to wait too long,
                redirect.
            TransientApiError: retries exhausted.
            Cancelled: the cancel event was set while waiting.
        """
        policy = self.settings.retry
        idempotent = method == "GET" if idempotent is None else idempotent
        started = time.monotonic()
        tries = 0
        while True:
            try:
                return self._once(method, path, params=params, body=body, idempotent=idempotent)
            except OutcomeUnknownError:
                raise
            except TransientApiError as exc:
                tries += 1
                spent = time.monotonic() - started
                never = not self._answered.is_set()
                if never and spent >= policy.unreachable_after:
                    raise UnreachableError(
                        f"cannot reach {urlsplit(self.base_url).hostname} (no request to it "
                        f"succeeded in {human_seconds(spent)}; last error: {exc}); check "
                        "--base-url and the network, then run the same command again"
                    ) from exc
                if tries >= policy.attempts or spent >= policy.timeout:
                    raise
                delay = self._delay(exc, tries)
                if never:  # do not sleep past the moment we give up on this host
                    delay = min(delay, max(0.0, policy.unreachable_after - spent) + 0.05)
                self.counts.add("retries")
                _retry_log.info("retry %d in %.1f s after: %s", tries, delay, exc)
                if self._on_retry is not None:
                    self._on_retry(str(exc))
                self.wait(delay)

    def _delay(self, exc: TransientApiError, tries: int) -> float:
        policy = self.settings.retry
        if isinstance(exc, RateLimitedError):
            if exc.retry_after is not None and exc.retry_after > policy.max_retry_after:
                raise ServerWaitError(
                    f"the server asked to wait {human_seconds(exc.retry_after)} (HTTP 429 "
                    f"Retry-After); stopping rather than waiting that long: run again later",
                    retry_after=exc.retry_after,
                ) from exc
            return 0.0  # the shared limiter holds every sender for the pause (see _once)
        ceiling = min(policy.wait_max, policy.wait_initial * 2 ** (tries - 1))
        return random.uniform(0, ceiling)  # full jitter

    def _once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        idempotent: bool,
    ) -> dict[str, Any]:
        workspaces = path.split("?", 1)[0].strip("/").split("/", 1)[0] == "workspaces"
        limiter = self.workspaces_limiter if workspaces else self.limiter
        if workspaces:
            self.workspaces_limiter.acquire()
        self.limiter.acquire()
        self.counts.add(_KINDS.get(method, method.lower()))
        limit = self.settings.server_time_limit
        # A write waits for its reply at least as long as the server may work on it.
        read = self.settings.timeout
        if not idempotent:
            read = max(read, limit * 1.05 + 1)
        timeout = httpx.Timeout(self.settings.timeout, read=read)
        # The whole request, a trickling reply included, may not outlive the server's own limit.
        deadline = time.monotonic() + max(read, limit) + max(1.0, limit * 0.1)
        t0 = time.monotonic()
        where = f"{method} {path}"
        try:
            with self._http.stream(
                method, path, params=params, json=body, timeout=timeout
            ) as response:
                content = self._read(response, deadline, where)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransientApiError(f"cannot reach {self.base_url}: {exc}") from exc
        except httpx.PoolTimeout as exc:
            raise TransientApiError(f"no free connection to {self.base_url}: {exc}") from exc
        except (httpx.TransportError, _Overdue) as exc:
            if isinstance(exc, httpx.TimeoutException | _Overdue):
                self.pace.overloaded()
            message = f"no complete reply to {where} ({type(exc).__name__}: {exc})"
            if idempotent:
                raise TransientApiError(message) from exc
            raise OutcomeUnknownError(message) from exc
        self._answered.set()
        status = response.status_code
        if 300 <= status < 400:
            location = server_text(response.headers.get("Location", "?"), 200)
            raise RedirectedError(
                f"the server redirected {where} to {location} (HTTP {status}); the request was "
                "not applied there. Check --base-url (e.g. https://api.mavenlink.com/api/v1)",
                status=status,
            )
        if status in (401, 403):
            messages, _ = _errors(content, status, response.reason_phrase)
            raise AuthError(
                f"the server refused the API token (HTTP {status}): "
                + "; ".join(messages)
                + ". Check KANTATA_API_TOKEN / --token-file and the token's permissions",
                status=status,
            )
        if status == 429:
            self.counts.add("rate_limited")
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.retry_after_seen.append(retry_after)
            if retry_after is None or retry_after <= self.settings.retry.max_retry_after:
                limiter.pause(retry_after if retry_after is not None else 1.0)
            raise RateLimitedError("rate limited (HTTP 429)", retry_after=retry_after)
        if status == 503:
            self.pace.overloaded()
        if status in _SAFE_TO_RETRY_STATUS or (status >= 500 and idempotent):
            raise TransientApiError(f"server busy (HTTP {status})", status=status)
        if status >= 500:
            raise OutcomeUnknownError(f"server error (HTTP {status}) after sending", status=status)
        if status >= 400:
            messages, fields = _errors(content, status, response.reason_phrase)
            raise RejectedBatchError(
                f"refused (HTTP {status}): " + "; ".join(messages),
                status=status,
                messages=messages,
                fields=fields,
            )
        latency = time.monotonic() - t0
        self.latencies.append(latency)
        self.pace.answered(latency)
        self.limiter.succeeded()
        if workspaces:
            self.workspaces_limiter.succeeded()
        if status == 204 or not content.strip():
            return {}
        try:
            data = json.loads(content)
        except _BAD_JSON as exc:
            raise BadResponseError(
                f"HTTP {status} reply to {where} is not JSON: "
                f"{server_text(content.decode('utf-8', 'replace'), 120)!r}",
                status=status,
            ) from exc
        if not isinstance(data, dict):
            raise BadResponseError(
                f"HTTP {status} reply to {where} is not a JSON object", status=status
            )
        return data

    def _read(self, response: httpx.Response, deadline: float, where: str) -> bytes:
        parts: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > _MAX_REPLY:
                raise _Overdue(f"reply to {where} is larger than {_MAX_REPLY >> 20} MiB")
            if time.monotonic() > deadline:
                raise _Overdue(
                    f"reply to {where} still incomplete after the server's own time limit"
                )
        return b"".join(parts)

    # -- paging -------------------------------------------------------------------------------
    def pages(
        self, endpoint: str, params: Mapping[str, Any] | None = None, *, per_page: int = PER_PAGE
    ) -> Iterator[dict[str, Any]]:
        """Yield every page of a list endpoint (``page``/``per_page``, ``meta.page_count``)."""
        page = 1
        while True:
            data = self.request(
                "GET", endpoint, params={**(params or {}), "page": page, "per_page": per_page}
            )
            yield data
            if page >= page_count(data, endpoint):
                return
            page += 1

    # -- organization memberships -------------------------------------------------------------
    def create_memberships(self, items: Sequence[Mapping[str, Any]]) -> list[Membership]:
        """POST a bulk create; return the memberships the reply carries.

        Map them back to rows by content (member, geography, department), never by position:
        the API sorts ``results`` its own way. Objects the server did not create are absent.
        """
        data = self.request(
            "POST",
            MEMBERSHIPS,
            params={"include": INCLUDE_ORGS},
            body={MEMBERSHIPS: list(items)},
            idempotent=False,
        )
        return memberships_in(data)

    def move_membership(
        self, membership_id: str, geography_id: int, department_id: int
    ) -> Membership | None:
        """``PUT /organization_memberships/{id}``: put the member at this place in both trees;
        returns the object the reply carries (if it does).

        Not retried on a lost reply (``OutcomeUnknownError``): the caller looks it up.
        """
        data = self.request(
            "PUT",
            f"{MEMBERSHIPS}/{int(membership_id)}",
            params={"include": INCLUDE_ORGS},
            body={
                "organization_membership": {
                    "geography_id": int(geography_id),
                    "department_id": int(department_id),
                }
            },
            idempotent=False,
        )
        found = [m for m in memberships_in(data) if m.id == str(membership_id)]
        return found[0] if found else None

    def delete_membership(self, membership_id: str) -> None:
        """``DELETE /organization_memberships/{id}`` (204, no body)."""
        self.request("DELETE", f"{MEMBERSHIPS}/{int(membership_id)}", idempotent=False)

    def memberships(self, params: Mapping[str, Any] | None = None) -> Iterator[Membership]:
        """Every membership a listing returns (all pages, fetched several at once), with their
        places."""
        for page in self.all_pages(MEMBERSHIPS, {**(params or {}), "include": INCLUDE_ORGS}):
            yield from memberships_in(page)

    def all_pages(
        self, endpoint: str, params: Mapping[str, Any] | None = None, *, per_page: int = PER_PAGE
    ) -> list[dict[str, Any]]:
        """Every page of a list endpoint, in order: the first says how many there are, the
        others are then fetched several at once."""
        first = self.request(
            "GET", endpoint, params={**(params or {}), "page": 1, "per_page": per_page}
        )
        pages = page_count(first, endpoint)

        def one(page: int) -> dict[str, Any]:
            query = {**(params or {}), "page": page, "per_page": per_page}
            return self.request("GET", endpoint, params=query)

        return [first, *self.map(one, list(range(2, pages + 1)))]

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``fn`` over ``items``, several at once (look-ups: the rate limiters still apply),
        results in order; the first error is raised once the others have finished."""
        workers = min(len(items), self.settings.concurrency, LOOKUPS_IN_FLIGHT)
        if workers <= 1:
            return [fn(item) for item in items]
        gate = threading.Condition()
        active = 0

        def paced(item: Any) -> Any:
            # No more at once than the learned pace allows (it starts low: a rate-limited
            # server then refuses few of the first requests).
            nonlocal active
            with gate:
                while active >= max(1, self.pace.limit):
                    gate.wait(0.1)
                active += 1
            try:
                return fn(item)
            finally:
                with gate:
                    active -= 1
                    gate.notify_all()

        with ThreadPoolExecutor(workers, thread_name_prefix="lookup") as pool:
            futures = [pool.submit(paced, item) for item in items]
            return [future.result() for future in futures]

    def memberships_by_id(self, ids: Iterable[str]) -> dict[str, Membership]:
        """The memberships with these ids that still exist (``only=``, 200 a request)."""
        wanted = sorted({str(i) for i in ids}, key=int)
        found: dict[str, Membership] = {}
        for lo in range(0, len(wanted), ONLY_MAX):
            chunk = set(wanted[lo : lo + ONLY_MAX])
            for m in self.memberships({"only": ",".join(sorted(chunk, key=int))}):
                if m.id in chunk:  # a server that ignored ``only`` returns others too
                    found[m.id] = m
        return found

    # -- who am I -----------------------------------------------------------------------------
    def identity(self) -> Identity:
        """``GET /users/me?include=account_membership``: the token's user and account membership.

        The users reference (``GET /users/me``, "Fetch your own data") documents it; the
        ``account_membership`` include adds ``account_membership_id``.
        """
        data = self.request("GET", "users/me", params={"include": "account_membership"})
        users = objects_in(data, "users")
        if not users:
            raise BadResponseError("reply of GET /users/me has no user")
        user = next(iter(users.values()))
        user_id = str(user.get("id") or next(iter(users)))
        return Identity(self.base_url, user_id, str(user.get("account_membership_id") or ""))

    # -- users and workspaces -----------------------------------------------------------------
    def users_by_id(self, ids: Iterable[int]) -> dict[int, Person]:
        """Users of the account with these ids, disabled ones included (and marked)."""
        return self._people("users", "only", sorted({int(i) for i in ids}), key=_by_id)

    def users_by_email(self, emails: Iterable[str]) -> dict[str, Person]:
        """Users of the account by email address (casefolded), 200 addresses a request."""
        wanted = sorted({e.strip().casefold() for e in emails if e.strip()})
        return self._people("users", "by_email_addresses", wanted, key=_by_email)

    def workspaces_by_id(self, ids: Iterable[int]) -> dict[int, Person]:
        """Workspaces with these ids, archived ones included."""
        return self._people("workspaces", "only", sorted({int(i) for i in ids}), key=_by_id)

    def _people(
        self, endpoint: str, param: str, wanted: list[Any], *, key: Callable[[Person], Any]
    ) -> dict[Any, Person]:
        def one(chunk: list[Any]) -> dict[Any, Person]:
            asked = set(chunk)
            params = {param: ",".join(map(str, chunk)), **LIST_PARAMS[endpoint]}
            part: dict[Any, Person] = {}
            for page in self.pages(endpoint, params):
                for person in people_in(page, endpoint):
                    if key(person) in asked:  # never trust that a filter was applied
                        part[key(person)] = person
            return part

        found: dict[Any, Person] = {}
        chunks = [wanted[lo : lo + ONLY_MAX] for lo in range(0, len(wanted), ONLY_MAX)]
        for part in self.map(one, chunks):
            found.update(part)
        return found


class _Overdue(Exception):
    """A reply that did not finish in time (or grew past any sensible size)."""


# Default filters hide people the importer must see (docs/kantata-api.md § Lookups).
LIST_PARAMS: dict[str, dict[str, str]] = {
    "users": {"on_my_account": "true", "show_disabled": "true", "include": "account_membership"},
    "workspaces": {"include_archived": "true"},
}


def page_count(page: Mapping[str, Any], endpoint: str) -> int:
    """``meta.page_count`` of a list reply (1 when absent)."""
    meta = page.get("meta") or {}
    try:
        return int(meta.get("page_count", 1)) if isinstance(meta, dict) else 1
    except (TypeError, ValueError) as exc:
        raise BadResponseError(
            f"bad pagination meta from {endpoint}: {server_text(repr(meta), 200)}"
        ) from exc


def total_count(page: Mapping[str, Any]) -> int | None:
    """The whole query's size (``count``, or ``meta.count``), if the reply says."""
    meta = page.get("meta")
    for value in (page.get("count"), meta.get("count") if isinstance(meta, dict) else None):
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            continue
    return None


def objects_in(data: Mapping[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The objects of one type in a reply, by id (an absent key: none)."""
    objects = data.get(key)
    if objects is None:
        return {}
    if not isinstance(objects, dict):
        raise BadResponseError(f"reply has a malformed {key!r} (not an object)", status=200)
    return {str(k): v for k, v in objects.items() if isinstance(v, dict)}


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def memberships_in(data: Mapping[str, Any]) -> list[Membership]:
    """The organization memberships of a reply (fields missing unless included: ``None``)."""
    out = []
    for key, obj in objects_in(data, MEMBERSHIPS).items():
        try:
            primary = obj.get("primary")
            out.append(
                Membership(
                    id=str(obj.get("id") or key),
                    member_id=int(obj["member_id"]),
                    member_type=canonical_member_type(obj["member_type"]),
                    geography_id=_int_or_none(obj.get("geography_id")),
                    department_id=_int_or_none(obj.get("department_id")),
                    primary=bool(primary) if primary is not None else None,
                    updated_at=str(obj["updated_at"]) if obj.get("updated_at") else None,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadResponseError(
                f"malformed organization membership in reply: {server_text(repr(obj), 200)}",
                status=200,
            ) from exc
    return out


def _by_id(person: Person) -> int:
    return person.id


def _by_email(person: Person) -> str:
    return person.email.casefold()


def people_in(data: Mapping[str, Any], endpoint: str) -> list[Person]:
    """Users (label ``Name <email>``; ``disabled`` from the side-loaded account membership's
    ``disabled_at``) or workspaces (label: the title) of a reply."""
    memberships = objects_in(data, "account_memberships")
    out: list[Person] = []
    for key, obj in objects_in(data, endpoint).items():
        try:
            pid = int(obj.get("id") or key)
            if endpoint == "users":
                email = str(obj.get("email_address") or "")
                name = str(obj.get("full_name") or "")
                label = member_label(name, email)
                am = memberships.get(str(obj.get("account_membership_id") or ""), {})
                out.append(Person(pid, label, email, disabled=bool(am.get("disabled_at"))))
            else:
                out.append(Person(pid, str(obj.get("title") or "")))
        except (TypeError, ValueError, AttributeError) as exc:
            raise BadResponseError(
                f"malformed {endpoint[:-1]} in reply: {server_text(repr(obj), 200)}"
            ) from exc
    return out


__all__ = [
    "INCLUDE_ORGS",
    "ApiError",
    "Identity",
    "KantataClient",
    "Membership",
    "Person",
    "canonical_member_type",
    "check_base_url",
    "parse_retry_after",
]
