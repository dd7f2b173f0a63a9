"""Request parameters in, response bodies out: the API's JSON shapes.

Every list and create response has the documented shape: ``count``, ``meta`` (page info),
``results`` (``{key, id}`` references in the server's sort order), the objects indexed by string
id under a key named after their type, and side-loaded ``organizations``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .rules import parse_integer, show
from .store import Row

DEFAULT_PER_PAGE = 20
MAX_LIST_VALUES = 1000
INCLUDES = ("department", "geography")


class ApiError(Exception):
    """An error to answer with the documented errors shape."""

    def __init__(self, status: int, kind: str, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.kind = kind
        self.messages = list(messages)


def bad_request(*messages: str) -> ApiError:
    return ApiError(400, "validation", *messages)


def error_body(kind: str, messages: Sequence[str]) -> dict[str, Any]:
    """``{"errors": [{"type": kind, "message": ...}, ...]}``"""
    return {"errors": [{"type": kind, "message": message} for message in messages]}


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or a 400."""
    if not body.strip():
        raise bad_request("Request body is empty; expected a JSON object")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from None


# -- query parameters ---------------------------------------------------------------------------


def text_param(query: Mapping[str, str], name: str) -> str | None:
    """A string filter; blank counts as absent."""
    value = query.get(name)
    return value if value is not None and value.strip() else None


def int_param(query: Mapping[str, str], name: str, default: int) -> int:
    value = text_param(query, name)
    if value is None:
        return default
    number = parse_integer(value.strip())
    if number is None or number < 1:
        raise bad_request(f"{name} must be a positive integer (got {show(value)})")
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
                f"{name} must be a comma-separated list of integers (got {show(part.strip())})"
            )
        ids.append(number)
    if len(ids) > MAX_LIST_VALUES:
        raise bad_request(f"{name} accepts at most {MAX_LIST_VALUES} values (got {len(ids)})")
    return ids


def choice_param(query: Mapping[str, str], name: str, choices: Sequence[str]) -> str | None:
    value = text_param(query, name)
    if value is not None and value not in choices:
        allowed = " or ".join(choices)
        raise bad_request(f"{name} must be {allowed} (got {show(value)})")
    return value


def pagination(query: Mapping[str, str], max_per_page: int) -> tuple[int, int]:
    """``(page, per_page)``; per_page defaults to 20 and is capped at ``max_per_page``."""
    page = int_param(query, "page", 1)
    per_page = min(int_param(query, "per_page", DEFAULT_PER_PAGE), max_per_page)
    return page, per_page


def includes(query: Mapping[str, str]) -> set[str]:
    """The ``include=`` associations; unknown ones are a 400."""
    value = text_param(query, "include")
    if value is None:
        return set()
    wanted = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(wanted.difference(INCLUDES))
    if unknown:
        raise bad_request(f"Unknown include {', '.join(unknown)} (allowed: {', '.join(INCLUDES)})")
    return wanted


# -- serialisation ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def membership_json(row: Row) -> dict[str, Any]:
    """A membership as served: every field a string."""
    return {key: _text(row[key]) for key in row}


def organization_json(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "organization_type": row["organization_type"],
        "parent_id": _text(row["parent_id"]),
        "depth": row["depth"],
    }


def user_json(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "full_name": row["full_name"],
        "email_address": row["email_address"],
    }


def workspace_json(row: Row) -> dict[str, Any]:
    return {"id": str(row["id"]), "title": row["title"]}


def list_body(
    key: str,
    objects: Sequence[dict[str, Any]],
    *,
    total: int,
    page: int,
    per_page: int,
    organizations: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The documented response: ``objects`` must already be in the server's sort order.

    ``organizations`` (side-loaded) is given for memberships, where it is always present.
    """
    body: dict[str, Any] = {
        "count": total,
        "meta": {
            "count": total,
            "page_count": math.ceil(total / per_page),
            "page_number": page,
            "page_size": per_page,
        },
        "results": [{"key": key, "id": obj["id"]} for obj in objects],
        key: {obj["id"]: obj for obj in objects},
    }
    if organizations is not None:
        body["organizations"] = {org["id"]: org for org in organizations}
    return body


def side_loaded_org_ids(memberships: Sequence[Row], wanted: set[str]) -> list[int]:
    """The organization ids to side-load for ``include=department,geography``."""
    ids: set[int] = set()
    for row in memberships:
        for name in wanted:
            ids.add(int(row[f"{name}_id"]))
    return sorted(ids)
