"""Delegations of FSPs to third-party platforms (UC-05.04): thin routes over
trust/server/delegations.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from common.http_errors import error_responses
from common.openapi import secured
from trust.server import delegations
from trust.server.web import current_actor, tx

router = APIRouter()
USER = secured(mtls=False)


class DelegationIn(BaseModel):
    """What an FSP's admin delegates to a platform: its scopes, on its nodes, until when."""

    platform_app_id: str = Field(min_length=1, max_length=40)
    scopes: list[str] = Field(min_length=1, max_length=20)
    nodes: list[str] = Field(min_length=1, max_length=20)
    expires_at: datetime


@router.post("/api/orgs/{org_id}/delegations", status_code=201, openapi_extra=USER,
             responses=error_responses(401, 403, 404, 422))
def grant_delegation(request: Request, org_id: str, body: DelegationIn) -> dict[str, Any]:
    """The organisation's admin lets a platform act for it (DEL-001..005)."""
    with tx(request) as session:
        actor = current_actor(request, session)
        row = delegations.grant(session, org_id, body.platform_app_id, body.scopes, body.nodes,
                                body.expires_at, actor)
        return delegations.as_json(row)


@router.get("/api/orgs/{org_id}/delegations", openapi_extra=USER,
            responses=error_responses(401, 403))
def list_delegations(request: Request, org_id: str) -> list[dict[str, Any]]:
    """The delegations an organisation gave or received (DEL-008)."""
    with tx(request) as session:
        actor = current_actor(request, session)
        return [delegations.as_json(r) for r in delegations.visible_to(session, actor, org_id)]


@router.post("/api/delegations/{delegation_id}/revoke", openapi_extra=USER,
             responses=error_responses(401, 403, 404, 409))
def revoke_delegation(request: Request, delegation_id: str) -> dict[str, Any]:
    """The FSP's admin ends a delegation at once: its tokens are revoked, and nodes refuse
    them within their revocation bound (DEL-006, DEL-007, AUTH-056)."""
    with tx(request) as session:
        actor = current_actor(request, session)
        row, count = delegations.revoke(session, delegation_id, actor)
        return {**delegations.as_json(row), "tokens_revoked": count}
