"""Which of a file's first rows holds the column names: found by what the rows say and look like.

HR systems put title lines, a report date, prompts or merged group headings above the header
(ADP: three lines; Workday: four; SuccessFactors: a group row). Each of the first
:data:`HEADER_SEARCH_ROWS` rows is rated twice:

* **names**: how many expected columns its cells name (a column's name or alias, or a ``--map``
  key), as :func:`importer.read.header_scorer` counts them;
* **shape**: whether it looks like the header of an HR system's table: two or more short text
  labels (no numbers, dates or e-mail addresses), distinct, above rows that fill the same
  columns (not fewer, not others) with values of one kind per column (numbers, dates, e-mail
  addresses or text), with only narrower rows above it (titles, not table rows) and at least
  three rows below.

The header is the row naming the most columns (two or more, or one in a row shaped like a
header), then the first row shaped like a header, then the first non-blank row; the earliest
wins a tie. The choice says why (:attr:`HeaderChoice.reason`), and when no row names or looks
like a header it names the row most like one (:attr:`HeaderChoice.alternative`) for the
message that suggests ``--header-row``. It runs once per file on at most 30 rows.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["HEADER_SEARCH_ROWS", "HeaderChoice", "choose_header_row", "header_shape"]

HEADER_SEARCH_ROWS = 30  # the header row is looked for among this many first rows
_ROWS_BELOW = 10  # data rows looked at under a candidate header
_LABEL_CHARS = 60  # a header label is at most this long
_SHAPED = 0.5  # a row whose shape rates at least this looks like a header ...
_MIN_BELOW = 3  # ... above at least this many non-blank rows

_NUMBER = re.compile(r"[+-]?(?:\d[\d,.' ]*|[.,]\d+)(?:[eE][+-]?\d+)?%?")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_EMAIL = re.compile(r"(?:.*<)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?")

EMPTY, NUMBER, DATE, EMAIL, TEXT = "empty", "number", "date", "email", "text"


def cell_kind(cell: str) -> str:
    """What a cell holds, as far as telling a header from data goes: ``empty``, ``number``,
    ``date``, ``email`` or ``text``."""
    text = cell.strip()
    if not text:
        return EMPTY
    if _NUMBER.fullmatch(text):
        return NUMBER
    if _DATE.fullmatch(text):
        return DATE
    if "@" in text and _EMAIL.fullmatch(text):
        return EMAIL
    return TEXT


@dataclass(frozen=True)
class HeaderChoice:
    """The row taken as the header, and why.

    Attributes:
        row: its number as Excel shows it (1 is the first row).
        reason: one line saying why, e.g. ``"it names 4 expected columns"``.
        named: how many expected columns it names.
        shaped: whether it looks like a header (short labels above consistent data).
        asked: it was given (``--header-row``), not found.
        alternative: when the row taken neither names a column nor looks like a header, the
            row most like a header (its number), else None.
        alternative_cells: that row's non-blank cells (for the message).
    """

    row: int
    reason: str
    named: int = 0
    shaped: bool = False
    asked: bool = False
    alternative: int | None = None
    alternative_cells: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """``header found on row 4: it names 4 expected columns`` ("" for row 1, or asked)."""
        if self.asked or self.row == 1:
            return ""
        return f"header found on row {self.row}: {self.reason}"

    @property
    def hint(self) -> str:
        """What to try when the header taken names none of the expected columns: the row most
        like a header and its ``--header-row`` ("" when there is nothing better to try)."""
        if self.asked or self.named or self.alternative is None:
            return ""
        cells = ", ".join(repr(c) for c in self.alternative_cells[:3])
        more = ", …" if len(self.alternative_cells) > 3 else ""
        return (
            f"the column names may be on row {self.alternative} ({cells}{more}): try "
            f"--header-row {self.alternative}"
        )


def _rows_below(rows: Sequence[Sequence[str]], index: int) -> int:
    return sum(1 for r in rows[index + 1 :] if _filled(r))


def _filled(cells: Sequence[str]) -> list[int]:
    return [j for j, c in enumerate(cells) if str(c).strip()]


def header_shape(rows: Sequence[Sequence[str]], index: int) -> float:
    """How much row ``index`` looks like a header (0 to 1): the share of its cells that are
    short distinct labels, times the share of the rows below that fill its columns, times how
    consistent the kind of value is, column by column, in those rows."""
    cells = [str(c) for c in rows[index]]
    filled = _filled(cells)
    if len(filled) < 2:
        return 0.0
    labels = [cells[j].strip() for j in filled]
    short = [
        t
        for t in labels
        if len(t) <= _LABEL_CHARS and cell_kind(t) == TEXT and any(c.isalpha() for c in t)
    ]
    label_share = len(short) / len(labels)
    distinct = len({t.casefold() for t in labels}) / len(labels)
    below = [r for r in rows[index + 1 :] if _filled([str(c) for c in r])][:_ROWS_BELOW]
    if not below or label_share < 0.75 or distinct < 0.9:
        return 0.0
    columns = set(filled)
    fits = 0
    kinds: dict[int, Counter[str]] = {j: Counter() for j in filled}
    for row in below:
        values = [str(c) for c in row]
        present = set(_filled(values))
        inside = len(present & columns)
        if inside >= max(2, math.ceil(len(columns) / 2)) and len(present - columns) * 4 <= len(
            present
        ):
            fits += 1
        for j in filled:
            if j < len(values) and values[j].strip():
                kinds[j][cell_kind(values[j])] += 1
    consistency = [c.most_common(1)[0][1] / c.total() for c in kinds.values() if c.total()]
    if not consistency:
        return 0.0
    return label_share * (fits / len(below)) * (sum(consistency) / len(consistency))


def choose_header_row(
    rows: Sequence[Sequence[str]],
    score: Callable[[Sequence[str]], int],
    *,
    header_row: int | None = None,
) -> HeaderChoice | None:
    """The header among ``rows`` (a sheet's or file's first rows, row 1 first), None if all are
    blank.

    Args:
        rows: the first rows as text cells (at least :data:`HEADER_SEARCH_ROWS` when there are).
        score: how many expected columns a row's cells name (:func:`importer.read.header_scorer`).
        header_row: the row asked for (as Excel numbers rows): taken as it is, if not blank.

    Returns:
        The choice, with its reason; None when every row is blank (or the asked row is blank or
        beyond the end: the caller says so).
    """
    if header_row is not None:
        index = header_row - 1
        if index >= len(rows) or not _filled([str(c) for c in rows[index]]):
            return None
        named = score([str(c) for c in rows[index]])
        return HeaderChoice(header_row, "the row asked for", named=named, asked=True)
    candidates = [i for i in range(min(len(rows), HEADER_SEARCH_ROWS)) if _filled(rows[i])]
    if not candidates:
        return None
    rated = []
    widest_above = 0
    for i in candidates:
        named = score([str(c) for c in rows[i]])
        shape = header_shape(rows, i)
        width = len(_filled(rows[i]))
        # Rows above a header are titles, dates, group headings: narrower than it. Under a row
        # as wide, a row is inside the table, whatever it looks like.
        shaped = shape >= _SHAPED and widest_above < width and _rows_below(rows, i) >= _MIN_BELOW
        widest_above = max(widest_above, width)
        # A data row holding "Workspace" (a column's name too) names one column: it counts
        # only in a row shaped like a header, so it never displaces a header of unknown labels.
        strong = named if named >= 2 or (named and shaped) else 0
        rated.append((strong, shaped, -i, named, shape))
    strong, shaped, minus, named, _ = max(rated)
    index = -minus
    if strong:
        noun = "column" if strong == 1 else "columns"
        return HeaderChoice(index + 1, f"it names {strong} expected {noun}", strong, shaped)
    if shaped:
        width = len(_filled(rows[index]))
        reason = f"{width} short labels above rows of consistent data"
        return HeaderChoice(index + 1, reason, named, True)
    first = candidates[0]
    likely = [(r[4], r[2]) for r in rated if r[4] > 0 and -r[2] != first]
    alternative = -max(likely)[1] if likely else None
    cells = () if alternative is None else tuple(c.strip() for c in map(str, rows[alternative]))
    return HeaderChoice(
        first + 1,
        "the first non-blank row: no row names an expected column or looks like a header",
        score([str(c) for c in rows[first]]),
        False,
        alternative=None if alternative is None else alternative + 1,
        alternative_cells=tuple(c for c in cells if c),
    )
