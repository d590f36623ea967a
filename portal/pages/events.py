"""Everyone's events on their node: the feed the member may read (/events, paged with its
cursor), and the organisation's webhook subscriptions (list, create, delete)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.nodes import Answer

router = APIRouter()
# The event types offered in the form (the node refuses an unknown one, EVT-IN-003)
TYPES = ("asset.registered", "asset.changed", "asset.validation-status-changed",
         "asset.deregistered", "category.created", "category.changed", "category.deprecated",
         "connection-limit.created", "connection-limit.changed", "connection-limit.deleted",
         "market-unit.composition-changed", "switch.requested", "switch.state-changed")
PAGE = "50"


@router.get("/events")
def events(request: Request, after: str = "", types: str = "") -> Response:
    session = web.signed_in(request)
    params = {"limit": PAGE, **({"after": after} if after else {}),
              **({"types": types} if types else {})}
    with web.node_of(request, session) as node:
        answer = node.get("/events", params)
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    return web.render(request, "events.html", title="Events", items=body.get("items", []),
                      next=body.get("next"), after=after, types=types, all_types=TYPES,
                      error=None if answer.ok else answer.error)


def _subscriptions(request: Request, status: int = 200, **extra: Any) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get("/subscriptions")
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    return web.render(request, "subscriptions.html", status, title="Webhook subscriptions",
                      items=body.get("items", []), all_types=TYPES,
                      list_error=None if answer.ok else answer.error,
                      chosen=extra.pop("chosen", []), url=extra.pop("url", ""), **extra)


@router.get("/subscriptions")
def subscriptions(request: Request, done: str = "") -> Response:
    return _subscriptions(request, done=done)


@router.post("/subscriptions")
async def subscribe(request: Request) -> Response:
    session = web.signed_in(request)
    await web.posted(request)  # the CSRF check
    form = await request.form()
    url = str(form.get("url") or "").strip()
    chosen = [str(t) for t in form.getlist("types") if str(t) in TYPES]

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", "/subscriptions", json={"url": url, "types": chosen})

    answer = await run_in_threadpool(send)
    if answer.ok:
        return web.redirect(request, "/subscriptions?done=created")
    return _subscriptions(request, answer.status, error=answer.error, chosen=chosen, url=url)


@router.post("/subscriptions/{subscription_id}/delete")
async def unsubscribe(request: Request, subscription_id: str) -> Response:
    session = web.signed_in(request)
    await web.posted(request)

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")

    answer = await run_in_threadpool(send)
    if answer.ok:
        return web.redirect(request, "/subscriptions?done=deleted")
    return _subscriptions(request, answer.status, error=answer.error)
