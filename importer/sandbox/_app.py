"""The sandbox's request handling, independent of the HTTP plumbing in ``server.py``.

Per request, in this order: a front proxy's limits (``max_target_bytes`` -> 414,
``max_header_bytes`` -> 431); ``redirect`` -> 301; ``stop_answering`` (no reply at all); a write
takes its scheduled fault (``write_faults``); ``latency_ms`` sleep; ``fail_rate`` -> 503; ``rate``
then ``workspaces_rate`` -> 429 (``Retry-After`` per ``retry_after``/``retry_after_s``);
``late_commit`` (the reply is lost at once, the write commits later); bearer-token check -> 401;
then the endpoint. A write waits ``commit_delay_ms`` before it commits; whatever would finish
after ``request_time_limit_s`` is abandoned and answered 503. A committed write may still lose
its reply (``drop_after_commit``) or be answered 503 by a gateway (``fail_after_commit``). At
each fault of a create, ``third_party_writes`` has another client create memberships for the
same members (kept apart: ``Store.third_party_ids``).
``/_sandbox/*`` control endpoints need the token but skip the knobs and the counters, so tests and
curl users can always read them. Facts cited as "§ ..." are sections of docs/kantata-api.md.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from importer.sandbox import _views as views
from importer.sandbox._knobs import KNOB_NAMES, CounterBoard, FaultInjector, Knobs
from importer.sandbox._rules import MEMBER_TYPES
from importer.sandbox._store import THIRD_PARTY, Row, Store

API_PREFIX = "/api/v1"
MAX_BATCH = 100  # § The endpoint: bulk, up to 100 objects
ORG_TYPES = ("Geography", "Department")
MEMBERSHIP_INCLUDES = ("department", "geography")
USER_INCLUDES = ("account_membership",)
SINGLE, BULK = "organization_membership", "organization_memberships"
OAUTH_ERROR = {"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]}  # § Basics
_TITLE_SEARCH = re.compile(r"title:\s*'(.*)'", re.DOTALL)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    authorization: str | None
    body: bytes = b""
    target: str = ""  # the request line's target (path and query), for a redirect
    header_bytes: int = 0  # the size of the request's header lines


@dataclass(frozen=True)
class Reply:
    """A response to send, or ``drop`` to close the connection without any response.

    ``body`` None sends no body at all (204, 301), ``html`` a text/html body instead (what a
    front proxy sends); ``trickle_s`` sends it a byte at a time. ``hang`` never answers (until
    the sandbox stops). ``later`` runs ``later_s`` seconds after a dropped reply (a late commit).
    """

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    trickle_s: float = 0.0
    html: str | None = None
    hang: bool = False
    later: Callable[[], None] | None = None
    later_s: float = 0.0


def _error(exc: views.ApiError) -> Reply:
    return Reply(exc.status, exc.body())


def _proxy_page(title: str) -> str:
    """The HTML page a front proxy (nginx-like) answers with: not the API's errors shape."""
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"


class _TimedOut(Exception):
    """The request ran into ``request_time_limit_s``."""


Handler = Callable[["Request", "re.Match[str]"], Reply]


class SandboxApp:
    """Routes a :class:`Request` to its endpoint and returns a :class:`Reply`."""

    def __init__(
        self,
        store: Store,
        faults: FaultInjector,
        counters: CounterBoard,
        token: str,
        max_per_page: int,
    ) -> None:
        self.store = store
        self.faults = faults
        self.counters = counters
        self._token = token
        self._max_per_page = max_per_page
        self._local = threading.local()  # this request's deadline, per handler thread
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (
                re.compile(r"/organization_memberships"),
                {"GET": self._list_memberships, "POST": self._create_memberships},
            ),
            (
                re.compile(r"/organization_memberships/(?P<id>[0-9]+)"),
                {
                    "GET": self._show_membership,
                    "PUT": self._update_membership,
                    "DELETE": self._delete_membership,
                },
            ),
            (re.compile(r"/organizations"), {"GET": self._list_organizations}),
            (re.compile(r"/users"), {"GET": self._list_users}),
            (re.compile(r"/users/me"), {"GET": self._me}),
            (re.compile(r"/users/(?P<id>[0-9]+)"), {"GET": self._show(self._list_users)}),
            (re.compile(r"/workspaces"), {"GET": self._list_workspaces}),
            (
                re.compile(r"/workspaces/(?P<id>[0-9]+)"),
                {"GET": self._show(self._list_workspaces)},
            ),
        ]
        self._control_routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/_sandbox/counters"), {"GET": self._counters}),
            (re.compile(r"/_sandbox/reset"), {"POST": self._reset}),
            (re.compile(r"/_sandbox/knobs"), {"GET": self._knobs, "POST": self._set_knobs}),
        ]

    # -- entry point --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = self._endpoint(request.path)
        if path is not None and path.startswith("/_sandbox/"):
            return self._dispatch(self._control_routes, path, request)
        self.counters.begin()
        reply: Reply | None = None
        try:
            knobs = self.faults.knobs
            reply = self._handle_counted(path, request, knobs, time.monotonic())
            if knobs.echo_token and reply.body is not None and reply.status >= 400:
                reply = self._echo_token(reply, request)
            if knobs.trickle_s > 0 and reply.body is not None:
                reply = replace(reply, trickle_s=knobs.trickle_s)
            return reply
        finally:
            unanswered = reply is None or reply.drop or reply.hang
            self.counters.end(500 if reply is None else None if unanswered else reply.status)

    def _handle_counted(
        self, path: str | None, request: Request, knobs: Knobs, started: float
    ) -> Reply:
        self._local.fault, self._local.request = None, request
        too_large = self._too_large(request, knobs)
        if too_large is not None:
            return too_large
        if knobs.redirect:
            return Reply(301, None, {"Location": request.target or request.path})
        write = request.method not in ("GET", "HEAD")
        if self.faults.stops_answering(write=write):
            self.counters.add("unanswered")
            return Reply(0, None, hang=True)
        fault = self.faults.next_write_fault() if write and path is not None else None
        deadline = started + knobs.request_time_limit_s
        try:
            self._spend(knobs.latency_ms / 1000.0, deadline)
            early = self._early_fault(path, request, knobs, fault, write)
            if early is not None:
                return early
            if fault == "late" or (fault is None and write and self.faults.should_commit_late()):
                return self._late(path, request, knobs, started)
            self._local.fault = fault
            return self._dispatch(self._routes, path, request, deadline)
        except _TimedOut:
            self.counters.add("timed_out")
            return _error(views.ApiError(503, "system", "Request timed out"))

    def _early_fault(
        self, path: str | None, request: Request, knobs: Knobs, fault: str | None, write: bool
    ) -> Reply | None:
        """A fault that ends the request before anything is done: never answered, 503, 429."""
        if fault == "hang":
            self.counters.add("unanswered")
            self._third_party(request)
            return Reply(0, None, hang=True)
        if fault == "503" or (fault is None and self.faults.should_fail()):
            self.counters.add("failed")
            if write:
                self._third_party(request)
            return _error(views.ApiError(503, "system", "Service Unavailable"))
        if fault == "429":
            self.counters.add("rate_limited")
            return self._too_many(1.0, knobs)
        if fault is not None:
            return None
        for bucket in ("all", "workspaces") if path == "/workspaces" else ("all",):
            wait = self.faults.take_token(bucket)
            if wait is not None:
                self.counters.add("rate_limited")
                return self._too_many(wait, knobs)
        return None

    def _too_large(self, request: Request, knobs: Knobs) -> Reply | None:
        """A front proxy's refusal of a request target or headers past its limit."""
        size = len((request.target or request.path).encode("utf-8"))
        if knobs.max_target_bytes is not None and size > knobs.max_target_bytes:
            self.counters.add("too_large")
            return Reply(414, None, html=_proxy_page("414 Request-URI Too Large"))
        if knobs.max_header_bytes is not None and request.header_bytes > knobs.max_header_bytes:
            self.counters.add("too_large")
            return Reply(431, None, html=_proxy_page("431 Request Header Fields Too Large"))
        return None

    def _late(self, path: str | None, request: Request, knobs: Knobs, started: float) -> Reply:
        """Lose the reply now; commit the write later, within the server's time limit."""
        limit = knobs.request_time_limit_s
        at = knobs.late_commit_s if knobs.late_commit_s is not None else limit * 0.9
        delay = max(0.0, min(at, limit * 0.99) - (time.monotonic() - started))
        self._third_party(request)

        def commit() -> None:
            self._local.fault, self._local.request = "ok", request
            reply = self._dispatch(self._routes, path, request)
            if reply.status < 300:
                self.counters.add("late_commits")

        return Reply(0, None, drop=True, later=commit, later_s=delay)

    def _third_party(self, request: Request) -> None:
        """``third_party_writes``: another client creates a membership for each member of this
        create request: identical to the one asked for, or in another geography."""
        knobs = self.faults.knobs
        if knobs.third_party_writes == "off" or request.method != "POST":
            return
        if self._endpoint(request.path) != "/organization_memberships":
            return
        try:
            payload = views.parse_json(request.body)
        except views.ApiError:
            return
        objects = payload.get(BULK, [payload.get(SINGLE)]) if isinstance(payload, dict) else []
        theirs = []
        for obj in objects if isinstance(objects, list) else []:
            if not isinstance(obj, dict):
                continue
            obj = dict(obj)
            if knobs.third_party_writes == "other":
                geo = obj.get("geography_id")
                obj["geography_id"] = self.store.other_geography(geo if isinstance(geo, int) else 0)
            theirs.append(obj)
        outcome = self.store.create_memberships(
            theirs,
            keep_valid=True,
            many=knobs.memberships_per_member == "many",
            creator=THIRD_PARTY,
        )
        self.counters.add("third_party_created", len(outcome.created))

    @staticmethod
    def _spend(seconds: float, deadline: float) -> None:
        """Sleep ``seconds``, unless that passes ``deadline``: then sleep until it and give up."""
        if seconds <= 0:
            return
        remaining = deadline - time.monotonic()
        if seconds > remaining:
            time.sleep(max(0.0, remaining))
            raise _TimedOut
        time.sleep(seconds)

    @staticmethod
    def _too_many(wait: float, knobs: Knobs) -> Reply:
        # § Basics: whether Retry-After is sent, and the 429 body, are not documented.
        headers: dict[str, str] = {}
        if knobs.retry_after:
            seconds = knobs.retry_after_s if knobs.retry_after_s is not None else wait
            headers["Retry-After"] = str(max(1, math.ceil(seconds)))
        return Reply(429, views.error_body("system", ["Too Many Requests"]), headers)

    def _echo_token(self, reply: Reply, request: Request) -> Reply:
        """Quote the request's bearer token in each error message, at a varying offset/length."""
        sent = (request.authorization or "").strip().partition(" ")[2].strip() or "(none)"
        errors = []
        for error in (reply.body or {}).get("errors", []):
            n = self.faults.next_echo()
            pad = "x" * ((n * 37) % 300)
            message = str(error.get("message", ""))
            forms = (
                f"{message} (token {sent})",
                f"{sent}: {message}",
                f"{message} {pad} token={sent} {pad}",
                f"{pad}{sent}{pad}",
            )
            errors.append({**error, "message": forms[n % len(forms)]})
        return replace(reply, body={"errors": errors})

    @staticmethod
    def _endpoint(raw: str) -> str | None:
        """``/api/v1/users.json/`` -> ``/users``; None outside the API prefix."""
        if raw != API_PREFIX and not raw.startswith(API_PREFIX + "/"):
            return None
        path = raw[len(API_PREFIX) :].rstrip("/")
        return path.removesuffix(".json")

    def _authorized(self, request: Request) -> bool:
        scheme, _, credentials = (request.authorization or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self._token.encode()
        )

    def _dispatch(
        self,
        routes: list[tuple[re.Pattern[str], dict[str, Handler]]],
        path: str | None,
        request: Request,
        deadline: float = math.inf,
    ) -> Reply:
        if not self._authorized(request):
            return Reply(401, OAUTH_ERROR)
        self._local.deadline = deadline
        for pattern, methods in routes:
            match = pattern.fullmatch(path or "")
            if match is not None and request.method in methods:
                break
        else:
            # A Rails router answers an unknown path, or a method a path lacks, with 404.
            return _error(views.not_found(f"No route matches {request.method} {request.path}"))
        try:
            return methods[request.method](request, match)
        except views.ApiError as exc:
            return _error(exc)
        except _TimedOut:
            raise
        except Exception as exc:
            logger.exception("sandbox: internal error on %s %s", request.method, request.path)
            return _error(views.ApiError(500, "system", f"Internal sandbox error: {exc!r}"))

    def _before_commit(self) -> None:
        """A write's work: ``commit_delay_ms``, abandoned (503) if it would pass the limit."""
        self._spend(self.faults.knobs.commit_delay_ms / 1000.0, self._local.deadline)

    def _after_commit(self, reply: Reply) -> Reply:
        """A committed write: its reply lost, or a gateway's 503, or the reply itself."""
        fault = getattr(self._local, "fault", None)
        if fault == "drop" or (fault is None and self.faults.should_drop()):
            self.counters.add("dropped")
            self._third_party(self._local.request)
            return Reply(200, None, drop=True)
        if fault == "503-after-commit" or (
            fault is None and self.faults.should_fail_after_commit()
        ):
            self.counters.add("failed_after_commit")
            self._third_party(self._local.request)
            return _error(views.ApiError(503, "system", "Service Unavailable"))
        return reply

    @staticmethod
    def _show(listing: Handler) -> Handler:
        """A show route: the listing narrowed to one id, default filters and all, else 404.

        § Response format: "Default filters apply to list and single-object requests alike".
        """

        def show(request: Request, match: re.Match[str]) -> Reply:
            reply = listing(replace(request, query={**request.query, "only": match["id"]}), match)
            if reply.status == 200 and reply.body is not None and reply.body["count"] == 0:
                raise views.not_found(f"{request.path.rsplit('/', 2)[-2].title()} {match['id']}")
            return reply

        return show

    # -- organization memberships -------------------------------------------------------------

    def _create_memberships(self, request: Request, match: re.Match[str]) -> Reply:
        knobs = self.faults.knobs
        wanted = views.includes(request.query, MEMBERSHIP_INCLUDES)
        payload = views.parse_json(request.body)
        if not isinstance(payload, dict) or (SINGLE in payload) == (BULK in payload):
            raise views.bad_request(
                f'Expected a JSON object with "{SINGLE}" (one object) or "{BULK}" (a list)'
            )
        bulk = BULK in payload
        objects = payload[BULK] if bulk else [payload[SINGLE]]
        if not isinstance(objects, list):
            raise views.bad_request(f'"{BULK}" must be a list (got {type(objects).__name__})')
        self.counters.batch(len(objects))
        if not objects:
            raise views.bad_request(f'"{BULK}" is empty: nothing to create')
        if len(objects) > MAX_BATCH:
            raise views.bad_request(
                f"Too many organization memberships in one request: {len(objects)}"
                f" (at most {MAX_BATCH})"
            )
        mode = knobs.bulk_mode if bulk else "atomic"
        self._before_commit()
        outcome = self.store.create_memberships(
            objects, keep_valid=mode != "atomic", many=knobs.memberships_per_member == "many"
        )
        self.counters.add("objects_created", len(outcome.created))
        if outcome.errors and (mode != "partial" or not outcome.created):
            error = views.validation_error(knobs.validation_status, outcome.errors)
            return self._after_commit(_error(error)) if outcome.created else _error(error)
        shown = [row for row in outcome.created if not self.faults.should_omit()]
        if len(shown) < len(outcome.created):
            self.counters.add("omitted", len(outcome.created) - len(shown))
        paging = views.Paging(max(len(shown), views.DEFAULT_PER_PAGE), 0)
        return self._after_commit(self._memberships_reply(shown, wanted, len(shown), paging))

    def _memberships_reply(
        self, rows: list[Row], wanted: set[str], total: int, paging: views.Paging
    ) -> Reply:
        many = self.faults.knobs.memberships_per_member == "many"
        org_ids = views.side_loaded_org_ids(rows, wanted)
        orgs = self.store.list_organizations(ids=org_ids).rows if org_ids else []
        body = views.list_body(
            "organization_memberships",
            [views.membership_json(row, wanted, with_primary=many) for row in rows],
            total=total,
            paging=paging,
            side_loads={"organizations": [views.organization_json(o) for o in orgs]}
            if wanted
            else None,
        )
        return Reply(200, body)

    def _list_memberships(self, request: Request, match: re.Match[str]) -> Reply:
        q = request.query
        wanted = views.includes(q, MEMBERSHIP_INCLUDES)
        paging = views.paging(q, self._max_per_page)
        result = self.store.list_memberships(
            ids=views.id_list(q, "only"),
            member_ids=views.member_ids(q, self.faults.knobs.member_id_lists),
            member_type=views.choice_param(q, "member_type", MEMBER_TYPES),
            geography_ids=views.id_list(q, "geography_id"),
            department_ids=views.id_list(q, "department_id"),
            primary=views.bool_param(q, "primary"),
            times=views.times(q),
            limit=paging.limit,
            offset=paging.offset,
        )
        return self._memberships_reply(result.rows, wanted, result.total, paging)

    def _membership_id(self, match: re.Match[str]) -> int:
        return int(match["id"])

    def _show_membership(self, request: Request, match: re.Match[str]) -> Reply:
        wanted = views.includes(request.query, MEMBERSHIP_INCLUDES)
        row = self.store.get_membership(self._membership_id(match))
        if row is None:
            raise views.not_found("Organization membership")
        return self._memberships_reply([row], wanted, 1, views.Paging(views.DEFAULT_PER_PAGE, 0))

    def _update_membership(self, request: Request, match: re.Match[str]) -> Reply:
        wanted = views.includes(request.query, MEMBERSHIP_INCLUDES)
        payload = views.parse_json(request.body)
        if not isinstance(payload, dict) or SINGLE not in payload:
            raise views.bad_request(f'Expected a JSON object with "{SINGLE}"')
        membership_id = self._membership_id(match)
        if self.store.get_membership(membership_id) is None:
            raise views.not_found("Organization membership")
        self._before_commit()
        result = self.store.update_membership(membership_id, payload[SINGLE])
        if result is None:
            raise views.not_found("Organization membership")
        if isinstance(result, list):
            raise views.validation_error(self.faults.knobs.validation_status, result)
        paging = views.Paging(views.DEFAULT_PER_PAGE, 0)
        return self._after_commit(self._memberships_reply([result], wanted, 1, paging))

    def _delete_membership(self, request: Request, match: re.Match[str]) -> Reply:
        membership_id = self._membership_id(match)
        if self.store.get_membership(membership_id) is None:
            raise views.not_found("Organization membership")
        self._before_commit()
        if not self.store.delete_membership(membership_id):
            raise views.not_found("Organization membership")
        return self._after_commit(Reply(204, None))

    # -- lookups ------------------------------------------------------------------------------

    def _list_organizations(self, request: Request, match: re.Match[str]) -> Reply:
        q = request.query
        paging = views.paging(q, self._max_per_page)
        orders = {"alphabetical": "name {dir}, id", "created_at": "created_at {dir}, id {dir}"}
        result = self.store.list_organizations(
            ids=views.id_list(q, "only"),
            matching=views.text_param(q, "matching"),
            org_type=views.choice_param(q, "type", ORG_TYPES),
            times=views.times(q),
            order=views.order_param(q, orders, "alphabetical:asc"),
            limit=paging.limit,
            offset=paging.offset,
        )
        objects = [views.organization_json(row) for row in result.rows]
        return Reply(
            200, views.list_body("organizations", objects, total=result.total, paging=paging)
        )

    def _users_reply(
        self, rows: list[Row], wanted: set[str], total: int, paging: views.Paging
    ) -> Reply:
        with_am = "account_membership" in wanted
        objects = [views.user_json(row, with_account_membership=with_am) for row in rows]
        side = {"account_memberships": [views.account_membership_json(r) for r in rows]}
        body = views.list_body(
            "users", objects, total=total, paging=paging, side_loads=side if with_am else None
        )
        return Reply(200, body)

    def _list_users(self, request: Request, match: re.Match[str]) -> Reply:
        q = request.query
        wanted = views.includes(q, USER_INCLUDES)
        paging = views.paging(q, self._max_per_page)
        emails: list[str] | None = None
        if (one := views.text_param(q, "by_email_address")) is not None:
            emails = [one.strip()]
        if (many := views.text_param(q, "by_email_addresses")) is not None:
            listed = [e.strip() for e in many.split(",") if e.strip()]
            if len(listed) > views.MAX_EMAILS:
                raise views.bad_request(
                    f"by_email_addresses accepts at most {views.MAX_EMAILS} addresses"
                    f" (got {len(listed)})",
                    "by_email_addresses",
                )
            emails = listed if emails is None else [e for e in emails if e in listed]
        search = [
            text
            for name in ("matching", "search")
            if (text := views.text_param(q, name)) is not None
        ]
        orders = {"alphabetical": "full_name {dir}, id"}
        result = self.store.list_users(
            ids=views.id_list(q, "only"),
            on_my_account=views.bool_param(q, "on_my_account") is True,
            show_disabled=views.bool_param(q, "show_disabled") is True,
            emails=emails,
            exact_emails=self.faults.knobs.email_match == "exact",
            full_name=views.text_param(q, "by_full_name"),
            search=search,
            order=views.order_param(q, orders, "alphabetical:asc"),
            limit=paging.limit,
            offset=paging.offset,
        )
        return self._users_reply(result.rows, wanted, result.total, paging)

    def _me(self, request: Request, match: re.Match[str]) -> Reply:
        wanted = views.includes(request.query, USER_INCLUDES)
        me = self.store.current_user_id
        rows = (
            []
            if me is None
            else self.store.list_users(ids=[me], on_my_account=True, show_disabled=True).rows
        )
        if not rows:
            raise views.not_found("User")
        return self._users_reply(rows, wanted, 1, views.Paging(views.DEFAULT_PER_PAGE, 0))

    def _list_workspaces(self, request: Request, match: re.Match[str]) -> Reply:
        q = request.query
        paging = views.paging(q, self._max_per_page)
        archived = "include" if views.bool_param(q, "include_archived") is True else "exclude"
        if (value := views.text_param(q, "archived")) in ("include", "only"):
            archived = value
        title = views.text_param(q, "search")
        if title is not None and (quoted := _TITLE_SEARCH.fullmatch(title.strip())) is not None:
            title = quoted[1]
        orders = {
            "updated_at": "updated_at {dir}, id {dir}",
            "created_at": "created_at {dir}, id {dir}",
            "title": "title {dir}, id",
        }
        result = self.store.list_workspaces(
            ids=views.id_list(q, "only"),
            archived=archived,
            matching=views.text_param(q, "matching"),
            title_contains=title,
            order=views.order_param(q, orders, "updated_at:desc"),
            limit=paging.limit,
            offset=paging.offset,
        )
        objects = [views.workspace_json(row) for row in result.rows]
        return Reply(200, views.list_body("workspaces", objects, total=result.total, paging=paging))

    # -- /_sandbox control endpoints ----------------------------------------------------------

    def _counters(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, self.counters.snapshot().to_json())

    def _reset(self, request: Request, match: re.Match[str]) -> Reply:
        self.counters.reset()
        return Reply(200, self.counters.snapshot().to_json())

    def _knobs(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, asdict(self.faults.knobs))

    def _set_knobs(self, request: Request, match: re.Match[str]) -> Reply:
        payload = views.parse_json(request.body)
        if not isinstance(payload, dict):
            raise views.bad_request(f"Expected a JSON object of knobs ({', '.join(KNOB_NAMES)})")
        try:
            knobs = self.faults.set(**payload)
        except (TypeError, ValueError) as exc:
            raise views.bad_request(str(exc)) from None
        return Reply(200, asdict(knobs))
