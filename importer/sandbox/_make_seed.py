"""Generate the sandbox's bundled seed (``importer/sandbox/seed.json``), deterministically.

The project's sample spreadsheets reference these ids, so the data is fixed: no randomness, just
fixed lists and arithmetic. Regenerate with ``python -m importer.sandbox``; check the
committed file is current with ``python -m importer.sandbox --check``.

- Geographies 101..108 and Departments 201..210; names unique on the account (docs/kantata-api.md §
  Lookups), 209 "Operations" and 210 "Service Operations" both match ``matching=operations``.
- Users 10001..10200 with distinct names and ``first.last@acme.example`` emails, all sharing a
  project with the token's user (``current_user_id`` 10001, served by ``GET /users/me``).
- Users 10201..10210: on the account but on no project with the caller (listed only with
  ``on_my_account=true``); 10211..10215: disabled (listed only with ``show_disabled=true``);
  10216: both (needs both parameters).
- Workspaces 50001..50040; titles unique case-insensitively except 50039 and 50040, both
  "Data Platform", for ambiguous-title tests. 50041..50043 are archived (50043 "Website Redesign"
  shares its title with the active 50001); listed only with ``include_archived=true``.
- Memberships 9001..9005: users 10001..10005 already placed in United Kingdom / Engineering.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SEED_PATH = Path(__file__).with_name("seed.json")


def _words(text: str) -> list[str]:
    return text.split()


GEOGRAPHIES: list[tuple[int, str, int | None]] = [
    (101, "Global", None),
    (102, "EMEA", 101),
    (103, "Americas", 101),
    (104, "APAC", 101),
    (105, "United Kingdom", 102),
    (106, "Germany", 102),
    (107, "United States", 103),
    (108, "Singapore", 104),
]
DEPARTMENTS: list[tuple[int, str, int | None]] = [
    (201, "Company", None),
    (202, "Engineering", 201),
    (203, "Design", 201),
    (204, "Sales", 201),
    (205, "Marketing", 201),
    (206, "Finance", 201),
    (207, "People Operations", 201),
    (208, "Professional Services", 201),
    (209, "Operations", 202),
    (210, "Service Operations", 208),
]
FIRST_NAMES = _words(
    """
Olivia Liam Amara Noah Sofia Mateo Priya Ethan Aiko Kwame Ingrid Rahul Fatima Lukas Mei Diego
Zara Tomasz Chloe Arjun Hannah Omar Elena Felix Grace Yusuf Nina Oscar Leila Samuel Isla Hiro
Freya Marco Aisha Daniel Clara Jonas Maya Patrick
"""
)
LAST_NAMES = _words(
    """
Smith Patel Nguyen Johnson Garcia Okafor Schmidt Tanaka Rossi Kowalski Brown Silva Andersen
Murphy Cohen Haddad Larsen Novak Fischer Moreau Kim Singh Walker Dubois Costa Jensen Ibrahim
Hughes Lindqvist Romero Bauer Chen Ferrari Sato Kaur Campbell Mendes Wright Nakamura Ahmed
Bianchi Clarke Weber Lopez Olsen Petrov Reyes Stewart Varga Young
"""
)
WORKSPACE_TITLES = [
    "Website Redesign",
    "ERP Migration",
    "Mobile App Launch",
    "CRM Rollout",
    "Q3 Brand Refresh",
    "Customer Portal",
    "Data Warehouse Modernisation",
    "Payroll Integration",
    "Security Audit 2024",
    "Cloud Cost Optimisation",
    "Onboarding Revamp",
    "Partner API",
    "Support Chatbot",
    "Billing Platform Upgrade",
    "Analytics Dashboard",
    "Inventory Sync",
    "GDPR Compliance Review",
    "Sales Enablement Kit",
    "Field Service App",
    "Intranet Relaunch",
    "Identity and Access Management",
    "Marketing Automation",
    "Office Move Singapore",
    "Berlin Office Fit-Out",
    "Annual Planning FY25",
    "Vendor Consolidation",
    "Helpdesk Migration",
    "E-commerce Checkout",
    "Loyalty Programme",
    "Machine Learning Pilot",
    "Network Refresh",
    "Disaster Recovery Test",
    "Product Catalogue Cleanup",
    "Training Academy",
    "Procurement Portal",
    "Acme Rebrand",
    "Quality Management System",
    "Internal Tools Backlog",
    "Data Platform",
    "Data Platform",
]
ARCHIVED_TITLES = ["Legacy Intranet", "Office Move London", "Website Redesign"]
OFF_PROJECT_USERS = [
    ("Quentin Abara", False, False),
    ("Rosa Bellini", False, False),
    ("Stefan Cernik", False, False),
    ("Talia Dorsey", False, False),
    ("Umar Eze", False, False),
    ("Vera Falk", False, False),
    ("Wei Gao", False, False),
    ("Ximena Horta", False, False),
    ("Yann Iversen", False, False),
    ("Zofia Jablonska", False, False),
    ("Adele Keane", True, True),
    ("Bruno Lacroix", True, True),
    ("Cora Mbeki", True, True),
    ("Dmitri Nolan", True, True),
    ("Esme Ortiz", True, True),
    ("Fabian Quist", False, True),
]  # (full name, on a project with the caller, disabled)
CURRENT_USER_ID = 10001
MEMBERSHIP_PLACE = (105, 202)  # United Kingdom / Engineering


def organizations() -> list[dict[str, Any]]:
    return [
        {"id": org_id, "name": name, "type": kind, "parent_id": parent}
        for kind, tree in (("Geography", GEOGRAPHIES), ("Department", DEPARTMENTS))
        for org_id, name, parent in tree
    ]


def users() -> list[dict[str, Any]]:
    """200 users; the (first, last) pairs are distinct by construction (see the test)."""
    rows = []
    for i in range(200):
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i * 7 + i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        rows.append(
            {
                "id": 10001 + i,
                "full_name": f"{first} {last}",
                "email_address": f"{first}.{last}@acme.example".lower(),
            }
        )
    for i, (name, on_project, disabled) in enumerate(OFF_PROJECT_USERS):
        first, last = name.split()
        row: dict[str, Any] = {
            "id": 10201 + i,
            "full_name": name,
            "email_address": f"{first}.{last}@acme.example".lower(),
        }
        if not on_project:
            row["on_project"] = False
        if disabled:
            row["disabled"] = True
        rows.append(row)
    return rows


def workspaces() -> list[dict[str, Any]]:
    """Active then archived workspaces; ``updated_at`` is not in id order (the default sort)."""
    titles = [(title, False) for title in WORKSPACE_TITLES]
    titles += [(title, True) for title in ARCHIVED_TITLES]
    rows: list[dict[str, Any]] = []
    for i, (title, archived) in enumerate(titles):
        minute = (i * 17) % len(titles)
        row: dict[str, Any] = {
            "id": 50001 + i,
            "title": title,
            "updated_at": f"2024-06-01T{8 + minute // 60:02d}:{minute % 60:02d}:00Z",
        }
        if archived:
            row["archived"] = True
        rows.append(row)
    return rows


def memberships() -> list[dict[str, Any]]:
    geography_id, department_id = MEMBERSHIP_PLACE
    return [
        {
            "id": 9001 + i,
            "geography_id": geography_id,
            "department_id": department_id,
            "member_id": 10001 + i,
            "member_type": "User",
        }
        for i in range(5)
    ]


def build_seed() -> dict[str, Any]:
    return {
        "current_user_id": CURRENT_USER_ID,
        "organizations": organizations(),
        "users": users(),
        "workspaces": workspaces(),
        "organization_memberships": memberships(),
    }


def render() -> str:
    """The seed as the committed JSON text (one object per line, stable)."""
    seed = build_seed()
    parts = []
    for key, rows in seed.items():
        if not isinstance(rows, list):
            parts.append(f"  {json.dumps(key)}: {json.dumps(rows)}")
            continue
        lines = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in rows)
        parts.append(f'  "{key}": [\n{lines}\n  ]')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if seed.json is out of date")
    parser.add_argument("--output", type=Path, default=SEED_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m importer.sandbox._make_seed")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
