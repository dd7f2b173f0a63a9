"""How results name people and places beside their ids: ``Ada Lovelace <ada@acme.example>``,
``Engineering (203)``. One definition, for messages, the result files and the page."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["member_label", "org_label"]


def member_label(name: str, email: str = "") -> str:
    """A user as a person reads it: ``Ada Lovelace <ada@acme.example>``, or the one of the two
    that is known; a workspace's title as it is (``""`` when nothing is known)."""
    name, email = name.strip(), email.strip()
    if name and email:
        return f"{name} <{email}>"
    return name or email


def org_label(org_id: int | str | None, names: Mapping[int, str] | None = None) -> str:
    """An organization as a person reads it: ``Engineering (203)``; the id alone when its name
    is not known (``?`` for no id)."""
    if org_id is None:
        return "?"
    name = (names or {}).get(int(org_id), "")
    return f"{name} ({org_id})" if name else str(org_id)
