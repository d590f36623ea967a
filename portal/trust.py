"""The trust framework as the portal uses it, through its public HTTP API only: the nodes
a person may work through (the directory), and the sign-in (PAR, /authorize, /token)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from common import http_client
from portal.config import PortalSettings


class SignInError(Exception):
    """The trust framework refused a step of the sign-in (its code and message)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def s256(verifier: str) -> str:
    import hashlib

    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def claims_of(jwt: str) -> dict[str, Any]:
    """The payload of a JWT the portal received itself from the token endpoint over TLS
    (used for display and expiry only; the nodes verify the token on every call)."""
    try:
        part = jwt.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
    except (IndexError, ValueError):
        return {}


@dataclass(frozen=True)
class NodeChoice:
    url: str
    org_id: str
    org_name: str


class TrustClient:
    def __init__(self, settings: PortalSettings):
        self.settings = settings

    def _client(self) -> httpx.Client:
        return http_client.client(ca_bundle=self.settings.ca_bundle,
                                  base_url=self.settings.trust_url, timeout=15)

    def nodes(self) -> list[NodeChoice]:
        """Active asset nodes with their organisations' names (public directory)."""
        with self._client() as c:
            rows = c.get("/api/nodes", params={"dataset_type": "Asset"})
            rows.raise_for_status()
            names: dict[str, str] = {}
            found = []
            for row in rows.json():
                org = row.get("org_id", "")
                if org not in names:
                    member = c.get(f"/api/members/{org}")
                    names[org] = member.json().get("legal_name", org) \
                        if member.status_code == 200 else org
                found.append(NodeChoice(row["url"].rstrip("/"), org, names[org]))
        return sorted(found, key=lambda n: (n.org_name, n.url))

    def member(self, org_id: str) -> dict[str, Any]:
        with self._client() as c:
            resp = c.get(f"/api/members/{org_id}")
        return dict(resp.json()) if resp.status_code == 200 else {"id": org_id}

    def start_sign_in(self, node_url: str) -> tuple[str, dict[str, str]]:
        """PAR: the request is pushed to the trust framework; the browser carries only its
        `request_uri`. Returns the /authorize URL and what the callback needs to check."""
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(16)
        form = {"client_id": self.settings.client_id, "response_type": "code",
                "redirect_uri": self.settings.redirect_uri, "code_challenge": s256(verifier),
                "code_challenge_method": "S256", "state": state, "nonce": nonce,
                "scope": "openid", "resource": node_url, "may_act": node_url}
        with self._client() as c:
            pushed = c.post("/par", data=form)
        if pushed.status_code != 201:
            body = _json(pushed)
            raise SignInError(str(body.get("code", pushed.status_code)),
                              str(body.get("message") or body.get("error_description")
                                  or "The trust framework refused the sign-in request."))
        query = urlencode({"client_id": self.settings.client_id,
                           "request_uri": pushed.json()["request_uri"]})
        return (f"{self.settings.trust_url}/authorize?{query}",
                {"state": state, "verifier": verifier, "nonce": nonce, "node_url": node_url})

    def finish_sign_in(self, code: str, verifier: str) -> dict[str, Any]:
        """The code for tokens (PKCE). Returns the token response."""
        with self._client() as c:
            resp = c.post("/token", data={
                "grant_type": "authorization_code", "client_id": self.settings.client_id,
                "code": code, "redirect_uri": self.settings.redirect_uri,
                "code_verifier": verifier})
        body = _json(resp)
        if resp.status_code != 200:
            raise SignInError(str(body.get("code", resp.status_code)),
                              str(body.get("message") or body.get("error_description")
                                  or "The trust framework refused the code."))
        return body

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The session's next tokens (refresh grant): a new access token and the next
        refresh token, the one just used being spent."""
        with self._client() as c:
            resp = c.post("/token", data={"grant_type": "refresh_token",
                                          "client_id": self.settings.client_id,
                                          "refresh_token": refresh_token})
        body = _json(resp)
        if resp.status_code != 200:
            raise SignInError(str(body.get("code", resp.status_code)),
                              str(body.get("message") or body.get("error_description")
                                  or "The trust framework refused the refresh."))
        return body

    def revoke(self, token: str) -> None:
        """Sign-out: the token is revoked at the trust framework (best effort)."""
        try:
            with self._client() as c:
                c.post("/revoke", data={"token": token, "client_id": self.settings.client_id})
        except httpx.HTTPError:
            pass


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def expires_at(token_response: dict[str, Any]) -> float:
    return time.time() + float(token_response.get("expires_in", 0)) - 5
