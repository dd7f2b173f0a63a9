"""The page's JSON API: one small function per route (see ``ROUTES``).

Every answer is JSON. Errors: ``{"error": "..."}`` in words (no command-line flag), with 400 for
a request the upload cannot take, 404 for an unknown id, 409 (and ``"run"``: the run going on)
when the upload is being sent or undone already, 413 for a file over the size limit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from importer.core import ImporterError
from importer.web import _checks
from importer.web._store import Busy, NotFound, Store
from importer.web._upload import VIEWS, Upload
from importer.web._words import plain, target_choices

__all__ = ["ROUTES", "Web", "upload_state"]

_PAGE_LIMIT = 500


@dataclass
class Web:
    """What every route needs: the store, and what the pages show about the server."""

    store: Store
    csrf: str

    @property
    def api_host(self) -> str:
        api = self.store.api
        return urlsplit(api.base_url).netloc if api is not None else ""


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def problem(message: str, status: int = 400, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def answer(work: Callable[[], Any], status: int = 200) -> Response:
    """Run ``work`` in a thread; its result as JSON, or its failure as a problem."""
    try:
        return JSONResponse(await run_in_threadpool(work), status_code=status)
    except NotFound as exc:
        return problem(str(exc), 404)
    except Busy as exc:
        return problem(str(exc), 409, run=exc.run_id, other_upload=exc.other_upload)
    except ImporterError as exc:
        return problem(plain(str(exc)))


async def body_of(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def number(request: Request, name: str, default: int, top: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return max(0, min(value, top))


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if kind is int and isinstance(value, int | str) and str(value).strip().isdigit():
        return int(value)
    if kind is str and isinstance(value, str):
        return value
    if kind is bool and isinstance(value, bool):
        return value
    raise _BadRequest(f"the request needs {name!r}")


class _BadRequest(ImporterError):
    """A request the page would never send (a field missing or of the wrong kind)."""


def upload_state(web: Web, upload: Upload) -> dict[str, Any]:
    """Everything the guided page shows about an upload, step by step."""
    run = web.store.latest_run(upload.id)
    checked = upload.checked
    return {
        "id": upload.id,
        "name": upload.meta["name"],
        "size": upload.meta.get("size"),
        "error": upload.error,
        "sheet": upload.meta.get("sheet"),
        "sheets": upload.meta.get("sheets", []),
        "header": upload.header_step(),
        "notes": upload.notes(),
        "columns": upload.columns_step(),
        "targets": target_choices(),
        "columns_problem": checked.mapping_error if checked is not None else None,
        "counts": upload.counts(),
        "edited": upload.edited(),
        "differs": upload.differs,
        "plan": upload.plan_view,
        "run": run.status() if run is not None else None,
        "sent_before": web.store.sent_before(upload),
        "can_send": web.store.api is not None,
    }


# -- uploads -------------------------------------------------------------------------------


async def create_upload(request: Request) -> Response:
    store = web_of(request).store
    name = request.query_params.get("name", "")[:200]
    suffix = Path(name).suffix.lower()
    if suffix not in _checks.ALLOWED_SUFFIXES:
        allowed = ", ".join(sorted(_checks.ALLOWED_SUFFIXES))
        return problem(f"{name or 'the file'}: not a file type the importer reads ({allowed})")
    limit = _checks.max_upload_bytes(suffix)
    uid, target = store.upload_path(suffix)
    size, digest = 0, hashlib.sha256()
    with open(target, "wb") as fh:
        async for piece in request.stream():
            size += len(piece)
            if size > limit:
                fh.close()
                store.discard(uid)
                return problem(f"{name} is larger than the {limit >> 20} MB limit", 413)
            fh.write(piece)
            digest.update(piece)
    if size == 0:
        store.discard(uid)
        return problem(f"{name} is empty")
    upload = await run_in_threadpool(store.add_upload, uid, name, suffix, size, digest.hexdigest())
    return JSONResponse({"id": upload.id, "url": f"/uploads/{upload.id}"}, status_code=201)


def _upload_work(
    request: Request, change: Callable[[Upload], Any] | None = None
) -> Callable[[], dict[str, Any]]:
    """The upload named in the path, changed by ``change``; then its whole state."""
    web = web_of(request)
    uid = request.path_params["uid"]

    def work() -> dict[str, Any]:
        upload = web.store.upload(uid)
        if change is not None:
            change(upload)
        return upload_state(web, upload)

    return work


async def get_upload(request: Request) -> Response:
    return await answer(_upload_work(request))


async def delete_upload(request: Request) -> Response:
    store = web_of(request).store
    uid = request.path_params["uid"]

    def work() -> dict[str, Any]:
        store.delete_upload(uid)
        return {"deleted": True}

    return await answer(work)


async def choose_sheet(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    return await answer(
        _upload_work(request, lambda u: u.choose_sheet(_field(body, "sheet", str), api))
    )


async def choose_header(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    return await answer(
        _upload_work(request, lambda u: u.choose_header(_field(body, "row", int), api))
    )


async def choose_columns(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    chosen = body.get("chosen")
    if not isinstance(chosen, dict):
        return problem("the request needs 'chosen'")
    return await answer(_upload_work(request, lambda u: u.choose_columns(chosen, api)))


async def rows(request: Request) -> Response:
    view = request.query_params.get("view", "problems")
    if view not in VIEWS:
        return problem(f"unknown view {view!r}")
    offset = number(request, "offset", 0, 1 << 40)
    limit = number(request, "limit", 50, _PAGE_LIMIT)
    start = request.query_params.get("from_row", "")
    store, uid = web_of(request).store, request.path_params["uid"]

    def work() -> dict[str, Any]:
        upload = store.upload(uid)
        total, first, shown = upload.page(
            view, offset, limit, int(start) if start.isdigit() else None
        )
        headers = list(upload.source.headers) if upload.source else []
        return {"total": total, "offset": first, "headers": headers, "rows": shown,
                "counts": upload.counts()}  # fmt: skip

    return await answer(work)


def _fix_work(
    request: Request, body: dict[str, Any], fix: Callable[[Upload], Any]
) -> Callable[[], dict[str, Any]]:
    """A change of rows: its own answer (``fix``'s), and the counts after it."""
    store, uid = web_of(request).store, request.path_params["uid"]

    def work() -> dict[str, Any]:
        upload = store.upload(uid)
        done = fix(upload)
        return {"done": done, "counts": upload.counts(), "edited": upload.edited()}

    return work


async def edit_cell(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    return await answer(
        _fix_work(
            request,
            body,
            lambda u: u.edit(
                _field(body, "row", int),
                _field(body, "column", str),
                _field(body, "value", str),
                api,
            ),
        )
    )


async def fill_down(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    return await answer(
        _fix_work(request, body, lambda u: u.fill_down(_field(body, "column", str), api))
    )


async def replace(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    return await answer(
        _fix_work(
            request,
            body,
            lambda u: u.replace(
                _field(body, "column", str),
                _field(body, "find", str),
                _field(body, "replace", str),
                bool(body.get("whole", True)),
                api,
            ),
        )
    )


async def ignore_row(request: Request) -> Response:
    body, api = await body_of(request), web_of(request).store.api
    return await answer(
        _fix_work(
            request,
            body,
            lambda u: u.ignore(_field(body, "row", int), _field(body, "ignored", bool), api),
        )
    )


# -- check and send ------------------------------------------------------------------------


async def check(request: Request) -> Response:
    body, store = await body_of(request), web_of(request).store
    api = store.api
    if api is None:
        return problem("no API token: this page can check files but not send them")
    differs = body.get("differs")

    def change(upload: Upload) -> None:
        if isinstance(differs, str):
            upload.choose_differs(differs)
        upload.plan(api)

    return await answer(_upload_work(request, change))


async def plan_rows(request: Request) -> Response:
    group = request.query_params.get("group", "")
    store, uid = web_of(request).store, request.path_params["uid"]
    offset = number(request, "offset", 0, 1 << 40)
    limit = number(request, "limit", 50, _PAGE_LIMIT)

    def work() -> dict[str, Any]:
        total, shown = store.upload(uid).plan_rows(group, offset, limit)
        return {"total": total, "rows": shown}

    from importer.web._jobs import PLAN_GROUPS

    if group not in PLAN_GROUPS:
        return problem(f"unknown group {group!r}")
    return await answer(work)


async def start_run(request: Request) -> Response:
    store, uid = web_of(request).store, request.path_params["uid"]

    def work() -> dict[str, Any]:
        run = store.start_run(store.upload(uid))
        return {"id": run.id, "url": f"/runs/{run.id}", "run": run.status()}

    return await answer(work, 201)


async def list_runs(request: Request) -> Response:
    store = web_of(request).store
    return await answer(lambda: {"runs": [r.status() for r in store.all_runs()]})


async def run_status(request: Request) -> Response:
    store, rid = web_of(request).store, request.path_params["rid"]
    return await answer(lambda: store.run(rid).status())


async def run_rows(request: Request) -> Response:
    store, rid = web_of(request).store, request.path_params["rid"]
    offset = number(request, "offset", 0, 1 << 40)
    limit = number(request, "limit", 50, _PAGE_LIMIT)

    def work() -> dict[str, Any]:
        from importer.web._results import outcome_counts

        run = store.run(rid)
        total, shown = run.outcome_page(offset, limit)
        return {"total": total, "rows": shown, "counts": outcome_counts(run.outcomes())}

    return await answer(work)


async def run_action(request: Request) -> Response:
    store, rid = web_of(request).store, request.path_params["rid"]
    action = request.path_params["action"]
    actions: dict[str, Callable[[Any], Any]] = {
        "cancel": lambda run: run.cancel.set(),
        "resume": store.resume,
        "undo": store.undo,
    }
    if action not in actions:
        return problem("unknown action", 404)

    def work() -> dict[str, Any]:
        run = store.run(rid)
        actions[action](run)
        return run.status()

    return await answer(work)


ROUTES = [
    Route("/api/uploads", create_upload, methods=["PUT"]),
    Route("/api/uploads/{uid}", get_upload),
    Route("/api/uploads/{uid}", delete_upload, methods=["DELETE"]),
    Route("/api/uploads/{uid}/sheet", choose_sheet, methods=["POST"]),
    Route("/api/uploads/{uid}/header", choose_header, methods=["POST"]),
    Route("/api/uploads/{uid}/columns", choose_columns, methods=["POST"]),
    Route("/api/uploads/{uid}/rows", rows),
    Route("/api/uploads/{uid}/cells", edit_cell, methods=["POST"]),
    Route("/api/uploads/{uid}/fill-down", fill_down, methods=["POST"]),
    Route("/api/uploads/{uid}/replace", replace, methods=["POST"]),
    Route("/api/uploads/{uid}/ignore", ignore_row, methods=["POST"]),
    Route("/api/uploads/{uid}/plan", check, methods=["POST"]),
    Route("/api/uploads/{uid}/plan/rows", plan_rows),
    Route("/api/uploads/{uid}/runs", start_run, methods=["POST"]),
    Route("/api/runs", list_runs),
    Route("/api/runs/{rid}", run_status),
    Route("/api/runs/{rid}/rows", run_rows),
    Route("/api/runs/{rid}/{action}", run_action, methods=["POST"]),
]
