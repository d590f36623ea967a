"""Connection limit routes (thin: parse, call the kind, shape the response)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from common.http_errors import error_responses
from common.openapi import ETAG, secured
from node.api.assets import register_of
from node.identity import Caller, current_caller
from node.kinds.connection_limits import ConnectionLimits, LimitRecord

router = APIRouter(tags=["connection limits"])
CallerDep = Annotated[Caller, Depends(current_caller)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The ETag you last read")]
_CODE: JsonDict = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}
_KW: JsonDict = {"type": "number", "minimum": 0, "maximum": 10_000_000}
_EXAMPLE: JsonDict = {"AssetId": "0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e", "OrganisationId": "FSP-ACME",
            "DNOConnection": "UKPN_EPN", "ExportLimit": 6000.0}


class ConnectionLimitIn(BaseModel):
    """A connection limit as a DNO or IDNO sends it. The node checks it against
    shapes/connection_limit.ttl (LIM-001..007), so those rules keep their IDs."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["AssetId", "OrganisationId", "DNOConnection"], "examples": [_EXAMPLE]})

    AssetId: Any = Field(None, description="The limited asset's ID",
                         json_schema_extra={"type": "string", "format": "uuid"})
    OrganisationId: Any = Field(None, description="The asset holder's organisation ID",
                                json_schema_extra=_CODE)
    DNOConnection: Any = Field(None, description="The licence area (DNOCode)",
                               json_schema_extra=_CODE)
    ExportLimit: Any = Field(None, description="Maximum export, kW", json_schema_extra=_KW)
    ImportLimit: Any = Field(None, description="Maximum import, kW", json_schema_extra=_KW)


class ConnectionLimitOut(BaseModel):
    LimitId: str
    id: str
    AssetId: str | None = None
    OrganisationId: str | None = None
    DNOConnection: str | None = None
    ExportLimit: float | None = None
    ImportLimit: float | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class ConnectionLimitPage(BaseModel):
    items: list[ConnectionLimitOut]
    count: int
    next: str | None = None


class ConnectionLimitVersion(BaseModel):
    version: int
    action: str | None = None
    by: str | None = None
    organisation: str | None = None
    on_behalf_of: str | None = None
    at: str | None = None
    limit: ConnectionLimitOut | None = None


class ConnectionLimitHistory(BaseModel):
    versions: list[ConnectionLimitVersion]


def limits_of(request: Request) -> ConnectionLimits:
    return register_of(request).limits


def _response(record: LimitRecord, status: int = 200) -> JSONResponse:
    headers = {"ETag": record.etag}
    if status == 201:
        headers["Location"] = f"/connection-limits/{record.limit_id}"
    body = ConnectionLimitOut.model_validate(record.as_json()).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


RECORD = {"description": "The connection limit", "headers": ETAG}
WRITE_ERRORS = (400, 401, 403, 404, 412, 422, 428, 503)


@router.post("/connection-limits", status_code=201, summary="Set a connection limit (DNO, IDNO)",
             description="A DNO or IDNO sets an import or export limit on an asset connected in "
             "one of its licence areas (POL-008). The limit is held on this node, with its "
             "history and audit trail; the asset's organisation, the DNO and NESO read it.",
             openapi_extra=secured("validation:write"), response_model=ConnectionLimitOut,
             responses={201: RECORD, **error_responses(400, 401, 403, 422, 503)})
def create_limit(request: Request, caller: CallerDep, body: ConnectionLimitIn) -> Response:
    record = limits_of(request).create(body.model_dump(exclude_unset=True), caller)
    return _response(record, 201)


@router.get("/connection-limits", summary="The connection limits the caller may read",
            openapi_extra=secured("assets:read"), response_model=ConnectionLimitPage,
            responses=error_responses(400, 401, 403, 404, 422))
def list_limits(
    request: Request,
    caller: CallerDep,
    asset: Annotated[str | None, Query(description="Only the limits of this AssetId")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="LimitId to continue after")] = None,
) -> JSONResponse:
    records, cursor = limits_of(request).search(caller, asset, limit, after)
    page = ConnectionLimitPage(
        items=[ConnectionLimitOut.model_validate(r.as_json()) for r in records],
        count=len(records), next=cursor)
    return JSONResponse(page.model_dump(exclude_none=True))


@router.get("/connection-limits/{limit_id}", summary="Read one connection limit",
            openapi_extra=secured("assets:read"), response_model=ConnectionLimitOut,
            responses={200: RECORD, **error_responses(401, 403, 404)})
def read_limit(request: Request, limit_id: str, caller: CallerDep) -> Response:
    return _response(limits_of(request).read(limit_id, caller))


@router.put("/connection-limits/{limit_id}", summary="Change a connection limit (needs If-Match)",
            openapi_extra=secured("validation:write"), response_model=ConnectionLimitOut,
            responses={200: RECORD, **error_responses(*WRITE_ERRORS)})
def replace_limit(request: Request, limit_id: str, caller: CallerDep, body: ConnectionLimitIn,
                  if_match: IfMatch = None) -> Response:
    record = limits_of(request).replace(limit_id, body.model_dump(exclude_unset=True), caller,
                                        if_match)
    return _response(record)


@router.delete("/connection-limits/{limit_id}", status_code=204,
               summary="Remove a connection limit (its history and audit trail stay)",
               openapi_extra=secured("validation:write"), response_class=Response,
               responses=error_responses(401, 403, 404, 412, 503))
def delete_limit(request: Request, limit_id: str, caller: CallerDep,
                 if_match: IfMatch = None) -> Response:
    limits_of(request).delete(limit_id, caller, if_match)
    return Response(status_code=204)


@router.get("/connection-limits/{limit_id}/history", summary="Every version with who and when",
            openapi_extra=secured("assets:read"), response_model=ConnectionLimitHistory,
            responses=error_responses(401, 403, 404))
def limit_history(request: Request, limit_id: str, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"versions": limits_of(request).history(limit_id, caller)})


@router.get("/connection-limits/{limit_id}/audit", summary="The audit trail of one limit",
            openapi_extra=secured("audit:read"), responses=error_responses(401, 403, 404))
def limit_audit(request: Request, limit_id: str, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"entries": limits_of(request).audit_trail(limit_id, caller)})
