"""Products: the register (/products, with the terms in force on a day), a product's
versions, a system operator's proposal, and the facilitator's approval and retirement
(If-Match with the ETag read). A refusal shows the node's rule ID (POL-009, POL-010)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.nodes import Answer

router = APIRouter()
FILTERS = ("code", "status", "operator")
# The proposal form: (field, label, input kind, hint)
PROPOSAL: tuple[tuple[str, str, str, str], ...] = (
    ("ProductCode", "Product code", "text", "Capitals, e.g. DFS_LOCAL"),
    ("ProductName", "Product name", "text", ""),
    ("SystemOperator", "System operator", "select", ""),
    ("ServiceType", "Service type", "text", "e.g. Constraint management"),
    ("Direction", "Direction", "select", ""),
    ("MinCapacityMW", "Minimum capacity (MW)", "number", ""),
    ("ValidFrom", "Valid from", "date", ""),
    ("ValidTo", "Valid to", "date", "Leave empty when open-ended"),
)
CHOICES = {"SystemOperator": ("NESO", "DNO"), "Direction": ("", "Up", "Down", "Both")}
VERBS = {"approve": "Approve", "retire": "Retire"}


def _items(answer: Answer) -> list[dict[str, Any]]:
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    found = body.get("items", [])
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


def _roles(request: Request) -> set[str]:
    return set(web.session_of(request).user.get("roles") or [])


def _page(request: Request, status: int = 200, **extra: Any) -> Response:
    session = web.signed_in(request)
    chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    params = {k: v for k, v in chosen.items() if v}
    params["limit"] = "200"
    with web.node_of(request, session) as node:
        answer = node.get("/products", params)
    roles = _roles(request)
    return web.render(request, "products.html", status, title="Products",
                      items=_items(answer), chosen=chosen, fields=PROPOSAL, choices=CHOICES,
                      facilitator="MarketFacilitator" in roles,
                      may_propose=bool(roles & {"MarketFacilitator", "NESO", "DNO", "IDNO"}),
                      list_error=None if answer.ok else answer.error,
                      values=extra.pop("values", {}), **extra)


@router.get("/products")
def products(request: Request) -> Response:
    return _page(request)


@router.get("/products/in-force")
def in_force(request: Request, code: str = "", on: str = "") -> Response:
    session = web.signed_in(request)
    answer = None
    if code:
        with web.node_of(request, session) as node:
            answer = node.get("/products/in-force", {"code": code, **({"on": on} if on else {})})
    return web.render(request, "product_in_force.html", title="Terms in force", code=code,
                      on=on, record=answer.body if answer is not None and answer.ok else None,
                      error=answer.error if answer is not None and not answer.ok else None)


def _body(form: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"Status": "Proposed"}
    for name, _, kind, _ in PROPOSAL:
        raw = str(form.get(name) or "").strip()
        if raw:
            try:
                body[name] = float(raw) if kind == "number" else raw
            except ValueError:
                body[name] = raw  # the node judges it
    return body


@router.post("/products")
async def propose(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    body = _body(form)

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", "/products", json=body)

    answer = await run_in_threadpool(send)
    if answer.ok:
        made = answer.body.get("ProductVersionId", "") if isinstance(answer.body, dict) else ""
        return web.redirect(request, f"/products/{quote(made, safe='')}?done=proposed")
    return _page(request, answer.status, error=answer.error, violations=answer.violations,
                 values={k: str(form.get(k) or "") for k, *_ in PROPOSAL})


def _version_page(request: Request, version_id: str, status: int = 200,
                  **extra: Any) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get(f"/products/{quote(version_id, safe='')}")
        record = answer.body if answer.ok and isinstance(answer.body, dict) else {}
        versions = _items(node.get("/products", {"code": str(record.get("ProductCode")),
                                                 "limit": "200"})) if record else []
    if not answer.ok:
        return web.render(request, "error.html", answer.status, title="Product",
                          code=answer.error.get("code"), message=answer.error.get("message"))
    return web.render(request, "product.html", status, title=str(
        record.get("ProductName") or version_id), record=record, versions=versions,
        etag=answer.headers.get("etag", ""), verbs=VERBS, **extra)


@router.get("/products/{version_id}")
def product(request: Request, version_id: str, done: str = "") -> Response:
    return _version_page(request, version_id, done=done)


@router.post("/products/{version_id}/{verb}")
async def change_status(request: Request, version_id: str, verb: str) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    if verb not in VERBS:
        return web.render(request, "error.html", 404, title="Product", code="PORTAL-404",
                          message="No such action.")
    etag = str(form.get("etag") or "")

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", f"/products/{quote(version_id, safe='')}/{verb}",
                             headers={"If-Match": etag})

    answer = await run_in_threadpool(send)
    if answer.ok:
        return web.redirect(request, f"/products/{quote(version_id, safe='')}?done={verb}")
    return _version_page(request, version_id, answer.status, error=answer.error)
