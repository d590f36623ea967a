"""Asset category routes: list, get, create, update, deprecate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from rdflib import Graph

from common.http_errors import ApiError, error_responses
from common.openapi import content, secured
from common.web import JSON, TURTLE
from node.api.assets import graph_of, register_of
from node.api.http import media_type, negotiate, read_body
from node.api.records import IfMatch
from node.identity import Caller, current_caller
from node.kinds.categories import Category, etag_of

router = APIRouter(tags=["categories"])
CallerDep = Annotated[Caller, Depends(current_caller)]

CATEGORY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/turtle": {
                "schema": {"type": "string"},
                "example": """@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix fmar: <https://id.fmar.uk/def/fmar#> .
@prefix fshape: <https://id.fmar.uk/def/shapes#> .
@prefix acat: <https://id.fmar.uk/def/code/AssetCategory/> .
acat:HYDRO a fmar:AssetCategory, skos:Concept ; skos:notation "HYDRO" ;
  skos:prefLabel "Hydro"@en ; fmar:appliesTo "Gen" ; fmar:categoryShape fshape:Category_HYDRO .
fshape:Category_HYDRO a sh:NodeShape ; sh:targetClass acat:HYDRO ;
  sh:property [ fmar:ruleId "ARM-CAT-HYDRO-001" ; sh:path fmar:genCapacity ; sh:minCount 1 ;
    sh:message "[ARM-CAT-HYDRO-001] A hydro asset states its GenCapacity." ] .
""",
            }
        },
    }
}


CATEGORY_TYPES = [JSON, TURTLE]
CATEGORY = content(*CATEGORY_TYPES, description="The category (JSON) or its shape (Turtle)")
SAVE_ERRORS = (400, 401, 403, 406, 409, 413, 415, 422, 503)


def _category_response(request: Request, category: Category, status: int = 200,
                       chosen: str | None = None) -> Response:
    chosen = chosen or negotiate(request, CATEGORY_TYPES)
    headers = {"ETag": etag_of(category)}
    if status == 201:
        headers["Location"] = f"/categories/{category.code}"
    if chosen == TURTLE:
        return Response(category.shape_turtle(), status_code=status, media_type=TURTLE,
                        headers=headers)
    return JSONResponse(category.as_json(), status_code=status, headers=headers)


@router.get("/categories", summary="The node's asset category catalogue",
            openapi_extra=secured(), responses={200: content(JSON), **error_responses(401)})
def list_categories(request: Request, caller: CallerDep,
                    include_deprecated: bool = True) -> JSONResponse:
    categories = register_of(request).categories.catalogue.all()
    items = [
        {k: v for k, v in c.as_json().items() if k != "shape"}
        for c in categories
        if include_deprecated or not c.deprecated
    ]
    return JSONResponse({"items": items})


@router.get("/categories/{code}", summary="One category with its SHACL shape",
            openapi_extra=secured(), response_class=Response,
            responses={200: CATEGORY, **error_responses(401, 404, 406)})
def get_category(request: Request, code: str, caller: CallerDep) -> Response:
    category = register_of(request).categories.catalogue.get(code)
    if category is None:
        raise ApiError(404, "CAT-404", f"No category {code}.")
    return _category_response(request, category)


async def _definition(request: Request) -> Graph:
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    return await run_in_threadpool(graph_of, body, media_type(request))


@router.post("/categories", status_code=201, summary="Create a category (market facilitator)",
             openapi_extra=secured("categories:write", extra=CATEGORY_BODY),
             response_class=Response, responses={201: CATEGORY, **error_responses(*SAVE_ERRORS)})
async def create_category(request: Request, caller: CallerDep) -> Response:
    chosen = negotiate(request, CATEGORY_TYPES)
    graph = await _definition(request)
    category = await run_in_threadpool(
        register_of(request).categories.save, graph, caller, expected_code=None
    )
    return _category_response(request, category, status=201, chosen=chosen)


@router.put("/categories/{code}", summary="Change a category's metadata or shape",
            openapi_extra=secured("categories:write", extra=CATEGORY_BODY),
            response_class=Response,
            responses={200: CATEGORY, **error_responses(404, 412, *SAVE_ERRORS)})
async def update_category(request: Request, code: str, caller: CallerDep,
                          if_match: IfMatch = None) -> Response:
    chosen = negotiate(request, CATEGORY_TYPES)
    graph = await _definition(request)
    category = await run_in_threadpool(
        lambda: register_of(request).categories.save(graph, caller, expected_code=code,
                                                     if_match=if_match))
    return _category_response(request, category, chosen=chosen)


@router.post("/categories/{code}/check", summary="Check a shape before saving it (no change)",
             openapi_extra=secured("categories:write", extra=CATEGORY_BODY),
             responses={200: content(JSON), **error_responses(*SAVE_ERRORS)})
async def check_category(request: Request, code: str, caller: CallerDep) -> JSONResponse:
    """CAT-DEF-090: the checks of a save (CAT-DEF-001..006), nothing stored."""
    graph = await _definition(request)
    result = await run_in_threadpool(register_of(request).categories.check, graph, caller, code)
    return JSONResponse(result)


@router.post("/categories/{code}/deprecate", summary="Deprecate: no new registrations",
             openapi_extra=secured("categories:write"), response_class=Response,
             responses={200: CATEGORY, **error_responses(401, 403, 404, 406, 503)})
def deprecate_category(request: Request, code: str, caller: CallerDep) -> Response:
    chosen = negotiate(request, CATEGORY_TYPES)
    category = register_of(request).categories.deprecate(code, caller)
    return _category_response(request, category, chosen=chosen)
