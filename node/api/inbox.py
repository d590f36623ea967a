"""The inbox route (thin): signed webhooks from other nodes' subscriptions
(node/events/inbox.py). No bearer token: the webhook's signature, by the sending node's
key certified by the trust framework, is the credential (INBOX-001..007)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from common.http_errors import error_responses
from common.openapi import content, signed_webhook
from node.api import services as deps
from node.api.http import read_body
from node.events.inbox import Inbox

router = APIRouter(tags=["events"])
InboxDep = Annotated[Inbox, Depends(deps.inbox)]
_SIGNED = {**signed_webhook(), "parameters": [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"},
     "description": text} for name, text in (
        ("webhook-id", "The event's id (the body's `id`)"),
        ("webhook-timestamp", "Unix seconds of this attempt (within 300 s of now)"),
        ("webhook-signature", "`v1jws,<detached JWS>` by the sending node's key"))],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}, "example": {
            "id": "5b0e7c1a-3f43-4d0e-9f55-1a4c8d2b7e10", "sequence": "42",
            "type": "market-unit.composition-changed", "kind": "market-unit",
            "record": "https://id.fmar.uk/market-unit/0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e",
            "version": 7, "time": "2026-11-30T05:00:00Z",
            "data": {"changed": ["Capability"], "material": True,
                     "reason": "capability changed by more than 10 %"}}}}}}


class InboxOut(BaseModel):
    id: str = Field(description="The webhook-id received")
    type: str
    reassessed: list[str] = Field(description="The outcomes here sent to re-assessment")
    moved: list[str] = Field(default_factory=list, description="After a unit switch: the "
                             "outcomes and grid prequalifications here that now name the "
                             "unit's new FSP")


@router.post("/inbox/events", summary="Receive a signed webhook (node to node)",
             description="Another node's subscription delivers an event here. The Standard "
             "Webhooks headers and the detached JWS are verified against the federation's "
             "CA (INBOX-001..003), a webhook-id is accepted once (INBOX-004), and the "
             "signing node must hold the unit's FSP (INBOX-005). A material "
             "`market-unit.composition-changed` sends this node's granted outcomes for the "
             "unit to `reassessment_required`. A `market-unit.switched-in` from the new "
             "holder's node (INBOX-009, INBOX-010) makes the outcomes and grid "
             "prequalifications naming the former FSP name the new one, once this node has confirmed the move with both holders' "
             "nodes itself (INBOX-011, INBOX-012, POL-096). Other events are acknowledged.",
             openapi_extra=_SIGNED, response_model=InboxOut,
             responses={200: content("application/json", schema={"type": "object"}),
                        **error_responses(400, 401, 403, 409, 413, 503)})
async def receive(request: Request, inbox: InboxDep) -> JSONResponse:
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    answer: dict[str, Any] = await run_in_threadpool(inbox.receive, dict(request.headers), body)
    return JSONResponse(InboxOut.model_validate(answer).model_dump())
