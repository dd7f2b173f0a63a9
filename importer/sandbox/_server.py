"""The HTTP side: a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 serving :class:`SandboxApp`.

HTTP/1.1 with keep-alive, like the real API; every response is JSON with a Content-Length. A
dropped reply (``drop_after_commit``) shuts the socket down without writing a single byte, so the
client sees the connection closed with no response (httpx: ``RemoteProtocolError``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from importer.sandbox._app import API_PREFIX, Reply, Request, SandboxApp
from importer.sandbox._knobs import (
    DEFAULT_CONFIG,
    CounterBoard,
    Counters,
    FaultInjector,
    Knobs,
    SandboxConfig,
)
from importer.sandbox._store import Store

HOST = "127.0.0.1"
MEMBERSHIP_COLUMNS = ("id", "geography_id", "department_id", "member_id", "member_type")
MAX_BODY = 10 * 1024 * 1024
logger = logging.getLogger(__name__)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (socket.getfqdn), which can stall for
        # seconds on a machine with slow DNS; the sandbox only ever binds to loopback.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut down every client connection still open (idle keep-alive ones, mostly)."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("sandbox: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KantataSandbox/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after a minute
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stall
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox: %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY:
                    raise ValueError(f"request body larger than {MAX_BODY} bytes")
        # The size is checked from Content-Length before reading a byte of the body.
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise ValueError(f"Content-Length {length} out of range (at most {MAX_BODY} bytes)")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send(Reply(400, {"errors": [{"type": "system", "message": str(exc)}]}))
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        header_bytes = sum(len(f"{name}: {value}\r\n") for name, value in self.headers.items())
        request = Request(
            self.command,
            url.path,
            query,
            self.headers.get("Authorization"),
            body,
            self.path,
            header_bytes,
        )
        reply = self.server.app.handle(request)
        if reply.hang:  # stop_answering: hold the connection, answer nothing, until stopped
            self.server.stopping.wait()
            self._drop()
        elif reply.drop:
            self._drop()
            if reply.later is not None and not self.server.stopping.wait(reply.later_s):
                reply.later()  # a late commit: the server goes on after the client lost it
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        if reply.html is not None:
            payload = reply.html.encode("utf-8")
        self.send_response(reply.status)
        if reply.html is not None:
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")  # a proxy refusing a request closes it
            self.close_connection = True
        elif reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if reply.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.trickle_s <= 0:
            self.wfile.write(payload)
            return
        self.wfile.flush()
        for i in range(len(payload)):  # trickle_s: one byte every N seconds
            self.wfile.write(payload[i : i + 1])
            self.wfile.flush()
            if self.server.stopping.wait(reply.trickle_s):
                self.close_connection = True
                return

    def _drop(self) -> None:
        """Lose the reply: close the connection without writing any response bytes."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A local stand-in for the Kantata OX API, served from a background thread."""

    def __init__(self, config: SandboxConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.token: str = self.config.token or secrets.token_urlsafe(24)
        self._counters = CounterBoard()
        self._faults = FaultInjector(self.config)
        self._store: Store | None = Store(self.config.db_path, self.config.seed)
        self._final: list[dict[str, Any]] = []
        self._final_third_party: set[int] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    def start(self) -> SandboxServer:
        """Bind 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        if self._store is None:
            self._store = Store(self.config.db_path, self.config.seed)
        app = SandboxApp(
            self._store, self._faults, self._counters, self.token, self.config.max_per_page
        )
        try:
            self._httpd = _HTTPServer((HOST, self.config.port), app)
        except OSError:
            self._store.close()
            self._store = None
            raise
        self._base_url = f"http://{HOST}:{self._httpd.server_port}{API_PREFIX}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"kantata-sandbox-{self._httpd.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, let requests in flight finish (up to 5 s), close the database."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        self._counters.wait_idle(timeout=5.0)
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._store is not None:
            self._final = self._store.list_memberships().rows
            self._final_third_party = self._store.third_party_ids()
            self._store.close()
            self._store = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/v1`` (known once started)."""
        if self._base_url is None:
            raise RuntimeError("the sandbox has not been started")
        return self._base_url

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def counters(self) -> Counters:
        return self._counters.snapshot()

    def reset_counters(self) -> None:
        self._counters.reset()

    @property
    def knobs(self) -> Knobs:
        return self._faults.knobs

    def set_knobs(self, **kwargs: Any) -> None:
        """Change runtime switches (``knobs.KNOB_NAMES``); all are validated before any applies."""
        self._faults.set(**kwargs)

    def third_party_ids(self) -> set[str]:
        """Ids of the memberships "another client" created (``third_party_writes``), as served."""
        ids = self._store.third_party_ids() if self._store is not None else self._final_third_party
        return {str(i) for i in ids}

    @property
    def current_user_id(self) -> int | None:
        """The seed's token owner, served by ``GET /users/me``."""
        return self._store.current_user_id if self._store is not None else None

    def memberships(self) -> list[dict[str, Any]]:
        """Every stored membership, ids ascending, as served (string values)."""
        rows = self._store.list_memberships().rows if self._store is not None else self._final
        return [
            {key: str(row[key]) for key in MEMBERSHIP_COLUMNS}
            for row in sorted(rows, key=lambda row: int(row["id"]))
        ]


def _print(line: str) -> None:
    print(line, flush=True)


def serve_forever(config: SandboxConfig, *, announce: Callable[[str], None] = _print) -> None:
    """Run a sandbox in the foreground until Ctrl+C (or SIGTERM), then stop it cleanly."""
    server = SandboxServer(config).start()
    previous: Any = None
    if threading.current_thread() is threading.main_thread():

        def _terminate(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        seed = config.seed if config.seed is not None else "bundled"
        announce(f"Kantata sandbox listening on {server.base_url}")
        announce(f"  token:  {server.token}")
        announce(f"  knobs:  {server.knobs.describe()}")
        announce(f"  db:     {config.db_path} (seed: {seed})")
        announce(
            f'  try:    curl -H "Authorization: Bearer {server.token}"'
            f' "{server.base_url}/organizations?per_page=5"'
        )
        announce("Press Ctrl+C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    counters = server.counters
    announce(
        f"Sandbox stopped after {counters.requests} requests"
        f" ({counters.objects_created} memberships created)."
    )
