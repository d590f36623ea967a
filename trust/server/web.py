"""Helpers of the trust service's routers: transactions, the acting user, permissions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlmodel import Session

from common.web import bearer_token
from trust.server import tokens
from trust.server.config import TrustSettings
from trust.server.directory import Actor
from trust.server.errors import ApiError, OAuthError
from trust.server.models import Organisation, OrgStatus, User


def settings_of(request: Request) -> TrustSettings:
    return request.app.state.settings


@contextmanager
def tx(request: Request) -> Iterator[Session]:
    """One transaction; OAuth errors still commit (a used code stays used)."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except OAuthError:
            session.commit()
            raise
        except Exception:
            session.rollback()
            raise


def current_actor(request: Request, session: Session) -> Actor:
    """The logged-in user behind a trust-framework access token for this service."""
    settings = settings_of(request)
    claims = tokens.decode_own(session, settings, bearer_token(request), audience=settings.issuer)
    user = session.get(User, claims["sub"])
    org = session.get(Organisation, user.org_id) if user else None
    if (claims.get("act") or user is None or org is None or not user.active
            or org.status != OrgStatus.ACTIVE):  # a relayed token never administers the directory
        raise ApiError(401, "AUTH-030", "A logged-in, active user of an active organisation "
                       "is required.")
    return Actor(subject=user.id, org_id=user.org_id, user_role=user.role,
                 is_operator=org.is_operator)


def require_org_admin(actor: Actor, org_id: str) -> None:
    if actor.user_role == "admin" and (actor.is_operator or actor.org_id == org_id):
        return
    raise ApiError(403, "POL-101", "Only an admin of this organisation or the operator may do "
                   "this.", {"org_id": org_id})


def require_operator(actor: Actor) -> None:
    if not (actor.is_operator and actor.user_role == "admin"):
        raise ApiError(403, "POL-102", "Only the trust framework operator may do this.")


def require_member(actor: Actor, org_id: str) -> None:
    if not (actor.is_operator or actor.org_id == org_id):
        raise ApiError(403, "POL-103", "Only members of this organisation may see this.")
