"""Third-party platforms acting for an FSP (UC-05.04): the delegation record and the
delegated token.

An FSP's admin delegates to a platform, an active application of another member (an
aggregator's portal, a marketplace), some of the FSP's scopes on some nodes until an
expiry, and can revoke it at any time (DEL-001..008). The platform then asks the token
endpoint (client_credentials with `delegation=<id>`, authenticated as that application)
for a token whose subject is the FSP and whose `act` names the platform, with the
`delegation` claim that tells it from a node relay (AUTH-050..055). Revoking a delegation
revokes every token issued under it and lists it on the signed revocation list, so nodes
refuse it within the same bound as any revoked token (AUTH-056, trust.client.verifier).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from common.roles import scopes_for
from trust.server import directory, tokens
from trust.server.clientauth import AuthenticatedClient
from trust.server.config import TrustSettings
from trust.server.directory import Actor
from trust.server.errors import ApiError, OAuthError
from trust.server.models import (
    Application,
    AppStatus,
    Delegation,
    DelegationStatus,
    IssuedToken,
    NodeStatus,
    Organisation,
    OrgStatus,
    utcnow,
)

MAX_LIFETIME = timedelta(days=366)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def require_fsp_admin(actor: Actor, org_id: str) -> None:
    """DEL-001: only the FSP's own admin grants or revokes its delegations (not the
    platform, not another member, not the operator: the decision is the FSP's)."""
    if actor.user_role != "admin" or actor.org_id != org_id:
        raise ApiError(403, "DEL-001", "Only an admin of the delegating organisation grants "
                       "or revokes its delegations.", {"org_id": org_id})


def grant(session: Session, org_id: str, platform_app_id: str, scopes: list[str],
          nodes: list[str], expires_at: datetime, actor: Actor) -> Delegation:
    require_fsp_admin(actor, org_id)
    fsp = directory.get_organisation(session, org_id)
    app = session.get(Application, platform_app_id)
    platform = session.get(Organisation, app.org_id) if app else None
    if (app is None or platform is None or app.kind != "machine"
            or app.status != AppStatus.ACTIVE or platform.status != OrgStatus.ACTIVE
            or platform.id == fsp.id):
        raise ApiError(422, "DEL-002", "A platform is an active machine application of another "
                       "active member.", {"platform_app_id": platform_app_id})
    allowed = scopes_for(fsp.roles)
    if not scopes or set(scopes) - allowed:
        raise ApiError(422, "DEL-003", "Delegate one or more scopes that the organisation "
                       "itself holds.", {"not_held": sorted(set(scopes) - allowed),
                                         "held": sorted(allowed)})
    urls = sorted({n.rstrip("/") for n in nodes})
    unknown = [u for u in urls if (n := directory.node_by_url(session, u)) is None
               or n.status != NodeStatus.ACTIVE]
    if not urls or unknown:
        raise ApiError(422, "DEL-004", "Delegate on one or more active nodes of the "
                       "federation (their URLs).", {"unknown": unknown})
    expires = _aware(expires_at)
    if not utcnow() < expires <= utcnow() + MAX_LIFETIME:
        raise ApiError(422, "DEL-005", "A delegation expires in the future and within "
                       f"{MAX_LIFETIME.days} days.", {"expires_at": expires.isoformat()})
    row = Delegation(id=directory.new_id("DEL"), org_id=fsp.id, platform_app_id=app.id,
                     platform_org_id=platform.id, scopes=sorted(set(scopes)), nodes=urls,
                     expires_at=expires, granted_by=actor.subject)
    session.add(row)
    session.flush()
    directory.record(session, fsp.id, "delegation.grant", actor,
                     f"{row.id} to {app.id} ({platform.id})")
    directory.record(session, platform.id, "delegation.grant", actor, f"{row.id} from {fsp.id}")
    return row


def get(session: Session, delegation_id: str) -> Delegation:
    row = session.get(Delegation, delegation_id)
    if row is None:
        raise ApiError(404, "DEL-006", f"No delegation {delegation_id}.")
    return row


def revoke(session: Session, delegation_id: str, actor: Actor) -> tuple[Delegation, int]:
    """DEL-006/007: the FSP's admin ends a delegation; every token issued under it is
    revoked at once (the revocation list carries them and the delegation id)."""
    row = get(session, delegation_id)
    require_fsp_admin(actor, row.org_id)
    if row.status == DelegationStatus.REVOKED:
        raise ApiError(409, "DEL-007", f"Delegation {row.id} is already revoked.")
    row.status, row.revoked_by, row.revoked_at = DelegationStatus.REVOKED, actor.subject, utcnow()
    session.add(row)
    issued = session.exec(select(IssuedToken).where(
        IssuedToken.client_id == row.platform_app_id, IssuedToken.sub == row.org_id,
        col(IssuedToken.revoked).is_(False)))
    count = 0
    for token in issued:
        if token.claims.get("delegation") == row.id:
            token.revoked = True
            session.add(token)
            count += 1
    directory.record(session, row.org_id, "delegation.revoke", actor, row.id)
    directory.record(session, row.platform_org_id, "delegation.revoke", actor, row.id)
    return row, count


def visible_to(session: Session, actor: Actor, org_id: str) -> list[Delegation]:
    """DEL-008: an organisation's delegations, given or received, are seen by its own users
    and the operator."""
    if not (actor.is_operator or actor.org_id == org_id):
        raise ApiError(403, "DEL-008", "Only the two parties (and the operator) see a "
                       "delegation.", {"org_id": org_id})
    rows = session.exec(select(Delegation).where(
        (Delegation.org_id == org_id) | (Delegation.platform_org_id == org_id))
        .order_by(col(Delegation.granted_at)))
    return list(rows)


def as_json(row: Delegation) -> dict[str, Any]:
    body = row.model_dump(mode="json")
    body["active"] = row.status == DelegationStatus.ACTIVE and _aware(row.expires_at) > utcnow()
    return body


# Tokens ----------------------------------------------------------------------

def _refuse(code: str, error: str, message: str, status: int = 400) -> OAuthError:
    return OAuthError(status, code, error, message)


def delegated_token(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                    form: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A token for the platform to act for the FSP under delegation `form["delegation"]`:
    `sub` and `org_id` are the FSP's, `act` names the platform's application and
    organisation, `delegation` the record; scopes and audience within the delegation
    (AUTH-053/054), no later than its expiry, bound to the platform's certificate."""
    if client.node is not None or client.app.kind != "machine":
        raise _refuse("AUTH-050", "unauthorized_client", "Only a platform's machine "
                      "application (never a node, never a public client) acts for an FSP.")
    if form.get("may_act"):
        raise _refuse("AUTH-055", "invalid_request", "A delegated token is never relayed: "
                      "may_act cannot be asked for with a delegation.")
    row = session.get(Delegation, form.get("delegation", ""))
    if row is None or row.platform_app_id != client.app.id or (
            form.get("org_id") and form["org_id"] != row.org_id):
        raise _refuse("AUTH-051", "invalid_grant", "No delegation of that id was granted to "
                      "this application (for that organisation).")
    fsp = session.get(Organisation, row.org_id)
    if (row.status != DelegationStatus.ACTIVE or _aware(row.expires_at) <= utcnow()
            or fsp is None or fsp.status != OrgStatus.ACTIVE
            or client.org.status != OrgStatus.ACTIVE):
        raise _refuse("AUTH-052", "invalid_grant", "The delegation is revoked or expired, or "
                      "a party to it is not active.")
    target = (form.get("audience") or form.get("resource") or "").rstrip("/")
    node = directory.node_by_url(session, target) if target else None
    if target not in row.nodes or node is None or node.status != NodeStatus.ACTIVE:
        raise _refuse("AUTH-053", "invalid_target", "The audience is not a node of the "
                      "delegation.")
    wanted = set((form.get("scope") or "").split()) or set(row.scopes)
    # What the FSP can still hold today: its roles may have changed since it delegated.
    extra = wanted - (set(row.scopes) & scopes_for(fsp.roles))
    if extra:
        raise OAuthError(400, "AUTH-054", "invalid_scope", "Scope(s) not delegated: "
                         f"{' '.join(sorted(extra))}.", {"not_delegated": sorted(extra)})
    act = {"sub": client.app.id, "org_id": client.org.id}
    return tokens.issue_access_token(
        session, settings, sub=fsp.id, org=fsp, roles=list(fsp.roles), scopes=wanted,
        audience=target, client_id=client.app.id, thumbprint=client.thumbprint, act=act,
        not_after=_aware(row.expires_at).timestamp(), extra={"delegation": row.id})
