"""Eligibility routes (thin): which products a market unit can enter on a day, and what
stops it from entering the others. The unit and its members are on this node; the
products, equivalences, qualifications and connection limits come from the federation,
asked with the caller's own rights (node/federation/eligibility.py).

Registered before the market-unit routes, so `/market-units/eligibility` is not read as a
unit ID."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from common.errors import Denied
from common.http_errors import error_responses
from common.openapi import content, secured
from node import policy
from node.api import services as deps
from node.api.assets import register_of
from node.api.federation import nodes_of, tokens_for
from node.api.services import Federation
from node.federation.eligibility import federated_context, local_context
from node.identity import Caller, current_caller
from node.kinds.eligibility import Context, unit_answer, unit_capability
from node.kinds.market_unit_capability import day_of, today
from node.records.record import Record

router = APIRouter(tags=["eligibility"])
CallerDep = Annotated[Caller, Depends(current_caller)]
OnDay = Annotated[str | None, Query(description="The day, YYYY-MM-DD (default today)",
                                    pattern=r"^\d{4}-\d{2}-\d{2}$")]


def _day(on: str | None) -> date:
    """MU-IN-004: a date parameter is YYYY-MM-DD (a real day)."""
    return date.fromisoformat(day_of(on) or today())
SECURED = secured("assets:read")
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: content("application/json"), **error_responses(400, 401, 403, 404, 422, 503)}
DESCRIPTION = (
    "For each product in force on the day (its Active version), the outcome (eligible, not "
    "eligible, cannot tell) and each requirement's answer (ELIG-001..007): met; not met, with "
    "the unit's value, the required value and a sentence; or cannot tell, naming what to "
    "add. A unit qualified for a product that an equivalence names is eligible via it. The "
    "unit's capability counts its members in force, capped by the connection limits on "
    "them. In a federation, products, equivalences, qualifications and limits are asked of "
    "every node with the caller's rights (a token that may be relayed, `may_act`); "
    "`sources` gives each node's status.")


async def _context(request: Request, caller: Caller, federation: Federation,
                   on: date) -> Context:
    settings = federation.settings
    if settings.federated or settings.federation_passthrough or settings.federation_nodes:
        policy.check_federation_query(caller)
        engine = federation.engine(tokens_for(request, federation))
        context = await federated_context(engine, await nodes_of(federation), on)
        statuses = [n for source in context.sources.values() for n in source["nodes"]]
        if statuses and all(n["status"] == "refused" for n in statuses):
            raise Denied("FED-011", "No node could be asked for you: every node refused "
                         "the token this node got for you (a token that lets a node ask "
                         "others names it in `may_act`; `fmar unit eligibility` asks for "
                         "one).", {"codes": sorted({str(n.get("code")) for n in statuses})})
        return context
    return await run_in_threadpool(local_context, register_of(request), caller, on)


def _answers(request: Request, units: list[Record], context: Context,
             on: date) -> list[dict[str, Any]]:
    register = register_of(request)
    return [unit_answer(unit, unit_capability(register.store, unit, on, context.limits),
                        context, on) for unit in units]


@router.get("/market-units/eligibility", summary="The eligibility matrix: the caller's units "
            "on this node × every product in force", description=DESCRIPTION,
            openapi_extra=SECURED, responses=RESPONSES)
async def matrix(request: Request, caller: CallerDep,
                 federation: Annotated[Federation, Depends(deps.federation)],
                 on: OnDay = None) -> JSONResponse:
    day = _day(on)
    units = await run_in_threadpool(register_of(request).units.every, caller)
    context = await _context(request, caller, federation, day)
    answers = await run_in_threadpool(_answers, request, units, context, day)
    return JSONResponse({"on": day.isoformat(), "units": answers,
                         "products": [p.field("ProductCode") for p in context.products],
                         "product_versions": [p.iri for p in context.products],
                         "sources": context.sources})


@router.get("/market-units/{unit_id}/eligibility", summary="Which products a unit can enter, "
            "and what stops it from entering the others", description=DESCRIPTION,
            openapi_extra=SECURED, responses=RESPONSES)
async def one_unit(request: Request, unit_id: str, caller: CallerDep,
                   federation: Annotated[Federation, Depends(deps.federation)],
                   on: OnDay = None) -> JSONResponse:
    day = _day(on)
    unit = await run_in_threadpool(register_of(request).units.read, unit_id, caller)
    context = await _context(request, caller, federation, day)
    [answer] = await run_in_threadpool(_answers, request, [unit], context, day)
    return JSONResponse({**answer, "sources": context.sources})
