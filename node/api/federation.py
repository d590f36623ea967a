"""The node's federation front door: a federated query on behalf of the caller.

The node exchanges the caller's token (RFC 8693) for one token per target node, so
each node applies the caller's permissions, never this node's. The trust framework
allows that only when the caller's token names this node in `may_act`, and only for
read scopes; the node authenticates with its own node certificate (FMAR_CLIENT_ID is
the node's id). Needs `federation:query` (POL-014)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from common.http_errors import ApiError, error_responses
from common.openapi import content, secured
from common.web import bearer_token
from node import policy
from node.api import services as deps
from node.api.records import PAGING, ROUTED, where
from node.api.services import Federation
from node.api.sparql import filter_parameters
from node.federation.discovery import discover
from node.federation.duplicates import MAX_TOKENS, DuplicateIndex
from node.federation.engine import Engine, NodeTarget
from node.federation.tokens import (
    ExchangeTokens,
    StaticTokens,
    TokenSource,
)
from node.identity import Caller, current_caller
from node.provenance.node import required
from node.provenance.record import wanted
from node.query.aggregates import AggregateSpec
from node.query.filters import AssetFilter

router = APIRouter(prefix="/federation", tags=["federation"])

PARTIAL_DOC = (" The answer lists every node with `status` answered / timed_out / refused / "
               "error, `ms`, and the node's error `code`; `partial` is true when any node did "
               "not answer. Rows carry `_node` (or `_nodes` for joined rows).")


FEDERATED: dict[str, Any] = {"openapi_extra": secured("federation:query"),
             "responses": {200: content("application/json"),
                           **error_responses(400, 401, 403, 422, 503)}}


def _with_filters(*, aggregate: bool = False) -> dict[str, Any]:
    return {**FEDERATED, "openapi_extra": secured(
        "federation:query", extra=filter_parameters(aggregate=aggregate))}


def tokens_for(request: Request, federation: Federation) -> TokenSource:
    settings = federation.settings
    subject = bearer_token(request)
    if settings.federated:
        return ExchangeTokens(settings.trust_url or "", settings.client_id or "", subject,
                              federation.exchanged)
    if settings.federation_passthrough:
        # Development federations with static tokens only: the caller's token is shown to
        # the other nodes (there is no trust framework to exchange it with).
        return StaticTokens(default=subject)
    raise ApiError(503, "FED-006", "This node is not configured for federation (no trust "
                   "framework URL or client id).")


async def nodes_of(federation: Federation) -> list[NodeTarget]:
    settings = federation.settings
    if settings.federation_nodes:  # development only: an explicit list instead of the directory
        return [NodeTarget(url) for url in settings.federation_nodes]
    if not settings.trust_url:
        raise ApiError(503, "FED-006", "No trust framework configured to discover nodes.")
    try:
        return await discover(federation.http, settings.trust_url)
    except httpx.HTTPError:
        raise ApiError(503, "FED-007", "The trust directory cannot be reached to find the "
                       "nodes.") from None


async def _engine(request: Request, caller: Caller,
                  federation: Federation) -> tuple[Engine, list[NodeTarget]]:
    policy.check_federation_query(caller)
    return federation.engine(tokens_for(request, federation)), await nodes_of(federation)


def _answer(engine: Engine, answer: dict[str, Any], status_code: int = 200) -> JSONResponse:
    """The answer, with where its time went as Server-Timing (token and node: the slowest
    node's; fan-out: all nodes in parallel; merge: the rest)."""
    timing = engine.timing
    spans = {"token": max(timing.token.values(), default=0.0),
             "node": max(timing.node.values(), default=0.0),
             "fanout": timing.fan_out, "merge": timing.merge}
    return JSONResponse(answer, status_code=status_code, headers={"Server-Timing": ", ".join(
        f"{name};dur={ms:.2f}" for name, ms in spans.items())})


async def duplicate_matches(request: Request, tokens: list[str]) -> dict[str, str]:
    """keyed hash -> holder organisation, for hashes some node already holds: asked of
    every node in the directory with this node's own token (scope `duplicates:query`,
    POL-015 at each; the caller's right to register was checked here first), or
    of this node alone when it is not in a federation. A node that does not answer does
    not block the registration (the answer would be a guess either way)."""
    federation = deps.federation(request)
    found: dict[str, str] = {}
    for start in range(0, len(tokens), MAX_TOKENS):
        batch = tokens[start:start + MAX_TOKENS]
        own_tokens = federation.own_tokens()
        if own_tokens is not None:
            engine = federation.engine(own_tokens)
            matches = (await engine.duplicates(await nodes_of(federation), batch))["matches"]
        else:
            matches = await run_in_threadpool(deps.duplicate_index(request).matches, batch)
        found.update((m["token"], m["holder"]) for m in matches)
    return found


Relay = Annotated[Federation, Depends(deps.federation)]
Authenticated = Annotated[Caller, Depends(current_caller)]


@router.get("/nodes", summary="The nodes a federated query goes to (from the directory)",
            openapi_extra=FEDERATED["openapi_extra"],
            responses={**FEDERATED["responses"], 200: content("application/json", schema={
                "type": "array", "items": {"type": "object", "properties": {
                    "url": {"type": "string"}, "org_id": {"type": ["string", "null"]},
                    "id": {"type": ["string", "null"]}}}})})
async def nodes(request: Request, caller: Authenticated, federation: Relay) -> JSONResponse:
    _, targets = await _engine(request, caller, federation)
    return JSONResponse([{"url": t.url, "org_id": t.org_id, "id": t.name} for t in targets])


@router.get("/assets", summary="Federated REST filter form",
            description="Assets matching the filters on every node, as SPARQL JSON results "
            "with `_node`. Same filters as /query/assets." + PARTIAL_DOC, **_with_filters())
async def assets(request: Request, caller: Authenticated, federation: Relay) -> JSONResponse:
    spec = AssetFilter.parse(dict(request.query_params))
    engine, targets = await _engine(request, caller, federation)
    engine.provenance = wanted(request.headers)
    answer = await engine.assets(targets, spec)
    return _answer(engine, _relayed_provenance(request, caller, engine, targets, answer))


def _relayed_provenance(request: Request, caller: Caller, engine: Engine,
                        targets: list[NodeTarget], answer: dict[str, Any]) -> dict[str, Any]:
    """This node's record over the nodes' records (receipts, the merge, the transfer to
    the caller), when asked for: node/provenance/node.py."""
    if engine.provenance:
        signer = required(deps.provenance(request))
        answered = {n["node"] for n in answer["nodes"] if n.get("status") == "answered"}
        missing = sorted(answered - set(engine.provenance_records))
        if missing:  # rows that no node vouches for are not passed on as vouched for
            raise ApiError(502, "PROV-011", "A node answered without a provenance record.",
                           {"nodes": missing})
        answer.pop("provenance", None)
        answer["provenance"] = [signer.for_relay(caller, request.url.path,
                                                 dict(request.query_params), answer,
                                                 engine.provenance_records,
                                                 signer.directory_urls(targets))]
    return answer


@router.get("/aggregate", summary="Federated counts and capacity by group",
            description="Each node computes COUNT/SUM/MIN/MAX by group over what the caller "
            "may aggregate; this node merges them (AVG = SUM/COUNT). No rows move."
            + PARTIAL_DOC, **_with_filters(aggregate=True))
async def aggregate(request: Request, caller: Authenticated, federation: Relay) -> JSONResponse:
    spec = AggregateSpec.parse(dict(request.query_params))
    engine, targets = await _engine(request, caller, federation)
    engine.provenance = wanted(request.headers)
    answer = await engine.aggregate(targets, spec)
    return _answer(engine, _relayed_provenance(request, caller, engine, targets, answer))


async def _sparql(request: Request, caller: Caller, federation: Federation, query: str,
                  mode: str) -> JSONResponse:
    if mode not in ("gather", "distribute"):
        raise ApiError(400, "FED-IN-006", "mode is gather (default: joins across nodes) or "
                       "distribute (node-local queries).")
    policy.check_federation_query(caller)
    # an invalid query costs no round trip to any node; parsed off the event loop
    await asyncio.to_thread(Engine.check, query, mode)
    engine, targets = await _engine(request, caller, federation)
    answer = await engine.sparql(targets, query, mode)
    # an answer that could not be computed keeps every node's status, with the stage's error
    return _answer(engine, answer, answer["error"]["status"] if "error" in answer else 200)


@router.get("/sparql", summary="Federated SPARQL SELECT / CONSTRUCT / ASK",
            description="mode=gather (default): each node returns the caller's quads with the "
            "query's predicates; the query runs over their union, so joins across nodes are "
            "exact. mode=distribute: the query runs at each node and rows are concatenated."
            + PARTIAL_DOC, **FEDERATED)
async def sparql_get(request: Request, caller: Authenticated, federation: Relay,
                     query: str = "", mode: Annotated[str, Query(json_schema_extra={
                         "enum": ["gather", "distribute"]})] = "gather") -> JSONResponse:
    return await _sparql(request, caller, federation, query, mode)


@router.post("/sparql", summary="Federated SPARQL (POST: form or application/sparql-query)",
             **FEDERATED)
async def sparql_post(request: Request, caller: Authenticated, federation: Relay,
                      mode: str = "gather") -> JSONResponse:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        form = await request.form()
        query = str(form.get("query") or "")
        mode = str(form.get("mode") or mode)
    else:
        query = (await request.body()).decode("utf-8", errors="replace")
    return await _sparql(request, caller, federation, query, mode)


@router.get("/records/{kind}", summary="Federated listing of one record kind",
            description="The records of one kind (its path: `products`, `connection-limits`, "
            "...) that the caller may read on every node, with the kind's own filters; every "
            "node's pages are followed (at most 10,000 records a node; a node cut short is "
            "in `truncated`). Items carry `_node`." + PARTIAL_DOC,
            openapi_extra=FEDERATED["openapi_extra"],
            responses={**FEDERATED["responses"], **error_responses(404)})
async def records(request: Request, caller: Authenticated, federation: Relay,
                  kind: str) -> JSONResponse:
    routes = ROUTED.get(f"/{kind}")
    if routes is None:
        raise ApiError(404, "FED-IN-008", f"No record kind is listed at /{kind}.",
                       {"kinds": sorted(p.lstrip("/") for p in ROUTED)})
    params = {k: v for k, v in request.query_params.items() if k not in PAGING}
    where(routes, params)  # an unknown filter is refused here, before any node is asked
    engine, targets = await _engine(request, caller, federation)
    return _answer(engine, await engine.records(targets, routes.path, params))


@router.post("/duplicates", summary="Keyed-hash duplicate check (this node's records)",
             description="Body: {\"tokens\": [hex HMAC-SHA256 of (import|export, MPAN, "
             "serial)]}. Answers which tokens match a record on this node, with the holder "
             "organisation only. No MPAN is sent or returned (POL-015).",
             openapi_extra=secured("assets:write", extra={"requestBody": {
                 "required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["tokens"], "properties": {"tokens": {
                         "type": "array", "maxItems": MAX_TOKENS, "items": {
                             "type": "string", "minLength": 64, "maxLength": 64}}}}}}}}),
             responses={200: content("application/json"),
                        **error_responses(400, 401, 403, 503)})
async def duplicates(request: Request, caller: Authenticated,
                     index: Annotated[DuplicateIndex, Depends(deps.duplicate_index)]
                     ) -> JSONResponse:
    policy.check_duplicate_enquiry(caller)
    try:
        body = await request.json()
        tokens = body["tokens"]
        if not isinstance(tokens, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "FED-IN-007", "Send {\"tokens\": [...]}.") from None
    return JSONResponse({"matches": await run_in_threadpool(index.matches, tokens)})
