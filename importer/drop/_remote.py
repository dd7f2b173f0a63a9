"""A drop folder on another machine: SFTP, S3, or any filesystem fsspec knows.

The folder has the local layout (``inbox/``, ``processing/``, ``done/``, ``failed/``: folders on
SFTP, prefixes on S3). What differs from a local folder is how a file is *claimed* so that two
runs (on two machines, say) can never both take it:

* SFTP: an atomic rename ``inbox/X`` -> ``processing/X`` (SFTP v3 ``rename`` refuses to replace
  an existing name, and only one rename of a name can succeed), then a claim note
  ``processing/X.claim`` created exclusively (``O_EXCL`` on the server);
* S3: a lease object ``processing/X.claim`` put with ``If-None-Match: *`` (a conditional write:
  only one put of a key that does not exist yet succeeds), then ``X`` copied with
  ``x-amz-copy-source-if-match`` (only the version seen complete) and deleted from ``inbox/``;
* anything else fsspec opens: the lease created with mode ``"xb"``, then a move.

Whoever holds ``processing/X.claim`` owns ``processing/X``; the note names its host and local
work folder, so a run resumes its own claims after a crash and leaves other machines' alone.
Every network operation has a deadline (``network_timeout``): a server that stops answering ends
the operation, never the run's bounded time.

Credentials never pass through the command line or the config in clear: SSH keys (a key file
named in the config, ``~/.ssh/id_*``, or the SSH agent) with the host key checked against
``known_hosts`` (an unknown or changed key stops the run); for S3 the standard AWS chain
(environment, profile, instance role).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import posixpath
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from importer.core import EXIT_REMOTE, ImporterError, printable

T = TypeVar("T")

REMOTE_SCHEMES = ("sftp", "ssh", "s3")
CLAIM_SUFFIX = ".claim"
#: Tries of one network operation that failed on the way (a dropped connection, a timeout).
NETWORK_TRIES = 3


class RemoteError(ImporterError):
    """The remote drop folder failed: unreachable, a host key that changed, refused credentials.

    ``transient`` errors (a dropped connection, a timeout) may pass by the next run.
    """

    exit_code = EXIT_REMOTE

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_remote(location: str) -> bool:
    """``location`` is a URL (``sftp://``, ``s3://``, ``memory://`` ...), not a local path."""
    scheme = urlsplit(location).scheme
    return "://" in location and len(scheme) > 1


@dataclass(frozen=True)
class RemoteSpec:
    """A remote drop folder's address (never with a password: refused when parsing)."""

    scheme: str
    host: str
    port: int | None
    user: str | None
    path: str

    @property
    def url(self) -> str:
        """The address as shown in lines and records."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{user}{self.host}{port}{self.path}"

    def slug(self) -> str:
        """A file-name-safe name for its local work folder."""
        readable = "".join(c if c.isalnum() or c in "-._" else "-" for c in self.url)
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:8]
        return f"{readable.strip('-')[:80]}-{digest}"


def parse_remote(location: str) -> RemoteSpec:
    """Parse ``sftp://user@host[:port]/path`` or ``s3://bucket/prefix`` (or another fsspec URL).

    Raises:
        RemoteError: the URL holds a password, or lacks a host or bucket.
    """
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if parts.password is not None:
        raise RemoteError(
            f"{scheme}:// URL with a password: give none on the command line; use an SSH key "
            "(ssh_key_file in the config, ~/.ssh, or the SSH agent) or the AWS credential chain"
        )
    host = parts.hostname or ""
    if scheme in REMOTE_SCHEMES and not host:
        raise RemoteError(f"{printable(location)}: no host or bucket in the URL")
    path = unquote(parts.path) or "/"
    if scheme in ("sftp", "ssh") and not path.startswith("/"):
        path = "/" + path
    return RemoteSpec(
        scheme="sftp" if scheme == "ssh" else scheme,
        host=host,
        port=parts.port,
        user=unquote(parts.username) if parts.username else None,
        path=path.rstrip("/") or "/",
    )


@dataclass(frozen=True)
class Access:
    """How to reach a remote folder (from the drop config; no secret in here).

    Attributes:
        timeout: seconds each network operation may take (connect, each read or write).
        ssh_key_file: an SSH private key to offer (besides the agent's and ``~/.ssh``'s).
        known_hosts: the known_hosts file to check the server's host key against.
        endpoint_url: an S3-compatible endpoint instead of AWS (MinIO, a test server).
    """

    timeout: float = 30.0
    ssh_key_file: str | None = None
    known_hosts: str | None = None
    endpoint_url: str | None = None


def _sftp_error(exc: BaseException, spec: RemoteSpec, known: str) -> RemoteError:
    import paramiko

    where = f"{spec.host}:{spec.port or 22}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return RemoteError(
            f"sftp server {where} presented a host key that differs from the one in {known}: "
            "the run stopped without touching anything (if the server was reinstalled, check "
            f"its new key and update {known})"
        )
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return RemoteError(
            f"sftp server {where} is not in {known}: add its host key (ssh-keyscan -p "
            f"{spec.port or 22} {spec.host} >> {known}, after checking it)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return RemoteError(
            f"sftp server {where} refused the login of {spec.user or getpass.getuser()}: "
            "check the SSH key (ssh_key_file, ~/.ssh, the agent) and authorized_keys"
        )
    return RemoteError(
        f"sftp server {where}: {type(exc).__name__}: {printable(str(exc)) or 'no answer'}",
        transient=True,
    )


def _open_sftp(spec: RemoteSpec, access: Access) -> Any:
    """An fsspec SFTP filesystem whose connection checks the host key and has deadlines."""
    import paramiko
    from fsspec.implementations.sftp import SFTPFileSystem

    known = os.path.expanduser(access.known_hosts or "~/.ssh/known_hosts")

    class CheckedSFTP(SFTPFileSystem):  # type: ignore[misc]
        """fsspec's SFTP with the host key checked against known_hosts, never auto-added."""

        def _connect(self) -> None:
            client = paramiko.SSHClient()
            if os.path.isfile(known):
                client.load_host_keys(known)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            t = access.timeout
            try:
                client.connect(
                    spec.host,
                    port=spec.port or 22,
                    username=spec.user or getpass.getuser(),
                    key_filename=access.ssh_key_file,
                    allow_agent=True,
                    look_for_keys=access.ssh_key_file is None,
                    timeout=t,
                    banner_timeout=t,
                    auth_timeout=t,
                    channel_timeout=t,
                )
                self.client = client
                self.ftp = client.open_sftp()
                self.ftp.get_channel().settimeout(t)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                client.close()
                raise _sftp_error(exc, spec, known) from None

    return CheckedSFTP(spec.host, skip_instance_cache=True)


def _open_s3(spec: RemoteSpec, access: Access) -> Any:
    import s3fs

    t = access.timeout
    return s3fs.S3FileSystem(
        endpoint_url=access.endpoint_url,
        skip_instance_cache=True,
        use_listings_cache=False,
        config_kwargs={
            "connect_timeout": t,
            "read_timeout": t,
            "retries": {"max_attempts": 2, "mode": "standard"},
        },
    )


def _sig(info: dict[str, Any]) -> tuple[int, ...]:
    """size, mtime (us), a number from the ETag: any change of the file changes it."""
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or 0
    if isinstance(mtime, datetime):
        mtime = mtime.timestamp()
    etag = str(info.get("ETag") or info.get("etag") or "")
    return int(info.get("size") or 0), int(float(mtime) * 1e6), zlib.crc32(etag.encode())


class RemoteFolder:
    """One remote drop folder: listing, reading, claiming and moving its files.

    Every method turns the filesystem's failures into :class:`RemoteError`; a transient one
    (a dropped connection, a timeout) is tried again on a fresh connection first.
    """

    def __init__(self, spec: RemoteSpec, access: Access) -> None:
        self.spec, self.access = spec, access
        self.fs: Any = None

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Open (or reopen) the connection.

        Raises:
            RemoteError: unreachable, host key, login refused.
        """
        self.close()
        if self.spec.scheme == "sftp":
            self.fs = _open_sftp(self.spec, self.access)
        elif self.spec.scheme == "s3":
            self.fs = _open_s3(self.spec, self.access)
        else:
            import fsspec

            try:
                self.fs = fsspec.filesystem(self.spec.scheme, skip_instance_cache=True)
            except (ImportError, ValueError) as exc:
                raise RemoteError(f"{self.spec.scheme}:// is not supported: {exc}") from None

    def close(self) -> None:
        fs, self.fs = self.fs, None
        client = getattr(fs, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _retry(self, what: str, op: Callable[[], T]) -> T:
        """Run ``op``, reconnecting after a transient failure, ``NETWORK_TRIES`` times."""
        last: RemoteError | None = None
        for attempt in range(NETWORK_TRIES):
            if attempt:
                time.sleep(min(2.0, 0.5 * attempt))
            try:
                if self.fs is None:
                    self.connect()
                return op()
            except RemoteError as exc:
                if not exc.transient:
                    raise
                last = exc
            except PermissionError as exc:
                raise RemoteError(
                    f"{self.spec.url}: {what}: permission denied ({printable(str(exc))})"
                ) from None
            except (FileNotFoundError, FileExistsError) as exc:
                raise RemoteError(f"{self.spec.url}: {what}: {printable(str(exc))}") from None
            except (OSError, EOFError, TimeoutError) as exc:
                last = self._as_error(exc, what)
                if not last.transient:
                    raise last from None
            except Exception as exc:  # paramiko.SSHException, botocore errors ...
                last = self._as_error(exc, what)
                if not last.transient:
                    raise last from None
            self.close()  # start the next try on a fresh connection
        assert last is not None
        raise last

    def _as_error(self, exc: BaseException, what: str) -> RemoteError:
        text = printable(str(exc)) or type(exc).__name__
        denied = "AccessDenied" in text or "Access Denied" in text or "Forbidden" in text
        return RemoteError(
            f"{self.spec.url}: {what}: {type(exc).__name__}: {text}", transient=not denied
        )

    # -- paths --------------------------------------------------------------------------------

    def path(self, folder: str, name: str = "") -> str:
        """The filesystem path of ``folder/name`` under the drop folder."""
        base = self.spec.path if self.spec.scheme != "s3" else self.spec.host + self.spec.path
        return (
            posixpath.join(base.rstrip("/") or "/", folder, name)
            if name
            else (posixpath.join(base.rstrip("/") or "/", folder))
        )

    def where(self, folder: str, name: str) -> str:
        """``folder/name`` as a URL, for records."""
        return f"{self.spec.url.rstrip('/')}/{folder}/{name}"

    # -- operations ---------------------------------------------------------------------------

    def ensure_layout(self, folders: tuple[str, ...]) -> None:
        """Create the folders (a no-op on object stores)."""
        if self.spec.scheme == "s3":
            self._retry("list the bucket", lambda: self.fs.ls(self.spec.host, refresh=True))
            return
        for folder in folders:
            self._makedirs(self.path(folder))

    def _makedirs(self, path: str) -> None:
        def make() -> None:
            self.fs.makedirs(path, exist_ok=True)

        self._retry(f"create {path}", make)

    def listing(self, folder: str) -> dict[str, tuple[int, ...]]:
        """``folder``'s files, oldest first: name -> (size, mtime, ETag number)."""

        def ls() -> list[dict[str, Any]]:
            try:
                if self.spec.scheme == "s3":
                    found: list[dict[str, Any]] = self.fs.ls(
                        self.path(folder), detail=True, refresh=True
                    )
                else:
                    found = self.fs.ls(self.path(folder), detail=True)
            except FileNotFoundError:
                return []
            return found

        files = [i for i in self._retry(f"list {folder}/", ls) if i.get("type") == "file"]
        files.sort(key=lambda i: (_sig(i)[1], i["name"]))
        return {posixpath.basename(i["name"].rstrip("/")): _sig(i) for i in files}

    def tail(self, folder: str, name: str, size: int) -> bytes:
        """The last ``size`` bytes of ``folder/name``."""
        p = self.path(folder, name)

        def read() -> bytes | None:
            try:
                total = int(self.fs.info(p)["size"])
                data: bytes = self.fs.cat_file(p, start=max(0, total - size), end=total)
            except FileNotFoundError:
                return None
            return data

        found = self._retry(f"read the end of {name}", read)
        if found is None:  # taken meanwhile (another run, the uploader)
            raise FileNotFoundError(p)
        return found

    def read_text(self, folder: str, name: str) -> str | None:
        """A small text file's content, or ``None`` when it is not there."""
        p = self.path(folder, name)

        def read() -> str | None:
            try:
                data: bytes = self.fs.cat_file(p)
            except FileNotFoundError:
                return None
            return data.decode("utf-8", "replace")

        return self._retry(f"read {folder}/{name}", read)

    def write(self, folder: str, name: str, data: bytes) -> None:
        """Write a small file (a note, a result)."""
        p = self.path(folder, name)
        self._retry(f"write {folder}/{name}", lambda: self.fs.pipe_file(p, data))

    def create_exclusive(self, folder: str, name: str, data: bytes) -> bool:
        """Create ``folder/name`` only if it does not exist; ``False`` when it did."""
        p = self.path(folder, name)

        def create() -> bool:
            try:
                if self.spec.scheme == "s3":
                    self.fs.pipe_file(p, data, mode="create")
                elif self.spec.scheme == "sftp":
                    with self.fs.ftp.open(p, "wx") as f:  # paramiko: "x" alone cannot write
                        f.write(data)
                else:
                    with self.fs.open(p, "xb") as f:
                        f.write(data)
            except FileExistsError:
                return False
            except OSError:
                if self.spec.scheme == "sftp" and self.fs.exists(p):
                    return False  # SFTP v3 reports an existing name as a plain failure
                raise
            return True

        return self._retry(f"create {folder}/{name}", create)

    def move(self, src: tuple[str, str], dst: tuple[str, str], *, etag_of: str = "") -> bool:
        """Move ``src`` to ``dst`` without replacing anything; ``False`` when ``src`` is gone.

        On S3 the copy is conditional on the version seen (``etag_of``: its ETag), so a file
        replaced in the meantime is not moved.
        """
        a, b = self.path(*src), self.path(*dst)

        def mv() -> bool:
            try:
                if self.spec.scheme == "sftp":
                    self.fs.ftp.rename(a, b)
                elif self.spec.scheme == "s3":
                    extra = {"CopySourceIfMatch": etag_of} if etag_of else {}
                    bucket, key_a = a.split("/", 1)
                    self.fs.call_s3(
                        "copy_object",
                        Bucket=bucket,
                        Key=b.split("/", 1)[1],
                        CopySource={"Bucket": bucket, "Key": key_a},
                        **extra,
                    )
                    self.fs.rm_file(a)
                else:
                    if self.fs.exists(b):
                        raise FileExistsError(b)
                    self.fs.mv(a, b)
            except FileNotFoundError:
                return False
            except OSError:
                if self.spec.scheme == "sftp" and not self.fs.exists(a):
                    return False  # taken by another run (SFTP v3: a plain failure)
                raise
            return True

        return self._retry(f"move {src[0]}/{src[1]} to {dst[0]}/", mv)

    def etag(self, folder: str, name: str) -> str | None:
        """The ETag of an object (S3; ``""`` elsewhere), or ``None`` when it is gone."""
        if self.spec.scheme != "s3":
            return ""
        p = self.path(folder, name)

        def look() -> str | None:
            try:
                return str(self.fs.info(p).get("ETag") or "")
            except FileNotFoundError:
                return None

        return self._retry(f"look at {name}", look)

    def delete(self, folder: str, name: str) -> None:
        """Remove ``folder/name`` (gone already is fine)."""
        p = self.path(folder, name)

        def rm() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(p)

        self._retry(f"remove {folder}/{name}", rm)

    def download(self, folder: str, name: str, local: Path) -> None:
        """Copy ``folder/name`` to ``local``; checked against the remote size.

        A connection dropped on the way is tried again on a fresh connection.
        """
        p = self.path(folder, name)

        def get() -> None:
            size = int(self.fs.info(p)["size"])
            if self.spec.scheme == "sftp":
                self.fs.ftp.get(p, str(local))
            else:
                self.fs.get_file(p, str(local))
            got = local.stat().st_size
            if got != size:
                raise ConnectionError(f"got {got} of {size} bytes")

        self._retry(f"download {folder}/{name}", get)

    def upload_dir(self, local: Path, folder: str, name: str) -> None:
        """Copy the files of ``local`` (not its journal) to ``folder/name/``."""
        for item in sorted(local.iterdir()):
            if item.is_file() and not item.name.startswith("journal"):
                base = posixpath.join(name, item.name)
                if self.spec.scheme != "s3":
                    self._makedirs(self.path(folder, name))
                self.write(folder, base, item.read_bytes())


@dataclass(frozen=True)
class Claim:
    """Who holds a file in ``processing/``: the content of its claim note."""

    claim: str
    host: str
    work_dir: str
    pid: int
    at: str
    size: int = 0

    @classmethod
    def mine(cls, work_dir: Path, size: int, at: str) -> Claim:
        return cls(
            claim=os.urandom(8).hex(),
            host=socket.gethostname(),
            work_dir=str(work_dir),
            pid=os.getpid(),
            at=at,
            size=size,
        )

    def encode(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def decode(cls, text: str | None) -> Claim | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (ValueError, TypeError, KeyError):
            return None

    def is_mine(self, work_dir: Path) -> bool:
        """Claimed by a run of this host and work folder (which only one run at a time uses)."""
        return self.host == socket.gethostname() and self.work_dir == str(work_dir)

    def describe(self) -> str:
        return f"host {self.host} (work folder {self.work_dir}, pid {self.pid}) since {self.at}"


def files_in(listing: dict[str, tuple[int, ...]]) -> Iterator[str]:
    """The data files of a ``processing/`` listing (claim notes left out)."""
    return (n for n in listing if not n.endswith(CLAIM_SUFFIX))
