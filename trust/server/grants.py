"""OAuth grants: client credentials, token exchange (RFC 8693), authorization code with
PKCE and PAR, device authorization (RFC 8628)."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlmodel import Session, select

from common.roles import scopes_for, user_scopes
from trust.client.credentials import s256
from trust.server import delegations, directory, refresh, tokens
from trust.server.clientauth import AuthenticatedClient
from trust.server.config import TrustSettings
from trust.server.errors import ApiError, OAuthError
from trust.server.models import (
    Grant,
    GrantKind,
    GrantStatus,
    IssuedToken,
    Node,
    NodeStatus,
    Organisation,
    OrgStatus,
    User,
    utcnow,
)

CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GRANT_TTL = 600
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


def secret_key(secret: str) -> str:
    """Codes are stored by their SHA-256 only: a copy of the database gives no usable code."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def _bad(code: str, error: str, message: str, status: int = 400) -> OAuthError:
    return OAuthError(status, code, error, message)


def requested_scopes(form: dict[str, str], allowed: set[str]) -> set[str]:
    wanted = set((form.get("scope") or "").split())
    if not wanted:
        return set(allowed)
    extra = wanted - allowed
    if extra:
        raise OAuthError(400, "AUTH-022", "invalid_scope",
                         f"Scope(s) not held by this client: {' '.join(sorted(extra))}.",
                         {"not_held": sorted(extra)})
    return wanted


def audience_of(session: Session, settings: TrustSettings, form: dict[str, str]) -> str:
    """The target: a registered active node (its URL) or this trust service."""
    target = (form.get("audience") or form.get("resource") or settings.issuer).rstrip("/")
    if target == settings.issuer:
        return target
    node = session.exec(select(Node).where(Node.url == target, Node.status == NodeStatus.ACTIVE)).first()
    org = session.get(Organisation, node.org_id) if node else None
    if node is None or org is None or org.status != OrgStatus.ACTIVE:
        raise _bad("AUTH-023", "invalid_target", f"{target} is not an active node of the "
                   "federation.")
    return target


def _response(token: str, claims: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"access_token": token, "token_type": "Bearer",
            "expires_in": int(claims["exp"]) - int(claims["iat"]), "scope": claims["scope"]}
    body.update(extra)
    return body


# What a relayed (exchanged) token may carry: the federation's read scopes, never a write.
RELAY_SCOPES = frozenset({"assets:read", "sparql:query"})
# What a node asks for with its own certificate: duplicate checks at other nodes, and the
# hand-over of records in a switch (node/switching/, POL-075), dispute notices (POL-087),
# reading the public product register to check qualifications (QUAL-VAL-030..039), and an
# operator's node confirming a unit's new holder (node/events/inbox.py, INBOX-011).
NODE_SCOPES = frozenset({"duplicates:query", "switch:transfer", "disputes:notify",
                         "products:read", "units:verify"})


def may_act_of(session: Session, form: dict[str, str], audience: str) -> dict[str, str] | None:
    """RFC 8693 `may_act`: the caller asks the node it calls (the token's audience) to relay
    for it (its /federation endpoints). Only that one node is ever named (AUTH-045)."""
    wanted = (form.get("may_act") or "").rstrip("/")
    if not wanted:
        return None
    node = directory.node_by_url(session, wanted)
    if wanted != audience or node is None or node.status != NodeStatus.ACTIVE:
        raise _bad("AUTH-045", "invalid_request", "may_act names the node the token is for "
                   "(its audience), an active node, and no other.")
    return {"sub": node.id, "node_url": node.url}


def client_credentials(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                       form: dict[str, str]) -> dict[str, Any]:
    if form.get("delegation"):  # a platform acting for an FSP (UC-05.04)
        return _response(*delegations.delegated_token(session, settings, client, form))
    if client.app.kind not in ("machine", "node"):
        raise _bad("AUTH-021", "unauthorized_client", "A public client cannot use "
                   "client_credentials.")
    allowed = set(NODE_SCOPES) if client.node else scopes_for(client.app.roles)
    scopes = requested_scopes(form, allowed)
    aud = audience_of(session, settings, form)
    may_act = None if client.node else may_act_of(session, form, aud)
    token, claims = tokens.issue_access_token(
        session, settings, sub=client.app.id, org=client.org, roles=list(client.app.roles),
        scopes=scopes, audience=aud, client_id=client.app.id, thumbprint=client.thumbprint,
        extra={"may_act": may_act} if may_act else None)
    return _response(token, claims)


def token_exchange(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                   form: dict[str, str]) -> dict[str, Any]:
    """A node relays a federated query for its caller (RFC 8693), and only when the caller
    asked it to: the subject token names this node in `may_act` (AUTH-042). The node
    authenticates with its own node certificate (AUTH-040); the new token keeps the caller's
    subject, organisation and roles, is narrowed to the federation's read scopes, ends no
    later than the subject token, names the node in `act`, is bound to the node's
    certificate and goes to an active node only (AUTH-044). An exchanged token is never
    exchanged again (AUTH-043)."""
    node = client.node
    if node is None:
        raise _bad("AUTH-040", "unauthorized_client", "Only a node, authenticated with its "
                   "node client certificate, exchanges tokens.", 401)
    if form.get("subject_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
        raise _bad("AUTH-024", "invalid_request", "Only access tokens can be exchanged.")
    try:
        subject = tokens.decode_own(session, settings, form.get("subject_token", ""))
    except ApiError as exc:
        raise _bad("AUTH-024", "invalid_grant", "The subject token is not valid.") from exc
    if subject.get("act"):
        raise _bad("AUTH-043", "invalid_grant", "An exchanged token cannot be exchanged again.")
    may_act = subject.get("may_act")
    if (not isinstance(may_act, dict) or may_act.get("sub") != node.id
            or subject.get("aud") != node.url):
        raise _bad("AUTH-042", "invalid_grant", "The caller did not ask this node to relay for "
                   "it: the subject token was not issued to this node with may_act naming it.")
    org = session.get(Organisation, subject["org_id"])
    if org is None or org.status != OrgStatus.ACTIVE:
        raise _bad("AUTH-024", "invalid_grant", "The subject's organisation is not active.")
    target = (form.get("audience") or form.get("resource") or "").rstrip("/")
    peer = directory.node_by_url(session, target) if target else None
    peer_org = session.get(Organisation, peer.org_id) if peer else None
    if peer is None or peer.status != NodeStatus.ACTIVE or peer_org is None or peer_org.status != OrgStatus.ACTIVE:
        raise _bad("AUTH-044", "invalid_target", "A relayed token is only for an active node of "
                   "the federation (never the trust framework or an application).")
    held = set(subject.get("scope", "").split()) & RELAY_SCOPES
    scopes = requested_scopes(form, held)
    if not scopes:
        raise _bad("AUTH-022", "invalid_scope", "The subject token holds none of the "
                   "federation's read scopes.")
    act = {"sub": node.id, "node_url": node.url, "org_id": node.org_id}
    extra = {"user_role": subject["user_role"]} if subject.get("user_role") else None
    token, claims = tokens.issue_access_token(
        session, settings, sub=subject["sub"], org=org, roles=list(subject.get("roles", [])),
        scopes=scopes, audience=peer.url, client_id=node.id, thumbprint=client.thumbprint,
        act=act, not_after=float(subject["exp"]), extra=extra)
    return _response(token, claims, issued_token_type=ACCESS_TOKEN_TYPE)


# People ---------------------------------------------------------------------

def _user_token(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                user: User, scope: str, resource: str | None, nonce: str | None,
                may_act: str | None = None,
                session_of: Grant | None = None) -> dict[str, Any]:
    """A user's access and ID tokens; with `session_of` (the sign-in code, or the refresh
    grant just used) also the session's next refresh token (trust.server.refresh)."""
    org = directory.get_organisation(session, user.org_id)
    if not user.active or org.status != OrgStatus.ACTIVE:
        raise _bad("AUTH-024", "invalid_grant", "The user or organisation is not active.")
    allowed = user_scopes(org.roles, user.role)
    wanted = " ".join(set(scope.split()) - OIDC_SCOPES)
    scopes = requested_scopes({"scope": wanted}, allowed)
    aud = audience_of(session, settings, {"audience": resource or settings.issuer})
    extra: dict[str, Any] = {"user_role": user.role}
    relay = may_act_of(session, {"may_act": may_act or ""}, aud)
    if relay:
        extra["may_act"] = relay
    token, claims = tokens.issue_access_token(
        session, settings, sub=user.id, org=org, roles=list(org.roles), scopes=scopes,
        audience=aud, client_id=client.app.id, thumbprint=client.thumbprint, extra=extra)
    id_token = tokens.issue_id_token(session, settings, sub=user.id, client_id=client.app.id,
                                     nonce=nonce, user_claims={"email": user.email,
                                                               "name": user.name,
                                                               "org_id": org.id})
    body = _response(token, claims, id_token=id_token)
    if session_of is not None:
        data = {"scope": scope, "resource": resource, "may_act": may_act}
        same = session_of.kind == GrantKind.REFRESH
        body["refresh_token"] = refresh.issue(
            session, settings, client_id=client.app.id, user_id=user.id, data=data,
            access_jti=claims["jti"], family=session_of.data.get("family") if same else None,
            family_ends=session_of.data.get("family_ends") if same else None)
    return body


def redirect_allowed(registered: list[str], uri: str) -> bool:
    """Exact match, except that a loopback redirect may use any port (RFC 8252 §7.3)."""
    if uri in registered:
        return True
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1"):
        return False
    bare = parts._replace(netloc=parts.hostname if parts.hostname != "::1" else "[::1]")
    return urlunsplit(bare) in registered


def push_authorization_request(session: Session, client: AuthenticatedClient,
                               form: dict[str, str]) -> dict[str, Any]:
    """PAR (RFC 9126): validate the request now; the browser only carries `request_uri`."""
    if form.get("response_type") != "code":
        raise _bad("AUTH-024", "unsupported_response_type", "response_type must be code.")
    if not redirect_allowed(client.app.redirect_uris, form.get("redirect_uri") or ""):
        raise _bad("AUTH-024", "invalid_request", "redirect_uri is not registered.")
    if form.get("code_challenge_method") != "S256" or not form.get("code_challenge"):
        raise _bad("AUTH-028", "invalid_request", "PKCE with S256 is required.")
    purge_expired(session)
    request_uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(24)}"
    keep = {k: form.get(k) for k in ("redirect_uri", "scope", "state", "nonce", "code_challenge",
                                     "resource", "may_act")}
    session.add(Grant(id=request_uri, kind=GrantKind.PAR, client_id=client.app.id, data=keep,
                      expires_at=utcnow() + timedelta(seconds=90)))
    return {"request_uri": request_uri, "expires_in": 90}


def pending_request(session: Session, client_id: str, request_uri: str) -> Grant:
    grant = session.get(Grant, request_uri)
    if (grant is None or grant.kind != GrantKind.PAR or grant.client_id != client_id
            or grant.status != GrantStatus.PENDING or grant.expires_at < utcnow()):
        raise _bad("AUTH-024", "invalid_request", "Unknown or expired request_uri.")
    return grant


def approve_request(session: Session, par: Grant, user: User, issuer: str) -> str:
    """The user logged in: the PAR request becomes a one-time code; returns the redirect
    (with `iss`, RFC 9207, against mix-up attacks)."""
    par.status = GrantStatus.USED
    session.add(par)
    code = secrets.token_urlsafe(32)
    session.add(Grant(id=secret_key(code), kind=GrantKind.CODE, client_id=par.client_id, user_id=user.id,
                      data=par.data, expires_at=utcnow() + timedelta(seconds=60)))
    query = {"code": code, "iss": issuer}
    if par.data.get("state"):
        query["state"] = par.data["state"]
    return f"{par.data['redirect_uri']}?{urlencode(query)}"


def authorization_code(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                       form: dict[str, str]) -> dict[str, Any]:
    grant = session.get(Grant, secret_key(form.get("code", "")))
    if (grant is None or grant.kind != GrantKind.CODE or grant.client_id != client.app.id
            or grant.status != GrantStatus.PENDING or grant.expires_at < utcnow()):
        raise _bad("AUTH-024", "invalid_grant", "The code is unknown, used or expired.")
    grant.status = GrantStatus.USED  # one use, even when the checks below fail
    session.add(grant)
    if form.get("redirect_uri") != grant.data.get("redirect_uri"):
        raise _bad("AUTH-024", "invalid_grant", "redirect_uri does not match.")
    if not secrets.compare_digest(s256(form.get("code_verifier", "")),
                                  grant.data.get("code_challenge") or ""):
        raise _bad("AUTH-028", "invalid_grant", "The PKCE code_verifier does not match.")
    user = session.get(User, grant.user_id)
    assert user is not None
    return _user_token(session, settings, client, user, grant.data.get("scope") or "",
                       grant.data.get("resource"), grant.data.get("nonce"),
                       grant.data.get("may_act"), session_of=grant)


def refresh_token(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                  form: dict[str, str]) -> dict[str, Any]:
    """The refresh grant of a user session: the token is used once and answered with the
    next one of its family; a reused token revokes the family (AUTH-060, AUTH-061). The
    user and organisation must still be active (AUTH-024); the scope may only narrow."""
    grant = refresh.use(session, client.app.id, form.get("refresh_token", ""))
    user = session.get(User, grant.user_id)
    if user is None:
        raise _bad("AUTH-060", "invalid_grant", "The session's user no longer exists.")
    held = set((grant.data.get("scope") or "").split())
    scope = " ".join(sorted(requested_scopes(form, held))) if form.get("scope") else \
        grant.data.get("scope") or ""
    return _user_token(session, settings, client, user, scope, grant.data.get("resource"),
                       None, grant.data.get("may_act"), session_of=grant)


def device_authorization(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                         form: dict[str, str]) -> dict[str, Any]:
    purge_expired(session)
    device_code = secrets.token_urlsafe(32)
    alphabet = "BCDFGHJKLMNPQRSTVWXZ"
    user_code = "".join(secrets.choice(alphabet) for _ in range(8))
    session.add(Grant(id=secret_key(device_code), kind=GrantKind.DEVICE, client_id=client.app.id,
                      user_code=user_code, data={"scope": form.get("scope", ""),
                                                 "resource": form.get("resource"),
                                                 "interval": 2, "last_poll": 0},
                      expires_at=utcnow() + timedelta(seconds=GRANT_TTL)))
    uri = f"{settings.issuer}/device"
    return {"device_code": device_code, "user_code": f"{user_code[:4]}-{user_code[4:]}",
            "verification_uri": uri,
            "verification_uri_complete": f"{uri}?{urlencode({'user_code': user_code})}",
            "expires_in": GRANT_TTL, "interval": 2}


def device_grant_by_user_code(session: Session, user_code: str) -> Grant:
    code = user_code.replace("-", "").strip().upper()
    grant = session.exec(select(Grant).where(Grant.user_code == code,
                                             Grant.kind == GrantKind.DEVICE)).first()
    if grant is None or grant.status != GrantStatus.PENDING or grant.expires_at < utcnow():
        raise _bad("AUTH-027", "invalid_request", "Unknown or expired user code.")
    return grant


def approve_device(session: Session, grant: Grant, user: User) -> None:
    grant.status, grant.user_id = GrantStatus.APPROVED, user.id
    session.add(grant)


def device_code(session: Session, settings: TrustSettings, client: AuthenticatedClient,
                form: dict[str, str]) -> dict[str, Any]:
    grant = session.get(Grant, secret_key(form.get("device_code", "")))
    if grant is None or grant.kind != GrantKind.DEVICE or grant.client_id != client.app.id:
        raise _bad("AUTH-024", "invalid_grant", "Unknown device_code.")
    if grant.expires_at < utcnow():
        raise _bad("AUTH-027", "expired_token", "The device code has expired.")
    if grant.status == GrantStatus.PENDING:
        now = time.time()
        last = float(grant.data.get("last_poll", 0))
        grant.data = {**grant.data, "last_poll": now}
        session.add(grant)
        if now - last < float(grant.data.get("interval", 2)) - 0.5:
            raise _bad("AUTH-027", "slow_down", "Polling too fast.")
        raise _bad("AUTH-027", "authorization_pending", "The user has not approved yet.")
    if grant.status != GrantStatus.APPROVED:
        raise _bad("AUTH-027", "access_denied", "The request was denied or already used.")
    grant.status = GrantStatus.USED
    session.add(grant)
    user = session.get(User, grant.user_id)
    assert user is not None
    return _user_token(session, settings, client, user, grant.data.get("scope") or "",
                       grant.data.get("resource"), None)


def purge_expired(session: Session) -> None:
    """Forget grants and token records a day after they expired."""
    cutoff = utcnow() - timedelta(days=1)
    for grant in session.exec(select(Grant).where(Grant.expires_at < cutoff)):
        session.delete(grant)
    for token in session.exec(select(IssuedToken).where(IssuedToken.expires_at < cutoff)):
        session.delete(token)
