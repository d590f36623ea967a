"""Refresh tokens of user sessions (RFC 6749 §6), rotated at every use with reuse
detection (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).

A sign-in starts a *family*. Each refresh token is stored by its SHA-256 only (a `Grant` of
kind REFRESH), bound to its client, and used once: the refresh answers a new one of the
same family. Presenting a token of the family that was already used (a stolen copy, or the
thief's after the owner's) revokes the whole family: its refresh tokens and the access
tokens issued from it (AUTH-061). A family ends `session_max_age` after sign-in."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from trust.server import tokens
from trust.server.config import TrustSettings
from trust.server.errors import OAuthError
from trust.server.models import Grant, GrantKind, GrantStatus, IssuedToken, utcnow

# What a family carries from the sign-in to every refresh.
KEPT = ("scope", "resource", "may_act")


def _key(token: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def issue(session: Session, settings: TrustSettings, *, client_id: str, user_id: str,
          data: dict[str, Any], access_jti: str, family: str | None = None,
          family_ends: float | None = None) -> str:
    """A new refresh token of `family` (a new family when None)."""
    now = utcnow()
    ends = family_ends or (now + timedelta(seconds=settings.session_max_age)).timestamp()
    expires = min(now + timedelta(seconds=settings.refresh_token_ttl),
                  datetime.fromtimestamp(ends, UTC))
    token = secrets.token_urlsafe(32)
    session.add(Grant(id=_key(token), kind=GrantKind.REFRESH, client_id=client_id,
                      user_id=user_id, expires_at=expires,
                      data={**{k: data.get(k) for k in KEPT},
                            "family": family or secrets.token_urlsafe(16),
                            "family_ends": ends, "access_jti": access_jti}))
    return token


def use(session: Session, client_id: str, token: str) -> Grant:
    """The refresh grant of `token`, marked used; reuse revokes its family (AUTH-061)."""
    grant = session.exec(select(Grant).where(Grant.id == _key(token))
                         .with_for_update()).first()
    if grant is None or grant.kind != GrantKind.REFRESH or grant.client_id != client_id:
        raise OAuthError(400, "AUTH-060", "invalid_grant", "The refresh token is unknown or "
                         "not this client's.")
    if grant.status == GrantStatus.USED:
        revoke_family(session, grant)
        raise OAuthError(400, "AUTH-061", "invalid_grant", "The refresh token was already "
                         "used: the session is revoked; sign in again.")
    if grant.status != GrantStatus.PENDING or _aware(grant.expires_at) < utcnow():
        raise OAuthError(400, "AUTH-060", "invalid_grant", "The refresh token is expired or "
                         "revoked; sign in again.")
    grant.status = GrantStatus.USED
    session.add(grant)
    return grant


def revoke_family(session: Session, grant: Grant) -> int:
    """Revoke every refresh token of `grant`'s family and the access tokens issued from
    them; returns how many refresh tokens were still usable."""
    family = grant.data.get("family")
    rows = session.exec(select(Grant).where(Grant.kind == GrantKind.REFRESH,
                                            Grant.user_id == grant.user_id,
                                            Grant.client_id == grant.client_id))
    members = [r for r in rows if r.data.get("family") == family]
    live = 0
    for row in members:
        live += row.status == GrantStatus.PENDING
        row.status = GrantStatus.REVOKED
        session.add(row)
    jtis = [r.data.get("access_jti") for r in members if r.data.get("access_jti")]
    if jtis:
        tokens.revoke_where(session, col(IssuedToken.jti).in_(jtis))
    return live


def revoke_token(session: Session, client_id: str, token: str) -> bool:
    """RFC 7009 for a refresh token: the client ends its session (the whole family)."""
    grant = session.get(Grant, _key(token))
    if grant is None or grant.kind != GrantKind.REFRESH or grant.client_id != client_id:
        return False
    revoke_family(session, grant)
    return True
