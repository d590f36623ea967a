"""The market facilitator's asset categories: the catalogue, and a category's SHACL shape
(Turtle) edited in a form, checked by the node before saving (POST
/categories/{code}/check, CAT-DEF-090) and saved with the ETag read (If-Match, a stale one
refused with CAT-DEF-091). Every refusal is shown with the node's rule ID."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.nodes import Answer

router = APIRouter()
TURTLE = "text/turtle"
MAX_SHAPE = 200_000  # characters: a shape is a page of Turtle, not a data set


@router.get("/categories")
def categories(request: Request) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get("/categories")
    body = answer.body if answer.ok else []
    items = body.get("items", body.get("categories", [])) if isinstance(body, dict) else body
    return web.render(request, "categories.html", title="Asset categories",
                      items=items if isinstance(items, list) else [],
                      editor="MarketFacilitator" in (session.user.get("roles") or []),
                      error=None if answer.ok else answer.error)


def _read(request: Request, code: str) -> Answer:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        return node.call("GET", f"/categories/{quote(code, safe='')}",
                         headers={"Accept": TURTLE})


def _editor(request: Request, code: str, shape: str, etag: str, status: int = 200,
            **extra: Any) -> Response:
    return web.render(request, "category_edit.html", status, title=f"Category {code}",
                      code=code, shape=shape, etag=etag, **extra)


@router.get("/categories/{code}")
def edit_category(request: Request, code: str, saved: str = "") -> Response:
    answer = _read(request, code)
    if not answer.ok:
        return web.render(request, "error.html", answer.status, title="Category",
                          code=answer.error.get("code"), message=answer.error.get("message"))
    return _editor(request, code, str(answer.body), answer.headers.get("etag", ""),
                   saved=bool(saved))


@router.post("/categories/{code}")
async def check_or_save(request: Request, code: str) -> Response:
    """`action` check: the node's dry run; save: PUT with If-Match (the ETag read)."""
    session = web.signed_in(request)
    form = await web.posted(request)
    shape, etag = str(form.get("shape") or ""), str(form.get("etag") or "")
    if len(shape) > MAX_SHAPE:
        return _editor(request, code, shape[:MAX_SHAPE], etag, 413, error={
            "code": "PORTAL-040", "message": f"A shape is at most {MAX_SHAPE} characters."})
    saving = form.get("action") == "save"
    path = f"/categories/{quote(code, safe='')}"

    def send() -> Answer:
        with web.node_of(request, session) as node:
            if saving:
                return node.call("PUT", path, content=shape.encode(), headers={
                    "Content-Type": TURTLE, "If-Match": etag})
            return node.call("POST", f"{path}/check", content=shape.encode(),
                             headers={"Content-Type": TURTLE})

    answer = await run_in_threadpool(send)
    if answer.ok and saving:
        return web.redirect(request, f"{path}?saved=1")
    if answer.ok:
        return _editor(request, code, shape, etag, checked=answer.body)
    conflict = answer.status == 412
    return _editor(request, code, shape, etag, answer.status, error=answer.error,
                   conflict=conflict, details=answer.error.get("details"))
