"""Product routes: the generic record routes (node/api/records.py) with the product's
models, the terms in force on a day, and the facilitator's approve and retire."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from common.http_errors import error_responses
from common.openapi import ETAG, secured
from node.api.assets import register_of
from node.api.records import CallerDep, IfMatch, RecordRoutes, add_record_routes, respond
from node.kinds.equivalences import Equivalences
from node.kinds.market_unit_capability import day_of, today
from node.kinds.products import Products

router = APIRouter(tags=["products"])
_EXAMPLE: JsonDict = {
    "ProductCode": "DC", "ProductName": "Dynamic Containment", "SystemOperator": "NESO",
    "ServiceType": "frequency response (post-fault)", "Direction": "Both",
    "MinCapacityMW": 1, "MaxCapacityMW": 100, "FullDeliveryTimeSeconds": 1,
    "MinDurationMinutes": 15, "AggregationAllowed": True, "LocationScope": "GSPGroup",
    "BMRequired": False, "Status": "Proposed", "ValidFrom": "2026-04-01",
    "Source": "https://neso.energy/...", "Note": "Procured as DC-H and DC-L."}
_TEXT: JsonDict = {"type": "string", "maxLength": 2000}


def _text(description: str) -> Any:
    return Field(None, description=description, json_schema_extra=_TEXT)


class ProductIn(BaseModel):
    """A version of a product's terms. Checked against shapes/product.ttl (PROD-VAL-*);
    leave a figure out when it is not known: it is never taken as zero."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["ProductCode", "ProductName", "SystemOperator", "Status", "ValidFrom"],
        "examples": [_EXAMPLE]})

    ProductCode: Any = Field(None, description="Short code, the same for every version",
                             json_schema_extra={"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,31}$"})
    ProductName: Any = _text("Name")
    SystemOperator: Any = Field(None, description="Who runs it: NESO, or DNO (DSO products)",
                                json_schema_extra={"enum": ["NESO", "DNO"]})
    ProcuringAreas: Any = Field(None, description="DNO licence areas whose operator procures "
                                "it, space-separated (PROD-VAL-030)", json_schema_extra={
                                    "type": "string", "maxLength": 400,
                                    "examples": ["UKPN_EPN UKPN_LPN UKPN_SPN"]})
    ProcuringOrganisations: Any = Field(None, description="Organisation IDs of the system "
                                        "operators procuring it, space-separated "
                                        "(PROD-VAL-031)", json_schema_extra={
                                            "type": "string", "maxLength": 3300})
    OwnerNote: Any = _text("The owner as published")
    ServiceType: Any = _text("Service type")
    Direction: Any = Field(None, json_schema_extra={"enum": ["Up", "Down", "Both"]})
    MinCapacityMW: Any = Field(None, json_schema_extra={"type": "number", "minimum": 0})
    MaxCapacityMW: Any = Field(None, json_schema_extra={"type": "number", "exclusiveMinimum": 0})
    FullDeliveryTimeSeconds: Any = Field(None, json_schema_extra={"type": "number", "minimum": 0})
    MinDurationMinutes: Any = Field(None, json_schema_extra={"type": "number", "minimum": 0})
    AggregationAllowed: Any = Field(None, json_schema_extra={"type": "boolean"})
    LocationScope: Any = Field(None, json_schema_extra={
        "enum": ["National", "GSPGroup", "ConstraintZone", "DNOArea"]})
    MeteringResolution: Any = _text("Metering resolution")
    BMRequired: Any = Field(None, json_schema_extra={"type": "boolean"})
    TechnologyRestrictions: Any = _text("Technology restrictions")
    Procurement: Any = _text("How it is procured")
    Source: Any = _text("Where the figures come from")
    Note: Any = _text("Provenance and caveats")
    Status: Any = Field(None, description="A system operator sends Proposed",
                        json_schema_extra={"enum": ["Proposed", "Active", "Retired"]})
    ValidFrom: Any = Field(None, json_schema_extra={"type": "string", "format": "date"})
    ValidTo: Any = Field(None, json_schema_extra={"type": "string", "format": "date"})


class ProductOut(BaseModel):
    ProductVersionId: str
    id: str
    ProductCode: str | None = None
    ProductName: str | None = None
    SystemOperator: str | None = None
    ProcuringAreas: str | None = None
    ProcuringOrganisations: str | None = None
    OwnerNote: str | None = None
    ServiceType: str | None = None
    Direction: str | None = None
    MinCapacityMW: float | None = None
    MaxCapacityMW: float | None = None
    FullDeliveryTimeSeconds: float | None = None
    MinDurationMinutes: float | None = None
    AggregationAllowed: bool | None = None
    LocationScope: str | None = None
    MeteringResolution: str | None = None
    BMRequired: bool | None = None
    TechnologyRestrictions: str | None = None
    Procurement: str | None = None
    Source: str | None = None
    Note: str | None = None
    Status: str | None = None
    ValidFrom: str | None = None
    ValidTo: str | None = None
    Product: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


def products_of(request: Request) -> Products:
    return register_of(request).products


ROUTES = RecordRoutes(
    path="/products", label="product version", records=products_of,
    model_in=ProductIn, model_out=ProductOut, write_scope="products:write",
    filters={"code": "ProductCode", "status": "Status", "operator": "SystemOperator"},
    describe={"create": "The market facilitator adds a product version; a system operator "
              "proposes one for a product it runs (Status Proposed, POL-009/POL-010). "
              "Versions of one product cover days that do not overlap (PROD-VAL-020)."},
)
ONE: dict[int | str, dict[str, Any]] = {200: {"description": "The product version", "headers": ETAG}}


@router.get("/products/in-force", summary="The active terms of a product on a day",
            openapi_extra=secured("assets:read"), response_model=ProductOut,
            responses={**ONE, **error_responses(400, 401, 403, 404, 422)})
def in_force(request: Request, caller: CallerDep,
             code: Annotated[str, Query(pattern="^[A-Z][A-Z0-9_]{0,31}$")],
             on: Annotated[str | None, Query(description="The day, YYYY-MM-DD (default today)",
                                             pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
             ) -> Response:
    day = date.fromisoformat(day_of(on) or today())
    record = products_of(request).in_force(code, day, caller)
    if record is None:
        raise products_of(request).kind.not_found()
    return respond(ROUTES, record)


def _status_route(verb: str, status: str) -> None:
    @router.post(f"/products/{{record_id}}/{verb}", name=f"{verb}_product", summary=f"{verb.title()} a product version "
                 "(market facilitator; needs If-Match)", openapi_extra=secured("products:write"),
                 response_model=ProductOut,
                 responses={**ONE, **error_responses(401, 403, 404, 409, 412, 428, 503)})
    def change_status(request: Request, record_id: str, caller: CallerDep,
                      if_match: IfMatch = None) -> Response:
        record = products_of(request).set_fields(record_id, caller, if_match, verb,
                                                 {"Status": status})
        return respond(ROUTES, record)


class EquivalenceIn(BaseModel):
    """Qualified for FromProduct makes a unit eligible to apply for ToProduct (market
    facilitator only, POL-050). Checked against shapes/product_equivalence.ttl."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["FromProduct", "ToProduct", "Reason", "ValidFrom"],
        "examples": [{"FromProduct": "DC", "ToProduct": "DM", "ValidFrom": "2026-04-01",
                      "Reason": "DM's response and duration requirements are within DC's."}]})

    FromProduct: Any = Field(None, json_schema_extra={"type": "string"})
    ToProduct: Any = Field(None, json_schema_extra={"type": "string"})
    Reason: Any = _text("Why the one qualification proves the other")
    ValidFrom: Any = Field(None, json_schema_extra={"type": "string", "format": "date"})
    ValidTo: Any = Field(None, json_schema_extra={"type": "string", "format": "date"})


class EquivalenceOut(BaseModel):
    EquivalenceId: str
    id: str
    FromProduct: str | None = None
    ToProduct: str | None = None
    From: str | None = None
    To: str | None = None
    Reason: str | None = None
    ValidFrom: str | None = None
    ValidTo: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


def equivalences_of(request: Request) -> Equivalences:
    return register_of(request).equivalences


_status_route("approve", "Active")
_status_route("retire", "Retired")
add_record_routes(router, ROUTES)
add_record_routes(router, RecordRoutes(
    path="/product-equivalences", label="product equivalence", records=equivalences_of,
    model_in=EquivalenceIn, model_out=EquivalenceOut, write_scope="products:write",
    filters={"from": "FromProduct", "to": "ToProduct"},
    describe={"create": "The market facilitator declares that a qualification for one "
              "product makes a unit eligible to apply for another (POL-050), with a reason "
              "and a validity period; eligibility answers name it when it is the reason."},
))
