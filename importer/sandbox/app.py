"""The sandbox's request handling, independent of the HTTP plumbing in ``server.py``.

Per request, in this order: ``latency_ms`` sleep; ``fail_rate`` -> 503; ``rate`` -> 429 with
``Retry-After``; bearer-token check -> 401; then the endpoint. ``/_sandbox/*`` control endpoints
need the token but skip the knobs and the counters, so tests and curl users can always read them.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import views
from .knobs import KNOB_NAMES, CounterBoard, FaultInjector
from .rules import MEMBER_TYPES
from .store import Store

API_PREFIX = "/api/v1"
MAX_BATCH = 100
ORG_TYPES = ("Geography", "Department")
SINGLE, BULK = "organization_membership", "organization_memberships"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    authorization: str | None
    body: bytes = b""


@dataclass(frozen=True)
class Reply:
    """A response to send, or ``drop`` to close the connection without any response."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def error_reply(status: int, kind: str, *messages: str, **headers: str) -> Reply:
    return Reply(status, views.error_body(kind, messages), dict(headers))


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
        self._routes: dict[str, dict[str, Callable[[Request], Reply]]] = {
            "/organization_memberships": {
                "GET": self._list_memberships,
                "POST": self._create_memberships,
            },
            "/organizations": {"GET": self._list_organizations},
            "/users": {"GET": self._list_users},
            "/workspaces": {"GET": self._list_workspaces},
        }
        self._control_routes: dict[str, dict[str, Callable[[Request], Reply]]] = {
            "/_sandbox/counters": {"GET": self._counters},
            "/_sandbox/reset": {"POST": self._reset},
            "/_sandbox/knobs": {"GET": self._knobs, "POST": self._set_knobs},
        }

    # -- entry point --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = self._endpoint(request.path)
        if path is not None and path.startswith("/_sandbox/"):
            return self._dispatch(self._control_routes, path, request)
        self.counters.begin()
        reply: Reply | None = None
        try:
            reply = self._handle_counted(path, request)
            return reply
        finally:
            status = None if reply is None or reply.drop else reply.status
            self.counters.end(500 if reply is None else status)

    def _handle_counted(self, path: str | None, request: Request) -> Reply:
        knobs = self.faults.knobs
        if knobs.latency_ms > 0:
            time.sleep(knobs.latency_ms / 1000.0)
        if self.faults.should_fail():
            self.counters.add("failed")
            return error_reply(503, "system", "Service temporarily unavailable (sandbox fail_rate)")
        retry_after = self.faults.take_token()
        if retry_after is not None:
            self.counters.add("rate_limited")
            return error_reply(
                429,
                "rate_limit",
                f"Too many requests; retry after {retry_after} s (sandbox rate {knobs.rate:g}/s)",
                **{"Retry-After": str(retry_after)},
            )
        return self._dispatch(self._routes, path, request)

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
        routes: Mapping[str, Mapping[str, Callable[[Request], Reply]]],
        path: str | None,
        request: Request,
    ) -> Reply:
        if not self._authorized(request):
            return error_reply(
                401,
                "authentication",
                "Missing or invalid access token: send 'Authorization: Bearer <token>'",
                **{"WWW-Authenticate": 'Bearer realm="Kantata sandbox"'},
            )
        methods = routes.get(path) if path is not None else None
        if methods is None:
            return error_reply(
                404, "not_found", f"No such endpoint: {request.method} {request.path}"
            )
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            return error_reply(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.path} (allowed: {allowed})",
                Allow=allowed,
            )
        try:
            return handler(request)
        except views.ApiError as exc:
            return error_reply(exc.status, exc.kind, *exc.messages)
        except Exception as exc:
            logger.exception("sandbox: internal error on %s %s", request.method, request.path)
            return error_reply(500, "system", f"Internal sandbox error: {exc!r}")

    # -- organization memberships -------------------------------------------------------------

    def _create_memberships(self, request: Request) -> Reply:
        wanted = views.includes(request.query)
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
        mode = self.faults.knobs.bulk_mode if bulk else "atomic"
        outcome = self.store.create_memberships(objects, keep_valid=mode != "atomic")
        self.counters.add("objects_created", len(outcome.created))
        if outcome.created and self.faults.should_drop():
            self.counters.add("dropped")
            return Reply(200, None, drop=True)
        if outcome.errors and (mode != "partial" or not outcome.created):
            return error_reply(400, "validation", *outcome.errors)
        total = len(outcome.created)
        return self._memberships_reply(outcome.created, wanted, total, 1, max(total, 20))

    def _memberships_reply(
        self, rows: list[dict[str, Any]], wanted: set[str], total: int, page: int, per_page: int
    ) -> Reply:
        org_ids = views.side_loaded_org_ids(rows, wanted)
        orgs = self.store.list_organizations(ids=org_ids).rows if org_ids else []
        body = views.list_body(
            "organization_memberships",
            [views.membership_json(row) for row in rows],
            total=total,
            page=page,
            per_page=per_page,
            organizations=[views.organization_json(org) for org in orgs],
        )
        return Reply(200, body)

    def _list_memberships(self, request: Request) -> Reply:
        q = request.query
        wanted = views.includes(q)
        page, per_page = views.pagination(q, self._max_per_page)
        result = self.store.list_memberships(
            ids=views.id_list(q, "only"),
            member_ids=views.id_list(q, "member_id"),
            member_type=views.choice_param(q, "member_type", MEMBER_TYPES),
            geography_ids=views.id_list(q, "geography_id"),
            department_ids=views.id_list(q, "department_id"),
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        return self._memberships_reply(result.rows, wanted, result.total, page, per_page)

    # -- lookups ------------------------------------------------------------------------------

    def _list_organizations(self, request: Request) -> Reply:
        q = request.query
        page, per_page = views.pagination(q, self._max_per_page)
        result = self.store.list_organizations(
            ids=views.id_list(q, "only"),
            matching=views.text_param(q, "matching"),
            organization_type=views.choice_param(q, "organization_type", ORG_TYPES),
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        objects = [views.organization_json(row) for row in result.rows]
        return self._list_reply("organizations", objects, result.total, page, per_page)

    def _list_users(self, request: Request) -> Reply:
        q = request.query
        page, per_page = views.pagination(q, self._max_per_page)
        result = self.store.list_users(
            ids=views.id_list(q, "only"),
            email=views.text_param(q, "by_email_address"),
            search=views.text_param(q, "search"),
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        objects = [views.user_json(row) for row in result.rows]
        return self._list_reply("users", objects, result.total, page, per_page)

    def _list_workspaces(self, request: Request) -> Reply:
        q = request.query
        page, per_page = views.pagination(q, self._max_per_page)
        result = self.store.list_workspaces(
            ids=views.id_list(q, "only"),
            search=views.text_param(q, "search") or views.text_param(q, "matching_title"),
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        objects = [views.workspace_json(row) for row in result.rows]
        return self._list_reply("workspaces", objects, result.total, page, per_page)

    @staticmethod
    def _list_reply(
        key: str, objects: list[dict[str, Any]], total: int, page: int, per_page: int
    ) -> Reply:
        return Reply(200, views.list_body(key, objects, total=total, page=page, per_page=per_page))

    # -- /_sandbox control endpoints ----------------------------------------------------------

    def _counters(self, request: Request) -> Reply:
        return Reply(200, self.counters.snapshot().to_json())

    def _reset(self, request: Request) -> Reply:
        self.counters.reset()
        return Reply(200, self.counters.snapshot().to_json())

    def _knobs(self, request: Request) -> Reply:
        return Reply(200, asdict(self.faults.knobs))

    def _set_knobs(self, request: Request) -> Reply:
        payload = views.parse_json(request.body)
        if not isinstance(payload, dict):
            raise views.bad_request(f"Expected a JSON object of knobs ({', '.join(KNOB_NAMES)})")
        try:
            knobs = self.faults.set(**payload)
        except (TypeError, ValueError) as exc:
            raise views.bad_request(str(exc)) from None
        return Reply(200, asdict(knobs))
