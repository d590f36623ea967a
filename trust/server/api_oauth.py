"""OAuth 2.0 / OIDC endpoints (thin: the logic is in grants, clientauth and tokens)."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from common.http_errors import error_responses
from common.openapi import content, secured
from common.ratelimit import LoginThrottle, source_of
from common.roles import ALL_SCOPES
from common.tls import peer_certificate_der
from trust.client.credentials import DEVICE_CODE
from trust.server import bootstrap, clientauth, directory, grants, keys, refresh, tokens
from trust.server.errors import ApiError, OAuthError
from trust.server.federation_key import key_for
from trust.server.models import User
from trust.server.web import current_actor, settings_of, tx

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# Client authentication at the OAuth endpoints: the client certificate (tls_client_auth) or a
# signed client assertion in the form (private_key_jwt), so mutual TLS is one way of two.
CLIENT: dict[str, Any] = {"security": [{"mutualTLS": []}, {}]}
OAUTH_ERRORS = error_responses(400, 401, 403)
CLIENT_FIELDS = ("client_id", "client_assertion_type", "client_assertion")


def form_body(*fields: str, **schemas: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` of a form body (the routes read the form themselves)."""
    properties = {f: {"type": "string"} for f in fields} | schemas
    return {"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": properties, "required": []}}}}}


def client_form(*fields: str, **schemas: dict[str, Any]) -> dict[str, Any]:
    return {**CLIENT, **form_body(*CLIENT_FIELDS, *fields, **schemas)}
# The login form answers a refused login with the form again (HTML), a bad request as JSON.
LOGIN_REFUSED = {401: content("text/html", description="Not signed in: the form again"),
                 429: content("text/html", description="Too many failed logins (AUTH-032)"),
                 **error_responses(400)}


# Client authentication per endpoint (IB1 oauth-with-member-identity-certificates/1.0 asks
# for tls_client_auth everywhere; FMAR's deliberate additions are listed in docs/trust.md,
# "OAuth profile"): `private_key_jwt` for member machines that sign an assertion with the key
# of their client certificate (the same identity, FAPI 2.0 allows it), and `none` only for
# FMAR's own public clients (the `fmar` CLI, the portal), which hold no certificate and are
# bound by PKCE, PAR and rotated refresh tokens instead.
CLIENT_AUTH = ["tls_client_auth", "private_key_jwt", "none"]
MACHINE_AUTH = ["tls_client_auth", "private_key_jwt"]
NODE_AUTH = ["tls_client_auth"]  # introspection: nodes, by their node certificate


def metadata(issuer: str) -> dict[str, Any]:
    """RFC 8414 metadata. Every `*_endpoint` is repeated in `mtls_endpoint_aliases` with the
    same URL (IB1: one server asks every caller for an optional client certificate)."""
    endpoints = {
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "device_authorization_endpoint": f"{issuer}/device_authorization",
        "userinfo_endpoint": f"{issuer}/userinfo",
    }
    return {
        "issuer": issuer,
        **endpoints,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": [grants.AUTHORIZATION_CODE, grants.REFRESH_TOKEN,
                                  grants.CLIENT_CREDENTIALS, grants.TOKEN_EXCHANGE,
                                  DEVICE_CODE],
        "response_types_supported": ["code"],
        "authorization_endpoint_auth_methods_supported": CLIENT_AUTH,
        "token_endpoint_auth_methods_supported": CLIENT_AUTH,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "pushed_authorization_request_endpoint_auth_methods_supported": CLIENT_AUTH,
        # A public client revokes its own tokens by client_id; introspection is for nodes.
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH,
        "revocation_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "introspection_endpoint_auth_methods_supported": NODE_AUTH,
        "code_challenge_methods_supported": ["S256"],
        "require_pushed_authorization_requests": True,
        "authorization_response_iss_parameter_supported": True,
        "tls_client_certificate_bound_access_tokens": True,
        "mtls_endpoint_aliases": dict(endpoints),
        "use_mtls_endpoint_aliases": True,
        "scopes_supported": ["openid", *sorted(ALL_SCOPES)],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "name", "org_id",
                             "roles", "scope", "dno_areas", "cnf", "act", "client_id"],
    }


@router.get("/.well-known/oauth-authorization-server")
@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> dict[str, Any]:
    return metadata(settings_of(request).issuer)


@router.get("/.well-known/jwks.json")
def jwks(request: Request) -> JSONResponse:
    with tx(request) as session:
        keys.current_key(session, settings_of(request))
        body = keys.jwks(session, settings_of(request))
    return JSONResponse(body, headers={"Cache-Control": "max-age=60"})


@router.get("/revocations", response_class=Response,
            responses={200: content("application/jwt")})
def revocations(request: Request) -> Response:
    """The signed list of revoked, unexpired token ids (user deactivation, /revoke,
    withdrawal), for nodes; cached by them `revocation_ttl` seconds."""
    with tx(request) as session:
        body = tokens.revocation_list(session, settings_of(request))
    return Response(body, media_type="application/jwt", headers={"Cache-Control": "max-age=5"})


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


def _client(request: Request, session: Session,
            form: dict[str, str]) -> clientauth.AuthenticatedClient:
    settings = settings_of(request)
    return clientauth.authenticate(session, settings, form, peer_certificate_der(request.scope),
                                   f"{settings.issuer}/token")


@router.post("/token", responses=OAUTH_ERRORS, openapi_extra=client_form(
    "scope", "audience", "resource", "code", "redirect_uri", "code_verifier", "device_code",
    "subject_token", "subject_token_type", "requested_token_type", "refresh_token",
    grant_type={"enum": [grants.CLIENT_CREDENTIALS, grants.TOKEN_EXCHANGE,
                         grants.AUTHORIZATION_CODE, grants.REFRESH_TOKEN, DEVICE_CODE]}))
async def token(request: Request) -> JSONResponse:
    form = await _form(request)
    settings = settings_of(request)
    handlers = {
        grants.CLIENT_CREDENTIALS: grants.client_credentials,
        grants.TOKEN_EXCHANGE: grants.token_exchange,
        grants.AUTHORIZATION_CODE: grants.authorization_code,
        grants.REFRESH_TOKEN: grants.refresh_token,
        DEVICE_CODE: grants.device_code,
    }
    handler = handlers.get(form.get("grant_type", ""))
    if handler is None:
        raise OAuthError(400, "AUTH-031", "unsupported_grant_type",
                         f"Unsupported grant_type {form.get('grant_type')!r}.")

    def work() -> dict[str, Any]:
        with tx(request) as session:
            return handler(session, settings, _client(request, session, form), form)

    return JSONResponse(await run_in_threadpool(work), headers=NO_STORE)


@router.post("/api/federation-key", openapi_extra=CLIENT, responses=OAUTH_ERRORS)
async def federation_key(request: Request) -> JSONResponse:
    """The federation's duplicate-detection key, for nodes (mTLS client authentication)."""
    form = await _form(request)
    settings = settings_of(request)

    def work() -> dict[str, Any]:
        with tx(request) as session:
            return key_for(session, settings, _client(request, session, form))

    return JSONResponse(await run_in_threadpool(work), headers=NO_STORE)


@router.post("/par", status_code=201, responses=OAUTH_ERRORS, openapi_extra=client_form(
    "redirect_uri", "code_challenge", "state", "scope", "nonce", "resource",
    response_type={"enum": ["code"]}, code_challenge_method={"enum": ["S256"]}))
async def par(request: Request) -> JSONResponse:
    form = await _form(request)
    with tx(request) as session:
        client = _client(request, session, form)
        body = grants.push_authorization_request(session, client, form)
    return JSONResponse(body, status_code=201, headers=NO_STORE)


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>FMAR sign in</title></head><body><main><h1>Sign in to FMAR</h1>{message}
<form method="post" action="{action}">{hidden}{code}
<p><label>E-mail <input name="email" type="email" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"
required></label></p><p><button type="submit">Sign in</button></p></form></main></body></html>"""


PAGE_HEADERS = {
    "X-Frame-Options": "DENY", "Cache-Control": "no-store",
    # No form-action: browsers apply it to the redirect to the client after the login too.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def login_page(action: str, hidden: dict[str, str], message: str = "", status: int = 200,
               user_code: str | None = None) -> HTMLResponse:
    """The one login form; with `user_code`, it also asks for the device code."""
    fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in hidden.items())
    code = "" if user_code is None else (
        f'<p><label>Code <input name="user_code" value="{html.escape(user_code)}" required>'
        "</label></p>")
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(LOGIN_PAGE.format(action=action, hidden=fields, code=code,
                                          message=note),
                        status_code=status, headers=PAGE_HEADERS)


def _login(request: Request, session: Session,
           form: dict[str, str]) -> tuple[User | None, str, int]:
    """The user for these credentials, or why not (message, HTTP status). Failures lock the
    account for the caller's source address only (AUTH-032, common.ratelimit)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    email = form.get("email", "")
    source = source_of(request.scope, request.app.state.settings.trusted_proxies)
    try:
        throttle.check(email, source)
    except ApiError as exc:
        return None, f"{exc.message} ({exc.code})", exc.status
    user = directory.authenticate_user(session, email, form.get("password", ""))
    if user is None:
        throttle.failed(email, source)
        return None, "E-mail or password not recognised.", 401
    throttle.succeeded(email, source)
    return user, "", 200


@router.get("/authorize", response_class=HTMLResponse,
            responses={200: content("text/html"), **error_responses(400, 422)})
def authorize_page(request: Request, client_id: str, request_uri: str) -> HTMLResponse:
    with tx(request) as session:
        grants.pending_request(session, client_id, request_uri)
    return login_page("/authorize", {"client_id": client_id, "request_uri": request_uri})


@router.post("/authorize", response_model=None, response_class=HTMLResponse,
             responses={303: {"description": "Signed in: on to the client's redirect_uri"},
                        **LOGIN_REFUSED},
             openapi_extra=form_body("client_id", "request_uri", "email", "password"))
async def authorize_submit(request: Request) -> Response:
    form = await _form(request)

    def work() -> Response:  # argon2 takes a while: off the event loop
        with tx(request) as session:
            pending = grants.pending_request(session, form.get("client_id", ""),
                                             form.get("request_uri", ""))
            user, message, status = _login(request, session, form)
            if user is None:
                return login_page("/authorize", {"client_id": form["client_id"],
                                                 "request_uri": form["request_uri"]},
                                  message, status)
            location = grants.approve_request(session, pending, user,
                                              settings_of(request).issuer)
            return RedirectResponse(location, status_code=303)

    return await run_in_threadpool(work)


@router.post("/device_authorization", responses=OAUTH_ERRORS,
             openapi_extra=client_form("scope"))
async def device_authorization(request: Request) -> JSONResponse:
    form = await _form(request)
    with tx(request) as session:
        client = _client(request, session, form)
        body = grants.device_authorization(session, settings_of(request), client, form)
    return JSONResponse(body, headers=NO_STORE)


@router.get("/device", response_class=HTMLResponse, responses={200: content("text/html")})
def device_page(user_code: str = "") -> HTMLResponse:
    return login_page("/device", {}, user_code=user_code)


@router.post("/device", response_class=HTMLResponse,
             responses={200: content("text/html"), **LOGIN_REFUSED},
             openapi_extra=form_body("user_code", "email", "password"))
async def device_submit(request: Request) -> HTMLResponse:
    form = await _form(request)

    def work() -> HTMLResponse:
        with tx(request) as session:
            grant = grants.device_grant_by_user_code(session, form.get("user_code", ""))
            user, message, status = _login(request, session, form)
            if user is None:
                return login_page("/device", {}, message, status,
                                  user_code=form.get("user_code", ""))
            grants.approve_device(session, grant, user)
        return HTMLResponse("<!doctype html><p>Signed in. You can return to your terminal.</p>",
                            headers=PAGE_HEADERS)

    return await run_in_threadpool(work)


@router.post("/revoke", response_class=Response,
             responses={200: {"description": "Revoked, or not a token of this client "
                              "(RFC 7009): no body"}, **OAUTH_ERRORS},
             openapi_extra=client_form("token", "token_type_hint"))
async def revoke(request: Request) -> Response:
    form = await _form(request)
    with tx(request) as session:
        client = _client(request, session, form)
        if not refresh.revoke_token(session, client.app.id, form.get("token", "")):
            tokens.revoke(session, settings_of(request), form.get("token", ""), client.app.id)
    return Response(status_code=200)


@router.post("/introspect", responses=OAUTH_ERRORS, openapi_extra=client_form("token"))
async def introspect(request: Request) -> JSONResponse:
    """Internal (IB1: the members' own systems only): the federation's nodes, each with its
    node client certificate (AUTH-062)."""
    form = await _form(request)
    with tx(request) as session:
        client = _client(request, session, form)
        if client.node is None or client.method != "tls_client_auth":
            raise OAuthError(403, "AUTH-062", "unauthorized_client", "Introspection is for "
                             "the federation's nodes, with their node certificate, only.")
        body = tokens.introspect(session, settings_of(request), form.get("token", ""))
    return JSONResponse(body, headers=NO_STORE)


@router.get("/userinfo", openapi_extra=secured("openid", mtls=False),
            responses=error_responses(401))
def userinfo(request: Request) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        user = session.get(User, actor.subject)
        assert user is not None
        return {"sub": user.id, "email": user.email, "name": user.name, "org_id": user.org_id,
                "user_role": user.role}


@router.get("/api/cli-client")
def cli_client(request: Request) -> dict[str, Any]:
    """The public client id the `fmar` CLI logs in with."""
    with tx(request) as session:
        return {"client_id": bootstrap.cli_client_id(session)}
