"""Footer lines at the end of a report are not rows: "Total: 300 starters", "Generated on
2026-11-30", "Page 1 of 3", "Anzahl Mitarbeiter: 12" ...

A trailing row is a footer when:

* it is among the last :data:`FOOTER_ROWS` non-blank rows, with only footers below it;
* it fills at most :data:`FOOTER_CELLS` cells, and at most half of the columns (mostly empty)
  of a table of three columns or more: a row that places a member needs three values (a
  geography, a department and a member), so no row that could be imported is ever taken for a
  footer;
* its first filled cell reads as a total, a count, a "generated on" / "report date" / "printed
  on" line or a page number, in English, German, French, Spanish or Dutch, and no cell holds an
  e-mail address.

It is skipped with a note, as an Excel table's totals row is. Only the tail is looked at, once
per pass over the file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from importer.read._header_row import EMAIL, cell_kind

__all__ = ["FOOTER_CELLS", "FOOTER_ROWS", "footer_rows", "is_footer"]

FOOTER_ROWS = 3  # footer lines looked for at the end of a file
FOOTER_CELLS = 2  # a footer fills at most this many cells (a member's row needs three)

_UNITS = (
    r"rows?|records?|lines?|entries|employees?|workers?|people|persons?|starters?|hires?|"
    r"leavers?|results?|members?|users?|mitarbeiter\w*|datensatze|eintrage|zeilen|personen|"
    r"salaries|employes|enregistrements|lignes|personnes|empleados|registros|filas|personas|"
    r"medewerkers|rijen|regels|personen"
)
_FOOTER = re.compile(
    r"""^(?:
      (?:(?:grand\s+|sub-?)?totals? | gesamt(?:summe)? | summe | zwischensumme | sum | sous-total
        | suma | subtotaal | totaal)
      (?:\s*[:=] | \s+\d | \s*$ | \s+(?:"""
    + _UNITS
    + r""")\b)
    | (?:record|row|line|employee|headcount)?\s*count\b | headcount\b | anzahl\b
    | nombre\s+(?:de|d')\b | recuento\b | numero\s+de\s+registros\b | aantal\b
    | \d[\d,.'\s]*\s+(?:"""
    + _UNITS
    + r""")\b
    | (?:report\s+)?generated\b | report\s+(?:date|generated|run|created)\b
    | run\s+(?:date|on|at)\b | printed\b | exported\b | created\s+on\b | as\s+of\b
    | end\s+of\s+(?:the\s+)?report\b | confidential\b
    | erstellt\b | berichtsdatum\b | druckdatum\b | exportiert\b | stand\s*:
    | ende\s+des\s+berichts\b
    | genere\b | date\s+du\s+rapport\b | edite\s+le\b | imprime\b | fin\s+du\s+rapport\b
    | generado\b | fecha\s+del\s+informe\b | impreso\b | fin\s+del\s+informe\b
    | gegenereerd\b | rapportdatum\b | afgedrukt\b | einde\s+(?:van\s+het\s+)?rapport\b
    | (?:page|seite|pagina)\s+\d+\s*(?:of|von|sur|de|van|/)\s*\d+
    )""",
    re.VERBOSE,
)


def _folded(text: str) -> str:
    """Casefolded, without accents, spaces collapsed: ``"Généré le"`` -> ``"genere le"``."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


def is_footer(cells: Sequence[str]) -> bool:
    """Whether a row (its cells as text) reads as a report's footer line (see the module)."""
    filled = [str(c).strip() for c in cells if str(c).strip()]
    if len(cells) <= FOOTER_CELLS or not filled or len(filled) > FOOTER_CELLS:
        return False  # a table of two columns holds no member anyway
    if len(filled) * 2 > len(cells):
        return False
    if any(cell_kind(c) == EMAIL for c in filled):
        return False
    return bool(_FOOTER.match(_folded(filled[0])))


def footer_rows(rows: Sequence[Sequence[str]]) -> int:
    """How many of the last rows (a file's last non-blank rows, in order) are footer lines:
    0 to :data:`FOOTER_ROWS`, counted from the end while they read as footers."""
    count = 0
    for cells in reversed(rows[-FOOTER_ROWS:]):
        if not is_footer(cells):
            break
        count += 1
    return count
