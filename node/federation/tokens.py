"""Where the federation engine gets one access token per node (audience = that node).

- `ClientCredentialsTokens`: a consumer's application, client credentials over mTLS, asking
  for the narrowest read scopes the query needs (never an empty scope, which means all the
  client's scopes). With `may_act`, the token also asks its node to relay for the caller.
- `ExchangeTokens`: a node relaying for its caller, RFC 8693 token exchange of the
  caller's token with the node's own certificate, so every node applies the caller's
  rights, never the relaying node's.
- `StaticTokens`: development federations with static tokens (no trust framework).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


# The federation's read scopes: what a federated query needs at each node.
READ_SCOPE = "assets:read sparql:query"
# What a relaying node needs at its own /federation endpoints, on top.
RELAY_SCOPE = READ_SCOPE + " federation:query"


class TokenRefused(Exception):
    """The trust framework would not give a token for a node."""

    def __init__(self, code: str, message: str, status: int = 400,
                 details: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.details = details or {}


class TokenSource(Protocol):
    async def token_for(self, http: httpx.AsyncClient, node_url: str) -> str: ...


EXPIRY_MARGIN = 30.0  # seconds before its expiry a cached token is no longer handed out


class TokenCache:
    """Tokens kept until EXPIRY_MARGIN seconds before they expire, at most `size` of them:
    when full, expired ones go first, then the oldest (never everyone's at once)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._tokens: dict[Hashable, tuple[float, str]] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    def get(self, key: Hashable) -> str | None:
        hit = self._tokens.get(key)
        return hit[1] if hit and hit[0] - EXPIRY_MARGIN > time.time() else None

    def put(self, key: Hashable, token: str) -> None:
        if len(self._tokens) >= self.size:
            now = time.time()
            for stale in [k for k, v in self._tokens.items() if v[0] - EXPIRY_MARGIN <= now]:
                self._tokens.pop(stale, None)
            while len(self._tokens) >= self.size:
                self._tokens.pop(next(iter(self._tokens)))
        self._tokens[key] = (_expiry(token), token)


def _expiry(token: str) -> float:
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return float(claims.get("exp", 0))
    except (IndexError, ValueError, TypeError):
        return 0.0


async def _post_token(http: httpx.AsyncClient, trust_url: str, form: dict[str, str]) -> str:
    try:
        response = await http.post(f"{trust_url}/token", data=form)
    except httpx.HTTPError as exc:
        raise TokenRefused("FED-003", f"The trust framework cannot be reached: {exc!r}",
                           503) from None
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise TokenRefused(str(body.get("code") or "FED-003"),
                           str(body.get("error_description") or body.get("message")
                               or response.text[:200]), response.status_code,
                           body.get("details") if isinstance(body.get("details"), dict)
                           else None)
    return str(response.json()["access_token"])


@dataclass
class ClientCredentialsTokens:
    """Tokens of a client's own: `scope` is what the query needs (read only by default). A
    scope the client's roles do not give is dropped once, on the trust framework's word
    (AUTH-022 `not_held`), so a regulator asks for `sparql:query` alone. With `may_act`,
    each token names its node as the one that may relay for the caller (RFC 8693)."""

    trust_url: str
    client_id: str
    scope: str = READ_SCOPE
    may_act: bool = False
    _cache: TokenCache = field(default_factory=TokenCache)

    def __post_init__(self) -> None:
        self.scope = self.scope.strip() or READ_SCOPE  # never empty: that means "all of it"

    async def token_for(self, http: httpx.AsyncClient, node_url: str) -> str:
        hit = self._cache.get(node_url)
        if hit:
            return hit
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "audience": node_url, "scope": self.scope}
        if self.may_act:
            form["may_act"] = node_url
        try:
            token = await _post_token(http, self.trust_url, form)
        except TokenRefused as refused:
            not_held = set(refused.details.get("not_held") or [])
            narrower = " ".join(s for s in self.scope.split() if s not in not_held)
            if refused.code != "AUTH-022" or not not_held or not narrower:
                raise
            self.scope = form["scope"] = narrower
            token = await _post_token(http, self.trust_url, form)
        self._cache.put(node_url, token)
        return token


@dataclass
class ExchangeTokens:
    """Exchanged tokens are cached in `cache` (one per node process, shared by every
    request) per (caller's token, target node) until shortly before they expire, so
    repeated federated queries of one caller cost no extra round trips to the trust
    framework. `client_id` is this node's id (NODE-…); the HTTP client presents the node's
    own client certificate."""

    trust_url: str
    client_id: str
    subject_token: str
    cache: TokenCache
    scope: str = ""  # default: the caller's read scopes (the trust framework narrows)

    async def token_for(self, http: httpx.AsyncClient, node_url: str) -> str:
        key = (hashlib.sha256(self.subject_token.encode()).hexdigest(), node_url, self.scope)
        hit = self.cache.get(key)
        if hit:
            return hit
        form = {"grant_type": TOKEN_EXCHANGE, "client_id": self.client_id,
                "subject_token": self.subject_token, "subject_token_type": ACCESS_TOKEN_TYPE,
                "audience": node_url}
        if self.scope:
            form["scope"] = self.scope
        token = await _post_token(http, self.trust_url, form)
        self.cache.put(key, token)
        return token


@dataclass
class StaticTokens:
    """One token for every node, or a token per node URL (development only)."""

    default: str | None = None
    per_node: dict[str, str] = field(default_factory=dict)

    async def token_for(self, http: httpx.AsyncClient, node_url: str) -> str:
        token = self.per_node.get(node_url, self.default)
        if token is None:
            raise TokenRefused("FED-004", f"No token configured for {node_url}.")
        return token
