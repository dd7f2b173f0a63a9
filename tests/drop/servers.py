"""Real servers for the remote drop tests, started by the tests on loopback.

* :func:`start_sshd`: OpenSSH's ``sshd`` as the current user, with a throw-away host key, a
  throw-away user key and an ``AuthorizedKeysFile`` in a temporary folder. Under CI (``CI`` set)
  a missing ``sshd`` fails the test (``.ci/run`` installs ``openssh-server``); elsewhere it skips,
  naming why.
* :func:`start_s3`: moto's S3 in server mode (``ThreadedMotoServer``), real HTTP on loopback.
* :class:`FaultProxy`: a TCP relay in front of either, which can cut a connection after some
  bytes or stop relaying (a server that hangs).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float) -> str:
    """ "" once sshd listens on ``port``; what it said if it exited first."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.stderr.read().decode(errors="replace").strip() if proc.stderr else "?"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return ""
        time.sleep(0.05)
    pytest.fail(f"sshd did not listen on 127.0.0.1:{port} within 10 s")


def keygen(path: Path) -> Path:
    """A throw-away ed25519 key pair at ``path`` (``path.pub`` beside it)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)],
                   check=True, timeout=30)  # fmt: skip
    return path


@dataclass
class SshServer:
    """A running sshd: where it listens, who logs in with which key, its known_hosts line."""

    port: int
    user: str
    user_key: Path
    known_hosts: Path
    host_key: Path
    proc: subprocess.Popen[bytes]

    def url(self, path: Path, port: int | None = None) -> str:
        """``sftp://user@127.0.0.1:port/path``."""
        return f"sftp://{self.user}@127.0.0.1:{port or self.port}{path}"

    def trust(self, port: int) -> None:
        """Add this server's host key to known_hosts for ``port`` too (a proxy in front)."""
        key = " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])
        with self.known_hosts.open("a") as f:
            f.write(f"[127.0.0.1]:{port} {key}\n")


def _sshd(folder: Path, host_key: Path, authorized: Path) -> tuple[subprocess.Popen[bytes], int]:
    """sshd listening on a free loopback port, and the port. A port is found free, then sshd
    binds it: a test running in another worker may take it in between, so a port sshd could not
    have is replaced by another (three tries)."""
    said = ""
    for _ in range(3):
        port = free_port()
        config = folder / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {folder / 'sshd.pid'}\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        )
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
        said = _wait_port(port, proc, time.monotonic() + 10)
        if not said:
            return proc, port
        if proc.stderr is not None:
            proc.stderr.close()
    pytest.fail(f"sshd exited at start: {said}")


@contextlib.contextmanager
def start_sshd(folder: Path) -> Iterator[SshServer]:
    """sshd on a loopback port, as the current user, keys and config in ``folder``."""
    if not os.path.exists(SSHD):
        if os.environ.get("CI"):
            pytest.fail(f"{SSHD} is missing; .ci/run installs openssh-server")
        pytest.skip(f"{SSHD} is not installed (apt-get install openssh-server)")
    folder.mkdir(parents=True, exist_ok=True)
    host_key, user_key = keygen(folder / "host_key"), keygen(folder / "user_key")
    authorized = folder / "authorized_keys"
    shutil.copy(user_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o600)
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation (root)
    proc, port = _sshd(folder, host_key, authorized)
    try:
        known = folder / "known_hosts"
        known.write_text("")
        server = SshServer(port, getpass.getuser(), user_key, known, host_key, proc)
        server.trust(port)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


@contextlib.contextmanager
def start_s3() -> Iterator[str]:
    """moto's S3 in server mode on a loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # port 0: the server binds a free port itself (a port found free first could be taken by
    # another worker before moto binds it, and moto would then never start)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class FaultProxy:
    """A TCP relay to ``127.0.0.1:target`` that can misbehave.

    Attributes:
        cut_after: close a connection once this many bytes went from the server to the client
            (for the first ``cuts`` connections that get that far).
        frozen: while set, nothing is relayed: the server seems to hang.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.cut_after: int | None = None
        self.cuts = 0
        self.frozen = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._open += [client, upstream]
            cut = [self.cut_after if self.cuts > 0 else None, 0]
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, cut), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, cut: list[int | None] | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen.is_set() and not self._closed:
                    time.sleep(0.05)
                if cut is not None and cut[0] is not None:
                    cut[1] = (cut[1] or 0) + len(data)
                    if cut[1] > cut[0]:
                        self.cuts -= 1
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self.frozen.clear()
        self._sock.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.close()
