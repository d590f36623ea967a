"""Sign-in at the trust framework (authorization code + PKCE, through PAR), the callback,
sign-out, and the home page with the person's organisation."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.trust import SignInError, TrustClient, claims_of, expires_at

router = APIRouter()


def trust_of(request: Request) -> TrustClient:
    return TrustClient(web.settings_of(request))


def _safe_next(value: str | None) -> str:
    """Only a path of the portal (no other site after sign-in)."""
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/")
def home(request: Request) -> Response:
    session = web.session_of(request)
    if not session.signed_in:
        return web.redirect(request, "/login")
    until = time.strftime("%H:%M:%S UTC", time.gmtime(session.token_expires))
    return web.render(request, "home.html", title="Home", node_url=session.node_url,
                      until=until)


@router.get("/login")
def login_page(request: Request, next: str = "/", expired: str = "",
               signed_out: str = "") -> Response:
    settings = web.settings_of(request)
    try:
        nodes = trust_of(request).nodes()
        problem = ""
    except httpx.HTTPError as exc:  # the directory cannot be read: say so, do not crash
        nodes, problem = [], f"The trust framework's directory could not be read: {exc}"
    return web.render(request, "login.html", title="Sign in", nodes=nodes,
                      entry=settings.entry_node, next=_safe_next(next), problem=problem,
                      expired=bool(expired), signed_out=bool(signed_out))


@router.post("/login")
async def login_start(request: Request) -> Response:
    form = await web.posted(request)
    node_url = str(form.get("node") or "").rstrip("/")
    try:
        known = {n.url for n in await run_in_threadpool(trust_of(request).nodes)}
    except httpx.HTTPError as exc:
        return web.render(request, "error.html", 503, title="Sign-in unavailable",
                          code="PORTAL-TRUST", message=f"The trust framework could not be "
                          f"reached: {exc}")
    if node_url not in known:
        return web.render(request, "error.html", 400, title="Sign-in refused",
                          code="PORTAL-NODE", message="Choose one of the listed nodes.")
    try:
        authorize, pending = await run_in_threadpool(trust_of(request).start_sign_in, node_url)
    except SignInError as exc:
        return web.render(request, "error.html", 400, title="Sign-in refused", code=exc.code,
                          message=exc.message)
    except httpx.HTTPError as exc:
        return web.render(request, "error.html", 503, title="Sign-in unavailable",
                          code="PORTAL-TRUST", message=f"The trust framework could not be "
                          f"reached: {exc}")
    session = web.session_of(request)
    session.pending = {**pending, "next": _safe_next(str(form.get("next") or "/"))}
    return web.redirect(request, authorize)


@router.get("/callback")
def callback(request: Request, code: str = "", state: str = "", iss: str = "",
             error: str = "", error_description: str = "") -> Response:
    settings = web.settings_of(request)
    session = web.session_of(request)
    pending, session.pending = session.pending, {}  # one callback per sign-in, whatever it says
    if error:
        return web.render(request, "error.html", 400, title="Sign-in refused", code=error,
                          message=error_description or "The trust framework refused.")
    if (not pending or not secrets.compare_digest(state, pending.get("state", ""))
            or iss != settings.trust_url):
        # a callback this session did not start (CSRF on the sign-in, or a mix-up)
        return web.render(request, "error.html", 400, title="Sign-in refused",
                          code="PORTAL-STATE", message="This sign-in was not started here, "
                          "or it came back from another issuer. Sign in again.")
    try:
        tokens = trust_of(request).finish_sign_in(code, pending["verifier"])
    except SignInError as exc:
        return web.render(request, "error.html", 400, title="Sign-in refused", code=exc.code,
                          message=exc.message)
    identity: dict[str, Any] = claims_of(str(tokens.get("id_token", "")))
    access = claims_of(str(tokens["access_token"]))
    if identity.get("nonce") != pending.get("nonce"):
        return web.render(request, "error.html", 400, title="Sign-in refused",
                          code="PORTAL-NONCE", message="The sign-in answer was not for this "
                          "request. Sign in again.")
    fresh = web.replace_session(request, session)
    fresh.token, fresh.token_expires = str(tokens["access_token"]), expires_at(tokens)
    fresh.refresh_token = str(tokens.get("refresh_token") or "")  # kept here, server side
    fresh.node_url = pending["node_url"]
    fresh.user = {"id": access.get("sub"), "email": identity.get("email"),
                  "name": identity.get("name"), "role": access.get("user_role"),
                  "roles": [str(r).rsplit("/", 1)[-1] for r in access.get("roles", [])],
                  "scope": str(access.get("scope", "")).split()}
    org_id = str(access.get("org_id", ""))
    fresh.org = {"id": org_id, **trust_of(request).member(org_id)}
    return web.redirect(request, pending.get("next") or "/")


@router.post("/logout")
async def logout(request: Request) -> Response:
    await web.posted(request)
    session = web.session_of(request)
    if session.refresh_token:  # ends the session's refresh tokens and their access tokens
        await run_in_threadpool(trust_of(request).revoke, session.refresh_token)
    if session.token:
        await run_in_threadpool(trust_of(request).revoke, session.token)
    web.store_of(request).drop(session.id)
    response = web.redirect(request, "/login?signed_out=1")
    response.delete_cookie(web.cookie_name(web.settings_of(request)), path="/")
    return response
