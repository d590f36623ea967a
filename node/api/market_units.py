"""Market unit routes: the generic record routes (node/api/records.py) for units, and their
members and capability on a date. Thin: each route parses, calls
node/kinds/market_unit_members.py, and shapes the answer.

(No `from __future__ import annotations`: FastAPI reads the models from the annotations.)"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from common.http_errors import error_responses
from common.openapi import secured
from node import policy
from node.api import services as deps
from node.api.assets import register_of
from node.api.records import CallerDep, RecordRoutes, add_record_routes, sent
from node.identity import Caller
from node.kinds.market_unit_capability import day_of, today
from node.kinds.market_unit_members import Memberships
from node.records.record import Record
from node.records.service import Records
from node.switching import holders

router = APIRouter(tags=["market units"])
_CODE: JsonDict = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}
_DATE: JsonDict = {"type": "string", "format": "date"}
_SPU: JsonDict = {"Name": "Acme Didcot site", "OrganisationId": "FSP-ACME", "UnitType": "SPU",
                  "ConnectionMPAN": "2000000000017"}
_SPG: JsonDict = {"Name": "Acme South East batteries", "OrganisationId": "FSP-ACME",
                  "UnitType": "SPG", "LocationScope": "GSPGroup", "GSPGroup": "_J"}
_MEMBER: JsonDict = {"AssetId": "0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e",
                     "ValidFrom": "2026-01-01"}
OnDate = Annotated[str | None, Query(description="The date (YYYY-MM-DD); today if absent",
                                     examples=["2026-01-01"])]


class MarketUnitIn(BaseModel):
    """A market unit as its FSP sends it. An SPU names one connection point (ConnectionMPAN
    or SitePostcode); an SPG its LocationScope and what that scope needs (GSPGroup;
    DNOArea; ConstraintZone with its DNOArea). Checked against shapes/market_unit.ttl
    (MU-VAL-001..010)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["Name", "OrganisationId", "UnitType"], "examples": [_SPU, _SPG]})

    Name: Any = Field(None, description="The unit's name", json_schema_extra={"type": "string"})
    OrganisationId: Any = Field(None, description="The FSP's organisation ID",
                                json_schema_extra=_CODE)
    UnitType: Any = Field(None, description="SPU or SPG",
                          json_schema_extra={"type": "string", "enum": ["SPU", "SPG"]})
    ConnectionMPAN: Any = Field(None, description="SPU: the import or export MPAN core",
                                json_schema_extra={"type": "string", "pattern": "^[0-9]{13}$"})
    SitePostcode: Any = Field(None, description="SPU: the site, by its postcode",
                              json_schema_extra={"type": "string"})
    LocationScope: Any = Field(None, description="SPG: GSPGroup, DNOArea or ConstraintZone",
                               json_schema_extra={"type": "string", "enum": [
                                   "GSPGroup", "DNOArea", "ConstraintZone"]})
    GSPGroup: Any = Field(None, description="SPG scoped by GSP group: the group (_A.._P)",
                          json_schema_extra=_CODE)
    DNOArea: Any = Field(None, description="SPG scoped by licence area or constraint zone: "
                         "the licence area (DNOCode)", json_schema_extra=_CODE)
    ConstraintZone: Any = Field(None, description="SPG scoped by constraint zone: its name",
                                json_schema_extra={"type": "string"})
    FullDeliveryTimeSeconds: Any = Field(None, description="How soon the unit delivers in "
                                         "full, s (for eligibility; MU-VAL-011)")
    SustainedDurationMinutes: Any = Field(None, description="How long it holds full power, "
                                          "min (MU-VAL-012)")
    Direction: Any = Field(None, description="Up, Down or Both (else derived from the "
                           "members; MU-VAL-013)")
    BMRegistered: Any = Field(None, description="Registered in the Balancing Mechanism "
                              "(MU-VAL-014)")
    MeteringResolution: Any = Field(None, description="MU-VAL-015")


class CapabilitySummary(BaseModel):
    On: str | None = None
    Members: int
    GenCapacity: float
    DemandCapacity: float
    RatedCapacity: float


class MarketUnitOut(BaseModel):
    UnitId: str
    id: str
    Name: str | None = None
    OrganisationId: str | None = None
    UnitType: str | None = None
    ConnectionMPAN: str | None = None
    SitePostcode: str | None = None
    LocationScope: str | None = None
    GSPGroup: str | None = None
    DNOArea: str | None = None
    ConstraintZone: str | None = None
    FullDeliveryTimeSeconds: float | None = None
    SustainedDurationMinutes: float | None = None
    Direction: str | None = None
    BMRegistered: bool | None = None
    MeteringResolution: str | None = None
    Capability: CapabilitySummary | None = Field(
        None, description="Kept by the node: the members in force on `On` (the day of the "
        "last change), summed; GET …/capability for any date")
    SpansDNOAreas: list[str] = Field(default_factory=list, description="Licence areas of "
                                     "every member the unit has had or will have")
    SpansGSPGroups: list[str] = Field(default_factory=list)
    MaterialChangeAt: str | None = Field(None, description="When the unit last changed "
                                         "materially (qualifications need re-assessment)")
    MaterialChangeReason: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class MemberIn(BaseModel):
    """An asset joining the unit from ValidFrom (until ValidTo, exclusive, if given)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["AssetId", "ValidFrom"], "examples": [_MEMBER]})

    AssetId: Any = Field(None, json_schema_extra={"type": "string", "format": "uuid"})
    ValidFrom: Any = Field(None, json_schema_extra=_DATE)
    ValidTo: Any = Field(None, json_schema_extra=_DATE)


class MemberEnd(BaseModel):
    """The day the membership ends: the asset is not in the unit from that day."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ValidTo": "2026-06-01"}]})

    ValidTo: Any = Field(None, json_schema_extra=_DATE)


class MemberOut(BaseModel):
    MembershipId: str
    id: str
    UnitId: str
    AssetId: str
    OrganisationId: str | None = None
    ValidFrom: str
    ValidTo: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


class MemberList(BaseModel):
    on: str | None = None
    items: list[MemberOut]
    count: int


class Capability(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "On": "2026-01-01", "Members": 2, "GenCapacity": 1000, "DemandCapacity": 800,
        "RatedCapacity": 1000, "Categories": {"BESS": 2}, "DNOAreas": ["SSEN_SEPD"],
        "GSPGroups": ["_H"]}]})

    On: str
    Members: int
    GenCapacity: float
    DemandCapacity: float
    RatedCapacity: float
    Categories: dict[str, int]
    DNOAreas: list[str]
    GSPGroups: list[str]


def units_of(request: Request) -> Records:
    return register_of(request).units


def members_of(request: Request) -> Memberships:
    return register_of(request).members


def placed(request: Request, caller: Caller) -> None:
    """POL-030: units and their members are written only on a node holding the caller's
    records (where its assets are)."""
    policy.check_placement(caller, request.app.state.placement.organisations())


def _member(record: Record, status: int = 200) -> JSONResponse:
    body = MemberOut.model_validate(record.as_json()).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers={"ETag": record.etag})


add_record_routes(router, RecordRoutes(
    path="/market-units", label="market unit", records=units_of,
    model_in=MarketUnitIn, model_out=MarketUnitOut, write_scope="assets:write",
    filters={"type": "UnitType", "organisation": "OrganisationId"}, guard=placed,
    describe={"create": "An FSP creates a market unit of its own (POL-041), held on its "
              "node: an SPU (one connection point) or an SPG (one location scope). Members "
              "join with a date (POST …/members); the capability is computed from them.",
              "list": "The units the caller may read: its own, every unit for NESO, those "
              "whose members span a DNO's licence areas for that DNO (POL-003)."},
))

_READ = secured("assets:read")
_WRITE = secured("assets:write")
_MEMBER_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 503)


@router.get("/market-units/{record_id}/members", summary="The members on a date",
            description="The memberships in force on `on` (today if absent); `all=true` "
            "lists every membership, past and future: the unit's composition over time.",
            openapi_extra=_READ, response_model=MemberList,
            responses=error_responses(400, 401, 403, 404))
def members(request: Request, record_id: str, caller: CallerDep, on: OnDate = None,
            all: Annotated[bool, Query(description="Every membership")] = False,
            ) -> JSONResponse:
    day = None if all else (day_of(on) or today())
    found = members_of(request).of_unit(record_id, caller, day)
    items = [MemberOut.model_validate(r.as_json()) for r in found]
    body = MemberList(on=day, items=items, count=len(items))
    return JSONResponse(body.model_dump(exclude_none=True))


@router.post("/market-units/{record_id}/members", status_code=201,
             summary="Add a member from a date",
             description="The asset joins from ValidFrom: the FSP's own active asset on this "
             "node (MU-VAL-031..033), in no other unit then (MU-VAL-034), at the SPU's "
             "connection point or in the SPG's scope (MU-VAL-035/036). A material change "
             "is stamped on the unit.", openapi_extra=_WRITE, response_model=MemberOut,
             responses=_MEMBER_ERRORS)
def add_member(request: Request, record_id: str, caller: CallerDep,
               body: MemberIn) -> JSONResponse:
    placed(request, caller)
    return _member(members_of(request).add(record_id, sent(body), caller), 201)


@router.post("/market-units/{record_id}/members/{membership_id}/end",
             summary="End a membership on a date", openapi_extra=_WRITE,
             response_model=MemberOut, responses=_MEMBER_ERRORS)
def end_member(request: Request, record_id: str, membership_id: str, caller: CallerDep,
               body: MemberEnd) -> JSONResponse:
    placed(request, caller)
    return _member(members_of(request).end(record_id, membership_id, body.ValidTo, caller))


@router.delete("/market-units/{record_id}/members/{membership_id}",
               summary="End a membership on a date (today if `on` is absent)",
               openapi_extra=_WRITE, response_model=MemberOut, responses=_MEMBER_ERRORS)
def remove_member(request: Request, record_id: str, membership_id: str, caller: CallerDep,
                  on: OnDate = None) -> JSONResponse:
    placed(request, caller)
    day = day_of(on) or today()
    return _member(members_of(request).end(record_id, membership_id, day, caller))


@router.get("/market-units/{record_id}/capability", summary="The unit's capability on a date",
            description="Computed from the members in force on `on` (today if absent): "
            "Gen, Demand and Rated capacity summed (kW), members by category, and the "
            "licence areas and GSP groups spanned. Never typed in.",
            openapi_extra=_READ, response_model=Capability,
            responses=error_responses(400, 401, 403, 404))
def capability(request: Request, record_id: str, caller: CallerDep,
               on: OnDate = None) -> JSONResponse:
    return JSONResponse(members_of(request).capability(record_id, caller, day_of(on)).as_json())


class UnitHolder(BaseModel):
    id: str = Field(description="The unit's IRI")
    OrganisationId: str = Field(description="The FSP holding it on this node")
    Version: int


@router.get("/market-units/{record_id}/holder", summary="Who holds the unit (node to node)",
            description="For a system operator's node confirming a switch before its "
            "qualification outcomes name the unit's new FSP (INBOX-011): the unit's FSP when "
            "it is held here, or 410 `SWITCH-410` naming the node and FSP it moved to. Only "
            "a node's own token (`units:verify`) of a node whose operator the trust "
            "directory lists as NESO, a DNO or IDNO (POL-097), with that operator's read "
            "rights (POL-003).",
            openapi_extra=secured("units:verify"), response_model=UnitHolder,
            responses=error_responses(401, 403, 404, 410, 503))
def unit_holder(request: Request, record_id: str, caller: CallerDep) -> JSONResponse:
    policy.require_scope(caller, "units:verify")  # before asking the directory anything
    roles = holders.directory_roles(deps.switching(request).peers, caller.organisation_id)
    policy.check_holder_read(caller, roles)
    reader = Caller(caller.subject, caller.organisation_id, roles, caller.scopes,
                    caller.dno_areas)
    return JSONResponse(holders.holder_of(register_of(request).store, record_id, reader))
