"""``importer doctor``: a read-only check of an account before the first import.

It proves the token works (``GET /users/me``), counts the organizations of each tree, and finds
out what the API reference leaves undocumented but an import depends on (docs/kantata-api.md § Not
documented): whether membership look-ups honour a list of member ids, and whether the account
holds several memberships per member (the primary-organization feature). It also reports the
latency it saw and any 429 / ``Retry-After``. Only GET requests are sent (about five).

What cannot be told read-only is said to be ``unknown``; ``run`` then takes the path that is safe
either way, and checks the same facts cheaply at its own start rather than trusting this report.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from importer.api import LISTS_UNKNOWN, Holdings, KantataClient, organizations_of
from importer.core import EXIT_OK, EXIT_REFUSED, ApiError, ApiSettings, FatalApiError

__all__ = ["EXIT_NOT_READY", "DoctorReport", "check_account"]

EXIT_NOT_READY = 2
YES, NO, UNKNOWN = "yes", "no", "unknown"


@dataclass
class DoctorReport:
    """What ``doctor`` found. ``ready`` means: the token is accepted and both trees exist."""

    base_url: str
    token_ok: bool = False
    identity: str = ""
    organizations: dict[str, int] = field(default_factory=dict)
    memberships: int | None = None
    member_id_lists: str = LISTS_UNKNOWN
    several_memberships: str = UNKNOWN
    latency_ms: dict[str, float] = field(default_factory=dict)
    rate_limited: int = 0
    retry_after: str = "not seen"
    requests: int = 0
    problems: list[str] = field(default_factory=list)
    ready: bool = False
    exit_code: int = EXIT_REFUSED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report for people, one fact a line."""
        orgs = ", ".join(f"{n} {kind}" for kind, n in self.organizations.items()) or "?"
        out = [
            f"server:               {self.base_url}",
            f"token:                {'accepted' if self.token_ok else 'REFUSED'}"
            + (f" ({self.identity})" if self.identity else ""),
            f"organizations:        {orgs}",
            f"memberships:          {'?' if self.memberships is None else self.memberships}",
            f"member_id lists:      {self.member_id_lists}",
            f"several per member:   {self.several_memberships}",
            "latency:              "
            + (
                f"median {self.latency_ms['median']:.0f} ms, max {self.latency_ms['max']:.0f} ms"
                if self.latency_ms
                else "?"
            ),
            f"rate limited (429):   {self.rate_limited} (Retry-After: {self.retry_after})",
            f"requests sent:        {self.requests} (GET only)",
        ]
        out += [f"problem:              {p}" for p in self.problems]
        out.append("ready" if self.ready else "NOT READY")
        return out


def check_account(
    api: ApiSettings, *, transport: httpx.BaseTransport | None = None
) -> DoctorReport:
    """Check the account ``api`` points at, read-only.

    Returns:
        The report; ``exit_code`` 0 when ready, 2 when the account is not ready (no organization
        of a type), 3 when the token or the server fails.
    """
    report = DoctorReport(base_url=api.base_url)
    with KantataClient(api, transport=transport) as client:
        try:
            me = client.identity()
            report.token_ok = True
            report.identity = f"user {me.user_id}, account membership {me.account_membership_id}"
            orgs = organizations_of(client)
            for kind in ("Geography", "Department"):
                report.organizations[kind] = sum(1 for t, _ in orgs.values() if t == kind)
            holdings = Holdings(client)
            holdings.probe(lists=True)
            report.memberships = holdings.total
            report.member_id_lists = holdings.lists
            report.several_memberships = _several(holdings)
        except FatalApiError as exc:
            report.problems.append(str(exc))
        except ApiError as exc:
            report.problems.append(f"the server failed: {exc}")
        finally:
            report.requests = client.requests_sent
            report.rate_limited = client.counts["rate_limited"]
            seen = [s for s in client.retry_after_seen if s is not None]
            if client.retry_after_seen:
                report.retry_after = (
                    f"{min(seen):g}–{max(seen):g} s" if seen else "429 without Retry-After"
                )
            if client.latencies:
                ms = [s * 1000 for s in client.latencies]
                report.latency_ms = {"median": statistics.median(ms), "max": max(ms)}
    if report.problems:
        report.exit_code = EXIT_REFUSED
        return report
    missing = [kind for kind, n in report.organizations.items() if n == 0]
    for kind in missing:
        report.problems.append(
            f"the account has no {kind} organization: create the {kind.lower()} tree in Kantata "
            "before importing memberships"
        )
    report.ready = not missing
    report.exit_code = EXIT_OK if report.ready else EXIT_NOT_READY
    return report


def _several(holdings: Holdings) -> str:
    """Whether the account lets a member hold several memberships, as far as a read can tell."""
    if holdings.several:
        return f"{YES} (memberships carry `primary`, or a member holds two)"
    if holdings.total:
        return f"{NO} (memberships carry no `primary` field)"
    return f"{UNKNOWN} (no memberships to look at)"
