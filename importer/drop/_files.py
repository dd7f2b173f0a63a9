"""The drop folder on disk: its layout, which inbox files are complete, safe moves."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import warnings
from datetime import UTC, datetime
from pathlib import Path

from importer.core import InputError

SUBFOLDERS = ("inbox", "processing", "done", "failed", "results")

PARTIAL_SUFFIXES = (
    ".part", ".partial", ".tmp", ".temp", ".filepart", ".crdownload", ".download", ".swp",
)  # fmt: skip
STATE_DIR = ".importer"


def now_iso() -> str:
    """The UTC time now, ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def stamp() -> str:
    """The UTC time now for file names: ``20250101T020000Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def is_temporary_name(name: str) -> bool:
    """Names never imported: hidden files, Office lock files, in-progress download suffixes."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or lowered.endswith(PARTIAL_SUFFIXES)


def regular_files(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """The regular files (no folders, no symlinks) in ``folder``, oldest mtime first."""
    found = []
    for entry in os.scandir(folder):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((Path(entry.path), st))
    return sorted(found, key=lambda f: (f[1].st_mtime_ns, f[0].name))


def signature(st: os.stat_result) -> tuple[int, int, int]:
    """Size, mtime and ctime: any write or rename changes it."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def inbox_listing(inbox: Path, owner: int | None = None) -> dict[str, tuple[int, ...]]:
    """The inbox's regular files, oldest first: name -> (size, mtime, ctime) in ns.

    The change time is part of the signature: every write, truncate, rename or ``utime`` moves
    it, by this machine's clock, so a client that restores the sender's mtime (``scp -p``)
    cannot make a file being written look unchanged. Files that :func:`refusal` turns away
    (given ``owner``) are left out: the pass refuses them without reading them.
    """
    listing: dict[str, tuple[int, ...]] = {}
    for path, st in regular_files(inbox):
        if owner is not None and refusal(path, owner) is not None:
            continue
        listing[path.name] = signature(st)
    return listing


def read_tail(folder: Path, name: str, size: int) -> bytes:
    """The last ``size`` bytes of ``folder/name``."""
    with (folder / name).open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return f.read(size)


NAME_BYTES = 255  # the longest file name most filesystems take (NAME_MAX), in bytes
_ROOM = 40  # bytes kept free for what is added to a name: -<timestamp>-<n>, .error.txt ...
_SUFFIX_BYTES = 16  # a longer "suffix" is part of the name, not an extension


def short_name(name: str, room: int = _ROOM) -> str:
    """``name``, or a shorter one that leaves ``room`` bytes for additions, still unique.

    A long name keeps its start and its extension, with 8 hex digits of the hash of the full
    name in between: two long names that start alike stay apart.
    """
    limit = NAME_BYTES - room
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    stem, suffix = os.path.splitext(name)
    if len(suffix.encode("utf-8", "surrogateescape")) > _SUFFIX_BYTES:
        stem, suffix = name, ""
    tag = "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    keep = limit - len(tag) - len(suffix.encode("utf-8", "surrogateescape"))
    head = stem.encode("utf-8", "surrogateescape")[:keep].decode("utf-8", "ignore")
    return head + tag + suffix


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/<stem>-<UTC timestamp>[-n]<suffix>`` when that is taken.

    A name too long to take the additions (or a note's ``.error.txt``) is shortened first
    (:func:`short_name`).
    """
    name = short_name(name)
    target, tag, n = folder / name, stamp(), 1
    stem, suffix = os.path.splitext(name)
    while target.exists():
        target = folder / f"{stem}-{tag}{'' if n == 1 else f'-{n}'}{suffix}"
        n += 1
    return target


def move_file(src: Path, dst: Path) -> Path:
    """Rename ``src`` to ``dst`` (copy + delete across filesystems)."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # EXDEV: inbox on another filesystem
            raise
        shutil.copy2(src, dst)
        src.unlink()
    return dst


def new_results_dir(folder: Path, name: str) -> Path:
    """``folder/<stem>-<UTC timestamp>`` (``-2``, ``-3`` ... when taken), not yet created."""
    base = f"{short_name(os.path.splitext(name)[0])}-{stamp()}"
    target, n = folder / base, 2
    while target.exists():
        target, n = folder / f"{base}-{n}", n + 1
    return target


def ensure_layout(root: str | Path) -> Path:
    """Check the drop folder exists and create its subfolders; returns it resolved.

    Raises:
        InputError: ``root`` is not an existing folder.

    Warns:
        UserWarning: ``inbox/`` had to be created in a folder that already holds files (were
            they dropped into the folder itself instead of its inbox?).
    """
    path = Path(root).expanduser()
    if not path.is_dir():
        raise InputError(f"drop folder not found: {path}", path=str(path))
    path = path.resolve()
    if not (path / "inbox").is_dir():
        strays = [p.name for p, _ in regular_files(path) if not is_temporary_name(p.name)]
        strays = [n for n in strays if n != "importer.toml"]
        if strays:
            warnings.warn(
                f"{path} had no inbox/ folder and holds files ({', '.join(strays[:3])}"
                f"{' ...' if len(strays) > 3 else ''}): files to import go into {path / 'inbox'}",
                UserWarning,
                stacklevel=2,
            )
    for name in (*SUBFOLDERS, STATE_DIR):
        (path / name).mkdir(exist_ok=True)
    return path


def refusal(path: Path, owner: int) -> str | None:
    """Why an inbox entry is not imported without reading it, or ``None`` when it may be.

    Only regular files that have one link and belong to the drop folder's owner are read: a
    hard link (or a symlink) placed in the inbox could otherwise make the importer, often run
    as a privileged user, read a file the dropper may not, and echo its first line in an error.
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        return f"refused: it is {kind}; drop the file itself"
    if st.st_nlink > 1:
        return (
            f"refused: it has {st.st_nlink} hard links (another name elsewhere); drop a copy "
            "of the file, not a link to it"
        )
    if st.st_uid != owner:
        return (
            f"refused: it belongs to user id {st.st_uid}, not to the drop folder's owner "
            f"({owner}); copy it in as that user"
        )
    return None


def odd_entries(inbox: Path) -> list[Path]:
    """Inbox entries that are neither regular files nor folders (symlinks, FIFOs, sockets)."""
    found = []
    for entry in os.scandir(inbox):
        if entry.name.startswith("."):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            found.append(Path(entry.path))
    return sorted(found)
