"""The HTML pages (Jinja2 templates; the steps fill themselves from the JSON API) and the
downloads of a run's result files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from importer.web import _checks
from importer.web._api import web_of
from importer.web._store import DOWNLOADS, NotFound

__all__ = ["ROUTES"]

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def _page(request: Request, name: str, **context: Any) -> Response:
    web = web_of(request)
    base = {"csrf": web.csrf, "can_send": web.store.api is not None, "api_host": web.api_host}
    return _TEMPLATES.TemplateResponse(request, name, {**base, **context})


async def index(request: Request) -> Response:
    store = web_of(request).store
    uploads = sorted(store.uploads.values(), key=lambda u: str(u.meta["created"]), reverse=True)
    return _page(
        request,
        "index.html",
        uploads=[u.meta for u in uploads],
        runs=await run_in_threadpool(lambda: [r.status() for r in store.all_runs()]),
        accept=",".join(sorted(_checks.ALLOWED_SUFFIXES)),
    )


async def upload_page(request: Request) -> Response:
    store = web_of(request).store
    try:
        upload = store.upload(request.path_params["uid"])
    except NotFound:
        return PlainTextResponse("no such file: it was cleaned up, or the address is wrong", 404)
    return _page(request, "upload.html", upload=upload.meta)


async def run_page(request: Request) -> Response:
    try:
        run = web_of(request).store.run(request.path_params["rid"])
    except NotFound:
        return PlainTextResponse("no such run", 404)
    return _page(request, "run.html", run=run.status())


async def download(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        run = web_of(request).store.run(request.path_params["rid"])
    except NotFound:
        return PlainTextResponse("no such run", 404)
    if name not in DOWNLOADS:  # a fixed list: the browser never names a path
        return PlainTextResponse("no such file", 404)
    path = run.results / DOWNLOADS[DOWNLOADS.index(name)]
    if not path.is_file():
        return PlainTextResponse("no such file", 404)
    stem = Path(str(run.meta.get("name", "results"))).stem
    return FileResponse(path, filename=f"{stem}-{name}")


ROUTES = [
    Route("/", index),
    Route("/uploads/{uid}", upload_page),
    Route("/runs/{rid}", run_page),
    Route("/runs/{rid}/files/{name}", download),
]
