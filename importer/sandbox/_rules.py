"""Validation of organization memberships sent to ``POST /organization_memberships``.

Pure functions over a :class:`Lookup` (the store implements it), so the rules can be read and
tested apart from HTTP and SQL. Messages follow the API's documented style (Rails-like, no index
of the failing object) and name the offending value where that helps the person reading them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

MEMBER_TYPES = ("User", "Workspace")
TAKEN = "Member has already been taken"


@dataclass(frozen=True)
class Problem:
    """One validation error: the field it concerns and the message.

    docs/kantata-api.md § Basics."""

    field: str
    message: str


_INTEGER_FIELDS = (("geography_id", "Geography"), ("department_id", "Department"))
_DIGITS = re.compile(r"[0-9]+")
_MAX_ID = 2**63 - 1


class Lookup(Protocol):
    """What validation needs to know about the stored data."""

    def organization_type(self, org_id: int) -> str | None:
        """``"Geography"``/``"Department"`` for an existing organization, else None."""
        ...

    def member_exists(self, member_type: str, member_id: int) -> bool: ...

    def has_membership(self, member_type: str, member_id: int) -> bool: ...


@dataclass(frozen=True)
class NewMembership:
    """A membership that passed the syntax checks."""

    geography_id: int
    department_id: int
    member_id: int
    member_type: str


@dataclass
class Verdict:
    """The outcome for one object of a request: a membership to write, or errors."""

    membership: NewMembership | None
    errors: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.membership is not None and not self.errors


def show(value: object, limit: int = 60) -> str:
    """A short JSON rendering of a value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_integer(value: object) -> int | None:
    """An ID as Rails would cast it: a JSON integer or a string of digits; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if -_MAX_ID <= number <= _MAX_ID else None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse(obj: object) -> Verdict:
    """Syntax: the four fields are present and well typed."""
    if not isinstance(obj, dict):
        return Verdict(
            None,
            [Problem("base", f"Organization membership must be a JSON object (got {show(obj)})")],
        )
    errors: list[Problem] = []
    ids: dict[str, int] = {}
    for key, label in (*_INTEGER_FIELDS, ("member_id", "Member")):
        value = obj.get(key)
        if _blank(value):
            errors.append(Problem(key, f"{label} can't be blank"))
            continue
        number = parse_integer(value)
        if number is None:
            errors.append(Problem(key, f"{label} must be an integer (got {show(value)})"))
        else:
            ids[key] = number
    member_type = obj.get("member_type")
    if _blank(member_type):
        errors.append(Problem("member_type", "Member type can't be blank"))
    elif member_type not in MEMBER_TYPES:
        message = f'Member type must be "User" or "Workspace" (got {show(member_type)})'
        errors.append(Problem("member_type", message))
    if errors:
        return Verdict(None, errors)
    assert isinstance(member_type, str)
    return Verdict(NewMembership(member_type=member_type, **ids))


def _check_org(label: str, org_id: int, lookup: Lookup) -> list[Problem]:
    key = f"{label.lower()}_id"
    kind = lookup.organization_type(org_id)
    if kind is None:
        return [Problem(key, f"{label} {org_id} not found")]
    if kind != label:
        return [Problem(key, f"{label} must be a {label} organization ({org_id} is a {kind})")]
    return []


def _check(membership: NewMembership, lookup: Lookup, *, many: bool) -> list[Problem]:
    """Semantics: the organizations and the member exist and are of the right kind."""
    errors = [
        *_check_org("Geography", membership.geography_id, lookup),
        *_check_org("Department", membership.department_id, lookup),
    ]
    member = (membership.member_type, membership.member_id)
    if not lookup.member_exists(*member):
        message = f"Member {membership.member_type} {membership.member_id} not found"
        errors.append(Problem("member_id", message))
    elif not many and lookup.has_membership(*member):
        errors.append(Problem("member_id", TAKEN))
    return errors


def check_batch(objects: Sequence[object], lookup: Lookup, *, many: bool = False) -> list[Verdict]:
    """Validate the objects of one request, in order.

    Unless ``many``, a member appearing twice in one request: the second (and later) occurrence
    is refused as taken, provided the first one is valid (it is the one that would be created).
    """
    verdicts: list[Verdict] = []
    claimed: set[tuple[str, int]] = set()
    for obj in objects:
        verdict = _parse(obj)
        if verdict.membership is not None:
            verdict.errors.extend(_check(verdict.membership, lookup, many=many))
            member = (verdict.membership.member_type, verdict.membership.member_id)
            if not many and not verdict.errors and member in claimed:
                verdict.errors.append(Problem("member_id", TAKEN))
            if not verdict.errors:
                claimed.add(member)
        verdicts.append(verdict)
    return verdicts


def check_update(changes: object, lookup: Lookup) -> dict[str, int] | list[Problem]:
    """A ``PUT`` body's ``geography_id``/``department_id`` (both optional), or the problems."""
    if not isinstance(changes, dict):
        return [
            Problem("base", f"Organization membership must be a JSON object (got {show(changes)})")
        ]
    update: dict[str, int] = {}
    errors: list[Problem] = []
    for key, label in _INTEGER_FIELDS:
        if key not in changes:
            continue
        number = parse_integer(changes[key])
        if number is None:
            errors.append(Problem(key, f"{label} must be an integer (got {show(changes[key])})"))
            continue
        problems = _check_org(label, number, lookup)
        errors.extend(problems)
        if not problems:
            update[key] = number
    return errors or update
