"""The routes of a record kind on the generic service (node/records/service.py): create,
list, read, replace, delete, history and audit, the same shape for every kind. A kind's
router module declares its models and calls `add_record_routes`; routes of its own (state
transitions) go beside them, thin like these.

(No `from __future__ import annotations` here: FastAPI reads the models passed in from
the annotations of the routes made below.)"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from common.errors import BadInput
from common.http_errors import error_responses
from common.openapi import ETAG, secured
from node.identity import Caller, current_caller
from node.records.record import Record
from node.records.service import MAX_PAGE, Records

CallerDep = Annotated[Caller, Depends(current_caller)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The ETag you last read")]
WRITE_ERRORS = (400, 401, 403, 404, 412, 422, 428, 503)
PAGING = frozenset({"limit", "after"})
ROUTED: dict[str, "RecordRoutes"] = {}  # path -> the routes of each kind (federated listing)


@dataclass(frozen=True)
class RecordRoutes:
    path: str  # "/connection-limits"
    label: str  # "connection limit"
    records: Callable[[Request], Records]
    model_in: type[BaseModel]
    model_out: type[BaseModel]
    write_scope: str
    read_scope: str = "assets:read"
    filters: Mapping[str, str] = field(default_factory=dict)  # query parameter -> field
    describe: Mapping[str, str] = field(default_factory=dict)  # route -> description
    # checked before a write reads its body (e.g. POL-030 placement); None: nothing more
    guard: Callable[[Request, Caller], None] | None = None


def respond(routes: RecordRoutes, record: Record, status: int = 200) -> JSONResponse:
    headers = {"ETag": record.etag}
    if status == 201:
        headers["Location"] = f"{routes.path}/{record.record_id}"
    body = routes.model_out.model_validate(record.as_json()).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def where(routes: RecordRoutes, params: Mapping[str, str]) -> dict[str, str]:
    """The list filters of a query string; an unknown parameter is refused, not ignored."""
    unknown = sorted(set(params) - PAGING - set(routes.filters))
    if unknown:
        raise BadInput("REQ-IN-001", f"Unknown query parameter(s) for {routes.path}.",
                       {"parameters": unknown, "accepted": sorted([*routes.filters, *PAGING])})
    return {routes.filters[name]: params[name] for name in routes.filters if name in params}


def sent(body: BaseModel) -> dict[str, Any]:
    """The fields the client sent (validation of their values is the shapes' job)."""
    return body.model_dump(exclude_unset=True)


def add_record_routes(router: APIRouter, routes: RecordRoutes) -> None:
    ROUTED[routes.path] = routes
    path, label, model_in, model_out = routes.path, routes.label, routes.model_in, routes.model_out
    name = model_out.__name__.removesuffix("Out")
    page = create_model(f"{name}Page", items=(list[model_out], ...),  # type: ignore[valid-type]
                        count=(int, ...), next=(str | None, None))
    version = create_model(f"{name}Version", version=(int, ...), action=(str | None, None),
                           by=(str | None, None), organisation=(str | None, None),
                           on_behalf_of=(str | None, None), at=(str | None, None),
                           record=(Optional[model_out], None))  # type: ignore[arg-type]  # noqa: UP045
    history = create_model(f"{name}History", versions=(list[version], ...))
    one = {"description": f"The {label}", "headers": ETAG}
    text = routes.describe.get

    def records(request: Request) -> Records:
        return routes.records(request)

    def guard(request: Request, caller: Caller) -> None:
        if routes.guard is not None:
            routes.guard(request, caller)

    parameters = [{"name": p, "in": "query", "required": False, "schema": {"type": "string"},
                   "description": f"Only those whose {f} is this"}
                  for p, f in routes.filters.items()]

    @router.post(path, status_code=201, summary=f"Create a {label}",
                 description=text("create", ""), openapi_extra=secured(routes.write_scope),
                 response_model=model_out,  # 409: a kind's own rule on other records
                 responses={201: one, **error_responses(400, 401, 403, 409, 422, 503)})
    def create(request: Request, caller: CallerDep, body: model_in) -> Response:  # type: ignore[valid-type]
        guard(request, caller)
        record = records(request).create(sent(body), caller)
        return respond(routes, record, 201)

    @router.get(path, summary=f"The {label}s the caller may read",
                description=text("list", ""),
                openapi_extra={**secured(routes.read_scope), "parameters": parameters},
                response_model=page, responses=error_responses(400, 401, 403, 422))
    def search(request: Request, caller: CallerDep,
               limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
               after: Annotated[str | None, Query(description="The ID to continue after")] = None,
               ) -> JSONResponse:
        found, cursor = records(request).search(caller, where(routes, request.query_params), limit,
                                               after)
        body = page(items=[model_out.model_validate(r.as_json()) for r in found],
                    count=len(found), next=cursor)
        return JSONResponse(body.model_dump(exclude_none=True))

    @router.get(path + "/{record_id}", summary=f"Read one {label}",
                openapi_extra=secured(routes.read_scope), response_model=model_out,
                responses={200: one, **error_responses(401, 403, 404)})
    def read(request: Request, record_id: str, caller: CallerDep) -> Response:
        return respond(routes, records(request).read(record_id, caller))

    @router.put(path + "/{record_id}", summary=f"Change a {label} (needs If-Match)",
                openapi_extra=secured(routes.write_scope), response_model=model_out,
                responses={200: one, **error_responses(*WRITE_ERRORS)})
    def replace(request: Request, record_id: str, caller: CallerDep,
                body: model_in, if_match: IfMatch = None) -> Response:  # type: ignore[valid-type]
        guard(request, caller)
        record = records(request).replace(record_id, sent(body),
                                          caller, if_match)
        return respond(routes, record)

    @router.delete(path + "/{record_id}", status_code=204,
                   summary=f"Remove a {label} (its history and audit trail stay)",
                   openapi_extra=secured(routes.write_scope), response_class=Response,
                   responses=error_responses(401, 403, 404, 412, 503))
    def delete(request: Request, record_id: str, caller: CallerDep,
               if_match: IfMatch = None) -> Response:
        guard(request, caller)
        records(request).delete(record_id, caller, if_match)
        return Response(status_code=204)

    @router.get(path + "/{record_id}/history", summary="Every version with who and when",
                openapi_extra=secured(routes.read_scope), response_model=history,
                responses=error_responses(401, 403, 404))
    def versions(request: Request, record_id: str, caller: CallerDep) -> JSONResponse:
        return JSONResponse({"versions": records(request).history(record_id, caller)})

    @router.get(path + "/{record_id}/audit", summary=f"The audit trail of one {label}",
                openapi_extra=secured("audit:read"), responses=error_responses(401, 403, 404))
    def audit(request: Request, record_id: str, caller: CallerDep) -> JSONResponse:
        return JSONResponse({"entries": records(request).audit_trail(record_id, caller)})
