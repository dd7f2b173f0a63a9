"""Generate the sandbox's bundled seed (``importer/sandbox/seed.json``), deterministically.

The project's sample spreadsheets reference these ids, so the data is fixed: no randomness, just
fixed lists and arithmetic. Regenerate with ``python -m importer.sandbox.make_seed``; check the
committed file is current with ``python -m importer.sandbox.make_seed --check``.

- Geographies 101..108 and Departments 201..210 (two departments named "Operations": 209 under
  Engineering, 210 under Professional Services, for ambiguous-name tests).
- Users 10001..10200 with distinct names and ``first.last@acme.example`` emails.
- Workspaces 50001..50040; titles unique case-insensitively except 50039 and 50040, both
  "Data Platform", for ambiguous-title tests.
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
    (210, "Operations", 208),
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
MEMBERSHIP_PLACE = (105, 202)  # United Kingdom / Engineering


def organizations() -> list[dict[str, Any]]:
    return [
        {"id": org_id, "name": name, "organization_type": kind, "parent_id": parent}
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
    return rows


def workspaces() -> list[dict[str, Any]]:
    return [{"id": 50001 + i, "title": title} for i, title in enumerate(WORKSPACE_TITLES)]


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
            print(f"{args.output} is out of date: run python -m importer.sandbox.make_seed")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
