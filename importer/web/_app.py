"""The HTTP side of ``importer serve``: the application (pages from ``_pages``, the JSON API
from ``_api``), the guards around them, and the loopback server.

Guards, on every request: the ``Host`` header must be this server's loopback address (no DNS
rebinding); the secret from the printed URL, kept in an HttpOnly SameSite=Strict cookie, must be
presented (other local users and other sites cannot drive it); every request that changes
something must carry the page's CSRF token in ``X-CSRF-Token`` and, if the browser sends one, an
``Origin`` of this server. The API token stays in this process: no page or answer contains it.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from importer.core import ApiSettings, Settings
from importer.web import _api, _pages
from importer.web._store import Store

_HERE = Path(__file__).resolve().parent
COOKIE = "importer_session"
_SAFE = {"GET", "HEAD", "OPTIONS"}


@dataclass
class WebConfig:
    """How ``importer serve`` runs.

    Attributes:
        work_dir: the working folder (uploads, edits, runs).
        api: where to send (``None``: no token; the page can check files but not send).
        port: the loopback port the server listens on (used for the Host/Origin checks).
        secret: the key in the printed URL (random when not given).
        batch_size: objects per bulk request, as ``run --batch-size``.
        extra_hosts: more Host values to accept (the test client's ``testserver``).
    """

    work_dir: Path
    api: ApiSettings | None = None
    port: int = 0
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    batch_size: int = Settings().options.batch_size  # run's default, defined once
    extra_hosts: tuple[str, ...] = ()

    @property
    def hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}", *self.extra_hosts}

    def url(self, host: str = "127.0.0.1") -> str:
        """The address to open, with the secret."""
        return f"http://{host}:{self.port}/?{urlencode({'key': self.secret})}"


def _csrf(config: WebConfig) -> str:
    return hmac.new(config.secret.encode(), b"csrf", "sha256").hexdigest()


class _Guard(BaseHTTPMiddleware):
    """Host, secret and CSRF checks (see the module's docstring), and safe response headers."""

    def __init__(self, app: Any, config: WebConfig) -> None:
        super().__init__(app)
        self.config = config

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        config = self.config
        host = request.headers.get("host", "")
        if host not in config.hosts:
            return PlainTextResponse("unknown host", status_code=421)
        key = request.query_params.get("key")
        cookie = request.cookies.get(COOKIE, "")
        if request.method == "GET" and key is not None:
            if not hmac.compare_digest(key.encode(), config.secret.encode()):
                return PlainTextResponse("wrong key: use the URL importer serve printed", 403)
            response: Response = RedirectResponse(request.url.path, status_code=303)
            response.set_cookie(COOKIE, config.secret, httponly=True, samesite="strict", path="/")
            return _harden(response)
        if not hmac.compare_digest(cookie.encode(), config.secret.encode()):
            return PlainTextResponse(
                "not signed in: open the URL importer serve printed (it has the key)", 403
            )
        if request.method not in _SAFE:
            origin = request.headers.get("origin")
            if origin is not None and origin.removeprefix("http://") not in config.hosts:
                return PlainTextResponse("cross-site request refused", 403)
            token = request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(token.encode(), _csrf(config).encode()):
                return PlainTextResponse("missing or wrong CSRF token", 403)
        return _harden(await call_next(request))


def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(config: WebConfig) -> Starlette:
    """The web application for ``config`` (its store is opened now)."""
    store = Store(config.work_dir, config.api, batch_size=config.batch_size)
    routes = [
        *_pages.ROUTES,
        *_api.ROUTES,
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Guard, config=config)])
    app.state.web = _api.Web(store=store, csrf=_csrf(config))
    app.state.store = store
    return app


def bind_loopback(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: headers and body, written separately, leave at once
    # instead of waiting for the client's delayed ACK (40 ms per keep-alive request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def serve(config: WebConfig, *, sock: socket.socket | None = None) -> None:
    """Run the server on loopback until interrupted (``config.port`` must be the bound port)."""
    import uvicorn

    sock = sock or bind_loopback(config.port)
    config.port = sock.getsockname()[1]
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    server.run(sockets=[sock])
