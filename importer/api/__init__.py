"""The Kantata OX API client: requests, retries, the rate limit, redacted server text.

Everything else in this package is private (``_name.py``).
"""

from importer.api._client import (
    INCLUDE_ORGS,
    LIST_PARAMS,
    MEMBERSHIPS,
    PER_PAGE,
    KantataClient,
    Membership,
    memberships_in,
    objects_in,
    page_count,
    total_count,
)
from importer.api._holdings import (
    LISTS_HONOURED,
    LISTS_IGNORED,
    LISTS_UNKNOWN,
    Holdings,
    Member,
    organizations_of,
)
from importer.api._pace import ConcurrencyLimit, RateLearner, describe
from importer.api._redact import server_text

__all__ = [
    "INCLUDE_ORGS",
    "LISTS_HONOURED",
    "LISTS_IGNORED",
    "LISTS_UNKNOWN",
    "LIST_PARAMS",
    "MEMBERSHIPS",
    "PER_PAGE",
    "ConcurrencyLimit",
    "Holdings",
    "KantataClient",
    "Member",
    "Membership",
    "RateLearner",
    "describe",
    "memberships_in",
    "objects_in",
    "organizations_of",
    "page_count",
    "server_text",
    "total_count",
]
