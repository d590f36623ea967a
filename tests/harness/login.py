"""A person's sign-in at the trust framework, as a browser does it: authorization code +
PKCE (S256) through PAR and the login page."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.harness import HarnessError
from trust.server.grants import s256

REDIRECT = "http://127.0.0.1:53682/callback"  # the CLI client's registered loopback redirect


def login(client: httpx.Client, client_id: str, issuer: str, email: str, password: str, *,
          resource: str | None = None, scope: str = "", nonce: str = "n-0S6",
          verifier: str | None = None, may_act: str | None = None) -> httpx.Response:
    """The token endpoint's answer, or the login page's when it refuses the password.
    `verifier` overrides the code verifier sent to /token (to test a wrong one)."""
    code_verifier = secrets.token_urlsafe(48)
    form = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT,
            "code_challenge": s256(code_verifier), "code_challenge_method": "S256",
            "state": "xyz", "scope": scope, "nonce": nonce}
    if resource:
        form["resource"] = resource
    if may_act:
        form["may_act"] = may_act
    pushed = client.post("/par", data=form)
    if pushed.status_code != 201:
        raise HarnessError(f"PAR refused ({pushed.status_code}): {pushed.text}")
    request_uri = pushed.json()["request_uri"]
    page = client.get("/authorize", params={"client_id": client_id, "request_uri": request_uri})
    if page.status_code != 200 or "<form" not in page.text:
        raise HarnessError(f"no login page ({page.status_code}): {page.text[:500]}")
    done = client.post("/authorize", data={"client_id": client_id, "request_uri": request_uri,
                                           "email": email, "password": password})
    if done.status_code != 303:
        return done
    query = parse_qs(urlsplit(done.headers["location"]).query)
    if query.get("state") != ["xyz"] or query.get("iss") != [issuer]:
        raise HarnessError(f"the redirect lost its state or issuer: {done.headers['location']}")
    return client.post("/token", data={"grant_type": "authorization_code",
                                       "client_id": client_id, "code": query["code"][0],
                                       "redirect_uri": REDIRECT,
                                       "code_verifier": verifier or code_verifier})


def access_token_of(resp: httpx.Response) -> str:
    """The access token of a token endpoint's answer (HarnessError when it refused)."""
    if resp.status_code != 200:
        raise HarnessError(f"no token ({resp.status_code}): {resp.text}")
    return str(resp.json()["access_token"])
