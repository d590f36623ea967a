"""Connection limit routes: the generic record routes (node/api/records.py) with the
limit's models, and the bulk import of a DNO's book (CSV)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict, JsonValue

from common.http_errors import ApiError, error_responses
from common.openapi import content, secured
from common.web import CSV, JSON
from node.api.assets import register_of
from node.api.http import blocking_chunks, media_type
from node.api.records import RecordRoutes, add_record_routes
from node.identity import Caller, current_caller
from node.kinds import limit_import
from node.kinds.connection_limits import ConnectionLimits

router = APIRouter(tags=["connection limits"])
CallerDep = Annotated[Caller, Depends(current_caller)]
_CODE: JsonDict = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}
_KW: JsonDict = {"type": "number", "minimum": 0, "maximum": 10_000_000}
_DATE: JsonDict = {"type": "string", "format": "date"}
_TIME: JsonDict = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
_TEXT: JsonDict = {"type": "string", "minLength": 1, "maxLength": 100}
_BAND: JsonDict = {"Season": "WINTER", "From": "16:00", "To": "19:00", "ExportLimit": 500}
_EXAMPLE: JsonDict = {
    "AssetId": "0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e", "OrganisationId": "FSP-ACME",
    "DNOConnection": "UKPN_EPN", "LimitType": "FIRM", "ExportLimit": 6000.0,
    "ValidFrom": "2026-04-01", "Reason": "Thermal constraint at the primary"}
_TIMED_EXAMPLE: JsonDict = {
    "MPAN": "1200023456789", "Site": "Fen Farm", "OrganisationId": "FSP-ACME",
    "DNOConnection": "UKPN_EPN", "LimitType": "TIMED", "ImportLimit": 1000,
    "ConstraintZone": "Norwich GSP", "CurtailmentOrder": 3, "ValidFrom": "2026-04-01",
    "ValidTo": "2027-03-31", "TimeProfile": [
        _BAND, {"Season": "SUMMER", "From": "00:00", "To": "24:00", "ExportLimit": 2500}]}
_LIMIT_TYPES: list[JsonValue] = ["FIRM", "NON_FIRM", "TIMED", "ANM", "EXPORT_ONLY"]
_SEASONS: list[JsonValue] = ["WINTER", "SPRING", "SUMMER", "AUTUMN", "ALL_YEAR"]
_CSV_EXAMPLE = (
    "AssetId,OrganisationId,DNOConnection,LimitType,ExportLimit,ValidFrom,TimeProfile\n"
    "0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e,FSP-ACME,UKPN_EPN,FIRM,6000,2026-04-01,\n"
    '5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6,FSP-ACME,UKPN_EPN,TIMED,,2026-04-01,'
    '"[{""Season"": ""WINTER"", ""From"": ""16:00"", ""To"": ""19:00"", ""ExportLimit"": 500}]"\n')


class TimeBand(BaseModel):
    """One band of a time profile: the limits in force in a season between two times of day
    (GICM-VAL-022..026)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["Season", "From", "To"], "examples": [_BAND]})

    Season: Any = Field(None, description="WINTER (Nov-Feb), SPRING (Mar-Apr), SUMMER "
                        "(May-Aug), AUTUMN (Sep-Oct) or ALL_YEAR",
                        json_schema_extra={"type": "string", "enum": _SEASONS})
    From: Any = Field(None, description="Start, local time of day HH:MM (inclusive)",
                      json_schema_extra=_TIME)
    To: Any = Field(None, description="End, HH:MM (exclusive; 24:00 for midnight)",
                    json_schema_extra=_TIME)
    ImportLimit: Any = Field(None, description="Maximum import in the band, kW",
                             json_schema_extra=_KW)
    ExportLimit: Any = Field(None, description="Maximum export in the band, kW",
                             json_schema_extra=_KW)


class ConnectionLimitIn(BaseModel):
    """A connection limit as a DNO or IDNO sends it. The node checks it against
    shapes/connection_limit.ttl (GICM-VAL-001..026), so those rules keep their IDs."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["OrganisationId", "DNOConnection", "LimitType", "ValidFrom"],
        "examples": [_EXAMPLE, _TIMED_EXAMPLE]})

    AssetId: Any = Field(None, description="The limited asset's ID (or give MPAN and Site)",
                         json_schema_extra={"type": "string", "format": "uuid"})
    MPAN: Any = Field(None, description="The connection point's MPAN core, when the limit "
                      "names no FMAR asset", json_schema_extra={"type": "string",
                                                                "pattern": "^[0-9]{13}$"})
    Site: Any = Field(None, description="The connection point's site, with its MPAN",
                      json_schema_extra={"type": "string", "maxLength": 200})
    OrganisationId: Any = Field(None, description="The asset holder's organisation ID",
                                json_schema_extra=_CODE)
    DNOConnection: Any = Field(None, description="The licence area (DNOCode)",
                               json_schema_extra=_CODE)
    LimitType: Any = Field(None, description="Firm, non-firm, timed (needs a TimeProfile), "
                           "ANM (needs ANMScheme) or export-only (no import)",
                           json_schema_extra={"type": "string", "enum": _LIMIT_TYPES})
    ExportLimit: Any = Field(None, description="Maximum export, kW", json_schema_extra=_KW)
    ImportLimit: Any = Field(None, description="Maximum import, kW", json_schema_extra=_KW)
    TimeProfile: Any = Field(None, description="Limits by season and time of day (at most 48 "
                             "bands; bands of a season do not overlap)",
                             json_schema_extra={"type": "array", "maxItems": 48,
                                                "items": TimeBand.model_json_schema()})
    ConstraintZone: Any = Field(None, description="The DNO's constraint zone",
                                json_schema_extra=_TEXT)
    ANMScheme: Any = Field(None, description="The ANM scheme curtailing the connection",
                           json_schema_extra=_TEXT)
    CurtailmentOrder: Any = Field(None, description="Position in the curtailment order, 1 "
                                  "first (e.g. LIFO position)",
                                  json_schema_extra={"type": "integer", "minimum": 1})
    ValidFrom: Any = Field(None, description="First day the limit applies",
                           json_schema_extra=_DATE)
    ValidTo: Any = Field(None, description="Last day the limit applies (after ValidFrom)",
                         json_schema_extra=_DATE)
    Reason: Any = Field(None, description="Why the limit is set",
                        json_schema_extra={"type": "string", "maxLength": 1000})


class TimeBandOut(BaseModel):
    Season: str
    From: str
    To: str
    ImportLimit: float | None = None
    ExportLimit: float | None = None


class ConnectionLimitOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_TIMED_EXAMPLE, "LimitId": "9f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
         "id": "https://id.fmar.uk/connection-limit/9f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
         "SetBy": "DNO-UKPN", "Version": 1, "Created": "2026-03-01T09:00:00Z",
         "Modified": "2026-03-01T09:00:00Z"}]})

    LimitId: str
    id: str
    AssetId: str | None = None
    MPAN: str | None = None
    Site: str | None = None
    OrganisationId: str | None = None
    DNOConnection: str | None = None
    LimitType: str | None = None
    ExportLimit: float | None = None
    ImportLimit: float | None = None
    TimeProfile: list[TimeBandOut] | None = None
    ConstraintZone: str | None = None
    ANMScheme: str | None = None
    CurtailmentOrder: int | None = None
    ValidFrom: str | None = None
    ValidTo: str | None = None
    Reason: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


def limits_of(request: Request) -> ConnectionLimits:
    return register_of(request).limits


@router.post(
    "/connection-limits/bulk", summary="Import a DNO's book of connection limits (CSV)",
    description="One limit per row, with the same field names as a limit sent alone "
    "(TimeProfile as JSON text in its cell). Every row gets the same checks (LIM-IN-*, "
    "GICM-VAL-*, POL-008). `mode=all-or-nothing` stores nothing if any row fails; "
    "`mode=store-valid` stores the valid rows. The report names each failing row with its "
    f"rules, and each stored row with its LimitId. At most {limit_import.MAX_ROWS} rows.",
    openapi_extra=secured("validation:write", extra={"requestBody": {
        "required": True, "content": {CSV: {"schema": {"type": "string"},
                                           "example": _CSV_EXAMPLE}}}}),
    responses={200: content(JSON, description="Every row stored"),
               207: content(JSON, description="Some rows stored (store-valid)"),
               **error_responses(400, 401, 403, 413, 415, 422, 503)})
async def import_limits(
    request: Request,
    caller: CallerDep,
    mode: Annotated[Literal["all-or-nothing", "store-valid"], Query()] = "all-or-nothing",
) -> JSONResponse:
    kind = media_type(request)
    if kind != CSV:
        raise ApiError(415, "REQ-415", f"Content-Type '{kind}' is not accepted here.",
                       {"accepted": [CSV]})
    most = min(request.app.state.settings.max_bulk_bytes, limit_import.MAX_BYTES)
    all_or_nothing = mode == "all-or-nothing"
    rows = limit_import.limit_rows(blocking_chunks(request, most))
    report = await run_in_threadpool(limit_import.import_limits, limits_of(request), rows,
                                     caller, all_or_nothing)
    body = report.as_json()
    if not report.rejected:
        return JSONResponse(body)
    message = (f"{report.rejected} of {report.received} rows failed; "
               + ("nothing was stored." if all_or_nothing else f"{report.stored} were stored."))
    return JSONResponse({"code": "LIM-BULK", "message": message, "details": body},
                        status_code=422 if all_or_nothing else 207)


add_record_routes(router, RecordRoutes(
    path="/connection-limits", label="connection limit", records=limits_of,
    model_in=ConnectionLimitIn, model_out=ConnectionLimitOut, write_scope="validation:write",
    filters={"asset": "AssetId", "mpan": "MPAN"},
    describe={"create": "A DNO or IDNO sets an import or export limit on an asset (or an MPAN "
              "and site) connected in one of its licence areas (POL-008): its type, kW "
              "limits, optional time profile, constraint zone or ANM scheme, curtailment "
              "order, period and reason (GICM-VAL-001..026). The limit is held on this node, "
              "with its history and audit trail; the asset's organisation, the DNO and NESO "
              "read it."},
))
