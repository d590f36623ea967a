"""Shared by the pages: the session of a request (and its cookie), rendering with the
session's CSRF token, the signed-in check and the CSRF check of every posted form."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from portal.config import PortalSettings
from portal.nodes import NodeClient
from portal.security import cookie_args, cookie_name, csrf_ok
from portal.sessions import Session, SessionStore
from portal.trust import SignInError, TrustClient, expires_at

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class SignInNeeded(Exception):
    def __init__(self, expired: bool, next_path: str):
        self.expired, self.next_path = expired, next_path


class CsrfRefused(Exception):
    pass


def settings_of(request: Request) -> PortalSettings:
    settings: PortalSettings = request.app.state.settings
    return settings


def store_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def session_of(request: Request) -> Session:
    """The request's session; a new one (its cookie set by `finish`) when it has none."""
    found = getattr(request.state, "session", None)
    if isinstance(found, Session):
        return found
    session = store_of(request).get(request.cookies.get(cookie_name(settings_of(request))))
    if session is None:
        session = store_of(request).new()
        request.state.new_session = True
    request.state.session = session
    if session.refresh_token and session.due(settings_of(request).renew_before):
        renew(request, session)
    return session


def renew(request: Request, session: Session) -> None:
    """Renew the access token, shortly before it runs out, with the session's refresh token,
    on the server (the browser never sees either). A refused refresh (expired, revoked, the
    person or the organisation deactivated) lets the session expire: the person signs in
    again."""
    store = store_of(request)
    with store.refresh_lock(session.id):
        stored = store.get(session.id)  # another request of the session may have renewed it
        if stored is not None and stored.refresh_token != session.refresh_token:
            session.token, session.token_expires = stored.token, stored.token_expires
            session.refresh_token = stored.refresh_token
        if not (session.refresh_token and session.due(settings_of(request).renew_before)):
            return
        try:
            tokens = TrustClient(settings_of(request)).refresh(session.refresh_token)
        except (SignInError, httpx.HTTPError):
            session.refresh_token = ""
            return
        session.token, session.token_expires = str(tokens["access_token"]), expires_at(tokens)
        session.refresh_token = str(tokens.get("refresh_token") or "")
        store.save(session)  # at once: the next request must not use the spent token


def replace_session(request: Request, old: Session) -> Session:
    """A new session id at sign-in (no fixation): the old one is forgotten."""
    store_of(request).drop(old.id)
    session = store_of(request).new()
    request.state.session, request.state.new_session = session, True
    return session


def finish(request: Request, response: Response) -> Response:
    """The session written back to the store (what the request changed in it), and its
    cookie set when it is new."""
    session = getattr(request.state, "session", None)
    if not isinstance(session, Session):
        return response
    store_of(request).save(session)
    if getattr(request.state, "new_session", False):
        response.set_cookie(cookie_name(settings_of(request)), session.id,
                            **cookie_args(settings_of(request)))  # type: ignore[arg-type]
    return response


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    session = session_of(request)
    response = TEMPLATES.TemplateResponse(request, template, {
        "session": session, "csrf": session.csrf, "user": session.user, "org": session.org,
        "signed_in": session.signed_in, **context}, status_code=status)
    return finish(request, response)


def redirect(request: Request, url: str) -> Response:
    return finish(request, RedirectResponse(url, status_code=303))


def signed_in(request: Request) -> Session:
    session = session_of(request)
    if not session.signed_in:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(session.expired, path)
    return session


def node_of(request: Request, session: Session) -> NodeClient:
    return NodeClient(session.node_url, session.token, settings_of(request).ca_bundle)


async def posted(request: Request) -> dict[str, Any]:
    """The posted form, after its CSRF token is checked against the session's."""
    form = await request.form()
    session = session_of(request)
    given = form.get("csrf")
    if not csrf_ok(session.csrf, given if isinstance(given, str) else None):
        raise CsrfRefused()
    return dict(form)


def sign_in_url(next_path: str, expired: bool) -> str:
    return f"/login?next={quote(next_path)}" + ("&expired=1" if expired else "")


def page_not_allowed(request: Request) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, "error.html", {
        "title": "Not allowed", "code": "PORTAL-CSRF", "session": session_of(request),
        "signed_in": session_of(request).signed_in, "user": session_of(request).user,
        "org": session_of(request).org, "csrf": session_of(request).csrf,
        "message": "This form was not sent from a page of this session (its CSRF token is "
                   "missing or wrong). Reload the page and try again."}, status_code=403)
    return response
