"""A system operator's (NESO, a DNO) qualification queue: the open applications for the
products it runs, federated by its node (GET /qualification-queue, each node's status
shown); recording an outcome on its own node (POST /qualifications) and moving it through
its transitions with a reason (POST /qualifications/{id}/transitions). A refused move
shows the node's rule ID (QUAL-VAL-022..024)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.nodes import Answer
from portal.pages.federation import node_rows
from portal.recordforms import error_of, items_of

router = APIRouter()
STATES = ("in_progress", "temporary_qualified", "prequalified", "verified", "rejected",
          "reassessment_required")
# what an outcome records from the application it answers
FROM_APPLICATION = ("UnitId", "Product", "OrganisationId", "ApplicationId")


def _page(request: Request, error: dict[str, Any] | None = None, status: int = 200,
          done: str = "") -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        queue = node.get("/qualification-queue")
        outcomes = node.get("/qualifications", {"limit": "100"})
    body: dict[str, Any] = queue.body if queue.ok and isinstance(queue.body, dict) else {}
    return web.render(request, "operator/queue.html", status, title="Qualification queue",
                      items=body.get("items", []), nodes=node_rows(request, body),
                      partial=body.get("partial"), products=body.get("products", []),
                      queue_error=error_of(queue), outcomes=items_of(outcomes),
                      states=STATES, error=error, done=done)


@router.get("/qualification-queue")
def queue_page(request: Request, done: str = "") -> Response:
    return _page(request, done=done)


async def _send(request: Request, method: str, path: str, body: dict[str, Any]) -> Answer:
    session = web.signed_in(request)

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call(method, path, json=body)

    return await run_in_threadpool(send)


@router.post("/qualification-queue/record")
async def record_outcome(request: Request) -> Response:
    """An outcome for one application, on the operator's own node, `in_progress`."""
    form = await web.posted(request)
    body = {k: str(form.get(k) or "") or None for k in FROM_APPLICATION}
    answer = await _send(request, "POST", "/qualifications", {**body, "State": "in_progress"})
    if answer.ok:
        return web.redirect(request, "/qualification-queue?done=recorded")
    return await run_in_threadpool(_page, request, answer.error, answer.status)


@router.post("/qualification-queue/{qualification_id}/transition")
async def transition(request: Request, qualification_id: str) -> Response:
    form = await web.posted(request)
    reason = str(form.get("reason") or "").strip()
    answer = await _send(request, "POST",
                         f"/qualifications/{quote(qualification_id, safe='')}/transitions",
                         {"to": str(form.get("to") or ""), "reason": reason or None})
    if answer.ok:
        return web.redirect(request, "/qualification-queue?done=moved")
    return await run_in_threadpool(_page, request, answer.error, answer.status)
