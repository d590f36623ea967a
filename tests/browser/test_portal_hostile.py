"""The portal attacked without a browser (plain HTTP against the same real processes): a
forged or replayed sign-in callback, an issuer mix-up, an open redirect after sign-in, a
sign-out without CSRF, session fixation, a cookie reused after sign-out, and settings that
would send the session cookie over plain http."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from portal.config import ConfigError, PortalSettings
from tests.browser.stack import Stack
from tests.harness.directory import Member
from tests.harness.portal import PortalProc, register_portal_client
from tests.harness.processes import free_port
from trust.server.models import Grant, GrantKind, GrantStatus

COOKIE = "fmar-portal"


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def start_sign_in(portal: httpx.Client, node_url: str, next_path: str = "/") -> str:
    """The portal's redirect to the trust framework's /authorize."""
    page = portal.get("/login", params={"next": next_path})
    started = portal.post("/login", data={"csrf": csrf_of(page), "node": node_url,
                                          "next": next_path})
    assert started.status_code == 303, started.text[:500]
    return started.headers["location"]


def authorize(stack: Stack, authorize_url: str, member: Member) -> str:
    """The trust framework's login page filled in: the callback URL it redirects to."""
    query = parse_qs(urlsplit(authorize_url).query)
    with stack.fed.trust.client() as trust:
        done = trust.post("/authorize", data={
            "client_id": query["client_id"][0], "request_uri": query["request_uri"][0],
            "email": member.email, "password": member.password})
    assert done.status_code == 303, done.text[:500]
    return done.headers["location"]


def test_a_callback_this_session_did_not_start_is_refused(stack: Stack) -> None:
    flexco = stack.fed.members["Flexco"]
    with httpx.Client(base_url=stack.portal.url) as victim, \
            httpx.Client(base_url=stack.portal.url) as attacker:
        # the attacker starts a sign-in and hands the victim its callback (login CSRF)
        callback = authorize(stack, start_sign_in(attacker, stack.flexco.url), flexco)
        victim.get("/login")
        answer = victim.get(callback.replace(stack.portal.url, ""))
        assert answer.status_code == 400 and "PORTAL-STATE" in answer.text
        assert victim.get("/assets").status_code == 303  # not signed in


def test_a_callback_from_another_issuer_is_refused(stack: Stack) -> None:
    flexco = stack.fed.members["Flexco"]
    with httpx.Client(base_url=stack.portal.url) as portal:
        callback = authorize(stack, start_sign_in(portal, stack.flexco.url), flexco)
        mixed = callback.replace("iss=", "iss=https%3A%2F%2Fevil.example%2F&x=")
        answer = portal.get(mixed.replace(stack.portal.url, ""))
        assert answer.status_code == 400 and "PORTAL-STATE" in answer.text
        # and the state is spent: the genuine callback after it does not sign in either
        again = portal.get(callback.replace(stack.portal.url, ""))
        assert again.status_code == 400


def test_after_sign_in_the_portal_goes_to_its_own_pages_only(stack: Stack) -> None:
    with httpx.Client(base_url=stack.portal.url) as portal:
        page = portal.get("/login", params={"next": "//evil.example/x"})
        assert 'name="next" value="/"' in page.text


def test_sign_in_renews_the_session_and_sign_out_needs_csrf_and_ends_it(stack: Stack) -> None:
    flexco = stack.fed.members["Flexco"]
    with httpx.Client(base_url=stack.portal.url) as portal:
        authorize_url = start_sign_in(portal, stack.flexco.url, "/assets")
        before = portal.cookies[COOKIE]
        done = portal.get(authorize(stack, authorize_url, flexco).replace(stack.portal.url, ""))
        assert done.status_code == 303 and done.headers["location"] == "/assets"
        after = portal.cookies[COOKIE]
        assert after != before  # no session fixation
        # the old (pre-sign-in) session id is forgotten
        with httpx.Client(base_url=stack.portal.url, cookies={COOKIE: before}) as fixed:
            assert fixed.get("/assets").status_code == 303
        home = portal.get("/")
        assert "Flexco Ltd" in home.text
        assert portal.post("/logout", data={"csrf": "guess"}).status_code == 403
        assert portal.get("/").status_code == 200  # still signed in
        assert portal.post("/logout", data={"csrf": csrf_of(home)}).status_code == 303
    with httpx.Client(base_url=stack.portal.url, cookies={COOKIE: after}) as replay:
        answer = replay.get("/assets")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_portal_on_plain_http_beyond_loopback_does_not_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"FMAR_PORTAL_TRUST_URL": "https://trust.example",
                        "FMAR_PORTAL_CA_BUNDLE": "ca.pem", "FMAR_PORTAL_CLIENT_ID": "APP-1",
                        "FMAR_PORTAL_URL": "http://portal.example"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="https"):
        PortalSettings.from_env()
    monkeypatch.setenv("FMAR_PORTAL_URL", "https://portal.example")
    settings = PortalSettings.from_env()
    assert settings.secure_cookies
    monkeypatch.setenv("FMAR_PORTAL_URL", "http://127.0.0.1:8800")
    assert not PortalSettings.from_env().secure_cookies


def test_AUTH_060_the_portal_renews_an_expiring_token_with_the_refresh_grant(
        stack: Stack, tmp_path) -> None:
    """A portal that renews at every request (FMAR_PORTAL_RENEW_BEFORE beyond the token's
    life): the person stays signed in and works through the node, each page rotating the
    session's refresh token at the trust framework; the browser holds only the cookie;
    sign-out revokes the whole session."""
    trust = stack.fed.trust
    port = free_port()
    client_id = register_portal_client(trust, f"http://127.0.0.1:{port}")
    renewing = PortalProc.start(trust, client_id, tmp_path / "portal.log", port=port,
                                env={"FMAR_PORTAL_RENEW_BEFORE": "3600"})

    def family() -> list[GrantStatus]:
        engine = trust.engine()
        with Session(engine) as session:
            rows = session.exec(select(Grant).where(Grant.kind == GrantKind.REFRESH,
                                                    Grant.client_id == client_id))
            statuses = [row.status for row in rows]
        engine.dispose()
        return statuses

    try:
        with httpx.Client(base_url=renewing.url) as portal:
            callback = authorize(stack, start_sign_in(portal, stack.flexco.url, "/assets"),
                                 stack.fed.members["Flexco"])
            assert portal.get(callback.replace(renewing.url, "")).status_code == 303
            assert family() == [GrantStatus.PENDING]
            for _ in range(3):
                page = portal.get("/assets")
                assert page.status_code == 200 and "Flexco Ltd" in page.text, page.text[:300]
            statuses = family()
            assert len(statuses) == 4 and statuses.count(GrantStatus.PENDING) == 1
            assert statuses.count(GrantStatus.USED) == 3  # rotated at each page
            assert list(portal.cookies.keys()) == [COOKIE]  # no token in the browser
            assert "eyJ" not in page.text
            assert portal.post("/logout", data={"csrf": csrf_of(page)}).status_code == 303
            assert set(family()) == {GrantStatus.REVOKED}  # the session ends everywhere
    finally:
        renewing.stop()
