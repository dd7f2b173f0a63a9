"""Files shaped like the exports of HR systems (ADP, Workday, SuccessFactors, BambooHR, Personio,
HiBob, UKG, Rippling; English, German, French, Spanish and Dutch headers), made on the fly.

Each writer puts ``people`` (users of the sandbox seed: id, name, e-mail) into the file as that
system lays its report out: title lines above the header, its column names, an HR number beside
the e-mail address, names of departments and geographies (never Kantata ids), and, where asked,
the footer line a report ends with. The department and geography names are those of the seed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import openpyxl

SEED = Path(__file__).resolve().parent.parent / "importer" / "sandbox" / "seed.json"
DEPARTMENTS = ("Engineering", "Design", "Sales", "Marketing", "Finance")
GEOGRAPHIES = ("Germany", "United Kingdom", "United States", "Singapore")


@dataclass(frozen=True)
class Person:
    """A user of the sandbox seed, placed in a department and a geography by name."""

    user_id: int
    first: str
    last: str
    email: str
    department: str
    geography: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


def people(count: int = 12, first_id: int = 10010) -> list[Person]:
    """``count`` seed users from ``first_id`` on (none holds a membership in the seed)."""
    users = json.loads(SEED.read_text(encoding="utf-8"))["users"]
    chosen = [u for u in users if first_id <= u["id"] <= 10200][:count]
    assert len(chosen) == count, "the seed has users 10006-10200 without memberships"
    out = []
    for i, u in enumerate(chosen):
        first, _, last = u["full_name"].partition(" ")
        out.append(
            Person(
                u["id"],
                first,
                last,
                u["email_address"],
                DEPARTMENTS[i % len(DEPARTMENTS)],
                GEOGRAPHIES[i % len(GEOGRAPHIES)],
            )
        )
    return out


def _csv_text(rows: Sequence[Sequence[object]], sep: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n")
    writer.writerows([["" if c is None else c for c in r] for r in rows])
    return buffer.getvalue()


def _book(path: Path, rows: Sequence[Sequence[object]], title: str = "Sheet1") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


# The header rows, and one data row per person, of each export.

ADP_HEADER = [
    "Payroll Name",
    "Associate ID",
    "File Number",
    "Position Status",
    "Hire Date",
    "Job Title Description",
    "Home Department Description",
    "Location Description",
    "Work Contact: Work Email",
]


def adp_csv(path: Path, staff: Sequence[Person], *, footer: str | None = None) -> Path:
    """ADP Workforce Now "New Hire Report": three title lines, the header on row 4."""
    rows: list[list[object]] = [
        ["New Hire Report"],
        ["Company Code: ACM - Acme Corp"],
        ["Report Date: 11/30/2026"],
        ADP_HEADER,
    ]
    for i, p in enumerate(staff):
        rows.append(
            [
                f"{p.last}, {p.first}",
                f"G3K7{p.user_id}",
                f"{4500 + i:06d}",
                "Active",
                "11/02/2026",
                "Engineer",
                p.department,
                p.geography,
                p.email,
            ]
        )
    if footer is not None:
        rows.append([footer])
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


WORKDAY_HEADER = [
    "Employee ID",
    "Worker",
    "Hire Date",
    "Business Title",
    "Department",
    "Location",
    "Email - Primary Work",
]


def workday_xlsx(path: Path, staff: Sequence[Person], *, footer: str | None = None) -> Path:
    """Workday custom report "New Hires - Last 30 Days": four lines above the header (row 5)."""
    rows: list[list[object]] = [
        ["New Hires - Last 30 Days"],
        ["Effective as of: 2026-11-30"],
        ["Prompts: Company = Acme Corp; Include Subordinate Organizations = Yes"],
        [],
        WORKDAY_HEADER,
    ]
    for i, p in enumerate(staff):
        rows.append(
            [
                21000 + i,
                p.name,
                "2026-11-02",
                "Engineer",
                p.department,
                p.geography,
                p.email,
            ]
        )
    if footer is not None:
        rows.append([footer])
    return _book(path, rows, "New Hires")


SUCCESSFACTORS_HEADER = [
    "Person ID External",
    "User ID",
    "First Name",
    "Last Name",
    "Business Email Address",
    "Division",
    "Department",
    "Location",
]


def successfactors_xlsx(path: Path, staff: Sequence[Person]) -> Path:
    """SuccessFactors Employee Central export: title, date, merged group headers, header row 4."""
    rows: list[list[object]] = [
        ["Employee Data Export"],
        ["Generated on 2026-11-30 04:00 UTC"],
        ["Personal Information", None, None, None, None, "Job Information"],
        SUCCESSFACTORS_HEADER,
    ]
    for i, p in enumerate(staff):
        rows.append(
            [
                f"{80000 + i}",
                f"U{80000 + i}",
                p.first,
                p.last,
                p.email,
                "Product",
                p.department,
                p.geography,
            ]
        )
    _book(path, rows, "Employee Data")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws is not None
    ws.merge_cells("A3:E3")
    ws.merge_cells("F3:H3")
    wb.save(path)
    return path


BAMBOOHR_HEADER = [
    "Employee\xa0#",
    "First\xa0Name",
    "Last\xa0Name",
    "Work\xa0Email",
    "Department",
    "Division",
    "Location",
    "Job\xa0Title",
]


def bamboohr_csv(path: Path, staff: Sequence[Person]) -> Path:
    """BambooHR custom report: no-break spaces in the header, the employee number first."""
    rows: list[list[object]] = [BAMBOOHR_HEADER]
    for i, p in enumerate(staff):
        rows.append(
            [100 + i, p.first, p.last, p.email, p.department, "Product", p.geography, "Engineer"]
        )
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


PERSONIO_HEADER = [
    "ID",
    "Personalnummer",
    "Vorname",
    "Nachname",
    "E-Mail",
    "Abteilung",
    "Standort",
    "Position",
    "Eintrittsdatum",
]


def personio_xlsx(path: Path, staff: Sequence[Person]) -> Path:
    """Personio employee list, German: Abteilung/Standort hold names, Personalnummer a number."""
    rows: list[list[object]] = [PERSONIO_HEADER]
    for i, p in enumerate(staff):
        rows.append(
            [
                900 + i,
                f"P-{700 + i}",
                p.first,
                p.last,
                p.email,
                p.department,
                p.geography,
                "Engineer",
                "2026-11-02",
            ]
        )
    return _book(path, rows, "Mitarbeiter")


HIBOB_HEADER = ["Employee ID", "Display name", "Email", "Department", "Site", "Start date"]


def hibob_csv(path: Path, staff: Sequence[Person]) -> Path:
    """HiBob people export: 'Site' is the geography."""
    rows: list[list[object]] = [HIBOB_HEADER]
    for i, p in enumerate(staff):
        rows.append([f"{3100 + i}", p.name, p.email, p.department, p.geography, "02/11/2026"])
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


UKG_HEADER = [
    "Employee Number",
    "Employee Name",
    "Home Department",
    "Work Location",
    "Work Email Address",
    "Hire Date",
]


def ukg_csv(path: Path, staff: Sequence[Person]) -> Path:
    """UKG Pro report, with a title line and a blank line above the header (row 3)."""
    rows: list[list[object]] = [["Employee Roster - Active"], []]
    rows.append(UKG_HEADER)
    for i, p in enumerate(staff):
        rows.append([f"{5500 + i}", f"{p.last}, {p.first}", p.department, p.geography, p.email])
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


RIPPLING_HEADER = ["Full name", "Employee number", "Work email", "Department", "Work location"]


def rippling_csv(path: Path, staff: Sequence[Person]) -> Path:
    """Rippling people report."""
    rows: list[list[object]] = [RIPPLING_HEADER]
    for i, p in enumerate(staff):
        rows.append([p.name, 40 + i, p.email, p.department, p.geography])
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


#: Headers in other languages: (employee number, e-mail, department, geography), then others.
LANGUAGE_HEADERS = {
    "de": ["Personalnummer", "Vorname", "Nachname", "E-Mail-Adresse", "Abteilung", "Standort"],
    "fr": ["Matricule", "Prénom", "Nom", "Adresse e-mail", "Service", "Établissement"],
    "es": [
        "Número de empleado",
        "Nombre",
        "Apellidos",
        "Correo electrónico",
        "Departamento",
        "Ubicación",
    ],
    "nl": ["Personeelsnummer", "Voornaam", "Achternaam", "E-mailadres", "Afdeling", "Locatie"],
}


def language_csv(path: Path, staff: Sequence[Person], language: str) -> Path:
    """A roster with ``language``'s headers, written as that country's Excel saves CSV
    (``;``-separated, cp1252 for German, French, Spanish and Dutch)."""
    rows: list[list[object]] = [LANGUAGE_HEADERS[language]]
    for i, p in enumerate(staff):
        rows.append([f"{10 + i:05d}", p.first, p.last, p.email, p.department, p.geography])
    path.write_text(_csv_text(rows, sep=";"), encoding="cp1252")
    return path
