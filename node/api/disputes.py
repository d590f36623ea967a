"""Dispute routes (node/kinds/disputes.py): the generic record routes of the kind, opening
(after the caller's entitlement to read the record is checked where it is held), the
transitions, the notices between nodes and the node-side summary.

- POST /disputes {"Record", "Grounds"}: on the opener's node (POL-088). The node reads the
  record at every node with the caller's own rights (token exchange, never its own:
  POL-085), stores the dispute, and sends the holder's node a notice;
- POST /disputes/{id}/transitions {"to", "reason"}: the opener, the holder (with its own
  token, at the opener's node) or the market facilitator (DISP-VAL-020..028); the holder's
  node is told again;
- POST /disputes/notices {"Dispute"}: from another node with its own token (POL-087),
  verified at the sender's node before anything changes (DISP-VAL-013..015);
- GET /dispute-summary: the disputes the caller reads here by state and age;
  GET /federation/dispute-summary: the same from every node, added up.
"""

import logging
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict
from starlette.concurrency import run_in_threadpool

from common.errors import Denied, Invalid
from common.http_errors import ApiError, error_responses
from common.openapi import content, secured
from node import policy
from node.api.assets import register_of
from node.api.federation import nodes_of, tokens_for
from node.api.records import WRITE_ERRORS, CallerDep, IfMatch, RecordRoutes, add_record_routes
from node.api.services import federation as federation_of
from node.api.services import settings as settings_of
from node.identity import Caller
from node.kinds.dispute_notices import DisputeNotices
from node.kinds.disputes import (
    DISPUTABLE,
    STATES,
    Disputes,
    Found,
    kind_of,
)
from node.records.record import Record
from node.reports.run import disputes_section
from node.switching.peer import PeerRefused, Peers, PeerUnavailable

logger = logging.getLogger("fmar.disputes")
router = APIRouter(tags=["disputes"])
NOTIFY_SCOPE = "disputes:notify"
_TEXT: JsonDict = {"type": ["string", "null"], "maxLength": 2000}
RECORD_PATTERN = (r"^https://id\.fmar\.uk/(" + "|".join(DISPUTABLE) +
                  r")/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class DisputeIn(BaseModel):
    """A dispute on a record the caller may read (shapes/dispute.ttl: DISP-VAL-001..009)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["Record", "Grounds"], "examples": [{
            "Record": "https://id.fmar.uk/asset/0d9a3b52-7c41-4e8f-b6a2-91c3d5e7f024",
            "Grounds": "Export capacity 5,000 kW exceeds the 1,500 kW connection agreement."}]})

    Record: Any = Field(None, description="The disputed record's IRI",
                        json_schema_extra={"type": "string", "pattern": RECORD_PATTERN})
    Grounds: Any = Field(None, description="What is wrong, and why",
                         json_schema_extra={"type": "string", "minLength": 1,
                                            "maxLength": 2000})


class DisputeOut(BaseModel):
    DisputeId: str
    id: str
    Record: str | None = None
    RecordKind: str | None = None
    OrganisationId: str | None = None
    Holder: str | None = None
    HolderNode: str | None = None
    Grounds: str | None = None
    State: str | None = None
    Reason: str | None = None
    Deadline: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "required": ["to"], "examples": [{"to": "responded",
                                          "reason": "Corrected in version 3."}]})

    to: Any = Field(None, json_schema_extra={"type": "string", "enum": list(STATES)})
    reason: Any = Field(None, json_schema_extra=_TEXT)


def disputes_of(request: Request) -> Disputes:
    service: Disputes = register_of(request).disputes
    return service


def _peers(request: Request) -> Peers:
    peers = getattr(request.app.state, "dispute_peers", None)
    if peers is None:
        peers = request.app.state.dispute_peers = Peers(settings_of(request), NOTIFY_SCOPE)
    return peers


def notices_of(request: Request) -> DisputeNotices:
    peers = _peers(request)

    def fetch(node: str, path: str) -> Any:
        try:
            return peers.call("GET", node, path)
        except PeerRefused as refused:
            raise LookupError(str(refused)) from None
        except PeerUnavailable:
            raise ApiError(503, "DISP-503", "The sender's node cannot be reached to check "
                           "the dispute; send the notice again later.") from None

    def node_of(organisation: str) -> str:
        try:
            return peers.node_of(organisation)
        except PeerRefused as refused:
            raise LookupError(str(refused)) from None
        except PeerUnavailable:
            raise ApiError(503, "DISP-503", "The trust directory cannot be reached.") from None

    def hosts(operator: str, organisation: str) -> bool:
        try:
            return peers.hosts(operator, organisation)
        except PeerUnavailable:
            return False

    def member(organisation: str) -> Caller:
        try:
            found = peers.member(organisation)
        except (PeerRefused, PeerUnavailable):
            raise ApiError(503, "DISP-503", "The trust directory cannot say who the dispute's "
                           "opener is; send the notice again later.") from None
        return Caller("dispute-notice", organisation, frozenset(found.get("roles") or ()),
                      frozenset({"assets:read"}), frozenset(found.get("dno_areas") or ()))

    register = register_of(request)
    return DisputeNotices(register.assets, register.store, fetch, node_of, hosts, member)


def notify(request: Request, dispute: Record) -> dict[str, Any]:
    """Tell the holder's node (best effort: the answer says whether it was told; the
    holder also finds the dispute through the federation and the `dispute.*` events)."""
    node = str(dispute.as_json().get("HolderNode") or "")
    try:
        answer = _peers(request).call("POST", node, "/disputes/notices",
                                      {"Dispute": dispute.iri})
        return {"delivered": True, "node": node, "answer": answer}
    except (PeerRefused, PeerUnavailable, httpx.HTTPError) as exc:
        logger.warning("dispute notice to %s not delivered: %s", node, exc)
        return {"delivered": False, "node": node, "error": str(exc)[:300]}


def _respond(dispute: Record, notice: dict[str, Any], status: int = 200) -> JSONResponse:
    body = DisputeOut.model_validate(dispute.as_json()).model_dump(exclude_none=True)
    headers = {"ETag": dispute.etag}
    if status == 201:
        headers["Location"] = f"/disputes/{dispute.record_id}"
    return JSONResponse({**body, "_notice": notice}, status_code=status, headers=headers)


async def find_record(request: Request, iri: str) -> Found:
    """The record at `iri` as some node answers the caller's own (exchanged) token: the
    caller may read it there (POL-085), and that node's answer says who holds it."""
    kind = kind_of(iri)
    if kind is None:
        raise Invalid("DISP-VAL-001", "Record is the IRI of an asset, market unit, connection "
                      "limit, qualification or grid prequalification.", {"record": iri[:200]})
    federation = federation_of(request)
    engine = federation.engine(tokens_for(request, federation))
    targets = await nodes_of(federation)
    path = f"{DISPUTABLE[kind]}/{iri.rsplit('/', 1)[-1]}"
    outcome = await engine.fan_out(targets, "GET", path, lambda r: (r.json(), 1))
    for target in targets:
        item = outcome.payloads.get(target.url)
        if isinstance(item, dict) and item.get("id") == iri and item.get("OrganisationId"):
            return Found(iri, kind, str(item["OrganisationId"]), target.url)
    raise Denied("POL-085", "Only a party entitled to read a record opens a dispute on it: "
                 "no node lets you read this record.", {"record": iri})


@router.post("/disputes", status_code=201, summary="Open a dispute on a record you may read",
             description="On your own node (POL-088), with a token your node may exchange "
             "(it reads the record with your rights at every node: POL-085). The dispute "
             "starts `open` with a deadline; the holder's node is told (`_notice`).",
             openapi_extra=secured("assets:read"), response_model=DisputeOut,
             responses={201: content("application/json"),
                        **error_responses(400, 401, 403, 422, 503)})
async def open_dispute(request: Request, caller: CallerDep,
                       body: Annotated[Any, Body()] = None) -> JSONResponse:
    policy.check_dispute_node(caller, request.app.state.placement.organisations())
    policy.require_scope(caller, "assets:read")
    disputes = disputes_of(request)
    if not isinstance(body, dict) or not isinstance(body.get("Record"), str):
        disputes.open(body, caller, Found("", "", "", ""))  # DISP-IN-001/002
    found = await find_record(request, str(body["Record"]).strip())
    record = await run_in_threadpool(disputes.open, body, caller, found)
    notice = await run_in_threadpool(notify, request, record)
    return _respond(record, notice, 201)


@router.post("/disputes/notices", summary="A dispute notice from another node",
             description="For nodes (their own token, `disputes:notify`: POL-087). The "
             "dispute is read back at the sender's node before anything changes "
             "(DISP-VAL-013..015); on an asset it sets or lifts validation status Query.",
             openapi_extra=secured(NOTIFY_SCOPE),
             responses={200: content("application/json"),
                        **error_responses(400, 401, 403, 422, 503)})
def dispute_notice(request: Request, caller: CallerDep,
                   body: Annotated[Any, Body()] = None) -> JSONResponse:
    return JSONResponse(notices_of(request).receive(caller, body))


@router.get("/dispute-summary", summary="Disputes you read here, by state and age",
            description="Counts by state and age band (days since opened), and how many "
            "active ones are past their deadline: the node-side part of the disputes report "
            "(merged across nodes by `merge_summaries`).",
            openapi_extra=secured("assets:read"),
            responses={200: content("application/json"), **error_responses(401, 403)})
def dispute_summary(request: Request, caller: CallerDep) -> JSONResponse:
    policy.require_scope(caller, "assets:read")
    return JSONResponse(disputes_of(request).summary(caller))


@router.get("/federation/dispute-summary", summary="Disputes by state and age, every node",
            description="`GET /dispute-summary` asked of every node with the caller's own "
            "rights (token exchange, POL-014), added up (`merge_summaries`); `nodes` lists "
            "every node's status and `partial` says whether one did not answer.",
            openapi_extra=secured("federation:query"),
            responses={200: content("application/json"), **error_responses(401, 403, 503)})
async def federated_dispute_summary(request: Request, caller: CallerDep) -> JSONResponse:
    policy.check_federation_query(caller)
    federation = federation_of(request)
    engine = federation.engine(tokens_for(request, federation))
    return JSONResponse(await disputes_section(engine, await nodes_of(federation)))


ROUTES = RecordRoutes(
    path="/disputes", label="dispute", records=disputes_of, model_in=DisputeIn,
    model_out=DisputeOut, write_scope="assets:read",
    filters={"record": "Record", "state": "State", "holder": "Holder"},
    describe={"create": "Open a dispute (see above): the node finds the record and its "
              "holder with your rights (POL-085) and tells the holder's node."})


@router.post("/disputes/{record_id}/transitions", summary="Move a dispute to another state",
             description="The moves, who makes them (opener, holder, market facilitator) and "
             "which need a reason are `TRANSITIONS` in node/kinds/disputes.py. Refusals: 409 "
             "DISP-VAL-020 (no such move), 021 (reason missing), 022 (another party makes "
             "it), 023 (escalation before the deadline). The holder's node is told.",
             openapi_extra=secured("assets:read"), response_model=DisputeOut,
             responses={200: content("application/json"),
                        **error_responses(*WRITE_ERRORS, 409)})
def transition(request: Request, record_id: str, caller: CallerDep, body: TransitionIn,
               if_match: IfMatch = None) -> JSONResponse:
    record = disputes_of(request).transition(record_id, caller, if_match, body.to,
                                             body.reason)
    return _respond(record, notify(request, record))


add_record_routes(router, ROUTES)
