"""The API's lookup lists (organizations, users, workspaces), read once per run and cached.

Used by ``importer.validate`` to turn names into IDs and by ``importer.jobs`` (the template) for the
reference sheets. Every request is a GET through ``KantataClient.pages``:

* organizations: one paged listing of ``GET /organizations`` (both trees, at most 400), split
  by their ``type`` (``Geography``/``Department``);
* users by email address: ``by_email_addresses=`` with 200 addresses a request, on the whole
  account (``on_my_account=true``: a new hire on no project yet is otherwise invisible) and with
  disabled users (``show_disabled=true``), so a disabled user is named as such, not "not found";
* workspaces by title: looked up one by one (``matching=``, archived ones included) while that
  takes fewer requests than listing them all, otherwise listed page by page. ``/workspaces`` has
  its own, stricter rate limit (docs/kantata-api.md § Lookups): never one request per row.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from importer.api import LIST_PARAMS, KantataClient, objects_in, server_text
from importer.core import BadResponseError

__all__ = [
    "Catalog",
    "Entry",
    "Organization",
    "Resolver",
    "clean_name",
    "name_key",
    "name_query",
]


_ADDRESS = re.compile(r"<\s*(?:mailto:)?\s*([^<>\s@]+@[^<>\s@]+?)\.?\s*>")
_MAILTO = re.compile(r"^mailto:\s*", re.IGNORECASE)


def clean_name(text: str) -> str:
    """A name with whitespace runs (also no-break and zero-width spaces, BOMs) as one space,
    stripped."""
    return " ".join(text.replace("\u200b", " ").replace("\ufeff", " ").split())


def name_query(text: str) -> str:
    """What a cell names, as people type it: ``clean_name``, the address out of
    ``Olivia Smith <olivia@acme.example>`` or ``mailto:olivia@acme.example``, trailing dots
    dropped (``Engineering.``). The text to look up; its case is kept."""
    cleaned = clean_name(text)
    found = _ADDRESS.search(cleaned)
    if found:
        cleaned = found.group(1)
    cleaned = _MAILTO.sub("", cleaned)
    return cleaned.rstrip(". ") or cleaned


def name_key(text: str) -> str:
    """The matching form of a name: ``name_query``, casefolded (names from the server too)."""
    return name_query(text).casefold()


@dataclass(frozen=True)
class Entry:
    """One thing a name can designate: its ID and a label for messages."""

    id: int
    label: str


@dataclass(frozen=True)
class Organization:
    """A node of one of the two organization trees."""

    id: int
    name: str
    kind: str  # "geography" | "department" (the API's ``type``, casefolded)
    parent_id: int | None


#: Told what is being looked up: (what, done, total), e.g. ("users", 1200, 100000).
LookupProgress = Callable[[str, int, int | None], None]


class Catalog:
    """The entries of one lookup (departments, users ...) by name key, filled on demand."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.by_key: dict[str, dict[int, Entry]] = {}
        self.by_id: dict[int, Entry] = {}
        self.disabled: dict[str, Entry] = {}  # users found only as disabled, by key
        self.progress: LookupProgress | None = None

    def _report(self, what: str, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(what, done, total)

    def add(self, key: str, entry: Entry) -> None:
        """Record ``entry`` under ``key`` (idempotent)."""
        self.by_key.setdefault(key, {})[entry.id] = entry
        self.by_id[entry.id] = entry

    def find(self, shown: Mapping[str, str]) -> None:
        """Make sure every key of ``shown`` (key -> the text as written) is known."""

    def entries(self, key: str) -> list[Entry]:
        """Everything named ``key``, by id (messages do not depend on the server's order)."""
        return sorted(self.by_key.get(key, {}).values(), key=lambda e: e.id)

    def suggest(self, key: str) -> list[Entry]:
        """Entries with names close to ``key`` (among those known)."""
        close = difflib.get_close_matches(key, list(self.by_key), n=3, cutoff=0.75)
        return [e for k in close for e in self.entries(k)]


class _Organizations(Catalog):
    """One tree of organizations; the first use lists every organization (both trees)."""

    def __init__(self, kind: str, load: Callable[[], None]) -> None:
        super().__init__(kind)
        self._load = load

    def find(self, shown: Mapping[str, str]) -> None:
        self._load()


class _Users(Catalog):
    """Users by email address, 200 addresses a request, disabled ones set apart."""

    def __init__(self, client: KantataClient, count: Callable[[], None]) -> None:
        super().__init__("user")
        self._client = client
        self._count = count
        self._sure: set[str] = set()

    def find(self, shown: Mapping[str, str]) -> None:
        todo = [k for k in shown if k not in self._sure]
        if not todo:
            return
        before = self._client.counts["lookups"]
        self._report("users", 0, len(todo))
        found = self._client.users_by_email(todo)
        for _ in range(self._client.counts["lookups"] - before):
            self._count()
        self._report("users", len(todo), len(todo))
        for key, person in found.items():
            entry = Entry(person.id, person.label)
            if person.disabled:
                self.disabled[key] = entry
            else:
                self.add(key, entry)
        self._sure.update(todo)


class _Searchable(Catalog):
    """Workspaces: looked up one by one while cheaper than listing them all."""

    def __init__(
        self,
        kind: str,
        client: KantataClient,
        endpoint: str,
        search: str,
        parse: Callable[[dict[str, Any]], tuple[str, Entry]],
        count: Callable[[], None],
    ) -> None:
        super().__init__(kind)
        self._client = client
        self._endpoint = endpoint
        self._search = search
        self._parse = parse
        self._count = count
        self._params = LIST_PARAMS.get(endpoint, {})
        self._sure: set[str] = set()  # keys looked up on their own
        self._pages: Iterator[dict[str, Any]] | None = None
        self._left = 0  # pages of the full listing not read yet
        self._searches = 0
        self._complete = False

    def find(self, shown: Mapping[str, str]) -> None:
        if self._complete:
            return
        todo = [k for k in shown if k not in self._sure]
        if not todo:
            return
        if self._pages is None:  # the first page tells how many pages a full listing takes
            self._pages = self._client.pages(self._endpoint, self._params)
            self._left = _page_count(self._take(next(self._pages)), self._endpoint) - 1
        if self._left > 0 and self._searches + len(todo) > self._left:
            what, total = f"{self._endpoint} (pages)", self._left + 1
            for done, page in enumerate(self._pages, start=2):  # cheaper than more searches
                self._take(page)
                self._report(what, done, total)
            self._left = 0
        if self._left <= 0:
            self._complete = True
            return
        for done, key in enumerate(todo, start=1):
            params = {**self._params, self._search: shown[key]}
            for page in self._client.pages(self._endpoint, params):
                self._take(page)
            self._sure.add(key)
            self._searches += 1
            self._report(self._endpoint, done, len(todo))

    def _take(self, page: dict[str, Any]) -> dict[str, Any]:
        self._count()
        for obj in objects_in(page, self._endpoint).values():
            self.add(*self._parse(obj))
        return page


def _page_count(page: Mapping[str, Any], endpoint: str) -> int:
    try:
        return int((page.get("meta") or {}).get("page_count", 1))
    except (TypeError, ValueError) as exc:
        raise BadResponseError(
            f"bad pagination meta from {endpoint}: {server_text(page.get('meta'), 200)}"
        ) from exc


def _workspace(obj: dict[str, Any]) -> tuple[str, Entry]:
    try:
        title = str(obj["title"])
        return name_key(title), Entry(int(obj["id"]), title)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadResponseError(f"malformed workspace in reply: {server_text(obj, 200)}") from exc


class Resolver:
    """The name lookups of one run, each read once through ``client`` (GET requests only).

    Args:
        client: an open API client.

    Attributes:
        requests: list pages read so far (the cost of resolution).
    """

    def __init__(self, client: KantataClient) -> None:
        self.requests = 0
        self._orgs: dict[int, Organization] = {}
        self._catalogs: dict[str, Catalog] = {
            "geography": _Organizations("geography", self._load_organizations),
            "department": _Organizations("department", self._load_organizations),
            "user": _Users(client, self._one),
            "workspace": _Searchable(
                "workspace", client, "workspaces", "matching", _workspace, self._one
            ),
        }
        self._client = client

    def _one(self) -> None:
        self.requests += 1

    def catalog(self, lookup: str) -> Catalog:
        """The catalog of a lookup: ``geography``, ``department``, ``user`` or ``workspace``."""
        return self._catalogs[lookup]

    def member_labels(self) -> dict[tuple[str, int], str]:
        """The members found by name, by (member type, id): the users looked up by e-mail and
        the workspaces by title, with their labels (no request: what the lookups read)."""
        return {
            **{("User", i): e.label for i, e in self._catalogs["user"].by_id.items()},
            **{("Workspace", i): e.label for i, e in self._catalogs["workspace"].by_id.items()},
        }

    def report_to(self, progress: LookupProgress | None) -> None:
        """Tell ``progress`` how the lookups go (users/workspaces searched, pages listed)."""
        for catalog in self._catalogs.values():
            catalog.progress = progress

    def organizations(self, kind: str) -> list[Organization]:
        """Every organization of one tree (``geography``/``department``), by id."""
        self._load_organizations()
        return [o for o in self._orgs.values() if o.kind == kind]

    def _load_organizations(self) -> None:
        if self._orgs:
            return
        orgs: dict[int, Organization] = {}
        for page in self._client.pages("organizations"):
            self._one()
            for obj in objects_in(page, "organizations").values():
                org = _organization(obj)
                orgs[org.id] = org
        self._orgs = dict(sorted(orgs.items()))
        for org in self._orgs.values():
            parent = self._orgs.get(org.parent_id) if org.parent_id is not None else None
            where = f"under {parent.name}" if parent else "top level"
            if org.kind in ("geography", "department"):
                self._catalogs[org.kind].add(
                    name_key(org.name), Entry(org.id, f"{org.name}, {where}")
                )


def _organization(obj: dict[str, Any]) -> Organization:
    try:
        parent = obj.get("parent_id")
        return Organization(
            id=int(obj["id"]),
            name=str(obj["name"]),
            kind=str(obj["type"]).casefold(),
            parent_id=int(parent) if parent not in (None, "") else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadResponseError(f"malformed organization in reply: {server_text(obj, 200)}") from exc
