"""Text files for :mod:`importer.read`: their encoding; the bytes that make them unreadable.

Why hand-written: charset-normalizer misread a cp1252 file; spreadsheets write UTF-8 or cp1252.

The whole file is checked once (fast for ASCII): UTF-8, else Windows-1252; a UTF-16 BOM selects
UTF-16. A NUL byte anywhere, or a byte neither encoding decodes, is an :class:`InputError` naming
the line and the offset.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import BinaryIO

from importer.core import InputError

SCAN_BLOCK = 4 << 20  # bytes per read
_ZIP = b"PK\x03\x04"
_OLE = bytes.fromhex("d0cf11e0a1b11ae1")


def detect_encoding(path: Path) -> str:
    """utf-8(-sig) when every byte decodes as UTF-8, else cp1252; utf-16 when it has that BOM."""
    with path.open("rb") as fh:
        head = fh.read(8192)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if b"\x00" in head:
            if head.startswith(_ZIP):
                kind = "it looks like an .xlsx or .ods workbook; give it that extension"
            elif head.startswith(_OLE):
                kind = "it looks like an .xls workbook; give it that extension"
            elif _utf16_without_bom(head):
                kind = "it looks like UTF-16 text without a byte-order mark; save it as 'CSV UTF-8'"
            else:
                kind = "it holds binary data"
            raise InputError(f"{path.name} is not a text file ({kind})", path=str(path))
        fh.seek(0)
        bad = _first_undecodable(fh, "utf-8")
        if bad is None:
            return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        if bad[1]:
            fh.seek(0)
            bad = _first_undecodable(fh, "cp1252") or (0, 0)
            if bad == (0, 0):
                return "cp1252"
    offset, byte = bad
    line = _line_of(path, offset)
    if byte == 0:
        raise InputError(
            f"{path.name}, line {line}: a NUL byte (0x00) at offset {offset:,}; text never holds "
            "one, so the file is damaged or is not a text file",
            path=str(path),
        )
    raise InputError(
        f"{path.name} is neither UTF-8 nor Windows-1252 text (byte 0x{byte:02x} at offset "
        f"{offset:,}, line {line}, cannot be decoded); save it as 'CSV UTF-8'",
        path=str(path),
    )


def _utf16_without_bom(head: bytes) -> bool:
    """Every other byte NUL: UTF-16 text (little- or big-endian) that lost its byte-order mark."""
    sample = head[: len(head) - len(head) % 2]
    return len(sample) >= 4 and (
        sample[1::2].count(0) * 10 >= len(sample) * 4
        or sample[0::2].count(0) * 10 >= len(sample) * 4
    )


def _line_of(path: Path, offset: int) -> int:
    """The 1-based line number of a byte offset (counting LF; CR-only files count as one line)."""
    lines, done = 1, 0
    with path.open("rb") as fh:
        while done < offset and (block := fh.read(min(SCAN_BLOCK, offset - done))):
            lines += block.count(b"\n")
            done += len(block)
    return lines


def _first_undecodable(fh: BinaryIO, encoding: str) -> tuple[int, int] | None:
    """(offset, byte) of the first byte that does not decode or is NUL; None when all is well."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0  # file offset of the first byte held by the decoder
    while True:
        block = fh.read(SCAN_BLOCK)
        held = len(decoder.getstate()[0])
        nul = block.find(b"\x00")
        if nul >= 0:
            try:
                decoder.decode(block[:nul])
            except UnicodeDecodeError as exc:
                return offset + exc.start, exc.object[exc.start]
            return offset + held + nul, 0
        if not held and block.isascii():  # fast path: ASCII is valid in both encodings
            if not block:
                return None
            offset += len(block)
            continue
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            return offset + exc.start, exc.object[exc.start]
        if not block:
            return None
        offset += held + len(block) - len(decoder.getstate()[0])


def too_long(path: Path, limit: int, after: int) -> InputError:
    """A record does not fit in the largest block: a huge line, or a quote never closed."""
    line, since = 1, 0  # since: bytes after the last line break
    with path.open("rb") as fh:
        while block := fh.read(SCAN_BLOCK):  # smaller than limit: only the line across blocks
            first = block.find(b"\n")
            if since + (first if first >= 0 else len(block)) > limit:
                return InputError(
                    f"{path.name}, line {line}: longer than {limit >> 20} MB, more than a row can "
                    "be; the file is damaged or its line breaks are missing",
                    path=str(path),
                )
            if first < 0:
                since += len(block)
                continue
            line += block.count(b"\n")
            since = len(block) - block.rfind(b"\n") - 1
    return InputError(
        f'{path.name}: a quoted value after row {after} is never closed (look for a stray " '
        f"character), or a row is longer than {limit >> 20} MB",
        path=str(path),
    )
