"""Routes the trust framework calls on a node."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from common.http_errors import error_responses
from common.openapi import content, secured
from node.api.assets import register_of
from node.identity import Caller, current_caller

router = APIRouter(tags=["admin"])


@router.get(
    "/admin/active-records",
    summary="Active records of an organisation (asked by the trust framework before de-registration)",
    openapi_extra=secured("trust:deregistration"),
    responses={200: content("application/json"), **error_responses(401, 403, 422)},
)
def active_records(
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    org_id: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")],
) -> JSONResponse:
    counts = register_of(request).assets.active_records(org_id, caller)
    return JSONResponse({"org_id": org_id, **counts})
