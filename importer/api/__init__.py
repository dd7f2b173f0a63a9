"""The Kantata OX API client: requests, retries, the rate limit, redacted server text.

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from importer.api._redact import server_text

_LAZY: dict[str, str] = {
    "INCLUDE_ORGS": "importer.api._client",
    "KantataClient": "importer.api._client",
    "LIST_PARAMS": "importer.api._client",
    "MEMBERSHIPS": "importer.api._client",
    "Membership": "importer.api._client",
    "PER_PAGE": "importer.api._client",
    "memberships_in": "importer.api._client",
    "objects_in": "importer.api._client",
    "page_count": "importer.api._client",
    "server_text": "importer.api._redact",
    "total_count": "importer.api._client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INCLUDE_ORGS",
    "LIST_PARAMS",
    "MEMBERSHIPS",
    "PER_PAGE",
    "KantataClient",
    "Membership",
    "memberships_in",
    "objects_in",
    "page_count",
    "server_text",
    "total_count",
]
