"""Routes the trust framework and the members a node holds call to administer it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from common.http_errors import error_responses
from common.openapi import content, secured
from node import policy
from node.api.assets import register_of
from node.identity import Caller, current_caller
from node.kinds.revalidation import revalidate

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


@router.post(
    "/admin/revalidation",
    summary="Re-validate the node's stored assets against the shapes in force (data quality)",
    description="Checks every current asset record again with the one validator and "
    "replaces the node's findings, which the data quality report counts by rule "
    "(POL-095: a member the node holds, with assets:write). The answer counts the records "
    "you may read.",
    openapi_extra=secured("assets:write"),
    responses={200: content("application/json", schema={
        "type": "object", "example": {"ran_at": "2026-11-30T05:00:00+00:00", "checked": 120,
                                      "failing": 2, "by_rule": {"ARM-VAL-012": 2}}}),
               **error_responses(401, 403)},
)
def revalidation(request: Request,
                 caller: Annotated[Caller, Depends(current_caller)]) -> JSONResponse:
    policy.check_revalidation(caller, request.app.state.placement.organisations())
    run = revalidate(register_of(request).assets,
                     lambda org, area: policy.may_read_asset(caller, org, area))
    return JSONResponse(run.as_json())
