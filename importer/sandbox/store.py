"""The sandbox's data: a SQLite database seeded from JSON, behind one lock.

One connection (``check_same_thread=False``) serves every handler thread; an ``RLock`` makes each
public method, and so each request's validation + write, atomic. With a file ``db_path`` the state
persists across restarts: the seed is loaded only into a database that has not been seeded yet.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .rules import NewMembership, check_batch

Row = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organizations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    organization_type TEXT NOT NULL CHECK (organization_type IN ('Geography', 'Department')),
    parent_id INTEGER,
    depth INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, email_address TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workspaces (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organization_memberships (
    id INTEGER PRIMARY KEY,
    geography_id INTEGER NOT NULL,
    department_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Workspace')),
    UNIQUE (member_type, member_id)
);
"""
_MEMBERSHIP_COLUMNS = ("id", "geography_id", "department_id", "member_id", "member_type")


def bundled_seed() -> Path:
    """The seed shipped with the package (``importer/sandbox/seed.json``)."""
    return Path(str(resources.files(__package__ or "importer.sandbox") / "seed.json"))


def _contains(haystack: str | None, needle: str | None) -> bool:
    return haystack is not None and needle is not None and needle.casefold() in haystack.casefold()


def _equals(left: str | None, right: str | None) -> bool:
    return left is not None and right is not None and left.casefold() == right.casefold()


def _depths(orgs: Sequence[Row]) -> dict[int, int]:
    parents = {int(o["id"]): o.get("parent_id") for o in orgs}
    depths: dict[int, int] = {}
    for org_id in parents:
        depth, seen, node = 0, {org_id}, parents[org_id]
        while node is not None:
            if int(node) in seen or int(node) not in parents:
                raise ValueError(f"seed: organization {org_id} has a broken parent chain")
            seen.add(int(node))
            depth, node = depth + 1, parents[int(node)]
        depths[org_id] = depth
    return depths


@dataclass(frozen=True)
class Page:
    """One page of a listing: the rows and the total number of matches."""

    total: int
    rows: list[Row]


@dataclass(frozen=True)
class CreateOutcome:
    """What a create request did: the rows written and the errors of the refused objects."""

    created: list[Row]
    errors: list[str]


class Store:
    """Organizations, users and workspaces (read-only) and organization memberships."""

    def __init__(self, db_path: str = ":memory:", seed: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.create_function("ci_contains", 2, _contains, deterministic=True)
        self._conn.create_function("ci_equals", 2, _equals, deterministic=True)
        with self._lock:
            self._conn.executescript(_SCHEMA)
            seeded = self._conn.execute("SELECT 1 FROM sandbox_meta WHERE key = 'seeded'")
            if seeded.fetchone() is None:
                self._load_seed(Path(seed) if seed is not None else bundled_seed())
            self._org_types: dict[int, str] = {
                row["id"]: row["organization_type"]
                for row in self._conn.execute("SELECT id, organization_type FROM organizations")
            }
            self._members = {
                "User": {r[0] for r in self._conn.execute("SELECT id FROM users")},
                "Workspace": {r[0] for r in self._conn.execute("SELECT id FROM workspaces")},
            }

    def _load_seed(self, path: Path) -> None:
        try:
            self._insert_seed(path, json.loads(path.read_text(encoding="utf-8")))
        except (KeyError, TypeError, AttributeError, sqlite3.IntegrityError) as exc:
            raise ValueError(f"seed {path} is not a valid sandbox seed: {exc!r}") from exc

    def _insert_seed(self, path: Path, data: dict[str, Any]) -> None:
        orgs = data.get("organizations", [])
        depths = _depths(orgs)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO organizations VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        o["id"],
                        o["name"],
                        o["organization_type"],
                        o.get("parent_id"),
                        depths[o["id"]],
                    )
                    for o in orgs
                ],
            )
            self._conn.executemany(
                "INSERT INTO users VALUES (?, ?, ?)",
                [(u["id"], u["full_name"], u["email_address"]) for u in data.get("users", [])],
            )
            self._conn.executemany(
                "INSERT INTO workspaces VALUES (?, ?)",
                [(w["id"], w["title"]) for w in data.get("workspaces", [])],
            )
            self._conn.executemany(
                "INSERT INTO organization_memberships VALUES (?, ?, ?, ?, ?)",
                [
                    tuple(m[c] for c in _MEMBERSHIP_COLUMNS)
                    for m in data.get("organization_memberships", [])
                ],
            )
            self._conn.execute(
                "INSERT INTO sandbox_meta VALUES ('seeded', ?)", (str(path.resolve()),)
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

    def create_memberships(self, objects: Sequence[object], *, keep_valid: bool) -> CreateOutcome:
        """Validate and write in one transaction.

        With errors, ``keep_valid`` False writes nothing (atomic); True writes the valid objects.
        """
        with self._lock:
            verdicts = check_batch(objects, self)
            errors = [message for verdict in verdicts for message in verdict.errors]
            good = [v.membership for v in verdicts if v.ok and v.membership is not None]
            if errors and not keep_valid:
                return CreateOutcome([], errors)
            return CreateOutcome(self._insert(good), errors)

    def _insert(self, memberships: Sequence[NewMembership]) -> list[Row]:
        if not memberships:
            return []
        ids: list[int] = []
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for m in memberships:
                cursor = self._conn.execute(
                    "INSERT INTO organization_memberships"
                    " (geography_id, department_id, member_id, member_type) VALUES (?, ?, ?, ?)",
                    (m.geography_id, m.department_id, m.member_id, m.member_type),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return self.list_memberships(ids=ids, limit=len(ids)).rows

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

    def list_memberships(
        self,
        *,
        ids: Sequence[int] | None = None,
        member_ids: Sequence[int] | None = None,
        member_type: str | None = None,
        geography_ids: Sequence[int] | None = None,
        department_ids: Sequence[int] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        """Memberships, newest first (id descending): the sandbox's sort order."""
        where = [
            *self._in("id", ids),
            *self._in("member_id", member_ids),
            *self._in("geography_id", geography_ids),
            *self._in("department_id", department_ids),
        ]
        if member_type is not None:
            where.append(("member_type = ?", [member_type]))
        sql = "SELECT * FROM organization_memberships"
        return self._page(sql, where, "id DESC", limit, offset)

    def list_organizations(
        self,
        *,
        ids: Sequence[int] | None = None,
        matching: str | None = None,
        organization_type: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        where = self._in("id", ids)
        if matching is not None:
            where.append(("ci_contains(name, ?)", [matching]))
        if organization_type is not None:
            where.append(("organization_type = ?", [organization_type]))
        return self._page("SELECT * FROM organizations", where, "id", limit, offset)

    def list_users(
        self,
        *,
        ids: Sequence[int] | None = None,
        email: str | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        where = self._in("id", ids)
        if email is not None:
            where.append(("ci_equals(email_address, ?)", [email]))
        if search is not None:
            where.append(
                ("(ci_contains(full_name, ?) OR ci_contains(email_address, ?))", [search] * 2)
            )
        return self._page("SELECT * FROM users", where, "id", limit, offset)

    def list_workspaces(
        self,
        *,
        ids: Sequence[int] | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        where = self._in("id", ids)
        if search is not None:
            where.append(("ci_contains(title, ?)", [search]))
        return self._page("SELECT * FROM workspaces", where, "id", limit, offset)
