"""The HTTP side of ``importer serve``: pages, a small JSON API, and the guards around them.

Guards, on every request: the ``Host`` header must be this server's loopback address (no DNS
rebinding); the secret from the printed URL, kept in an HttpOnly SameSite=Strict cookie, must be
presented (other local users and other sites cannot drive it); every request that changes
something must carry the page's CSRF token in ``X-CSRF-Token`` and, if the browser sends one, an
``Origin`` of this server. The API token stays in this process: no page or answer contains it.
"""

from __future__ import annotations

import hmac
import json
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from importer.core import ApiSettings, ImporterError
from importer.web import _jobs
from importer.web._store import DOWNLOADS, Store

_HERE = Path(__file__).resolve().parent
COOKIE = "importer_session"
_SAFE = {"GET", "HEAD", "OPTIONS"}
_PAGE_LIMIT = 500


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
    batch_size: int = 100
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


def _problem(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _int(request: Request, name: str, default: int, top: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return max(0, min(value, top))


def create_app(config: WebConfig) -> Starlette:
    """The web application for ``config`` (its store is opened now)."""
    store = Store(config.work_dir, config.api, batch_size=config.batch_size)
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    csrf = _csrf(config)

    def page(request: Request, name: str, **context: Any) -> Response:
        base = {
            "csrf": csrf,
            "has_api": config.api is not None,
            "api_host": _host_of(config.api),
            "supports_differs": _jobs.supports_differs(),
            "supports_undo": _jobs.supports_undo(),
        }
        return templates.TemplateResponse(request, name, {**base, **context})

    async def index(request: Request) -> Response:
        uploads = sorted(store.uploads.values(), key=lambda u: str(u.meta["created"]))
        return page(
            request,
            "index.html",
            uploads=[u.meta for u in reversed(uploads)],
            runs=[r.status() for r in store.all_runs()],
            accept=",".join(sorted(_jobs.ALLOWED_SUFFIXES)),
        )

    async def upload_page(request: Request) -> Response:
        try:
            upload = await run_in_threadpool(store.upload, request.path_params["uid"])
        except KeyError:
            return PlainTextResponse("no such upload", 404)
        return page(request, "upload.html", upload=upload.meta)

    async def run_page(request: Request) -> Response:
        try:
            run = store.run(request.path_params["rid"])
        except KeyError:
            return PlainTextResponse("no such run", 404)
        return page(request, "run.html", run=run.status())

    async def create_upload(request: Request) -> Response:
        name = request.query_params.get("name", "")[:200]
        suffix = Path(name).suffix.lower()
        if suffix not in _jobs.ALLOWED_SUFFIXES:
            allowed = ", ".join(sorted(_jobs.ALLOWED_SUFFIXES))
            return _problem(f"{name or 'the file'}: not a file type the importer reads ({allowed})")
        limit = _jobs.max_upload_bytes(suffix)
        uid, target = store.upload_path(suffix)
        size = 0
        with open(target, "wb") as fh:
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    fh.close()
                    store.uploads.pop(uid, None)
                    shutil.rmtree(target.parent, ignore_errors=True)
                    return _problem(
                        f"{name} is larger than the {limit >> 20} MB limit for this file type",
                        413,
                    )
                fh.write(piece)
        if size == 0:
            shutil.rmtree(target.parent, ignore_errors=True)
            return _problem(f"{name} is empty")
        upload = await run_in_threadpool(store.add_upload, uid, name, suffix, size)
        return JSONResponse({"id": upload.id, "url": f"/uploads/{upload.id}"}, status_code=201)

    def upload_state(uid: str) -> dict[str, Any]:
        upload = store.upload(uid)
        source, checked = upload.source, upload.checked
        return {
            "id": upload.id,
            "name": upload.meta["name"],
            "error": upload.error,
            "sheet": source.sheet if source else upload.meta.get("sheet"),
            "sheets": list(source.sheets) if source else upload.meta.get("sheets", []),
            "headers": list(source.headers) if source else [],
            "notes": list(source.notes) if source else [],
            "chosen": upload.chosen,
            "suggested": checked.suggested if checked else {},
            "choices": _jobs.column_choices(),
            "mapping_error": checked.mapping_error if checked else None,
            "counts": upload.counts(),
            "edited": upload.edited(),
            "plan": upload.plan_counts,
            "plan_error": upload.plan_error,
        }

    async def get_upload(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(upload_state, request.path_params["uid"]))
        except KeyError:
            return _problem("no such upload", 404)

    async def delete_upload(request: Request) -> Response:
        try:
            await run_in_threadpool(store.delete_upload, request.path_params["uid"])
        except KeyError:
            return _problem("no such upload", 404)
        return JSONResponse({"deleted": True})

    async def setup_upload(request: Request) -> Response:
        body = await _json(request)
        uid = request.path_params["uid"]

        def work() -> dict[str, Any]:
            upload = store.upload(uid)
            sheet, chosen = body.get("sheet"), body.get("chosen")
            with upload.lock:
                if isinstance(sheet, str) and sheet != upload.meta.get("sheet"):
                    upload.meta.update(sheet=sheet, chosen={})
                    upload.save()
                    upload.load(store.api)
                    if upload.checked is not None:
                        upload.meta["chosen"] = dict(upload.checked.suggested)
                        upload.save()
                elif isinstance(chosen, dict) and upload.source is not None:
                    allowed = {"", _jobs.IGNORE, *_jobs.column_choices()}
                    headers = set(upload.source.headers)
                    upload.meta["chosen"] = {
                        str(h): str(c) for h, c in chosen.items() if h in headers and c in allowed
                    }
                    upload.save()
                    upload.plan_counts = None
                    upload.recheck(store.api)
            return upload_state(uid)

        try:
            return JSONResponse(await run_in_threadpool(work))
        except KeyError:
            return _problem("no such upload", 404)

    async def rows(request: Request) -> Response:
        errors_only = request.query_params.get("errors", "1") == "1"
        offset = _int(request, "offset", 0, 1 << 40)
        limit = _int(request, "limit", 50, _PAGE_LIMIT)
        try:
            upload = store.upload(request.path_params["uid"])
        except KeyError:
            return _problem("no such upload", 404)
        from_row = request.query_params.get("from_row")
        total, offset, shown = await run_in_threadpool(
            partial(
                upload.page,
                errors_only=errors_only,
                offset=offset,
                limit=limit,
                from_row=int(from_row) if from_row and from_row.isdigit() else None,
            )
        )
        headers = list(upload.source.headers) if upload.source else []
        return JSONResponse(
            {
                "total": total,
                "offset": offset,
                "headers": headers,
                "rows": shown,
                "counts": upload.counts(),
            }
        )

    async def edit_cell(request: Request) -> Response:
        body = await _json(request)
        try:
            upload = store.upload(request.path_params["uid"])
            row, column, value = int(body["row"]), str(body["column"]), str(body["value"])
        except KeyError:
            return _problem("no such upload or missing row/column/value", 404)
        except (TypeError, ValueError):
            return _problem("row must be a number")

        def work() -> dict[str, Any]:
            message, bad = upload.edit(row, column, value, store.api)
            return {"row": row, "message": message, "bad": bad, "counts": upload.counts()}

        try:
            return JSONResponse(await run_in_threadpool(work))
        except ImporterError as exc:
            return _problem(str(exc))

    async def plan(request: Request) -> Response:
        if store.api is None:
            return _problem("no API token: start importer serve with a token (or --sandbox)")
        try:
            upload = store.upload(request.path_params["uid"])
        except KeyError:
            return _problem("no such upload", 404)
        if upload.checked is None or upload.checked.mapping_error:
            return _problem(upload.error or (upload.checked and upload.checked.mapping_error) or "")
        api = store.api
        counts = await run_in_threadpool(upload.plan, api)
        if upload.plan_error:
            return _problem(upload.plan_error)
        return JSONResponse({"plan": counts})

    async def plan_rows(request: Request) -> Response:
        cls = request.query_params.get("class", "new")
        if cls not in _jobs.PLAN_CLASSES:
            return _problem(f"unknown class {cls!r}")
        try:
            upload = store.upload(request.path_params["uid"])
        except KeyError:
            return _problem("no such upload", 404)
        total, shown = await run_in_threadpool(
            upload.plan_page,
            cls,
            _int(request, "offset", 0, 1 << 40),
            _int(request, "limit", 50, _PAGE_LIMIT),
        )
        return JSONResponse({"total": total, "rows": shown})

    async def start_run(request: Request) -> Response:
        body = await _json(request)
        try:
            upload = store.upload(request.path_params["uid"])
            run = await run_in_threadpool(
                store.start_run, upload, str(body.get("differs", "report"))
            )
        except KeyError:
            return _problem("no such upload", 404)
        except ImporterError as exc:
            return _problem(str(exc))
        return JSONResponse({"id": run.id, "url": f"/runs/{run.id}"}, status_code=201)

    async def list_runs(request: Request) -> Response:
        return JSONResponse({"runs": [r.status() for r in store.all_runs()]})

    async def run_status(request: Request) -> Response:
        try:
            return JSONResponse(store.run(request.path_params["rid"]).status())
        except KeyError:
            return _problem("no such run", 404)

    async def run_action(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            run = store.run(request.path_params["rid"])
            if action == "cancel":
                run.cancel.set()
            elif action == "resume":
                store.resume(run)
            elif action == "undo":
                store.undo(run)
            else:
                return _problem("unknown action", 404)
        except KeyError:
            return _problem("no such run", 404)
        except ImporterError as exc:
            return _problem(str(exc))
        return JSONResponse(run.status())

    async def run_rows(request: Request) -> Response:
        try:
            run = store.run(request.path_params["rid"])
        except KeyError:
            return _problem("no such run", 404)
        total, shown = await run_in_threadpool(
            run.outcome_page,
            _int(request, "offset", 0, 1 << 40),
            _int(request, "limit", 50, _PAGE_LIMIT),
        )
        return JSONResponse({"total": total, "rows": shown})

    async def download(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            run = store.run(request.path_params["rid"])
        except KeyError:
            return PlainTextResponse("no such run", 404)
        if name not in DOWNLOADS:  # a fixed list: the browser never names a path
            return PlainTextResponse("no such file", 404)
        path = run.results / DOWNLOADS[DOWNLOADS.index(name)]
        if not path.is_file():
            return PlainTextResponse("no such file", 404)
        stem = Path(str(run.meta.get("name", "results"))).stem
        return FileResponse(path, filename=f"{stem}-{name}")

    routes = [
        Route("/", index),
        Route("/uploads/{uid}", upload_page),
        Route("/runs/{rid}", run_page),
        Route("/runs/{rid}/files/{name}", download),
        Route("/api/uploads", create_upload, methods=["PUT"]),
        Route("/api/uploads/{uid}", get_upload),
        Route("/api/uploads/{uid}", delete_upload, methods=["DELETE"]),
        Route("/api/uploads/{uid}/setup", setup_upload, methods=["POST"]),
        Route("/api/uploads/{uid}/rows", rows),
        Route("/api/uploads/{uid}/cells", edit_cell, methods=["POST"]),
        Route("/api/uploads/{uid}/plan", plan, methods=["POST"]),
        Route("/api/uploads/{uid}/plan/rows", plan_rows),
        Route("/api/uploads/{uid}/runs", start_run, methods=["POST"]),
        Route("/api/runs", list_runs),
        Route("/api/runs/{rid}", run_status),
        Route("/api/runs/{rid}/rows", run_rows),
        Route("/api/runs/{rid}/{action}", run_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Guard, config=config)])
    app.state.store = store
    return app


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _host_of(api: ApiSettings | None) -> str:
    if api is None:
        return ""
    from urllib.parse import urlsplit

    return urlsplit(api.base_url).netloc


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
