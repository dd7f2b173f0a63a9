"""The sandbox's data: a SQLite database seeded from JSON, behind one lock.

One connection (``check_same_thread=False``) serves every handler thread; an ``RLock`` makes each
public method, and so each request's validation + write, atomic. With a file ``db_path`` the state
persists across restarts: the seed is loaded only into a database that has not been seeded yet.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from importer.sandbox._rules import NewMembership, Problem, check_batch, check_update

Row = dict[str, Any]
CLIENT, THIRD_PARTY = "client", "third party"  # who created a membership (never served)
SEED_TIME = "2024-01-01T00:00:00Z"
MAX_ORGANIZATIONS = 400  # docs/kantata-api.md § Lookups: "at most 400 organizations"
# Words `matching` ignores on workspaces (docs/kantata-api.md § Lookups: "stop words ignored").
STOP_WORDS = frozenset(
    ["a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"]
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organizations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('Geography', 'Department')),
    parent_id INTEGER,
    ancestor_ids TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    full_name TEXT NOT NULL,
    email_address TEXT NOT NULL,
    on_project INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workspaces (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    archived INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS organization_memberships (
    id INTEGER PRIMARY KEY,
    geography_id INTEGER NOT NULL,
    department_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Workspace')),
    "primary" INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    creator TEXT NOT NULL DEFAULT 'client'
);
-- "does this member hold a membership" is asked for every row written and listed by member:
-- without an index each is a scan, and a big account makes the sandbox (not the importer) slow.
CREATE INDEX IF NOT EXISTS memberships_by_member
    ON organization_memberships (member_type, member_id);
"""


def bundled_seed() -> Path:
    """The seed shipped with the package (``importer/sandbox/seed.json``)."""
    return Path(str(resources.files(__package__ or "importer.sandbox") / "seed.json"))


def now_text() -> str:
    """The current time as the sandbox serves timestamps (ISO 8601, UTC, whole seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _contains(haystack: str | None, needle: str | None) -> bool:
    return haystack is not None and needle is not None and needle.casefold() in haystack.casefold()


def _fold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def _words_start(title: str | None, query: str | None) -> bool:
    """Each non-stop word of ``query`` starts some word of ``title`` (case-insensitive)."""
    if title is None or query is None:
        return False
    words = re.findall(r"\w+", title.casefold())
    wanted = [w for w in re.findall(r"\w+", query.casefold()) if w not in STOP_WORDS]
    return all(any(word.startswith(w) for word in words) for w in wanted)


def _ancestors(orgs: Sequence[Row]) -> dict[int, list[int]]:
    """Each organization's ancestors, nearest first; a ValueError for a broken chain."""
    parents = {int(o["id"]): o.get("parent_id") for o in orgs}
    result: dict[int, list[int]] = {}
    for org_id in parents:
        chain: list[int] = []
        seen, node = {org_id}, parents[org_id]
        while node is not None:
            if int(node) in seen or int(node) not in parents:
                raise ValueError(f"seed: organization {org_id} has a broken parent chain")
            seen.add(int(node))
            chain.append(int(node))
            node = parents[int(node)]
        result[org_id] = chain
    return result


def check_seed_organizations(orgs: Sequence[Row]) -> None:
    """Refuse what a real account cannot hold: duplicate names, more than 400 organizations."""
    if len(orgs) > MAX_ORGANIZATIONS:
        raise ValueError(
            f"seed has {len(orgs)} organizations; an account has at most {MAX_ORGANIZATIONS}"
        )
    seen: dict[str, int] = {}
    for org in orgs:
        name = str(org["name"])
        if name in seen:
            raise ValueError(
                f"seed: organizations {seen[name]} and {org['id']} are both named {name!r}"
                " (names are unique on an account)"
            )
        seen[name] = int(org["id"])


@dataclass(frozen=True)
class Page:
    """One page of a listing: the rows and the total number of matches."""

    total: int
    rows: list[Row]


@dataclass(frozen=True)
class CreateOutcome:
    """What a create request did: the rows written and the problems of the refused objects."""

    created: list[Row]
    errors: list[Problem]


class Store:
    """Organizations, users and workspaces (read-only) and organization memberships."""

    def __init__(self, db_path: str = ":memory:", seed: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.create_function("ci_contains", 2, _contains, deterministic=True)
        self._conn.create_function("ci_fold", 1, _fold, deterministic=True)
        self._conn.create_function("words_start", 2, _words_start, deterministic=True)
        with self._lock:
            self._conn.executescript(_SCHEMA)
            info = self._conn.execute("PRAGMA table_info(organization_memberships)")
            columns = {row[1] for row in info}
            if "creator" not in columns:  # a database file of an earlier sandbox
                self._conn.execute(
                    "ALTER TABLE organization_memberships"
                    " ADD COLUMN creator TEXT NOT NULL DEFAULT 'client'"
                )
            seeded = self._conn.execute("SELECT 1 FROM sandbox_meta WHERE key = 'seeded'")
            if seeded.fetchone() is None:
                self._load_seed(Path(seed) if seed is not None else bundled_seed())
            self._org_types: dict[int, str] = {
                row["id"]: row["type"]
                for row in self._conn.execute("SELECT id, type FROM organizations")
            }
            self._members = {
                "User": {r[0] for r in self._conn.execute("SELECT id FROM users")},
                "Workspace": {r[0] for r in self._conn.execute("SELECT id FROM workspaces")},
            }
            me = self._conn.execute("SELECT value FROM sandbox_meta WHERE key = 'current_user_id'")
            row = me.fetchone()
            self.current_user_id: int | None = int(row[0]) if row is not None else None

    def _load_seed(self, path: Path) -> None:
        try:
            self._insert_seed(path, json.loads(path.read_text(encoding="utf-8")))
        except (KeyError, TypeError, AttributeError, sqlite3.IntegrityError) as exc:
            raise ValueError(f"seed {path} is not a valid sandbox seed: {exc!r}") from exc

    def _insert_seed(self, path: Path, data: dict[str, Any]) -> None:
        orgs = data.get("organizations", [])
        check_seed_organizations(orgs)
        ancestors = _ancestors(orgs)
        users = data.get("users", [])
        me = data.get("current_user_id", users[0]["id"] if users else None)
        if me is not None and me not in {u["id"] for u in users}:
            raise ValueError(f"seed: current_user_id {me} is not one of the users")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO organizations VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o["id"],
                        o["name"],
                        o["type"],
                        o.get("parent_id"),
                        json.dumps([str(i) for i in ancestors[o["id"]]]),
                        o.get("created_at", SEED_TIME),
                        o.get("updated_at", SEED_TIME),
                    )
                    for o in orgs
                ],
            )
            self._conn.executemany(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        u["id"],
                        u["full_name"],
                        u["email_address"],
                        bool(u.get("on_project", True)),
                        bool(u.get("disabled", False)),
                        u.get("created_at", SEED_TIME),
                        u.get("updated_at", SEED_TIME),
                    )
                    for u in users
                ],
            )
            self._conn.executemany(
                "INSERT INTO workspaces VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        w["id"],
                        w["title"],
                        bool(w.get("archived", False)),
                        w.get("created_at", SEED_TIME),
                        w.get("updated_at", SEED_TIME),
                    )
                    for w in data.get("workspaces", [])
                ],
            )
            self._conn.executemany(
                "INSERT INTO organization_memberships (id, geography_id, department_id,"
                ' member_id, member_type, "primary", created_at, updated_at)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        m["id"],
                        m["geography_id"],
                        m["department_id"],
                        m["member_id"],
                        m["member_type"],
                        bool(m.get("primary", True)),
                        m.get("created_at", SEED_TIME),
                        m.get("updated_at", SEED_TIME),
                    )
                    for m in data.get("organization_memberships", [])
                ],
            )
            self._conn.execute(
                "INSERT INTO sandbox_meta VALUES ('seeded', ?)", (str(path.resolve()),)
            )
            if me is not None:
                self._conn.execute(
                    "INSERT INTO sandbox_meta VALUES ('current_user_id', ?)", (str(me),)
                )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- rules.Lookup -------------------------------------------------------------------------

    def organization_type(self, org_id: int) -> str | None:
        return self._org_types.get(org_id)

    def member_exists(self, member_type: str, member_id: int) -> bool:
        return member_id in self._members.get(member_type, set())

    def has_membership(self, member_type: str, member_id: int) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "SELECT 1 FROM organization_memberships WHERE member_type = ? AND member_id = ?",
                (member_type, member_id),
            )
            return cursor.fetchone() is not None

    # -- writes -------------------------------------------------------------------------------

    def create_memberships(
        self,
        objects: Sequence[object],
        *,
        keep_valid: bool,
        many: bool,
        creator: str = CLIENT,
    ) -> CreateOutcome:
        """Validate and write in one transaction.

        With errors, ``keep_valid`` False writes nothing (atomic); True writes the valid objects.
        ``many`` accepts more than one membership per member (the first one is primary).
        ``creator`` is kept apart from what the API serves: ``client`` or ``third party``.
        """
        with self._lock:
            verdicts = check_batch(objects, self, many=many)
            errors = [problem for verdict in verdicts for problem in verdict.errors]
            good = [v.membership for v in verdicts if v.ok and v.membership is not None]
            if errors and not keep_valid:
                return CreateOutcome([], errors)
            return CreateOutcome(self._insert(good, creator), errors)

    def third_party_ids(self) -> set[int]:
        """The ids of the memberships another client (``third_party_writes``) created."""
        with self._lock:
            cursor = self._conn.execute(
                "SELECT id FROM organization_memberships WHERE creator = ?", (THIRD_PARTY,)
            )
            return {int(row[0]) for row in cursor}

    def other_geography(self, geography_id: int) -> int | None:
        """A geography other than ``geography_id`` (the smallest id), None if there is none."""
        others = sorted(i for i, t in self._org_types.items() if t == "Geography")
        return next((i for i in others if i != geography_id), None)

    def _insert(self, memberships: Sequence[NewMembership], creator: str) -> list[Row]:
        if not memberships:
            return []
        ids: list[int] = []
        stamp = now_text()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for m in memberships:
                primary = not self.has_membership(m.member_type, m.member_id)
                cursor = self._conn.execute(
                    "INSERT INTO organization_memberships (geography_id, department_id,"
                    ' member_id, member_type, "primary", created_at, updated_at, creator)'
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        m.geography_id,
                        m.department_id,
                        m.member_id,
                        m.member_type,
                        primary,
                        stamp,
                        stamp,
                        creator,
                    ),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return self.list_memberships(ids=ids, limit=len(ids)).rows

    def get_membership(self, membership_id: int) -> Row | None:
        rows = self.list_memberships(ids=[membership_id]).rows
        return rows[0] if rows else None

    def update_membership(self, membership_id: int, changes: object) -> Row | list[Problem] | None:
        """Move a membership: the row as updated, the problems, or None for an unknown id."""
        with self._lock:
            if self.get_membership(membership_id) is None:
                return None
            update = check_update(changes, self)
            if isinstance(update, list):
                return update
            if update:
                columns = ", ".join(f"{name} = ?" for name in update)
                self._conn.execute(
                    f"UPDATE organization_memberships SET {columns}, updated_at = ? WHERE id = ?",
                    [*update.values(), now_text(), membership_id],
                )
            return self.get_membership(membership_id)

    def delete_membership(self, membership_id: int) -> bool:
        """Delete one membership; False for an unknown id."""
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM organization_memberships WHERE id = ?", (membership_id,)
            )
            return cursor.rowcount > 0

    # -- reads --------------------------------------------------------------------------------

    def _page(
        self,
        sql: str,
        where: Iterable[tuple[str, Sequence[Any]]],
        order: str,
        limit: int | None,
        offset: int,
    ) -> Page:
        clauses: list[str] = []
        params: list[Any] = []
        for clause, values in where:
            clauses.append(clause)
            params.extend(values)
        condition = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            total = self._conn.execute(f"SELECT count(*) FROM ({sql}{condition})", params)
            count = int(total.fetchone()[0])
            page = self._conn.execute(
                f"{sql}{condition} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, -1 if limit is None else limit, offset],
            )
            return Page(count, [dict(row) for row in page])

    @staticmethod
    def _in(column: str, values: Sequence[Any] | None) -> list[tuple[str, Sequence[Any]]]:
        if values is None:
            return []
        return [(f"{column} IN ({', '.join('?' * len(values))})", values)]

    @staticmethod
    def _times(times: dict[str, str] | None) -> list[tuple[str, Sequence[Any]]]:
        """``created_after`` etc. (already normalised to the stored text format)."""
        ops = {"after": ">", "before": "<"}
        return [
            (f"{name.rsplit('_', 1)[0]}_at {ops[name.rsplit('_', 1)[1]]} ?", [value])
            for name, value in (times or {}).items()
        ]

    def list_memberships(
        self,
        *,
        ids: Sequence[int] | None = None,
        member_ids: Sequence[int] | None = None,
        member_type: str | None = None,
        geography_ids: Sequence[int] | None = None,
        department_ids: Sequence[int] | None = None,
        primary: bool | None = None,
        times: dict[str, str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        """Memberships, newest first (id descending): the sandbox's sort order."""
        where = [
            *self._in("id", ids),
            *self._in("member_id", member_ids),
            *self._in("geography_id", geography_ids),
            *self._in("department_id", department_ids),
            *self._times(times),
        ]
        if member_type is not None:
            where.append(("member_type = ?", [member_type]))
        if primary is not None:
            where.append(('"primary" = ?', [primary]))
        sql = "SELECT * FROM organization_memberships"
        return self._page(sql, where, "id DESC", limit, offset)

    def list_organizations(
        self,
        *,
        ids: Sequence[int] | None = None,
        matching: str | None = None,
        org_type: str | None = None,
        times: dict[str, str] | None = None,
        order: str = "name, id",
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        where = [*self._in("id", ids), *self._times(times)]
        if matching is not None:
            where.append(("ci_contains(name, ?)", [matching]))
        if org_type is not None:
            where.append(("type = ?", [org_type]))
        return self._page("SELECT * FROM organizations", where, order, limit, offset)

    def list_users(
        self,
        *,
        ids: Sequence[int] | None = None,
        on_my_account: bool = False,
        show_disabled: bool = False,
        emails: Sequence[str] | None = None,
        exact_emails: bool = True,
        full_name: str | None = None,
        search: Sequence[str] = (),
        order: str = "full_name, id",
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        where = self._in("id", ids)
        if not on_my_account:
            where.append(("on_project = 1", []))
        if not show_disabled:
            where.append(("disabled = 0", []))
        if emails is not None and exact_emails:
            # docs/kantata-api.md § Lookups: addresses "exactly match".
            where.append((f"email_address IN ({', '.join('?' * len(emails))})", list(emails)))
        elif emails is not None:
            # One fold per row, not one comparison per row and address (200 addresses a
            # request over a big directory).
            where.append(
                (
                    f"ci_fold(email_address) IN ({', '.join('?' * len(emails))})",
                    [e.casefold() for e in emails],
                )
            )
        if full_name is not None:
            where.append(("ci_contains(full_name, ?)", [full_name]))
        for text in search:
            where.append(
                ("(ci_contains(full_name, ?) OR ci_contains(email_address, ?))", [text] * 2)
            )
        return self._page("SELECT * FROM users", where, order, limit, offset)

    def list_workspaces(
        self,
        *,
        ids: Sequence[int] | None = None,
        archived: str = "exclude",
        matching: str | None = None,
        title_contains: str | None = None,
        order: str = "updated_at DESC, id DESC",
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        where = self._in("id", ids)
        if archived == "exclude":
            where.append(("archived = 0", []))
        elif archived == "only":
            where.append(("archived = 1", []))
        if matching is not None:
            where.append(("words_start(title, ?)", [matching]))
        if title_contains is not None:
            where.append(("ci_contains(title, ?)", [title_contains]))
        return self._page("SELECT * FROM workspaces", where, order, limit, offset)
