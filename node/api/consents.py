"""Consumer consent routes (UC-05.05): the generic record routes for the FSP's consents,
the FSP's revocation, and the consent platform's signed revocation webhook. Thin: the
rules are in node/kinds/consents.py and node/policy.py (POL-080..084)."""

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableSet
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from common.http_errors import ApiError, error_responses
from common.openapi import secured
from node import policy
from node.api.assets import register_of
from node.api.http import read_body
from node.api.records import RecordRoutes, add_record_routes
from node.events.verify import WebhookRejected, load_anchors, verify_webhook
from node.identity import Caller, current_caller
from node.kinds.consents import Consents, Revoked

router = APIRouter(tags=["consumer consent"])
CallerDep = Annotated[Caller, Depends(current_caller)]
_REF: JsonDict = {"type": "string", "pattern": "^[A-Za-z0-9._:/-]{1,200}$"}
_DATE: JsonDict = {"type": "string", "format": "date"}
_FLAG: JsonDict = {"type": "boolean"}
_EXAMPLE: JsonDict = {
    "ConsentReference": "CCS-2026-000042", "OrganisationId": "FSP-ACME",
    "ConsumerReference": "ACC-88231", "MPAN": "2000000000015", "ScopeRegistration": True,
    "ScopeDataSharing": True, "ScopeSwitching": False, "ValidFrom": "2026-01-01",
    "ValidTo": "2027-12-31", "EvidenceReference": "ccs://evidence/7f3a",
    "ConsentPlatform": "CCS-PLATFORM"}
MAX_WEBHOOK_BYTES = 16_000
SEEN_WEBHOOKS = 10_000  # webhook-ids remembered against replay (EVT-VER-005)


class ConsentIn(BaseModel):
    """A consumer's consent as the FSP records it (shapes/consent.ttl, CONS-VAL-001..019).
    ConsentStatus and the revocation fields are kept by the node (CONS-IN-004)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["ConsentReference", "ConsumerReference", "MPAN", "ValidFrom",
                     "EvidenceReference"], "examples": [_EXAMPLE],
        "additionalProperties": False,  # CONS-IN-002: the node refuses other names
        # CONS-VAL-008: at least one scope
        "anyOf": [{"required": [name], "properties": {name: {"const": True}}}
                  for name in ("ScopeRegistration", "ScopeDataSharing", "ScopeSwitching")]})

    ConsentReference: Any = Field(None, description="The Consent Reference ID",
                                  json_schema_extra=_REF)
    OrganisationId: Any = Field(None, description="The FSP (default: your organisation)",
                                json_schema_extra={"type": "string",
                                                   "pattern": "^[A-Za-z0-9._-]{1,64}$"})
    ConsumerReference: Any = Field(None, description="Your own reference for the consumer "
                                   "(never a name or address)",
                                   json_schema_extra={"type": "string",
                                                      "pattern": "^[A-Za-z0-9._:/-]{1,100}$"})
    MPAN: Any = Field(None, description="The connection point's MPAN core",
                      json_schema_extra={"type": "string", "pattern": "^[0-9]{13}$"})
    ScopeRegistration: Any = Field(None, description="Covers registering assets there",
                                   json_schema_extra=_FLAG)
    ScopeDataSharing: Any = Field(None, description="Covers sharing their data",
                                  json_schema_extra=_FLAG)
    ScopeSwitching: Any = Field(None, description="Covers taking them over from another FSP",
                                json_schema_extra=_FLAG)
    ValidFrom: Any = Field(None, description="First day covered", json_schema_extra=_DATE)
    ValidTo: Any = Field(None, description="Last day covered (absent: open)",
                         json_schema_extra=_DATE)
    EvidenceReference: Any = Field(None, description="Where the evidence is kept",
                                   json_schema_extra={"type": "string", "minLength": 1,
                                                      "maxLength": 200})
    ConsentPlatform: Any = Field(None, description="The consent platform (member ID) whose "
                                 "signed webhooks may revoke it",
                                 json_schema_extra={"type": "string",
                                                    "pattern": "^[A-Za-z0-9._-]{1,64}$"})


class ConsentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_EXAMPLE, "ConsentId": "9f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
         "id": "https://id.fmar.uk/consent/9f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
         "ConsentStatus": "Active", "SetBy": "FSP-ACME", "Version": 1,
         "Created": "2026-03-01T09:00:00Z", "Modified": "2026-03-01T09:00:00Z"}]})

    ConsentId: str
    id: str
    ConsentReference: str | None = None
    OrganisationId: str | None = None
    ConsumerReference: str | None = None
    MPAN: str | None = None
    ScopeRegistration: bool | None = None
    ScopeDataSharing: bool | None = None
    ScopeSwitching: bool | None = None
    ValidFrom: str | None = None
    ValidTo: str | None = None
    EvidenceReference: str | None = None
    ConsentPlatform: str | None = None
    ConsentStatus: str | None = None
    RevokedOn: str | None = None
    RevocationReason: str | None = None
    RevokedVia: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


def consents_of(request: Request) -> Consents:
    return register_of(request).consents


def _placed(request: Request, caller: Caller) -> None:
    """POL-030: consents are written only on a node holding the FSP's records."""
    policy.check_placement(caller, request.app.state.placement.organisations())


def _revoked(revoked: Revoked) -> JSONResponse:
    body = ConsentOut.model_validate(revoked.consent.as_json()).model_dump(exclude_none=True)
    return JSONResponse({"consent": body, "suspended": [
        iri.rsplit("/", 1)[-1] for iri in revoked.suspended]},
        headers={"ETag": revoked.consent.etag})


def _reason(body: Any) -> Any:
    if body is None:
        return None
    if not isinstance(body, dict) or set(body) - {"Reason"}:
        raise ApiError(400, "CONS-IN-005", "A revocation is a JSON object {Reason?}.")
    return body.get("Reason")


_REVOKE_BODY = {"requestBody": {"required": False, "content": {"application/json": {
    "schema": {"type": "object", "properties": {"Reason": {"type": "string",
                                                           "maxLength": 1000}},
               "additionalProperties": False}}}}}


@router.post(
    "/consents/{record_id}/revocation", summary="Revoke a consent (the FSP)",
    description="The consumer withdrew the consent: it becomes Revoked (final), every asset "
    "registered under it is at once 'Suspended – Consent Revoked' and leaves its market "
    "units' capability and eligibility; the units' material change event tells the system "
    "operators. Nothing is deleted (POL-084, CONS-VAL-021).",
    openapi_extra=secured("assets:write", extra=_REVOKE_BODY),
    responses={200: {"description": "The revoked consent and the assets suspended"},
               **error_responses(400, 401, 403, 404, 409, 422, 503)})
async def revoke(request: Request, record_id: str, caller: CallerDep) -> JSONResponse:
    _placed(request, caller)
    raw = await read_body(request, 10_000)
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise ApiError(400, "CONS-IN-005", "A revocation is a JSON object {Reason?}.") from None
    revoked = await run_in_threadpool(consents_of(request).revoke, record_id, caller,
                                      _reason(body), "API", date.today())
    return _revoked(revoked)


class _Seen(MutableSet[str]):
    """The webhook-ids already processed (bounded, in memory): a replay is refused."""

    def __init__(self) -> None:
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()

    def __contains__(self, item: object) -> bool:
        return item in self.ids

    def add(self, item: str) -> None:
        self.ids[item] = None
        while len(self.ids) > SEEN_WEBHOOKS:
            self.ids.popitem(last=False)

    def discard(self, item: str) -> None:
        self.ids.pop(item, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


_SEEN = _Seen()


def _platform_caller(request: Request, headers: Any, raw: bytes) -> tuple[Caller, dict[str, Any]]:
    """The consent platform, from its signed webhook (node/events/verify.py: the federation
    CA's certificate, ES256 detached JWS, timestamp, replay): EVT-VER-001..005, 401."""
    bundle = request.app.state.settings.ca_bundle
    if bundle is None:  # nothing can be verified here: not authenticated
        raise ApiError(401, "CONS-IN-007", "This node has no trust anchors (FMAR_CA_BUNDLE) "
                       "to verify a consent platform's webhook.")
    try:
        with _SEEN.lock:
            verified = verify_webhook(headers, raw, load_anchors(bundle), seen=_SEEN)
    except WebhookRejected as rejected:
        raise ApiError(401, rejected.code, rejected.message) from None
    if not verified.member:
        raise ApiError(403, "POL-084", "The webhook's certificate names no member.")
    member = verified.member.rstrip("/").rsplit("/", 1)[-1]  # its member URL names it
    caller = Caller(f"consent-platform:{member}", member,
                    frozenset({"ConsentPlatform"}), frozenset({"assets:write"}))
    return caller, verified.event


@router.post(
    "/consent-revocations", summary="A consent platform's signed revocation (webhook)",
    description="Sent by the consent platform a consent names (ConsentPlatform), signed as "
    "FMAR webhooks are (Standard Webhooks headers, a detached ES256 JWS with the member's "
    "federation certificate in `x5c`; checked by node/events/verify.py: EVT-VER-001..005). "
    "Body: {id (the webhook-id), type: consent.revoked, ConsentReference, Reason?}. The "
    "signature is the authentication: no bearer token. A platform the consent does not "
    "name gets 404 (POL-084); otherwise the consent is revoked as by its FSP.",
    openapi_extra={"security": [], "requestBody": {"required": True, "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["id", "type", "ConsentReference"],
            "properties": {"id": {"type": "string"}, "type": {"const": "consent.revoked"},
                           "ConsentReference": _REF,
                           "Reason": {"type": "string", "maxLength": 1000}}}}}}},
    responses={200: {"description": "The consent was revoked"},
               **error_responses(400, 401, 403, 404, 409, 413, 503)})
async def revocation_webhook(request: Request) -> JSONResponse:
    raw = await read_body(request, MAX_WEBHOOK_BYTES)
    caller, event = _platform_caller(request, request.headers, raw)
    reference = event.get("ConsentReference")
    if event.get("type") != "consent.revoked" or not isinstance(reference, str) \
            or set(event) - {"id", "type", "ConsentReference", "Reason"}:
        raise ApiError(400, "CONS-IN-005", "A revocation webhook is {id, type: "
                       "consent.revoked, ConsentReference, Reason?}.")
    consents = consents_of(request)

    def revoke() -> Revoked:
        consent = consents.of_reference(reference)
        return consents.revoke(consent.record_id, caller, event.get("Reason"), "WEBHOOK",
                               date.today())

    revoked = await run_in_threadpool(revoke)
    return JSONResponse({"ConsentStatus": "Revoked", "suspended": len(revoked.suspended)})


add_record_routes(router, RecordRoutes(
    path="/consents", label="consent", records=consents_of,
    model_in=ConsentIn, model_out=ConsentOut, write_scope="assets:write",
    filters={"reference": "ConsentReference", "mpan": "MPAN"}, guard=_placed,
    describe={"create": "An FSP records a consumer's consent for a connection point: the "
              "Consent Reference ID, its own consumer reference, the MPAN, the scope "
              "(registration, data sharing, switching), the period and the evidence "
              "(CONS-VAL-001..020). Held on this node and read only by the FSP (POL-081); "
              "never part of SPARQL or federated answers (POL-082). Registering an asset at "
              "a connection point that needs consent names it (ConsentReference).",
              "list": "Your own consents (POL-081): nobody else reads them."},
))
