"""Which organisations' records this node may hold (record placement, POL-030).

A node in a federation learns it from the trust directory: its operator (the organisation
that registered the node's URL) plus the organisations the directory lists as hosted by
that operator (`GET /api/members/{operator}/hosted`), cached for `ttl` seconds so a
revoked hosting relation takes effect within that bound. A node run with static
development tokens (no trust framework) holds a configured list (`FMAR_HOLDS`), by
default every organisation of its tokens file that holds an asset-owner role.
The decision itself is `node.policy.check_placement`.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol
from urllib.parse import quote

import httpx

from common import http_client as http
from common.http_errors import ApiError
from node.identity import StaticTokenAuthenticator
from node.trust_auth import TrustAuthenticator


class Placement(Protocol):
    def organisations(self) -> frozenset[str]:
        """The organisations whose records this node stores."""
        ...


class StaticPlacement:
    def __init__(self, organisations: frozenset[str]):
        self._organisations = frozenset(organisations)

    def organisations(self) -> frozenset[str]:
        return self._organisations


class DirectoryPlacement:
    """The node's operator and its hosted organisations, from the trust directory."""

    def __init__(self, issuer: str, node_url: str, client: httpx.Client, ttl: float = 10.0):
        self.issuer, self.node_url = issuer.rstrip("/"), node_url.rstrip("/")
        self.client, self.ttl = client, ttl
        self._cached: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def organisations(self) -> frozenset[str]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or self._cached[0] < now:
                self._cached = (now + self.ttl, self._fetch())
            return self._cached[1]

    def _fetch(self) -> frozenset[str]:
        try:
            nodes = self.client.get(f"{self.issuer}/api/nodes")
            nodes.raise_for_status()
            operator = next((n["org_id"] for n in nodes.json()
                             if str(n.get("url", "")).rstrip("/") == self.node_url), None)
            if operator is None:  # not (or no longer) an active node: hold nothing new
                return frozenset()
            hosted = self.client.get(f"{self.issuer}/api/members/{quote(operator, safe='')}"
                                     "/hosted")
            hosted.raise_for_status()
            return frozenset({operator, *(h["org_id"] for h in hosted.json())})
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            raise ApiError(503, "FED-007", "The trust directory cannot be reached to confirm "
                           "which organisations this node holds.") from None


def placement_for(holds: frozenset[str] | None, authenticator: object,
                  ttl: float = 10.0) -> Placement:
    """Directory placement for a node verifying trust-framework tokens; else the configured
    list; else the asset-owning organisations of the static tokens."""
    if isinstance(authenticator, TrustAuthenticator):
        config = authenticator.verifier.config
        client = http.client(ca_bundle=config.ca_bundle, cert=config.client_cert,
                             key=config.client_key, timeout=10)
        return DirectoryPlacement(config.issuer, config.audience, client, ttl)
    if holds is not None:
        return StaticPlacement(holds)
    if isinstance(authenticator, StaticTokenAuthenticator):
        return StaticPlacement(authenticator.asset_owner_organisations())
    return StaticPlacement(frozenset())
