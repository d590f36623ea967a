"""An FSP's assets on its node: list and search, register one, edit one (If-Match with the
ETag read), and its history. Every SHACL violation is shown at its field."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.forms import ASSET_FIELDS, BOOL_CHOICES, body_of, place, values_of
from portal.nodes import Answer

router = APIRouter()
FILTERS = ("category", "dno", "connection_type", "validation_status")


def _form_page(request: Request, template: str, values: dict[str, str],
               answer: Answer | None = None, status: int = 200, **extra: Any) -> Response:
    by_field, other = place(answer.violations) if answer is not None else ({}, [])
    return web.render(request, template, status, title=extra.pop("title", "Asset"),
                      fields=ASSET_FIELDS, bool_choices=BOOL_CHOICES, values=values,
                      by_field=by_field, other=other,
                      error=answer.error if answer is not None and not answer.ok else None,
                      **extra)


@router.get("/assets")
def list_assets(request: Request, after: str = "") -> Response:
    session = web.signed_in(request)
    chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    params = {k: v for k, v in chosen.items() if v}
    params["limit"] = "50"
    if after:
        params["after"] = after
    with web.node_of(request, session) as node:
        answer = node.get("/assets", params)
    items = answer.body.get("items", []) if answer.ok and isinstance(answer.body, dict) else []
    nxt = answer.body.get("next") if answer.ok and isinstance(answer.body, dict) else None
    query = "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v)
    return web.render(request, "assets.html", title="Assets", items=items, chosen=chosen,
                      error=None if answer.ok else answer.error, next=nxt, query=query)


@router.get("/assets/new")
def new_asset(request: Request) -> Response:
    web.signed_in(request)
    return _form_page(request, "asset_form.html", {}, title="Register an asset")


@router.post("/assets/new")
async def register_asset(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    values = {f.name: str(form.get(f.name) or "") for f in ASSET_FIELDS}
    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", "/assets", json=body_of(values))

    answer = await run_in_threadpool(send)
    if answer.ok:
        asset_id = answer.body.get("AssetId", "")
        return web.redirect(request, f"/assets/{quote(asset_id)}?created=1")
    return _form_page(request, "asset_form.html", values, answer, status=answer.status,
                      title="Register an asset")


def _read(request: Request, asset_id: str) -> tuple[Answer, dict[str, Any]]:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get(f"/assets/{quote(asset_id, safe='')}")
    record = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    return answer, record


@router.get("/assets/{asset_id}")
def show_asset(request: Request, asset_id: str, created: str = "", saved: str = "") -> Response:
    answer, record = _read(request, asset_id)
    if not answer.ok:
        return web.render(request, "error.html", answer.status, title="Asset",
                          code=answer.error.get("code"), message=answer.error.get("message"))
    return _form_page(request, "asset_edit.html", values_of(record), title=record.get(
        "AssetName") or asset_id, record=record, etag=answer.headers.get("etag", ""),
        asset_id=asset_id, created=bool(created), saved=bool(saved))


@router.post("/assets/{asset_id}")
async def save_asset(request: Request, asset_id: str) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    values = {f.name: str(form.get(f.name) or "") for f in ASSET_FIELDS}
    etag = str(form.get("etag") or "")
    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("PATCH", f"/assets/{quote(asset_id, safe='')}",
                             json=body_of(values, keep_empty=True),
                             headers={"If-Match": etag,
                                      "Content-Type": "application/merge-patch+json"})

    answer = await run_in_threadpool(send)
    if answer.ok:
        return web.redirect(request, f"/assets/{quote(asset_id)}?saved=1")
    conflict = answer.status == 412
    current: dict[str, Any] = {}
    if conflict:
        _, current = await run_in_threadpool(_read, request, asset_id)
    return _form_page(request, "asset_edit.html", values, answer, status=answer.status,
                      title=values.get("AssetName") or asset_id, record=current or {},
                      etag=etag, asset_id=asset_id, conflict=conflict, created=False,
                      saved=False)


SERVER_FIELDS = ("Version", "Created", "Modified", "id")


def with_changes(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version with the fields it changed from the one before."""
    out: list[dict[str, Any]] = []
    before: dict[str, Any] = {}
    for v in versions:
        found = v.get("asset")
        record: dict[str, Any] = found if isinstance(found, dict) else {}
        changed = sorted(k for k in set(record) | set(before)
                         if k not in SERVER_FIELDS and record.get(k) != before.get(k))
        out.append({**v, "changed": changed if before else []})
        before = record
    return out


@router.get("/assets/{asset_id}/history")
def history(request: Request, asset_id: str) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get(f"/assets/{quote(asset_id, safe='')}/history")
    body = answer.body if answer.ok else {}
    versions = body.get("versions", body.get("items", [])) if isinstance(body, dict) else body
    return web.render(request, "history.html", title="History", asset_id=asset_id,
                      versions=with_changes(versions if isinstance(versions, list) else []),
                      error=None if answer.ok else answer.error)
