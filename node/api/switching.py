"""Switch request routes (thin: parse, call node/switching, shape the response).

`/switch-requests` are for people and their applications (FSP B requests, FSP A objects,
B withdraws, both read); `/switch-transfers` are for nodes, each calling with its own
token (scope `switch:transfer`) during a hand-over."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import JsonDict

from common.http_errors import error_responses
from common.openapi import secured
from node.api import services as deps
from node.api.tables import model_of
from node.identity import Caller, current_caller
from node.switching.record import INPUT, SWITCH_TABLE, SwitchRecord
from node.switching.service import Switching

router = APIRouter(tags=["switching"])
CallerDep = Annotated[Caller, Depends(current_caller)]
SwitchingDep = Annotated[Switching, Depends(deps.switching)]
_EXAMPLE: JsonDict = {"From": "FSP-ACME", "RecordKind": "asset",
                      "Records": ["https://id.fmar.uk/asset/0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e"],
                      "ConsentReference": "CONSENT-2026-0042"}
_UNIT_EXAMPLE: JsonDict = {
    "From": "FSP-ACME", "RecordKind": "market-unit",
    "Records": ["https://id.fmar.uk/market-unit/7bbf52a4-0c3e-4d1f-9a2b-3c4d5e6f7a8b"],
    "ConsentReference": "CONSENT-2026-0043"}


# the request's models, from its field table (node/switching/record.py SWITCH_TABLE)
SwitchRequestIn = model_of(
    "SwitchRequestIn", SWITCH_TABLE, "What FSP B sends to the node holding the records "
    "(FSP A's).", names=INPUT, required=("From", "Records", "ConsentReference"),
    examples=(_EXAMPLE, _UNIT_EXAMPLE))


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["Reason"]})

    Reason: Any = Field(None, description="Why A objects", json_schema_extra={
        "type": "string", "minLength": 1, "maxLength": 1000, "pattern": r"\S"})


SwitchRequestOut = model_of(
    "SwitchRequestOut", SWITCH_TABLE, "A switch request as its parties read it.",
    kept={"id": (str, ...), "SwitchId": (str, ...)}, forbid=False)
SwitchRequestOut = create_model(  # the node's own fields after the table's
    "SwitchRequestOut", __base__=SwitchRequestOut, Version=(int, ...),
    Created=(str | None, None), Modified=(str | None, None))


class SwitchRequestList(BaseModel):
    items: list[SwitchRequestOut]
    count: int


def _response(record: SwitchRecord, status: int = 200) -> JSONResponse:
    headers = {"ETag": record.etag}
    if status == 201:
        headers["Location"] = f"/switch-requests/{record.switch_id}"
    body = SwitchRequestOut.model_validate(record.as_json()).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def _body(model: BaseModel | None) -> dict[str, Any] | None:
    return model.model_dump(exclude_unset=True) if model is not None else None


@router.post("/switch-requests", status_code=201, summary="Request a switch (FSP B)",
             description="FSP B asks to take over records that this node holds for FSP A, "
             "giving the consumer's consent reference (POL-072, SWITCH-VAL-001..004). A has "
             "the notice period (`NoticeEnds`) to object; then the records move to B's node "
             "with the same IRIs and their history, and this node keeps a tombstone "
             "(docs/design.md \"Switching\").",
             openapi_extra=secured("assets:write"), response_model=SwitchRequestOut,
             responses=error_responses(400, 401, 403, 409, 422, 503))
def create_switch(caller: CallerDep, switching: SwitchingDep,
                  body: SwitchRequestIn) -> JSONResponse:  # type: ignore[valid-type]
    return _response(switching.request(caller, _body(body)), 201)


@router.get("/switch-requests", summary="The switch requests the caller is a party to",
            openapi_extra=secured("assets:read"), response_model=SwitchRequestList,
            responses=error_responses(401, 403))
def list_switches(caller: CallerDep, switching: SwitchingDep) -> JSONResponse:
    items = [SwitchRequestOut.model_validate(r.as_json()).model_dump(exclude_none=True)
             for r in switching.visible(caller)]
    return JSONResponse({"items": items, "count": len(items)})


@router.get("/switch-requests/{switch_id}", summary="Read one switch request (A or B)",
            openapi_extra=secured("assets:read"), response_model=SwitchRequestOut,
            responses=error_responses(401, 403, 404))
def read_switch(switch_id: str, caller: CallerDep, switching: SwitchingDep) -> JSONResponse:
    return _response(switching.read(caller, switch_id))


@router.post("/switch-requests/{switch_id}/objection", summary="Object to a switch (FSP A)",
             description="Within the notice period, with a reason (POL-073, SWITCH-VAL-006, "
             "SWITCH-VAL-007): the request ends `objected` and the records stay.",
             openapi_extra=secured("assets:write"), response_model=SwitchRequestOut,
             responses=error_responses(400, 401, 403, 404, 409, 422, 503))
def object_to_switch(switch_id: str, caller: CallerDep, switching: SwitchingDep,
                     body: ObjectionIn) -> JSONResponse:
    return _response(switching.object(caller, switch_id, _body(body)))


@router.post("/switch-requests/{switch_id}/withdrawal", summary="Withdraw a switch (FSP B)",
             description="Before the notice ends (POL-074): the request ends `withdrawn`.",
             openapi_extra=secured("assets:write"), response_model=SwitchRequestOut,
             responses=error_responses(401, 403, 404, 409, 503))
def withdraw_switch(switch_id: str, caller: CallerDep, switching: SwitchingDep) -> JSONResponse:
    return _response(switching.withdraw(caller, switch_id))


@router.put("/switch-transfers/{switch_id}", summary="Stage a hand-over (node to node)",
            description="The holder's node hands the records over: this node keeps the "
            "bundle, not yet as records (idempotent by switch ID). Only a node's own token "
            "(`switch:transfer`, POL-075), for an organisation this node holds.",
            openapi_extra=secured("switch:transfer"),
            responses={200: {"description": "Staged (or already staged or active)"},
                       **error_responses(400, 401, 403, 409, 422, 503)})
def stage_transfer(switch_id: str, caller: CallerDep, switching: SwitchingDep,
                   body: Annotated[Any, Body()] = None) -> JSONResponse:
    return JSONResponse(switching.stage(caller, switch_id, body))


@router.post("/switch-transfers/{switch_id}/activation",
             summary="Activate a staged hand-over (node to node)",
             description="After the holder's node wrote its tombstones: the staged records "
             "become this node's, version n+1 naming the new organisation (idempotent).",
             openapi_extra=secured("switch:transfer"),
             responses={200: {"description": "Active"},
                        **error_responses(401, 403, 404, 503)})
def activate_transfer(switch_id: str, caller: CallerDep,
                      switching: SwitchingDep) -> JSONResponse:
    return JSONResponse(switching.activate(caller, switch_id))
