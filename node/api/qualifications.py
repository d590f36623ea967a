"""Qualification routes: the generic record routes (node/api/records.py) of the three
qualification kinds, their transitions, the products open for qualification (from the
product register) and a system operator's queue.

- /qualification-applications: written by the FSP on its own node (POL-060, POL-030);
- /qualifications: written by the system operator that runs the product, on its own node
  (POL-061, POL-067);
- /grid-prequalifications: written by a DNO for its licence areas, on its node (POL-062,
  POL-067);
- POST {path}/{id}/transitions {"to": ..., "reason": ...}: the state machine of
  node/kinds/qualifications.py (QUAL-VAL-022..024);
- GET /qualification-queue: the open applications for the products the caller procures
  (per the product register), from every node of the federation, each node applying the
  caller's own rights (POL-066, POL-014).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict
from starlette.concurrency import run_in_threadpool

from common.http_errors import error_responses
from common.openapi import content, or_empty, secured
from node import policy
from node.api.assets import register_of
from node.api.federation import nodes_of, tokens_for
from node.api.records import WRITE_ERRORS, CallerDep, IfMatch, RecordRoutes, add_record_routes
from node.api.records import respond as respond_record
from node.api.services import federation as federation_of
from node.federation.engine import Engine, NodeTarget
from node.identity import Caller, current_caller
from node.kinds.qualifications import (
    OPEN_APPLICATION_STATES,
    STATE,
    TRANSITIONS,
    StatefulRecords,
)

_ID: JsonDict = {"type": "string", "maxLength": 200}
CODE_PATTERN = "^[A-Za-z0-9_.-]{1,100}$"
_CODE: JsonDict = {"type": "string", "pattern": CODE_PATTERN}
_KW: JsonDict = {"type": "number", "minimum": 0, "maximum": 10_000_000}
_TEXT: JsonDict = {"type": "string", "maxLength": 2000}
_DATE: JsonDict = {"type": "string", "pattern": or_empty(r"^\d{4}-\d{2}-\d{2}$")}


def _states(kind: str) -> JsonDict:
    """A kind's states (empty: the node's default, its first initial state)."""
    return {"type": "string", "enum": ["", *sorted({s for pair in TRANSITIONS[kind]
                                                    for s in pair})]}
UNIT = "5f0c8e2a-6b1d-4c3e-9a7f-2d4b6c8e0a1b"
APPLICATION_ID = "0d9a3b52-7c41-4e8f-b6a2-91c3d5e7f024"


def _held(request: Request, caller: Annotated[Caller, Depends(current_caller)]) -> None:
    """POL-030: an FSP writes its applications on its own node (or the one hosting it)."""
    if request.method != "GET":
        policy.check_placement(caller, request.app.state.placement.organisations())


def _operator_node(request: Request, caller: Annotated[Caller, Depends(current_caller)]) -> None:
    """POL-067: a system operator records outcomes on its own node."""
    if request.method != "GET":
        policy.check_operator_node(caller, request.app.state.placement.organisations())


applications = APIRouter(tags=["qualification"], dependencies=[Depends(_held)])
outcomes = APIRouter(tags=["qualification"], dependencies=[Depends(_operator_node)])
router = APIRouter(tags=["qualification"])
ROUTERS = (applications, outcomes, router)


def _field(description: str, schema: JsonDict, optional: bool = True) -> Any:
    """A body field; an optional one may be null or left out (both mean no value)."""
    if optional:
        schema = {**schema, "type": [schema["type"], "null"]}
        enum = schema.get("enum")
        if isinstance(enum, list):
            schema["enum"] = [*enum, None]
    return Field(None, description=description, json_schema_extra=schema)


# ---------------------------------------------------------------- models


class ApplicationIn(BaseModel):
    """An FSP's application for a product for one of its market units (shapes/
    qualification.ttl: QUAL-VAL-001..007). It starts `requested`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["UnitId", "Product", "Evidence"], "examples": [{
            "UnitId": UNIT, "Product": "DC", "OrganisationId": "FSP-ACME",
            "ClaimedUpKW": 2000, "ClaimedDownKW": 1500,
            "Evidence": "https://docs.example/acme/unit-7/dc-test-report.pdf"}]})

    UnitId: Any = _field("The market unit's ID (a UUID) or IRI", _ID, False)
    Product: Any = _field("The product's code (GET /qualification-products)", _CODE, False)
    OrganisationId: Any = _field("The FSP (default, or empty: your organisation)",
                                 {"type": "string", "pattern": or_empty(CODE_PATTERN)})
    ClaimedUpKW: Any = _field("Upward capability claimed, kW", _KW)
    ClaimedDownKW: Any = _field("Downward capability claimed, kW", _KW)
    Evidence: Any = _field("A URL or document reference",
                           {"type": "string", "maxLength": 500}, False)
    State: Any = _field("requested (the default); later states by transition",
                        _states("qualification-application"))
    Reason: Any = _field("Why (set by transitions)", _TEXT)


class ApplicationOut(BaseModel):
    ApplicationId: str
    id: str
    UnitId: str | None = None
    Product: str | None = None
    OrganisationId: str | None = None
    ClaimedUpKW: float | None = None
    ClaimedDownKW: float | None = None
    Evidence: str | None = None
    State: str | None = None
    Reason: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class QualificationIn(BaseModel):
    """The outcome a system operator records on its node for an application
    (QUAL-VAL-001..003, 008, 010..013). It starts `requested` or `in_progress`; the
    decision is a transition."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["UnitId", "Product", "OrganisationId", "ApplicationId"], "examples": [{
            "UnitId": UNIT, "Product": "DC", "OrganisationId": "FSP-ACME",
            "ApplicationId": APPLICATION_ID, "State": "in_progress",
            "ValidFrom": "2027-01-01", "ValidTo": "2028-12-31", "QualifiedUpKW": 1800,
            "Conditions": "Re-test after any change of battery inverter firmware."}]})

    UnitId: Any = _field("The market unit's ID (a UUID) or IRI", _ID, False)
    Product: Any = _field("The product's code", _CODE, False)
    OrganisationId: Any = _field("The unit's FSP (it reads the outcome)", _CODE, False)
    ApplicationId: Any = _field("The application's ID or IRI (on the FSP's node)", _ID, False)
    State: Any = _field("requested (default) or in_progress", _states("qualification"))
    ValidFrom: Any = _field("First valid day", _DATE)
    ValidTo: Any = _field("Last valid day", _DATE)
    QualifiedUpKW: Any = _field("Upward capability qualified, kW (QUAL-VAL-040)", _KW)
    QualifiedDownKW: Any = _field("Downward capability qualified, kW (QUAL-VAL-040)", _KW)
    Conditions: Any = _field("Conditions of the qualification", _TEXT)
    Reason: Any = _field("Why (set by transitions)", _TEXT)


class QualificationOut(BaseModel):
    QualificationId: str
    id: str
    UnitId: str | None = None
    Product: str | None = None
    OrganisationId: str | None = None
    ApplicationId: str | None = None
    State: str | None = None
    ValidFrom: str | None = None
    ValidTo: str | None = None
    QualifiedUpKW: float | None = None
    QualifiedDownKW: float | None = None
    Conditions: str | None = None
    Reason: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class GridPrequalificationIn(BaseModel):
    """A DNO's grid prequalification of a unit for one of its licence areas
    (QUAL-VAL-001, 003, 009, 013, 014): one record per affected area."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["UnitId", "OrganisationId", "DNOConnection"], "examples": [{
            "UnitId": UNIT, "OrganisationId": "FSP-ACME", "DNOConnection": "UKPN_EPN",
            "State": "in_progress"}]})

    UnitId: Any = _field("The market unit's ID (a UUID) or IRI", _ID, False)
    OrganisationId: Any = _field("The unit's FSP", _CODE, False)
    DNOConnection: Any = _field("The licence area (DNOCode)", _CODE, False)
    State: Any = _field("requested (default) or in_progress",
                        _states("grid-prequalification"))
    Conditions: Any = _field("Conditions (e.g. export capped at times)", _TEXT)
    Reason: Any = _field("Why (set by transitions)", _TEXT)


class GridPrequalificationOut(BaseModel):
    GridPrequalificationId: str
    id: str
    UnitId: str | None = None
    OrganisationId: str | None = None
    DNOConnection: str | None = None
    State: str | None = None
    Conditions: str | None = None
    Reason: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "required": ["to"], "examples": [
            {"to": "prequalified", "reason": "Test report accepted."}]})

    to: Any = _field("The state to move to", _CODE, False)
    reason: Any = _field("Why (required for rejections and re-assessments)", _TEXT)


# ---------------------------------------------------------------- routes


def _service(attribute: str) -> Any:
    def of(request: Request) -> StatefulRecords:
        service: StatefulRecords = getattr(register_of(request), attribute)
        return service
    return of


KINDS = (
    (applications, RecordRoutes(
        path="/qualification-applications", label="qualification application",
        records=_service("applications"), model_in=ApplicationIn, model_out=ApplicationOut,
        write_scope="assets:write",
        filters={"unit": "UnitId", "product": "Product", "state": "State"},
        describe={"create": "An FSP applies, on its own node, for a product for one of its "
                  "market units (POL-060, POL-030). The system operator that runs the "
                  "product finds it in its queue (GET /qualification-queue on its node)."})),
    (outcomes, RecordRoutes(
        path="/qualifications", label="qualification", records=_service("qualifications"),
        model_in=QualificationIn, model_out=QualificationOut, write_scope="validation:write",
        filters={"unit": "UnitId", "product": "Product", "state": "State",
                 "application": "ApplicationId"},
        describe={"create": "The system operator that runs the product (NESO, or the DNO "
                  "for a DSO product; POL-061) records the outcome on its own node "
                  "(POL-067). The unit's FSP, NESO and every DNO read it (POL-063)."})),
    (outcomes, RecordRoutes(
        path="/grid-prequalifications", label="grid prequalification",
        records=_service("grid_prequalifications"), model_in=GridPrequalificationIn,
        model_out=GridPrequalificationOut, write_scope="validation:write",
        filters={"unit": "UnitId", "state": "State", "area": "DNOConnection"},
        describe={"create": "A DNO records, on its node, whether its network in one of its "
                  "licence areas lets the unit deliver (POL-062); one record per affected "
                  "area."})),
)


def _add_transitions(target: APIRouter, routes: RecordRoutes) -> None:
    @target.post(routes.path + "/{record_id}/transitions",
                 summary=f"Move a {routes.label} to another state",
                 description="The moves, who makes them and which need a reason are the "
                 "table `TRANSITIONS` of node/kinds/qualifications.py (docs/design.md "
                 "\"Qualification\"). If-Match is optional: the move is judged on the "
                 "current state. Refusals: 409 QUAL-VAL-022 (no such move), QUAL-VAL-023 "
                 "(reason missing), QUAL-VAL-024 (another party makes it).",
                 openapi_extra=secured(routes.write_scope), response_model=routes.model_out,
                 responses={200: {"description": f"The {routes.label}"},
                            **error_responses(*WRITE_ERRORS, 409)})
    def transition(request: Request, record_id: str, caller: CallerDep, body: TransitionIn,
                   if_match: IfMatch = None) -> JSONResponse:
        service: StatefulRecords = routes.records(request)  # type: ignore[assignment]
        record = service.transition(record_id, caller, if_match, body.to, body.reason)
        return respond_record(routes, record)


for _target, _routes in KINDS:
    add_record_routes(_target, _routes)
    _add_transitions(_target, _routes)


@router.get("/qualification-products", summary="The products open for qualification, and "
            "who records the outcomes", description="The products of the register "
            "(GET /products on the market facilitator's node, read by this node with its own "
            "token and kept 60 seconds) that are open (an Active version in force today or "
            "later), each with the system operator that records its outcomes (NESO, or the "
            "DNO of its procuring licence areas) and its procurers. 503 QUAL-VAL-039 when the "
            "register cannot be read.",
            openapi_extra=secured("assets:read"),
            responses={200: content("application/json"), **error_responses(401, 403, 503)})
def products(request: Request, caller: CallerDep) -> JSONResponse:
    policy.require_scope(caller, "assets:read")
    terms = register_of(request).product_register.terms()
    return JSONResponse({"items": [{**t.as_json(), "dno_areas": list(t.areas)}
                                   for _, t in sorted(terms.items()) if t.open]})


async def queue(engine: Engine, targets: list[NodeTarget],
                products: list[str]) -> dict[str, Any]:
    """The open applications for `products` on every node (the federated listing of
    /qualification-applications, every page, with the caller's token for each node: each
    node applies POL-064), those needing re-assessment first, then requested."""
    wanted = set(products)
    org_of = {target.url: target.org_id for target in targets}
    listed = await engine.records(targets, "/qualification-applications", {})
    # `_node_org`: the node's operator; an application naming another organisation comes
    # from a node hosting it (or a node that should not hold it)
    items = [{**item, "_node_org": org_of.get(item["_node"])} for item in listed["items"]
             if item.get("Product") in wanted and item.get("State") in OPEN_APPLICATION_STATES]
    items.sort(key=lambda i: (i["State"] != "reassessment_required", i.get("Modified") or ""))
    return {"partial": listed["partial"], "nodes": listed["nodes"],
            "truncated": listed["truncated"], "products": sorted(wanted), "items": items}


@router.get("/qualification-queue", summary="The applications waiting for you (federated)",
            description="For a system operator (POL-066) with `federation:query` (POL-014): "
            "the open applications (requested, reassessment_required) for the open products "
            "it procures per the product register (its organisation among "
            "ProcuringOrganisations when given; NESO for NESO products, a DNO of the "
            "ProcuringAreas for DSO products), asked of every node with the caller's own rights (the node exchanges its "
            "token per node). The answer lists every node's status, as federated queries do.",
            openapi_extra=secured("federation:query"),
            responses={200: content("application/json"),
                       **error_responses(400, 401, 403, 503)})
async def qualification_queue(request: Request, caller: CallerDep) -> JSONResponse:
    policy.check_qualification_queue(caller)
    policy.check_federation_query(caller)
    federation = federation_of(request)
    engine = federation.engine(tokens_for(request, federation))
    procured = await run_in_threadpool(register_of(request).product_register.procured_by,
                                       caller)
    answer = await queue(engine, await nodes_of(federation), [t.code for t in procured])
    await run_in_threadpool(with_outcomes, register_of(request).qualifications, caller,
                            answer["items"])
    return JSONResponse(answer)


def with_outcomes(outcomes: StatefulRecords, caller: Caller,
                  items: list[dict[str, Any]]) -> None:
    """Each application's outcome recorded on this node so far (`_outcome`: its ID and
    state), so the operator sees which are new and which it is assessing."""
    for item in items:
        found, _ = outcomes.search(caller, {"ApplicationId": item["ApplicationId"]}, limit=1)
        if found:
            item["_outcome"] = {"QualificationId": found[0].record_id,
                                "State": found[0].value(STATE)}
