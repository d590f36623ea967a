"""This node's query endpoints: SPARQL 1.1 Protocol at /sparql, the REST filter form at
/query/assets and node-side aggregates at /query/aggregate. Every answer covers only
what the caller may read (POL-011, POL-012/009)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from common.http_errors import ApiError, error_responses
from common.openapi import content, or_empty, secured
from node.api.services import provenance as node_provenance
from node.identity import Caller, current_caller
from node.provenance.node import required
from node.provenance.record import wanted
from node.query.aggregates import DIMENSIONS, AggregateSpec
from node.query.filters import CODE_FILTERS, CODE_RE, MAX_LIMIT, AssetFilter
from node.query.service import service_for

router = APIRouter(tags=["query"])

SPARQL_EXAMPLE = ("PREFIX fmar: <https://id.fmar.uk/def/fmar#>\nSELECT ?asset ?capacity WHERE "
                  "{ ?asset a fmar:Asset ; fmar:ratedCapacity ?capacity } LIMIT 10")


# SELECT / ASK results, and CONSTRUCT / DESCRIBE graphs (node/query/service.py).
SPARQL_ANSWER = {200: content(
    "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
    "text/tab-separated-values", "text/turtle", "application/ld+json", "application/n-triples",
    "application/rdf+xml"), **error_responses(400, 401, 403, 406, 413, 415, 422, 503, 504)}
QUERY_ERRORS = error_responses(400, 401, 403, 422)


def _answer(answer: Any) -> Response:
    headers = {"X-FMAR-Rows": str(answer.rows)} if answer.rows >= 0 else {}
    return Response(answer.body, media_type=answer.media_type, headers=headers)


async def _run_sparql(request: Request, caller: Caller, query: str | None,
                      default_graph_uri: list[str], named_graph_uri: list[str],
                      fmt: str | None) -> Response:
    service = service_for(request.app)
    answer = await run_in_threadpool(service.sparql, caller, query or "",
                                     request.headers.get("accept"), fmt,
                                     default_graph_uri, named_graph_uri)
    return _answer(answer)


@router.get(
    "/sparql",
    summary="SPARQL 1.1 query (GET)",
    description="SPARQL 1.1 Protocol. The dataset is only the record graphs the caller may "
    "read (POL-011), whatever FROM, FROM NAMED or GRAPH the query says; `default-graph-uri` "
    "and `named-graph-uri` can narrow it. Results as SPARQL JSON, XML, CSV or TSV; CONSTRUCT "
    "and DESCRIBE as Turtle, JSON-LD, N-Triples or RDF/XML (Accept, or `format`). UPDATE "
    "(SPARQL-003) and SERVICE (SPARQL-004) are refused; a query past the time limit "
    "(SPARQL-005, 504) or the result limit (SPARQL-006, 422) is stopped. Needs `sparql:query`.",
    openapi_extra=secured("sparql:query"), response_class=Response, responses=SPARQL_ANSWER,
)
async def sparql_get(
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    query: Annotated[str | None, Query(examples=[SPARQL_EXAMPLE])] = None,
    default_graph_uri: Annotated[list[str], Query(alias="default-graph-uri")] = [],  # noqa: B006
    named_graph_uri: Annotated[list[str], Query(alias="named-graph-uri")] = [],  # noqa: B006
    format: str | None = None,
) -> Response:
    return await _run_sparql(request, caller, query, default_graph_uri, named_graph_uri, format)


@router.post(
    "/sparql",
    summary="SPARQL 1.1 query (POST, form or direct)",
    description="`application/x-www-form-urlencoded` with `query=` (and optional "
    "`default-graph-uri`, `named-graph-uri`), or the query itself as "
    "`application/sparql-query`. Same rules as GET.",
    response_class=Response, responses=SPARQL_ANSWER,
    openapi_extra=secured("sparql:query", extra={"requestBody": {"content": {
        "application/sparql-query": {"schema": {"type": "string"}, "example": SPARQL_EXAMPLE},
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
            "query": {"type": "string"}}}}}}}),
)
async def sparql_post(
    request: Request, caller: Annotated[Caller, Depends(current_caller)],
    format: str | None = None,
) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > 1_000_000:
        raise ApiError(413, "SPARQL-009", "The request body is too large.")
    default_graphs = request.query_params.getlist("default-graph-uri")
    named_graphs = request.query_params.getlist("named-graph-uri")
    if ctype == "application/sparql-query":
        query = body.decode("utf-8", errors="replace")
    elif ctype == "application/x-www-form-urlencoded":
        form = await request.form()
        if form.getlist("update"):
            raise ApiError(400, "SPARQL-003", "SPARQL UPDATE is not accepted.")
        query = str(form.get("query") or "")
        default_graphs += [str(v) for v in form.getlist("default-graph-uri")]
        named_graphs += [str(v) for v in form.getlist("named-graph-uri")]
    elif ctype == "application/sparql-update":
        raise ApiError(400, "SPARQL-003", "SPARQL UPDATE is not accepted.")
    else:
        raise ApiError(415, "SPARQL-001", "Send application/sparql-query or a form with query=.")
    return await _run_sparql(request, caller, query, default_graphs, named_graphs, format)


FILTER_DOC = ("Filters: category, dno, connection_type, connection_status, gsp_group, "
              "registration_status, validation_status (codes; comma-separated = any of), "
              "organisation, min_capacity / max_capacity (kW), limit. Values are checked "
              "(FED-IN-001..004) and never spliced into the query.")


def _query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A query parameter; lists are comma-separated (form style, not exploded)."""
    parameter = {"name": name, "in": "query", "required": False, "schema": schema,
                 "description": description}
    if schema.get("type") == "array":
        parameter.update(style="form", explode=False)
    return parameter


def filter_parameters(*, aggregate: bool = False) -> dict[str, Any]:
    """`openapi_extra` parameters of the filter form, as AssetFilter.parse and
    AggregateSpec.parse check them (FED-IN-001..005); routes read them from the query
    string themselves."""
    code = CODE_RE.pattern.removeprefix("^").removesuffix("$")
    # (an empty value is no filter)
    capacity = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]}
    codes = {"type": "string", "pattern": rf"^(\s*{code}\s*(,\s*{code}\s*)*)?$"}
    parameters = [_query_parameter(name, codes, "Codes, comma-separated: any of them")
                  for name in CODE_FILTERS]
    parameters += [
        _query_parameter("organisation", {"type": "string", "pattern": or_empty(CODE_RE.pattern)},
                         "An organisation ID"),
        *(_query_parameter(name, capacity, "kW") for name in ("min_capacity", "max_capacity")),
    ]
    if aggregate:
        parameters.append(_query_parameter("group_by", {
            "type": "array", "items": {"enum": list(DIMENSIONS)}, "maxItems": 4,
            "uniqueItems": True}, "Dimensions to group by (default category, dno)"))
    else:
        parameters.append(_query_parameter("limit", {
            "type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Rows at most"))
    return {"parameters": parameters}


@router.get("/query/assets", summary="Assets matching a simple filter (this node)",
            description="The REST filter form, answered from this node only, over what the "
            "caller may read. " + FILTER_DOC + " Answer: SPARQL JSON results plus "
            "`truncated`.", openapi_extra=secured("sparql:query", extra=filter_parameters()),
            responses={200: content("application/json"), **QUERY_ERRORS})
async def query_assets(request: Request,
                       caller: Annotated[Caller, Depends(current_caller)]) -> JSONResponse:
    spec = AssetFilter.parse(dict(request.query_params))
    service = service_for(request.app)
    answer = await run_in_threadpool(service.filter_assets, caller, spec)
    return JSONResponse(_with_provenance(request, caller, _truncate(answer.body, spec.limit)))


def _with_provenance(request: Request, caller: Caller, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with this node's signed provenance record, when asked for (PROV-012)."""
    if wanted(request.headers):
        record = required(node_provenance(request)).for_answer(
            caller, request.url.path, dict(request.query_params), answer)
        answer["provenance"] = [record]
    return answer


def _truncate(body: bytes, limit: int) -> dict[str, Any]:
    import json

    data = json.loads(body)
    bindings = data["results"]["bindings"]
    data["truncated"] = len(bindings) > limit
    data["results"]["bindings"] = bindings[:limit]
    return data


@router.get("/query/aggregate", summary="Counts and capacity by group (this node)",
            description="COUNT, SUM, MIN, MAX of rated capacity (kW) per group "
            "(`group_by`: up to 4 of category, dno, connection_type, connection_status, "
            "gsp_group, registration_status, validation_status, organisation), over what the "
            "caller may aggregate (POL-012). An aggregate-only caller (the regulator) gets the "
            "table and its `margins` under disclosure control (POL-013, SDC-001..006: "
            "suppression, rounding, no MIN/MAX, capacity filters on band edges only; "
            "docs/disclosure.md). "
            + FILTER_DOC,
            openapi_extra=secured("sparql:query", extra=filter_parameters(aggregate=True)),
            responses={200: content("application/json"), **QUERY_ERRORS})
async def query_aggregate(request: Request,
                          caller: Annotated[Caller, Depends(current_caller)]) -> JSONResponse:
    spec = AggregateSpec.parse(dict(request.query_params))
    service = service_for(request.app)
    answer = await run_in_threadpool(service.aggregate, caller, spec)
    return JSONResponse(_with_provenance(request, caller, answer))
