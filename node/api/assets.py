"""Asset register routes (thin: parse, call the register, shape the response)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import anyio.from_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from rdflib import Graph

from common.http_errors import ApiError, error_responses, status_of
from common.openapi import ETAG, content, or_empty, secured
from common.vocab import CODE, ORG_BASE
from common.web import CSV, JSON, JSONLD, NDJSON, NTRIPLES, TURTLE
from node import policy
from node.api import examples
from node.api.http import blocking_chunks, media_type, negotiate, read_body
from node.api.services import provenance as node_provenance
from node.asset_fields import CODE_PREFIXES, FIELDS, full_jsonld_context
from node.federation.duplicates import index_of, tokens_for
from node.identity import Caller, current_caller
from node.inputs import (
    CONTEXT_PATH,
    Properties,
    parse_rdf,
    properties_from_graph,
    properties_from_json,
    read_json,
    rows_from_csv,
    rows_from_graph,
    rows_from_ndjson,
)
from node.kinds.asset_records import (
    CSV_COLUMNS,
    AssetRecord,
    Checked,
    csv_row,
    etag_of,
    mpans_and_serial,
    rdflib_graph,
)
from node.kinds.assets import Assets
from node.provenance.node import required
from node.provenance.record import EXPORT_HEADER, header_value, wanted
from node.query.filters import CODE_RE
from node.records.status import ValidationStatus as Validation
from node.register import Register
from node.validation import Violation

router = APIRouter(tags=["assets"])
CallerDep = Annotated[Caller, Depends(current_caller)]


def register_of(request: Request) -> Register:
    return request.app.state.register


def assets_of(request: Request) -> Assets:
    return register_of(request).assets


def _unsupported(kind: str, offered: list[str]) -> ApiError:
    return ApiError(415, "REQ-415", f"Content-Type '{kind}' is not accepted here.",
                    {"accepted": offered})


async def _single_properties(request: Request, *, allow_asset_id: bool = False) -> Properties:
    limit = request.app.state.settings.max_body_bytes
    body = await read_body(request, limit)
    kind = media_type(request)
    if kind == JSON:
        return properties_from_json(read_json(body), allow_asset_id=allow_asset_id)
    if kind in (JSONLD, TURTLE):
        graph = await run_in_threadpool(parse_rdf, body, "json-ld" if kind == JSONLD else "turtle")
        return properties_from_graph(graph)[0]
    raise _unsupported(kind, [JSON, JSONLD, TURTLE])


RECORD_TYPES = [JSON, JSONLD, TURTLE, NTRIPLES]
RECORD = content(*RECORD_TYPES, description="The asset record", headers=ETAG)
RECORD_FORMATS = ["json", "jsonld", "json-ld", "turtle", "ttl", "nt", "ntriples"]
# Filter values the node accepts (checked as ARM-IN-010 in node/kinds/assets.py); empty = no filter.
CODE_VALUE = {"pattern": or_empty(CODE_RE.pattern)}
WRITE_ERRORS = (400, 401, 403, 404, 406, 409, 410, 412, 413, 415, 422, 428, 503)


def record_response(request: Request, record: AssetRecord, status: int = 200,
                    fmt: str | None = None, chosen: str | None = None) -> Response:
    """The record in the negotiated type (writes negotiate before they change anything)."""
    chosen = chosen or negotiate(request, RECORD_TYPES, fmt)
    headers = {"ETag": record.etag, "Vary": "Accept"}
    if status == 201:
        headers["Location"] = f"/assets/{record.asset_id}"
    if chosen == JSON:
        return JSONResponse(record.as_json(), status_code=status, headers=headers)
    if chosen == JSONLD:
        body = {"@context": CONTEXT_PATH, "@id": record.iri, "@type": "Asset"}
        body.update({k: v for k, v in record.as_json().items() if k != "id"})
        _expand_codes(body)
        return Response(json.dumps(body), status_code=status, headers=headers, media_type=JSONLD)
    graph = rdflib_graph(record.triples)
    fmt_name = "turtle" if chosen == TURTLE else "nt"
    return Response(graph.serialize(format=fmt_name), status_code=status, headers=headers,
                    media_type=chosen)


_PREFIX_OF = {base: prefix for prefix, base in CODE_PREFIXES.items()}
# field name -> the context's prefix for its codes (acat, es, ..., org), from the one list
_CODE_SCHEMES = {
    name: _PREFIX_OF[base] for name, base in [
        *((f.name, f"{CODE}{f.scheme}/" if f.scheme else ORG_BASE)
          for f in FIELDS if f.scheme or f.kind == "org"),
        ("RegistrationStatus", f"{CODE}RegistrationStatus/"),
        ("ValidationStatus", f"{CODE}ValidationStatus/")]
}


def _expand_codes(body: dict[str, Any]) -> None:
    """In JSON-LD, codes are IRIs written with the context's prefixes (acat:BESS)."""
    for name, prefix in _CODE_SCHEMES.items():
        if name in body and body[name] is not None:
            body[name] = f"{prefix}:{body[name]}"


def _check_placement(request: Request, caller: Caller) -> None:
    """POL-030 (node/policy.py): only organisations this node holds write here."""
    policy.check_placement(caller, request.app.state.placement.organisations())


async def _holders(request: Request, tokens: list[str], federation_wide: bool) -> dict[str, str]:
    """token -> holder organisation: asked of every node with the federation key, else of
    this node's own records."""
    if federation_wide:
        from node.api.federation import duplicate_matches

        return await duplicate_matches(request, tokens)
    return await run_in_threadpool(index_of(request.app).local_matches, tokens)


async def _refuse_duplicate(request: Request, caller: Caller, props: Properties) -> None:
    """ARM-DUP-001: no second asset with the same MPAN and serial number in the federation
    (or on this node, without a federation key); only keyed hashes leave this node
    (node/federation/duplicates.py). The node asks with its own token, so only a caller
    that registers assets gets it asked."""
    policy.check_duplicate_enquiry(caller)
    key, federation_wide = index_of(request.app).keys.check_key()
    tokens = tokens_for(key, *mpans_and_serial(props))
    if not tokens:
        return
    holders = sorted(set((await _holders(request, tokens, federation_wide)).values()))
    if holders:
        raise ApiError(
            409, "ARM-DUP-001",
            "An asset with the same MPAN and serial number is already registered.",
            {"holder_organisations": holders},
        )


def _duplicate_screen(request: Request) -> Callable[[list[Checked]], None]:
    """ARM-DUP-001 for bulk uploads: each valid row is checked against the federation (or
    this node) and against the rows before it in the same upload."""
    key, federation_wide = index_of(request.app).keys.check_key()
    seen: dict[str, int] = {}

    def screen(chunk: list[Checked]) -> None:
        by_row = {c.index: tokens_for(key, *mpans_and_serial(c.properties or []))
                  for c in chunk if c.ok}
        asked = [t for tokens in by_row.values() for t in tokens]
        if not asked:
            return
        holders = anyio.from_thread.run(_holders, request, asked, federation_wide)
        for checked in chunk:
            tokens = by_row.get(checked.index, [])
            found = sorted({holders[t] for t in tokens if t in holders})
            earlier = sorted({seen[t] for t in tokens if t in seen})
            if found or earlier:
                checked.violations.append(Violation(
                    "ARM-DUP-001",
                    "[ARM-DUP-001] An asset with the same MPAN and serial number is "
                    "already registered" + (f" (holder: {', '.join(found)})" if found else "")
                    + (f" or earlier in this upload (row {earlier[0]})" if earlier else "") + ".",
                ))
            for t in tokens:
                seen.setdefault(t, checked.index)

    return screen


@router.get("/context.jsonld", tags=["discovery"], summary="The published JSON-LD context",
            response_class=Response, responses={200: content(JSONLD)})
def context() -> Response:
    return Response(json.dumps(full_jsonld_context(), indent=2), media_type=JSONLD)


@router.post(
    "/assets",
    status_code=201,
    summary="Register one asset",
    description="JSON with Elexon field names, JSON-LD (with the published @context) or Turtle. "
    "The node assigns the asset's permanent IRI and returns it with Location and ETag. "
    "A failing SHACL rule returns 422 with every violation; nothing is stored.",
    openapi_extra=secured("assets:write", extra=examples.REGISTER_ONE),
    response_class=Response,
    responses={201: {**RECORD, "headers": {**ETAG, "Location": {
        "description": "The new asset's path", "schema": {"type": "string"}}}},
        **error_responses(400, 401, 403, 406, 409, 413, 415, 422, 503)},
)
async def register_asset(request: Request, caller: CallerDep) -> Response:
    chosen = negotiate(request, RECORD_TYPES)
    await run_in_threadpool(_check_placement, request, caller)
    props = await _single_properties(request)
    await _refuse_duplicate(request, caller, props)
    record = await run_in_threadpool(assets_of(request).register_one, props, caller)
    return record_response(request, record, status=201, chosen=chosen)


@router.post(
    "/assets/bulk",
    summary="Register many assets (CSV, NDJSON or Turtle)",
    description="Streams the body and validates every row. `mode=all-or-nothing` stores nothing "
    "if any row fails; `mode=store-valid` stores the valid rows. The report lists each failing "
    "row with its violations and each stored row with its AssetId.",
    openapi_extra=secured("assets:write", extra=examples.REGISTER_BULK),
    responses={200: content(JSON, description="Every row stored"),
               207: content(JSON, description="Some rows stored (store-valid); the report "
                            "lists the failing rows"),
               **error_responses(400, 401, 403, 409, 413, 415, 422, 503)},
)
async def register_bulk(
    request: Request,
    caller: CallerDep,
    mode: Annotated[Literal["all-or-nothing", "store-valid"], Query()] = "all-or-nothing",
) -> JSONResponse:
    register = assets_of(request)
    await run_in_threadpool(_check_placement, request, caller)
    limit = request.app.state.settings.max_bulk_bytes
    kind = media_type(request)
    all_or_nothing = mode == "all-or-nothing"
    if kind == TURTLE:
        body = await read_body(request, request.app.state.settings.max_rdf_bulk_bytes)
        graph = await run_in_threadpool(parse_rdf, body, "turtle")
        rows: Any = rows_from_graph(graph)
    elif kind in (CSV, NDJSON, "application/ndjson"):
        rows = (rows_from_csv if kind == CSV else rows_from_ndjson)(blocking_chunks(request, limit))
    else:
        raise _unsupported(kind, [CSV, NDJSON, TURTLE])
    policy.check_duplicate_enquiry(caller)  # the node asks the federation with its own token
    report = await run_in_threadpool(register.register_bulk, rows, caller, all_or_nothing,
                                     _duplicate_screen(request))
    status = 200 if not report.rejected else (422 if all_or_nothing else 207)
    body_json = report.as_json()
    if report.aborted is not None:
        return JSONResponse(
            {
                "code": report.aborted.code,
                "message": f"{report.aborted.message} The upload stopped there; "
                f"{report.stored} rows read before it were stored (listed in details).",
                "details": body_json,
            },
            status_code=status_of(report.aborted),
        )
    if report.rejected:
        body_json = {
            "code": "ARM-BULK",
            "message": f"{report.rejected} of {report.received} rows failed validation; "
            + ("nothing was stored." if all_or_nothing else f"{report.stored} rows were stored."),
            "details": body_json,
        }
    return JSONResponse(body_json, status_code=status)


CodeParam = Annotated[str | None, Query(json_schema_extra=CODE_VALUE)]


@router.get("/assets", summary="List and search assets the caller may read",
            openapi_extra=secured("assets:read"),
            responses={200: content(JSON), **error_responses(400, 401, 403, 422)})
def list_assets(
    request: Request,
    caller: CallerDep,
    category: CodeParam = None,
    dno: CodeParam = None,
    connection_type: CodeParam = None,
    connection_status: CodeParam = None,
    gsp_group: CodeParam = None,
    validation_status: Literal["Pending", "Verified", "Query"] | None = None,
    registration_status: Literal["Active", "Deregistered", "SuspendedConsentRevoked"] | None = None,
    organisation: CodeParam = None,
    min_capacity: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    max_capacity: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="AssetId to continue after (next page)")] = None,
) -> JSONResponse:
    filters = {k: v for k, v in locals().items() if k not in ("request", "caller", "limit", "after")}
    items, cursor = assets_of(request).search(caller, filters, limit, after)
    body: dict[str, Any] = {"items": items, "count": len(items)}
    if cursor:
        body["next"] = cursor
    return JSONResponse(body)


@router.get(
    "/assets/export",
    summary="Export the caller's own assets (streamed)",
    description="CSV (Elexon columns), JSON-LD (one document), Turtle or N-Triples, streamed "
    "one asset at a time. With `FMAR-Provenance: include`, the export is built whole and "
    "its signed provenance record (over the exact bytes) is in the "
    "`FMAR-Provenance-Record` header (base64url JSON; 503 PROV-012 if the node cannot "
    "sign).",
    openapi_extra=secured("assets:read"),
    response_class=StreamingResponse,
    responses={200: content(CSV, JSONLD, TURTLE, NTRIPLES),
               **error_responses(400, 401, 403, 406, 422, 503)},
)
def export_assets(
    request: Request,
    caller: CallerDep,
    format: Annotated[str | None, Query(
        description="csv, jsonld, turtle or nt (instead of Accept)",
        json_schema_extra={"enum": ["csv", "jsonld", "json-ld", "turtle", "ttl", "nt",
                                    "ntriples"]})] = None,
    category: CodeParam = None,
    dno: CodeParam = None,
) -> Response:
    chosen = negotiate(request, [CSV, JSONLD, TURTLE, NTRIPLES], format)
    service, filters = assets_of(request), {"category": category, "dno": dno}
    lines = _export_lines(service.iter_export_json(caller, filters), chosen) \
        if chosen in (CSV, JSONLD) else _triples_lines(service.iter_export(caller, filters))
    if wanted(request.headers):  # signed over the exact bytes: built whole, then sent
        body = b"".join(lines)
        record = required(node_provenance(request)).for_export(
            caller, request.url.path, dict(request.query_params), body)
        return Response(body, media_type=chosen, headers={
            "Content-Disposition": "attachment", EXPORT_HEADER: header_value(record)})
    return StreamingResponse(lines, media_type=chosen,
                             headers={"Content-Disposition": "attachment"})


EXPORT_BATCH = 500  # assets per chunk of a streamed CSV or JSON-LD export


def _export_lines(items: Iterator[dict[str, Any]], chosen: str) -> Iterator[bytes]:
    """CSV or JSON-LD of each asset's JSON, in chunks of `EXPORT_BATCH` assets."""
    batches = iter(lambda: list(itertools.islice(items, EXPORT_BATCH)), [])
    if chosen == CSV:
        from node.inputs import csv_text

        yield csv_text([CSV_COLUMNS]).encode()
        for batch in batches:
            yield csv_text([csv_row(item) for item in batch]).encode()
        return
    yield f'{{"@context": "{CONTEXT_PATH}", "@graph": [\n'.encode()
    first = True
    for batch in batches:
        parts = []
        for item in batch:
            body = {"@id": item["id"], "@type": "Asset"}
            body.update({k: v for k, v in item.items() if k != "id"})
            _expand_codes(body)
            parts.append(("" if first else ",\n") + json.dumps(body))
            first = False
        yield "".join(parts).encode()
    yield b"\n]}\n"


def _triples_lines(records: Iterator[AssetRecord]) -> Iterator[bytes]:
    # N-Triples is line based; it is also valid Turtle.
    for record in records:
        yield "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in record.triples).encode()


@router.get("/assets/{asset_id}", summary="Read one asset (JSON, JSON-LD, Turtle, N-Triples)",
            openapi_extra=secured("assets:read"), response_class=Response,
            responses={200: RECORD, 304: {"description": "Not modified (If-None-Match)"},
                       **error_responses(401, 403, 404, 406, 410)})
def read_asset(request: Request, asset_id: str, caller: CallerDep,
               format: Annotated[str | None, Query(
                   json_schema_extra={"enum": RECORD_FORMATS})] = None) -> Response:
    assets = assets_of(request)
    body = assets.read_json(asset_id, caller)  # IDX-011: JSON from the listing index
    if body is not None and negotiate(request, RECORD_TYPES, format) == JSON:
        etag = etag_of(body["AssetId"], body["Version"])
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(body, headers={"ETag": etag, "Vary": "Accept"})
    record = assets.read(asset_id, caller)
    if request.headers.get("if-none-match") == record.etag:
        return Response(status_code=304, headers={"ETag": record.etag})
    return record_response(request, record, fmt=format)


IfMatch = Annotated[str | None, Header(alias="If-Match", description="The ETag you last read")]


@router.put("/assets/{asset_id}", summary="Replace an asset (needs If-Match)",
            openapi_extra=secured("assets:write", extra=examples.REPLACE),
            response_class=Response, responses={200: RECORD, **error_responses(*WRITE_ERRORS)})
async def replace_asset(request: Request, asset_id: str, caller: CallerDep,
                        if_match: IfMatch = None) -> Response:
    chosen = negotiate(request, RECORD_TYPES)
    policy.require_scope(caller, "assets:write")  # rights before the body is read (as PATCH)
    await run_in_threadpool(_check_placement, request, caller)
    props = await _single_properties(request, allow_asset_id=True)
    record = await run_in_threadpool(assets_of(request).replace, asset_id, props, caller, if_match)
    return record_response(request, record, chosen=chosen)


@router.patch("/assets/{asset_id}", summary="Change some fields (JSON merge patch; needs If-Match)",
              openapi_extra=secured("assets:write", extra=examples.PATCH),
              response_class=Response, responses={200: RECORD, **error_responses(*WRITE_ERRORS)})
async def patch_asset(request: Request, asset_id: str, caller: CallerDep,
                      if_match: IfMatch = None) -> Response:
    chosen = negotiate(request, RECORD_TYPES)
    await run_in_threadpool(_check_placement, request, caller)
    kind = media_type(request)
    if kind not in (JSON, "application/merge-patch+json"):
        raise _unsupported(kind, ["application/merge-patch+json", JSON])
    changes = read_json(await read_body(request, request.app.state.settings.max_body_bytes))
    if not isinstance(changes, dict):
        raise ApiError(400, "ARM-IN-001", "A merge patch is a JSON object of Elexon field names.")
    record = await run_in_threadpool(assets_of(request).patch, asset_id, changes, caller, if_match)
    return record_response(request, record, chosen=chosen)


class ValidationStatusBody(BaseModel):
    """The body of PUT /assets/{id}/validation-status. The node checks the values itself
    (ARM-VS-001, ARM-VS-002), so those rules keep their IDs; the schema documents them."""

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"status": "Query", "reason": "MPAN not found"}]})

    status: Any = Field(None, json_schema_extra={"enum": [s.value for s in Validation]})
    reason: Any = Field(None, json_schema_extra={"type": ["string", "null"]})


class ValidationStatusOnly(BaseModel):
    """What a caller that may not read the asset gets back (POL-004 lets the market
    facilitator set a status on assets it may not read)."""

    AssetId: str
    ValidationStatus: Validation
    ValidationReason: str | None = None
    Version: int


@router.put("/assets/{asset_id}/validation-status", summary="Set Pending, Verified or Query",
            openapi_extra=secured("validation:write"),
            response_class=Response,
            responses={200: RECORD, **error_responses(400, 401, 403, 404, 406, 409, 410, 412, 422,
                                                      428, 503)})
def set_validation_status(
    request: Request,
    asset_id: str,
    caller: CallerDep,
    body: ValidationStatusBody,
    if_match: IfMatch = None,
) -> Response:
    chosen = negotiate(request, RECORD_TYPES)
    record = assets_of(request).set_validation_status(
        asset_id, body.status, body.reason, caller, if_match
    )
    if not policy.may_read(caller, record.facts):
        only = ValidationStatusOnly.model_validate(record.as_json())
        return JSONResponse(only.model_dump(exclude_none=True), headers={"ETag": record.etag})
    return record_response(request, record, chosen=chosen)


@router.delete("/assets/{asset_id}", summary="De-register an asset (soft: record and history kept)",
               description="Sets RegistrationStatus to Deregistered; the record stays readable "
               "with its history (nothing is hard-deleted).",
               openapi_extra=secured("assets:write"), response_class=Response,
               responses={200: RECORD, **error_responses(401, 403, 404, 406, 409, 410, 412,
                                                         428, 503)})
def deregister_asset(request: Request, asset_id: str, caller: CallerDep,
                     if_match: IfMatch = None) -> Response:
    chosen = negotiate(request, RECORD_TYPES)
    _check_placement(request, caller)
    record = assets_of(request).deregister(asset_id, caller, if_match)
    return record_response(request, record, chosen=chosen)


@router.get("/assets/{asset_id}/history", summary="Every version with who and when",
            openapi_extra=secured("assets:read"),
            responses={200: content(JSON), **error_responses(401, 403, 404, 410)})
def asset_history(request: Request, asset_id: str, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"versions": assets_of(request).history(asset_id, caller)})


@router.get("/assets/{asset_id}/audit", summary="The audit trail of one asset",
            openapi_extra=secured("audit:read"),
            responses={200: content(JSON), **error_responses(401, 403, 404)})
def asset_audit(request: Request, asset_id: str, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"entries": assets_of(request).audit_trail(asset_id, caller)})


def graph_of(body: bytes, kind: str) -> Graph:
    if kind == TURTLE:
        return parse_rdf(body, "turtle")
    if kind == JSONLD:
        return parse_rdf(body, "json-ld")
    raise _unsupported(kind, [TURTLE, JSONLD])
