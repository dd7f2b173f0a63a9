"""Request parameters in, response bodies out: the API's JSON shapes (docs/kantata-api.md).

Every list, show and write response has the documented shape: ``count``, ``meta`` (page info),
``results`` (``{key, id}`` references in the server's sort order), the objects indexed by string
id under a key named after their type, and side-loads under their own key. Errors are
``{"errors": [{"type", "message", ("field")}]}``. Unknown query parameters are never looked at.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from importer.sandbox._rules import Problem, parse_integer, show
from importer.sandbox._store import Row

DEFAULT_PER_PAGE = 20
MAX_LIST_VALUES = 1000
MAX_EMAILS = 200  # docs/kantata-api.md § Lookups: by_email_addresses, "up to 200"
TIME_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")
ACCOUNT_MEMBERSHIP_OFFSET = 700000  # account membership ids: user id + this


class ApiError(Exception):
    """An error to answer with the documented errors shape."""

    def __init__(self, status: int, kind: str, *messages: str, fields: Sequence[str] = ()) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.kind = kind
        self.messages = list(messages)
        self.fields = list(fields)

    def body(self) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        for i, message in enumerate(self.messages):
            error: dict[str, Any] = {"type": self.kind, "message": message}
            if i < len(self.fields):
                error["field"] = self.fields[i]
            errors.append(error)
        return {"errors": errors}


def bad_request(message: str, field: str | None = None) -> ApiError:
    """A 400 about the request itself (a parameter, the body's shape)."""
    if field is None:
        return ApiError(400, "system", message)
    return ApiError(400, "validation", message, fields=[field])


def validation_error(status: int, problems: Sequence[Problem]) -> ApiError:
    """Objects refused by validation: one error per problem, each with its ``field``."""
    return ApiError(
        status,
        "validation",
        *(p.message for p in problems),
        fields=[p.field for p in problems],
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "system", f"{what} not found")


def error_body(kind: str, messages: Sequence[str]) -> dict[str, Any]:
    """``{"errors": [{"type": kind, "message": ...}, ...]}``"""
    return {"errors": [{"type": kind, "message": message} for message in messages]}


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or a 400 (also for nesting too deep to parse)."""
    if not body.strip():
        raise bad_request("Request body is empty; expected a JSON object")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("Request body is nested too deeply") from None


# -- query parameters ---------------------------------------------------------------------------


def text_param(query: Mapping[str, str], name: str) -> str | None:
    """A string filter; blank counts as absent."""
    value = query.get(name)
    return value if value is not None and value.strip() else None


def bool_param(query: Mapping[str, str], name: str) -> bool | None:
    """``true``/``false`` (or 1/0); anything else counts as absent, as Rails casts it."""
    value = (text_param(query, name) or "").strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(value)


def int_param(query: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    value = text_param(query, name)
    if value is None:
        return default
    number = parse_integer(value.strip())
    if number is None or number < minimum:
        raise bad_request(f"{name} must be an integer >= {minimum} (got {show(value)})", name)
    return number


def id_list(query: Mapping[str, str], name: str) -> list[int] | None:
    """A comma-separated list of integer ids, e.g. ``only=1,2,3``; None if absent."""
    value = text_param(query, name)
    if value is None:
        return None
    ids: list[int] = []
    for part in value.split(","):
        number = parse_integer(part.strip())
        if number is None:
            raise bad_request(
                f"{name} must be a comma-separated list of integers (got {show(part.strip())})",
                name,
            )
        ids.append(number)
    if len(ids) > MAX_LIST_VALUES:
        raise bad_request(f"{name} accepts at most {MAX_LIST_VALUES} values (got {len(ids)})", name)
    return ids


def member_ids(query: Mapping[str, str], lists: str) -> list[int] | None:
    """``member_id``: documented as one integer; a comma list per the ``member_id_lists`` switch.

    ``refused`` (the default): a value that is not one integer is a 400 validation error;
    ``ignored``: it is ignored like an unknown filter (every membership comes back); ``first``:
    it is cast the Ruby way (``"7,8".to_i`` is 7: only the first member is listed);
    ``honoured``: a list filters on any of its ids.
    """
    value = text_param(query, "member_id")
    if value is None:
        return None
    single = parse_integer(value.strip())
    if single is not None:
        return [single]
    if lists == "ignored":
        return None
    if lists == "first":
        leading = re.match(r"\s*([0-9]+)", value)
        return [int(leading[1]) if leading else 0]
    if lists == "refused":
        raise bad_request(f"member_id must be an integer (got {show(value)})", "member_id")
    return id_list(query, "member_id")


def choice_param(query: Mapping[str, str], name: str, choices: Sequence[str]) -> str | None:
    value = text_param(query, name)
    if value is not None and value not in choices:
        allowed = " or ".join(choices)
        raise bad_request(f"{name} must be {allowed} (got {show(value)})", name)
    return value


def times(query: Mapping[str, str]) -> dict[str, str]:
    """``created_after`` .. ``updated_before`` (ISO 8601), normalised to the stored format."""
    result: dict[str, str] = {}
    for name in TIME_FILTERS:
        value = text_param(query, name)
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            message = f"{name} must be an ISO 8601 date-time (got {show(value)})"
            raise bad_request(message, name) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        result[name] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


@dataclass(frozen=True)
class Paging:
    """Where a listing starts and how much it returns (``page``/``per_page`` or ``limit``)."""

    limit: int
    offset: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1


def paging(query: Mapping[str, str], max_per_page: int) -> Paging:
    """``per_page`` defaults to 20 and is capped at ``max_per_page`` (200); so is ``limit``."""
    if text_param(query, "limit") is not None:
        limit = min(int_param(query, "limit", DEFAULT_PER_PAGE), max_per_page)
        return Paging(limit, int_param(query, "offset", 0, minimum=0))
    page = int_param(query, "page", 1)
    per_page = min(int_param(query, "per_page", DEFAULT_PER_PAGE), max_per_page)
    return Paging(per_page, (page - 1) * per_page)


def includes(query: Mapping[str, str], allowed: Sequence[str]) -> set[str]:
    """The ``include=`` associations; an unknown one is a 400."""
    value = text_param(query, "include")
    if value is None:
        return set()
    wanted = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(wanted.difference(allowed))
    if unknown:
        raise bad_request(
            f"Unknown include {', '.join(unknown)} (allowed: {', '.join(allowed)})", "include"
        )
    return wanted


def order_param(query: Mapping[str, str], orders: Mapping[str, str], default: str) -> str:
    """The SQL ORDER BY for ``order=field:dir``; an unknown value leaves the default order."""
    value = (text_param(query, "order") or "").strip().lower()
    field, _, direction = value.partition(":")
    if field not in orders or direction not in ("", "asc", "desc"):
        return orders[default.split(":")[0]].format(dir=default.split(":")[1].upper())
    return orders[field].format(dir=(direction or "asc").upper())


# -- serialisation ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def membership_json(row: Row, wanted: set[str], *, with_primary: bool) -> dict[str, Any]:
    """docs/kantata-api.md § The organization membership object: ``department_id``/``geography_id``
    only when included, ``primary`` only on accounts with the primary-organization feature."""
    obj: dict[str, Any] = {
        "id": str(row["id"]),
        "member_id": str(row["member_id"]),
        "member_type": row["member_type"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if with_primary:
        obj["primary"] = bool(row["primary"])
    for name in sorted(wanted):
        obj[f"{name}_id"] = str(row[f"{name}_id"])
    return obj


def organization_json(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "type": row["type"],
        "parent_id": _text(row["parent_id"]),
        "ancestor_ids": json.loads(row["ancestor_ids"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def account_membership_id(row: Row) -> str:
    return str(int(row["id"]) + ACCOUNT_MEMBERSHIP_OFFSET)


def user_json(row: Row, *, with_account_membership: bool = False) -> dict[str, Any]:
    obj = {
        "id": str(row["id"]),
        "full_name": row["full_name"],
        "email_address": row["email_address"],
    }
    if with_account_membership:
        obj["account_membership_id"] = account_membership_id(row)
    return obj


def account_membership_json(row: Row) -> dict[str, Any]:
    """The user's AccountMembership (users OpenAPI: ``disabled_at`` set when disabled)."""
    return {
        "id": account_membership_id(row),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "disabled_at": row["updated_at"] if row["disabled"] else None,
    }


def workspace_json(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def list_body(
    key: str,
    objects: Sequence[dict[str, Any]],
    *,
    total: int,
    paging: Paging,
    side_loads: Mapping[str, Sequence[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The documented response: ``objects`` must already be in the server's sort order."""
    body: dict[str, Any] = {
        "count": total,
        "meta": {
            "count": total,
            "page_count": math.ceil(total / paging.limit),
            "page_number": paging.page,
            "page_size": paging.limit,
        },
        "results": [{"key": key, "id": obj["id"]} for obj in objects],
        key: {obj["id"]: obj for obj in objects},
    }
    for side_key, side_objects in (side_loads or {}).items():
        body[side_key] = {obj["id"]: obj for obj in side_objects}
    return body


def side_loaded_org_ids(memberships: Sequence[Row], wanted: set[str]) -> list[int]:
    """The organization ids to side-load for ``include=department,geography``."""
    ids: set[int] = set()
    for row in memberships:
        for name in wanted:
            ids.add(int(row[f"{name}_id"]))
    return sorted(ids)
