"""Builders of hostile and broken input files for tests/test_hostile.py (all made in tmp_path)."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl

from .conftest import HEADER

SHEET = "xl/worksheets/sheet1.xml"
ROW = [105, 202, 10010, "User"]
MB = 1 << 20


def workbook_bytes(rows: list[list[object]] | None = None) -> bytes:
    """A small valid .xlsx (openpyxl), as bytes."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Members"
    for row in [HEADER, *(rows or [ROW])]:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def rewrite_sheet(path: Path, edit: Callable[[bytes], bytes]) -> Path:
    """A valid workbook whose sheet XML went through ``edit``."""
    with (
        zipfile.ZipFile(io.BytesIO(workbook_bytes())) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info.filename, edit(data) if info.filename == SHEET else data)
    return path


def add_cells(xml: str) -> Callable[[bytes], bytes]:
    """An ``edit`` appending ``xml`` at the end of <sheetData>."""
    return lambda data: data.replace(b"</sheetData>", xml.encode() + b"</sheetData>")


def zip_bomb(path: Path, unpacked_mb: int, *, lie: bool = False) -> Path:
    """A workbook whose sheet XML is padded with ``unpacked_mb`` MB of spaces (packs ~1000x).

    ``lie``: the zip also declares the sheet's original, tiny size (a check of the declared
    sizes alone would let it through).
    """
    with (
        zipfile.ZipFile(io.BytesIO(workbook_bytes())) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in src.infolist():
            data = src.read(info)
            if info.filename != SHEET:
                out.writestr(info.filename, data)
                continue
            head, tail = data.split(b"<sheetData>")
            pad = b" " * MB
            with out.open(SHEET, "w") as member:
                member.write(head + b"<sheetData>")
                for _ in range(unpacked_mb):
                    member.write(pad)
                member.write(tail)
            real, small = len(data) + unpacked_mb * MB, len(data)
    if lie:
        raw = path.read_bytes()
        assert raw.count(struct.pack("<I", real)) == 2  # local header + central directory
        path.write_bytes(raw.replace(struct.pack("<I", real), struct.pack("<I", small)))
    return path


def encrypted_workbook(path: Path) -> Path:
    """What Office writes for a password-protected .xlsx: an OLE/CFB container (MS-CFB v3)
    holding the streams ``EncryptionInfo`` and ``EncryptedPackage`` (MS-OFFCRYPTO)."""
    end, free, nostream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF
    streams = {"EncryptionInfo": b"\x04\x00\x04\x00" + bytes(4092), "EncryptedPackage": bytes(4096)}
    fat, starts, sector = [0xFFFFFFFD, end], {}, 2  # sector 0: the FAT, sector 1: the directory
    for name, data in streams.items():
        count = len(data) // 512
        starts[name] = sector
        fat += [*range(sector + 1, sector + count), end]
        sector += count
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, right: int = nostream, child: int = nostream, start: int = end,
              size: int = 0) -> bytes:  # fmt: skip
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""
        fields = struct.pack("<HBBIII", len(raw) if name else 0, kind, 1, nostream, right, child)
        return raw.ljust(64, b"\0") + fields + bytes(36) + struct.pack("<IQ", start, size)

    directory = (
        entry("Root Entry", 5, child=1)
        + entry("EncryptionInfo", 2, right=2, start=starts["EncryptionInfo"], size=4096)
        + entry("EncryptedPackage", 2, start=starts["EncryptedPackage"], size=4096)
        + entry("", 0)
    )
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("d0cf11e0a1b11ae1"), bytes(16), 0x3E, 3, 0xFFFE, 9, 6, bytes(6),
        0, 1, 1, 0, 4096, end, 0, end, 0,
    ) + struct.pack("<109I", 0, *([free] * 108))  # fmt: skip
    body = struct.pack("<128I", *fat) + directory + b"".join(streams.values())
    path.write_bytes(header + body)
    return path


def big_line(path: Path, head: bytes, megabytes: int, tail: bytes) -> Path:
    """``head``, then one line of ``megabytes`` MB (no line break), then ``tail``; streamed."""
    with path.open("wb") as fh:
        fh.write(head)
        block = b"x" * MB
        for _ in range(megabytes):
            fh.write(block)
        fh.write(tail)
    return path


def ods_workbook(path: Path, rows_xml: str) -> Path:
    """An .ods whose sheet 'Members' holds the header, one row, then ``rows_xml``."""

    def cell(value: object) -> str:
        kind = f'float" office:value="{value}' if isinstance(value, int) else "string"
        text = f"<text:p>{value}</text:p>"
        return f'<table:table-cell office:value-type="{kind}">{text}</table:table-cell>'

    rows = "".join(
        f"<table:table-row>{''.join(map(cell, r))}</table:table-row>" for r in (HEADER, ROW)
    )
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')  # fmt: skip
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Members">'
        f"{rows}{rows_xml}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument'
        ':xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        mimetype = "application/vnd.oasis.opendocument.spreadsheet"
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
    return path
