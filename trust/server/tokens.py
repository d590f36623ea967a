"""Access and ID tokens: issue (ES256 JWT), introspect (RFC 7662), revoke (RFC 7009)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import ECKey, KeySet
from sqlmodel import Session, col, select

from trust.client.verifier import REVOCATIONS_TYP, verify_jwt
from trust.server import keys
from trust.server.config import TrustSettings
from trust.server.errors import ApiError
from trust.server.models import (
    Delegation,
    DelegationStatus,
    IssuedToken,
    Organisation,
    OrgStatus,
    utcnow,
)


def issue_access_token(session: Session, settings: TrustSettings, *, sub: str, org: Organisation,
                       roles: list[str], scopes: set[str], audience: str,
                       client_id: str | None, thumbprint: str | None = None,
                       act: dict[str, Any] | None = None, not_after: float | None = None,
                       extra: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    now = int(time.time())
    exp = now + settings.access_token_ttl
    if not_after is not None:
        exp = min(exp, int(not_after))
    claims: dict[str, Any] = {
        "iss": settings.issuer, "sub": sub, "aud": audience, "iat": now, "nbf": now, "exp": exp,
        "jti": secrets.token_urlsafe(16), "org_id": org.id,
        # IB1: the client's directory URL, the URI of its certificate (the row keeps the id)
        "client_id": settings.client_url(client_id) if client_id else None,
        "roles": sorted(roles), "scope": " ".join(sorted(scopes)),
        "dno_areas": sorted(org.dno_areas),
    }
    if thumbprint:
        claims["cnf"] = {"x5t#S256": thumbprint}
    if act:
        claims["act"] = act
    claims.update(extra or {})
    token = keys.sign(session, settings, claims)
    session.add(IssuedToken(jti=claims["jti"], client_id=client_id, org_id=org.id, sub=sub,
                            aud=audience, scope=claims["scope"], claims=claims,
                            expires_at=datetime.fromtimestamp(exp, UTC)))
    return token, claims


def issue_id_token(session: Session, settings: TrustSettings, *, sub: str, client_id: str,
                   nonce: str | None, user_claims: dict[str, Any]) -> str:
    now = int(time.time())
    claims = {"iss": settings.issuer, "sub": sub, "aud": client_id, "iat": now,
              "exp": now + settings.access_token_ttl, "auth_time": now, **user_claims}
    if nonce:
        claims["nonce"] = nonce
    return keys.sign(session, settings, claims, typ="JWT")


def own_keyset(session: Session, settings: TrustSettings) -> KeySet:
    return KeySet([ECKey.import_key(jwk) for jwk in keys.public_jwks(session, settings)])


def decode_own(session: Session, settings: TrustSettings, token: str,
               audience: str | None = None) -> dict[str, Any]:
    """Verify a token this trust framework issued and that is not revoked."""
    claims = verify_jwt(token, own_keyset(session, settings), issuer=settings.issuer,
                        audience=audience, required=("sub", "exp", "iat", "jti", "org_id"))
    row = session.get(IssuedToken, claims["jti"])
    if row is None or row.revoked:
        raise ApiError(401, "AUTH-016", "The token has been revoked.")
    return claims


def introspect(session: Session, settings: TrustSettings, token: str) -> dict[str, Any]:
    try:
        claims = decode_own(session, settings, token)
    except ApiError:  # any failure: inactive, never a reason (RFC 7662)
        return {"active": False}
    org = session.get(Organisation, claims["org_id"])
    if org is None or org.status != OrgStatus.ACTIVE:
        return {"active": False}
    return {"active": True, **claims}


def revoke(session: Session, settings: TrustSettings, token: str,
           client_id: str | None = None) -> None:
    """RFC 7009: revoke a token the client holds; unknown tokens are ignored."""
    try:
        claims = verify_jwt(token, own_keyset(session, settings), issuer=settings.issuer,
                            audience=None, leeway=10**9)
    except ApiError:
        return
    row = session.get(IssuedToken, claims["jti"])
    if row is not None and (client_id is None or row.client_id == client_id):
        row.revoked = True
        session.add(row)
        relay = claims.get("may_act")
        if isinstance(relay, dict) and relay.get("sub"):  # and what that node exchanged it for
            revoke_where(session, IssuedToken.sub == claims["sub"],
                         IssuedToken.client_id == relay["sub"])


def revoke_where(session: Session, *conditions: Any) -> int:
    """Revoke every unexpired token matching `conditions` (e.g. all of a deactivated user)."""
    rows = session.exec(select(IssuedToken).where(col(IssuedToken.revoked).is_(False),
                                                  IssuedToken.expires_at > utcnow(),
                                                  *conditions))
    count = 0
    for row in rows:
        row.revoked = True
        session.add(row)
        count += 1
    return count


def revocation_list(session: Session, settings: TrustSettings, lifetime: int = 60) -> str:
    """The `jti`s of revoked tokens that have not expired yet (tokens of deactivated users and
    withdrawn organisations included), signed like the access tokens. Nodes cache it for a
    short time (`revocation_ttl`), as they cache the CRL."""
    rows = session.exec(select(IssuedToken.jti).where(col(IssuedToken.revoked).is_(True),
                                                      IssuedToken.expires_at > utcnow()))
    # Revoked, unexpired delegations (UC-05.04): nodes refuse their tokens too (AUTH-056).
    delegations = session.exec(select(Delegation.id).where(
        Delegation.status == DelegationStatus.REVOKED, Delegation.expires_at > utcnow()))
    now = int(time.time())
    claims = {"iss": settings.issuer, "iat": now, "exp": now + lifetime,
              "jti": secrets.token_urlsafe(8), "sub": "revocations",
              "revoked_jti": sorted(rows), "revoked_delegations": sorted(delegations)}
    return keys.sign(session, settings, claims, typ=REVOCATIONS_TYP)
