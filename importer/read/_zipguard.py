"""Look inside a zip-based workbook (.xlsx/.xlsm/.ods) before calamine opens it.

Why hand-written: calamine and zipfile trust an archive's sizes; this bounds what it may unpack.

calamine trusts the archive. It unpacks whatever a member holds, whatever the zip declares (a file
of a few hundred KB can unpack to gigabytes: a "zip bomb"), and it allocates one cell for every
position of a sheet's used range, so one cell at XFD1048576 makes it ask for 17 billion cells and
abort the whole process — no exception, no message. So, before calamine sees the file:

1. The zip's directory: encrypted members and compression methods other than deflate/stored are
   refused; the declared unpacked sizes must add up to at most ``max_unpacked``; no member over
   8 MiB may unpack to more than :data:`MAX_RATIO` times its packed size.
2. Every member is inflated once, streamed and thrown away, to check it holds no more than it
   declares (a zip can lie about its sizes; calamine believes the data).
3. While a worksheet streams by, its extent is measured (.xlsx: cell references; .ods: repeated
   rows and cells, see :mod:`importer.read`), so a grid (rows x columns) beyond Excel's
   limits or :data:`MAX_GRID_CELLS` (.xlsx, the sheet to read: :func:`check_sheet`) or
   :data:`MAX_ODS_CELLS` (.ods, every sheet: calamine reads them all at once, :func:`check_ods`)
   is refused.

Measuring stays at C speed on the usual XML (every ``<c`` written ``<c r="``, every ``<row`` written
``<row r="``): columns from the few references of two or more letters, rows from the references of
seven or more digits, and, only for sheets wider than 32 columns, one more regex pass that looks for
a row beyond what their width allows. Any other form (cells without references, namespace prefixes,
unusual spacing) is measured element by element, slower but exactly as an upper bound.
"""

from __future__ import annotations

import posixpath
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from importer.core import EXCEL_COLUMNS, EXCEL_ROWS, InputError
from importer.read._odsguard import OdsScan

MAX_RATIO = 250  # sheet XML packs 5-30x (.xlsx), up to ~80x (.ods); zip bombs ~1000x
MAX_GRID_CELLS = 1 << 25  # 33.5M cells (~1.4 GB in calamine if empty): 1,048,576 rows x 32
MAX_ODS_CELLS = 1 << 22  # 4.2M: .ods repeats are real values (~160 bytes each in calamine)
# Peak memory of reading a sheet, beyond what the process held before, is a ratio of its unpacked
# XML (calamine's cells, the Arrow table, the rendered text). Measured as peak RSS minus the RSS
# after the imports, divided by the bytes of sheet XML + shared strings (Python 3.11, fastexcel as
# pinned, 2026-11, open_table on generated workbooks):
#   1,000,000 rows x 4 short cells, inline strings: 222 MB of XML -> 396 MB, ratio 1.78;
#   300,000 rows with two 200-character cells (a 5.9 MB file):   179 MB -> 311 MB, ratio 1.73;
#   400,000 rows x 5 cells written by openpyxl (an 8.8 MB file): 91 MB -> 161 MB, ratio 1.77.
# The workbook peaked at 2.9 GB for a 1.4 GB sheet (2.07 with the interpreter itself).
# 2.2 keeps a margin over all of these.
READ_MEMORY_RATIO = 2.2
_RATIO_FLOOR = 8 << 20  # members smaller than this are never "bombs"
_BLOCK = 8 << 20
_SMALL_PART = 16 << 20  # workbook.xml and its relationships are parsed only below this size
_NARROW = 26  # columns of one letter
_SHORT = 999_999  # rows of at most six digits
# One pass finds what needs a closer look: any cell not written `<c r="A123456"` (one letter, at
# most six digits): a cell without a reference, of column AA or beyond, of row 1,000,000 or more.
_ODD = re.compile(rb'<c(?! r="[A-Z][0-9]{1,6}")')
_IMPLICIT = re.compile(rb'<c(?! r=")')
_WIDE = re.compile(rb'<c r="([A-Za-z]{2,})(\d*)"')
_FAR = re.compile(rb'<c r="([A-Za-z]*)(\d{7,})"')
_PREFIXED = re.compile(rb":(?:c|row)[\s/>]")  # <x:c ...>: a namespace prefix
_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])([^>]*)>")
_R_ATTR = re.compile(rb"""(?:^|\s)r\s*=\s*(["'])([^"']*)\1""")
_REF = re.compile(rb"([A-Za-z]*)(\d*)")
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
# What a person sees but calamine does not give: merged ranges (value in the first cell only)
# and formulas saved without their value (written by a script, never opened in Excel).
_MERGE = re.compile(
    rb'<(?:\w+:)?mergeCell\s+ref="([A-Za-z]{1,3}[0-9]{1,7}:[A-Za-z]{1,3}[0-9]{1,7})"'
)
# A formula with no value: `<f>..</f>` closing its cell or followed by an empty `<v/>`; a shared
# formula's `<f .../>` closing its cell.
_NO_VALUE_ENDS = (b"</f></c>", b"</f><v/></c>", b"</f><v /></c>", b"</f><v></v></c>")
_CELL_REF = re.compile(rb'<c\s[^>]*?\br="([A-Z]{1,3}[0-9]{1,7})"')
MAX_NOTED = 10_000  # merged ranges / uncalculated formulas kept per sheet


@dataclass
class SheetScan:
    """How far one worksheet's cell references reach (upper bounds), from its XML."""

    part: str
    canonical: bool = True  # every <c written `<c r="`, no prefixes (fast measuring)
    started: bool = False  # inside <sheetData>
    done: bool = False  # past </sheetData>
    columns: int = _NARROW  # widest column (at least 26 while canonical)
    rows: int = _SHORT  # farthest row (at least 999,999 while canonical)
    far: str = ""  # the reference that gave the largest column or row
    tail: bytes = field(default=b"", repr=False)
    merges: list[str] = field(default_factory=list)  # merged ranges, "D5:D14"
    uncalculated: list[str] = field(default_factory=list)  # formula cells without a value
    formula_tail: bytes = field(default=b"", repr=False)

    def feed(self, block: bytes) -> None:
        """Measure the complete tags of ``block`` (what follows its last ``<`` waits)."""
        self._formulas(block)
        data = self.tail + block if self.tail else block
        cut = data.rfind(b"<")
        if cut <= 0:
            self.tail = data
            return
        self.tail = data[cut:]
        self._measure(data, cut)
        if len(self.merges) < MAX_NOTED and data.find(b"mergeCell ", 0, cut) >= 0:
            found = _MERGE.findall(data, 0, cut)
            self.merges += [m.decode("ascii").upper() for m in found[:MAX_NOTED]]

    def _formulas(self, block: bytes) -> None:
        """Note formula cells saved without a value (a cell cut by the block's end is looked at
        with the next block). Literal searches only: a sheet full of formulas stays fast."""
        if b"<f" not in block and b"</f>" not in self.formula_tail + block[:64]:
            cut = block.rfind(b"<c ")
            self.formula_tail = block[cut:] if cut >= 0 else self.formula_tail + block[-64:]
            return
        data = self.formula_tail + block
        cut = data.rfind(b"<c ")
        if cut < 0:
            cut = len(data)
        self.formula_tail = data[cut:]
        self._find_uncalculated(data, cut)

    def _find_uncalculated(self, data: bytes, end: int) -> None:
        closes = data.count(b"</f>", 0, end)
        endings = [b"/></c>"] if data.find(b"/></c>", 0, end) >= 0 else []
        if closes and closes > data.count(b"</f><v>", 0, end):  # some formula has no value
            endings += _NO_VALUE_ENDS
        for ending in endings:
            at = data.find(ending, 0, end)
            while at >= 0 and len(self.uncalculated) < MAX_NOTED:
                cell = data.rfind(b"<c ", 0, at)
                shared = ending == b"/></c>"
                if cell >= 0 and (not shared or data.startswith(b"<f", data.rfind(b"<", 0, at))):
                    found = _CELL_REF.match(data, cell, min(at, cell + 300))
                    if found:
                        self.uncalculated.append(found.group(1).decode("ascii"))
                at = data.find(ending, at + len(ending), end)

    def finish(self) -> None:
        """The end of the member: measure what is left; no plain ``<sheetData``: not canonical."""
        if self.formula_tail:
            self._find_uncalculated(self.formula_tail, len(self.formula_tail))
            self.formula_tail = b""
        self._measure(self.tail, len(self.tail))
        self.merges += [m.decode("ascii").upper() for m in _MERGE.findall(self.tail)]
        self.tail = b""
        if not self.started:
            self.canonical = False

    def _measure(self, data: bytes, end: int) -> None:
        """Measure ``data[:end]`` (no copies: the patterns are given the bounds)."""
        start = 0
        if not self.started:
            found = data.find(b"<sheetData", 0, end)
            if found < 0:
                return
            self.started, start = True, found + len(b"<sheetData")
        if self.done or not self.canonical:
            return
        found = data.find(b"</sheetData>", start, end)
        if found >= 0:
            self.done, end = True, found
        if _PREFIXED.search(data, start, end):
            self.canonical = False
        elif _ODD.search(data, start, end) is None:
            return
        elif _IMPLICIT.search(data, start, end):
            self.canonical = False  # cells placed by position: measured element by element
        else:
            for letters, digits in set(_WIDE.findall(data, start, end)):
                self._reach(letters, digits)
            for match in _FAR.finditer(data, start, end):
                self._reach(match.group(1), match.group(2))

    def _reach(self, letters: bytes, digits: bytes) -> None:
        column = column_number(letters)
        row = int(digits) if digits else 0
        if column > self.columns or row > self.rows:
            self.far = (letters + digits).decode("ascii").upper()
        self.columns = max(self.columns, column)
        self.rows = max(self.rows, row)


def column_number(letters: bytes) -> int:
    """``b"A"`` -> 1, ``b"XFD"`` -> 16384 (more than 3 letters: past Excel's last column)."""
    if len(letters) > 3:
        return EXCEL_COLUMNS + 1
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


Scan = SheetScan | OdsScan


def check_archive(path: Path, *, max_unpacked: int) -> dict[str, Scan]:
    """Check the zip of a workbook; return the measures of its sheets, by part name."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise InputError(
            f"{name} is not a valid {path.suffix.lower()} workbook (damaged zip archive: {exc})",
            path=str(path),
        ) from exc
    declared = sum(info.file_size for info in infos)
    if declared > max_unpacked:
        raise _too_big(path, declared, max_unpacked)
    for info in infos:
        if info.flag_bits & 0x1:
            raise InputError(
                f"{name} is password-protected (its zip entries are encrypted); save it again "
                "without a password",
                path=str(path),
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputError(
                f"{name} is not a valid {path.suffix.lower()} workbook ({info.filename} uses zip "
                f"compression method {info.compress_type}; spreadsheet programs use deflate)",
                path=str(path),
            )
        _check_ratio(path, info, info.file_size)
    scans: dict[str, Scan] = {}
    unpacked = 0
    with path.open("rb") as fh:
        for info in infos:
            scan: Scan | None = None
            if _is_worksheet(info.filename):
                scan = SheetScan(info.filename)
            elif info.filename == "content.xml":
                scan = OdsScan(info.filename)
            size = 0
            for block in _inflate(fh, info, path):
                size += len(block)
                if size > info.file_size:
                    raise InputError(
                        f"{name} is not a valid {path.suffix.lower()} workbook (damaged zip "
                        f"archive: {info.filename} holds more than the {info.file_size:,} bytes "
                        "it declares)",
                        path=str(path),
                    )
                if scan is not None:
                    scan.feed(block)
            unpacked += size
            if unpacked > max_unpacked:  # pragma: no cover - the declared sizes were checked
                raise _too_big(path, unpacked, max_unpacked)
            if scan is not None:
                scan.finish()
                scans[info.filename] = scan
    return scans


def check_ods(path: Path, scans: dict[str, Scan]) -> None:
    """Refuse an .ods whose tables expand past :data:`MAX_ODS_CELLS` (calamine reads them all
    as soon as the file is opened)."""
    ods = scans.get("content.xml")
    if not isinstance(ods, OdsScan):
        return
    if ods.beyond:
        raise InputError(
            f"{path.name} is not a valid .ods workbook (a sheet has {ods.beyond}, beyond the "
            "last row or column a spreadsheet has); the file is damaged or was not written by a "
            "spreadsheet program",
            path=str(path),
        )
    for name, (rows, columns) in ods.tables.items():
        where = f"{path.name}, sheet {name!r}"
        _refuse_grid(path, where, rows, columns, f"row {rows:,}, column {columns:,}", MAX_ODS_CELLS)


def read_memory(path: Path, sheet: str | None) -> tuple[int, int]:
    """(unpacked bytes, estimated peak bytes) of reading ``sheet`` of a zip workbook.

    The bytes counted are the sheet's XML and the shared strings (.xlsx) or ``content.xml``
    (.ods: calamine reads every table at once; ``sheet`` is ignored). The declared sizes are an
    upper bound: :func:`check_archive` refused any member holding more than it declares.
    """
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info.file_size for info in archive.infolist()}
    if "content.xml" in infos:
        unpacked = infos["content.xml"]
    else:
        part = _sheet_parts(path).get(sheet or "")
        sheets = [size for name, size in infos.items() if _is_worksheet(name)]
        unpacked = infos[part] if part in infos else max(sheets, default=0)
        unpacked += infos.get("xl/sharedStrings.xml", 0)
    return unpacked, int(READ_MEMORY_RATIO * unpacked)


def check_memory(path: Path, sheet: str | None, where: str, budget: int) -> None:
    """Refuse a sheet whose reading would need more than ``budget`` bytes of memory."""
    unpacked, need = read_memory(path, sheet)
    if need > budget:
        raise InputError(
            f"{where} unpacks to {unpacked / 2**20:,.0f} MB of XML; reading it would need about "
            f"{need / 2**20:,.0f} MB of memory, more than the {budget / 2**20:,.0f} MB allowed. "
            "Raise the budget with --max-memory-mb (if the machine has the memory), or save the "
            "sheet as CSV and import that",
            path=str(path),
        )


def check_sheet(path: Path, scans: dict[str, Scan], sheet: str, where: str) -> None:
    """Refuse an .xlsx sheet when the grid calamine would allocate for it is too large."""
    part = _sheet_parts(path).get(sheet)
    chosen = [scans[part]] if part in scans else list(scans.values())
    for scan in chosen:
        if isinstance(scan, SheetScan):
            _refuse_grid(path, where, *_extent(path, scan), MAX_GRID_CELLS)


def sheet_scan(path: Path, scans: dict[str, Scan], sheet: str) -> SheetScan | None:
    """The measures of an .xlsx sheet (merged ranges, uncalculated formulas), if known."""
    scan = scans.get(_sheet_parts(path).get(sheet, ""))
    return scan if isinstance(scan, SheetScan) else None


@dataclass(frozen=True)
class TableRange:
    """An Excel table (Insert > Table) on a sheet: its name, range and totals rows."""

    name: str
    ref: str  # "A3:D20"
    totals: int  # rows at the bottom of ``ref`` that are the table's totals row


def sheet_tables(path: Path, sheet: str) -> list[TableRange]:
    """The Excel tables of an .xlsx sheet (``xl/tables/tableN.xml`` through the sheet's rels)."""
    part = _sheet_parts(path).get(sheet)
    if part is None:
        return []
    folder, name = part.rsplit("/", 1)
    found: list[TableRange] = []
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                rels = _small_xml(archive, f"{folder}/_rels/{name}.rels")
            except KeyError:
                return []
            for rel in rels.iter() if rels is not None else ():
                target = rel.get("Target") or ""
                if not rel.tag.endswith("Relationship") or not rel.get("Type", "").endswith(
                    "/table"
                ):
                    continue
                where = target.lstrip("/") if target.startswith("/") else f"{folder}/{target}"
                table = _small_xml(archive, posixpath.normpath(where))
                if table is None:
                    continue
                totals = int(table.get("totalsRowCount") or 0)
                found.append(
                    TableRange(table.get("displayName") or "", table.get("ref") or "", totals)
                )
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError):
        return found
    return found


def _refuse_grid(path: Path, where: str, rows: int, columns: int, far: str, limit: int) -> None:
    if columns > EXCEL_COLUMNS or rows > EXCEL_ROWS:
        raise InputError(
            f"{where}: cell {far} lies beyond Excel's last row or column; the file is damaged "
            "or was not written by a spreadsheet program",
            path=str(path),
        )
    if rows * columns > limit:
        raise InputError(
            f"{where}: its cells reach {far}, a used range of {rows:,} rows x {columns:,} "
            f"columns, more than the {limit:,} cells the importer reads from a sheet; "
            "delete the rows and columns beyond the data (or save the sheet as CSV)",
            path=str(path),
        )


# ----------------------------------------------------------------------------------------------


def _extent(path: Path, scan: SheetScan) -> tuple[int, int, str]:
    """(rows, columns, farthest reference): the first pass's bounds, or a second pass's."""
    if not scan.canonical:
        return _measure_elements(path, scan.part)
    if scan.rows * scan.columns <= MAX_GRID_CELLS or scan.columns > EXCEL_COLUMNS:
        return scan.rows, scan.columns, scan.far
    if scan.rows > _SHORT:  # a row seen with seven digits or more: that is the extent
        return scan.rows, scan.columns, scan.far
    # Wider than 32 columns: is any row beyond what that width allows?
    limit = MAX_GRID_CELLS // scan.columns
    beyond = re.compile(rb'<c r="([A-Za-z]*)0*(' + greater_than(limit).encode() + rb')"')
    tail = b""
    for block in _member_blocks(path, scan.part):
        data = tail + block
        cut = data.rfind(b"<")
        data, tail = (data[:cut], data[cut:]) if cut > 0 else (data, b"")
        if found := beyond.search(data):
            far = (found.group(1) + found.group(2)).decode("ascii").upper()
            return int(found.group(2)), scan.columns, far
    return limit, scan.columns, scan.far


def greater_than(n: int) -> str:
    """A regex for the decimal numbers (no leading zeros) greater than ``n`` (``n >= 0``)."""
    digits = str(n)
    options = [rf"[1-9]\d{{{len(digits)},}}"]  # more digits
    for i, ch in enumerate(digits):
        if ch != "9":
            rest = len(digits) - i - 1
            low = int(ch) + 1
            options.append(f"{digits[:i]}[{low}-9]" + (rf"\d{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(options) + ")"


def _measure_elements(path: Path, part: str) -> tuple[int, int, str]:
    """Bounds for any XML form: explicit references plus the cells and rows without one."""
    max_row = max_column = implicit_rows = implicit_cells = widest_implicit = 0
    far, tail = "", b""
    for block in _member_blocks(path, part):
        data = tail + block
        cut = data.rfind(b"<")
        data, tail = (data[:cut], data[cut:]) if cut > 0 else (data, b"")
        for element in _ELEMENT.finditer(data):
            kind, attrs = element.groups()
            found = _R_ATTR.search(attrs)
            ref = _REF.fullmatch(found.group(2).strip()) if found else None
            if kind == b"row":
                implicit_cells = 0
                if ref is None:
                    implicit_rows += 1
                elif ref.group(2) and int(ref.group(2)) > max_row:
                    max_row, far = int(ref.group(2)), ref.group(0).decode("ascii").upper()
            elif ref is None:
                implicit_cells += 1
                widest_implicit = max(widest_implicit, implicit_cells)
            else:
                column = column_number(ref.group(1))
                row = int(ref.group(2)) if ref.group(2) else 0
                if column > max_column or row > max_row:
                    far = ref.group(0).decode("ascii").upper()
                max_column, max_row = max(max_column, column), max(max_row, row)
        rows, columns = max_row + implicit_rows, max_column + widest_implicit
        if rows * columns > MAX_GRID_CELLS:
            break
    rows, columns = max_row + implicit_rows, max_column + widest_implicit
    far = far or f"row {rows:,}, column {columns:,}"
    return rows, columns, far


def _is_worksheet(name: str) -> bool:
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def _sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name -> worksheet part (``xl/worksheets/sheet1.xml``); {} when not resolvable."""
    try:
        with zipfile.ZipFile(path) as archive:
            book = _small_xml(archive, "xl/workbook.xml")
            rels = _small_xml(archive, "xl/_rels/workbook.xml.rels")
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError, ValueError):
        return {}
    if book is None or rels is None:
        return {}
    targets: dict[str, str] = {}
    for rel in rels.iter():
        rel_id, target = rel.get("Id"), rel.get("Target")
        if rel.tag.endswith("Relationship") and rel_id and target:
            where = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            targets[rel_id] = str(PurePosixPath(where))
    parts: dict[str, str] = {}
    for sheet in book.iter():
        name, rel_id = sheet.get("name"), sheet.get(_NS_REL)
        if sheet.tag.endswith("}sheet") and name is not None and rel_id in targets:
            parts[name] = targets[str(rel_id)]
    return parts


def _small_xml(archive: zipfile.ZipFile, name: str) -> ET.Element | None:
    info = archive.getinfo(name)
    if info.file_size > _SMALL_PART:
        return None
    return ET.fromstring(archive.read(info))


def _member_blocks(path: Path, part: str) -> Iterator[bytes]:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(part)
    with path.open("rb") as fh:
        yield from _inflate(fh, info, path)


def _inflate(fh: BinaryIO, info: zipfile.ZipInfo, path: Path) -> Iterator[bytes]:
    """The member's bytes as the archive really holds them (stops soon after ``file_size``)."""
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise InputError(
            f"{path.name} is not a valid {path.suffix.lower()} workbook (damaged zip archive: "
            f"bad local header for {info.filename})",
            path=str(path),
        )
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    left = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    produced = 0
    try:
        while left > 0 and produced <= info.file_size:
            packed = fh.read(min(left, 1 << 20))
            if not packed:
                break
            left -= len(packed)
            if inflater is None:
                produced += len(packed)
                yield packed
                continue
            while packed and produced <= info.file_size:
                block = inflater.decompress(packed, _BLOCK)
                packed = inflater.unconsumed_tail
                produced += len(block)
                _check_ratio(path, info, produced)
                if block:
                    yield block
            if inflater.eof:
                break
    except zlib.error as exc:
        raise InputError(
            f"{path.name} is not a valid {path.suffix.lower()} workbook (damaged zip archive: "
            f"{info.filename}: {exc})",
            path=str(path),
        ) from exc


def _check_ratio(path: Path, info: zipfile.ZipInfo, size: int) -> None:
    if size > _RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
        raise InputError(
            f"{path.name} looks like a zip bomb: {info.filename} unpacks to more than "
            f"{size >> 20:,} MB from {max(info.compress_size, 1) / 2**20:,.1f} MB (over "
            f"{MAX_RATIO}x); a real workbook never packs that tightly",
            path=str(path),
        )


def _too_big(path: Path, size: int, limit: int) -> InputError:
    return InputError(
        f"{path.name} unpacks to {size / 2**20:,.0f} MB, more than the {limit / 2**20:,.0f} MB "
        "the importer unpacks from a workbook (8x --max-file-mb); save the sheet as CSV",
        path=str(path),
    )
