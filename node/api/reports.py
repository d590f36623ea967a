"""Reports (issue 15): `/reports` runs a definition across the federation for the caller
(its rights at every node: exact for a reader of rows, disclosure-controlled for the
regulator), and `/query/report` is this node's part of any report: every table computed
here as /query/aggregate computes one. Definitions and what they compute: node/reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from pydantic import Field as ModelField
from starlette.concurrency import run_in_threadpool

from common.http_errors import ApiError, error_responses
from common.openapi import content, secured
from node.api import services as deps
from node.api.assets import register_of
from node.api.federation import _engine
from node.api.records import ROUTED, RecordRoutes, add_record_routes
from node.api.services import Federation
from node.identity import Caller, current_caller
from node.kinds.report_definitions import ReportDefinitions
from node.query.service import service_for
from node.reports import charts, export
from node.reports.builtin import BUILTIN
from node.reports.model import Chart, Definition
from node.reports.node_side import compute, parse_request, request_schema
from node.reports.run import disputes_section, run

router = APIRouter(tags=["reports"])
Authenticated = Annotated[Caller, Depends(current_caller)]
Relay = Annotated[Federation, Depends(deps.federation)]
ReportName = Annotated[str, Path(json_schema_extra={"pattern": r"^[a-z][a-z0-9_-]{0,47}$"})]
RUN_DOC = (" Each node computes the report's tables over what the caller may aggregate "
           "(POL-012; the regulator's under disclosure control, POL-013, SDC-001..006) and "
           "this node merges them. The result names the definition's version, when it ran "
           "and every node's status.")


class ReportDefinitionIn(BaseModel):
    """A saved report (market facilitator or regulator, POL-051): its name, title and
    specification, the tables and charts as a JSON string (docs/reports.md). Checked
    against shapes/report_definition.ttl and node/reports/model.py."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["ReportName", "Title", "Specification"],
        "examples": [{"ReportName": "bess-by-dno", "Title": "BESS by DNO area",
                      "Specification": '{"tables": [{"name": "t", "group_by": ["dno"], '
                      '"filter": {"category": "BESS"}}], "charts": [{"name": "by_dno", '
                      '"kind": "bars", "table": "t", "x": "dno"}]}'}]})

    ReportName: Any = ModelField(None, json_schema_extra={"type": "string"})
    Title: Any = ModelField(None, json_schema_extra={"type": "string"})
    Specification: Any = ModelField(None, json_schema_extra={"type": "string"})


class ReportDefinitionOut(BaseModel):
    DefinitionId: str
    id: str
    ReportName: str | None = None
    Title: str | None = None
    Specification: str | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


def saved_of(request: Request) -> ReportDefinitions:
    return register_of(request).report_definitions


def definitions(request: Request) -> dict[str, Definition]:
    """The built-in reports, then those saved on this node (a saved one never replaces a
    built-in one of the same name)."""
    return {**saved_of(request).definitions(), **BUILTIN}


def definition_of(request: Request, name: str, version: int | None = None) -> Definition:
    """The report by name: its current version, or `version` (REP-006 if it had none)."""
    known = definitions(request)
    definition = known.get(name)
    if definition is None:
        raise ApiError(404, "REP-001", f"No report named '{name[:60]}'.",
                       {"reports": sorted(known)})
    if version is None or version == definition.version:
        return definition
    if name in BUILTIN:
        raise ApiError(404, "REP-006", f"Report '{name}' has no version {version} here.",
                       {"versions": [definition.version]})
    return saved_of(request).at_version(name, version)


def chart_of(definition: Definition, file: str) -> tuple[Chart, str]:
    name, _, fmt = file.rpartition(".")
    chart = next((c for c in definition.charts if c.name == name), None)
    if chart is None or fmt not in charts.FORMATS:
        raise ApiError(404, "REP-004", f"Report '{definition.name}' has no chart '{file[:60]}'.",
                       {"charts": [f"{c.name}.{f}" for c in definition.charts
                                   for f in charts.FORMATS]})
    return chart, fmt


@router.post("/query/report", summary="This node's part of a report (its tables)",
             description="Body: {\"tables\": {name: {\"group_by\", \"measure\", "
             "\"filter\"}}} (at most 40). Each table as /query/aggregate computes it; also "
             "`node`: the newest asset change (to the minute) and the record kinds served.",
             openapi_extra=secured("sparql:query", extra={"requestBody": {
                 "required": True, "content": {"application/json": {
                     "schema": request_schema()}}}}),
             responses={200: content("application/json"), **error_responses(400, 401, 403)})
async def node_report(request: Request, caller: Authenticated) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    tables = parse_request(body)
    kinds = sorted(path.lstrip("/") for path in ROUTED)
    return JSONResponse(await run_in_threadpool(compute, service_for(request.app), caller,
                                                tables, kinds))


@router.get("/reports", summary="The report definitions", openapi_extra=secured(),
            responses={200: content("application/json", schema={"type": "array"}),
                       **error_responses(401)})
async def list_reports(request: Request, caller: Authenticated) -> JSONResponse:
    known = await run_in_threadpool(definitions, request)
    return JSONResponse([{"name": d.name, "version": d.version, "title": d.title,
                          "source": d.source, "charts": [c.name for c in d.charts],
                          "saved": d.name not in BUILTIN} for d in known.values()])


@router.get("/reports/{name}", summary="One report definition", openapi_extra=secured(),
            responses={200: content("application/json"), **error_responses(401, 404)})
async def show_report(request: Request, caller: Authenticated, name: ReportName
                      ) -> JSONResponse:
    return JSONResponse((await run_in_threadpool(definition_of, request, name)).as_json())


async def _result(request: Request, caller: Caller, federation: Federation,
                  definition: Definition) -> dict[str, Any]:
    engine, targets = await _engine(request, caller, federation)
    result = await run(definition, engine, targets)
    if definition.name == "quality":  # and the disputes open on records, by state and age
        result["disputes"] = await disputes_section(engine, targets)
    return result


@router.get("/reports/{name}/run", summary="Run a report across the federation",
            description="`format`: json (default), csv or xlsx; `version`: an earlier "
            "version of a report saved on this node." + RUN_DOC,
            openapi_extra=secured("federation:query"),
            responses={200: content("application/json", "text/csv", export.FORMATS["xlsx"]),
                       **error_responses(400, 401, 403, 404, 503)})
async def run_report(request: Request, caller: Authenticated, federation: Relay,
                     name: ReportName,
                     format: Annotated[str, Query(json_schema_extra={
                         "enum": list(export.FORMATS)})] = "json",
                     version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None
                     ) -> Response:
    definition = await run_in_threadpool(definition_of, request, name, version)
    if format not in export.FORMATS:
        raise ApiError(400, "REP-002", "format is json, csv or xlsx.", {"value": format[:20]})
    result = await _result(request, caller, federation, definition)
    body = await run_in_threadpool(export.render, result, format)
    headers = {} if format == "json" else {
        "Content-Disposition": f'attachment; filename="{name}-v{definition.version}.{format}"'}
    return Response(body, media_type=export.FORMATS[format].split(";")[0], headers=headers)


@router.get("/reports/{name}/charts/{file}", summary="A report's chart (.svg or .png)",
            description="Runs the report and draws one of its charts." + RUN_DOC,
            openapi_extra=secured("federation:query"),
            responses={200: content(*charts.FORMATS.values()),
                       **error_responses(401, 403, 404, 503)})
async def chart(request: Request, caller: Authenticated, federation: Relay, name: ReportName,
                file: str) -> Response:
    definition = await run_in_threadpool(definition_of, request, name)
    wanted, fmt = chart_of(definition, file)
    result = await _result(request, caller, federation, definition)
    return Response(await run_in_threadpool(charts.render, result, wanted, fmt),
                    media_type=charts.FORMATS[fmt])


add_record_routes(router, RecordRoutes(
    path="/report-definitions", label="report definition", records=saved_of,
    model_in=ReportDefinitionIn, model_out=ReportDefinitionOut, write_scope="reports:write",
    read_scope="sparql:query", filters={"name": "ReportName"},
    describe={"create": "The market facilitator or the regulator saves a report (POL-051): "
              "its name (unique on this node, REP-VAL-009), title and specification. Each "
              "change is a new version; `/reports` lists and runs it by name."},
))
