"""Calls from this node to another node in a switch, as this node itself: its own
client certificate and its own token (client credentials, scope `switch:transfer`,
audience the other node). Never a caller's token: a node relays nobody's rights here.

Also where the other node is: the trust directory's active node of the organisation
taking over, or of an operator that the directory lists as hosting it."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote

import httpx

from common import http_client
from node.config import NodeSettings

TRANSFER_SCOPE = "switch:transfer"


class PeerRefused(Exception):
    """The other node refused for good (4xx): the hand-over cannot go on."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


class PeerUnavailable(Exception):
    """The other node, or the trust framework, cannot be reached now: try again later."""


class Peers:
    def __init__(self, settings: NodeSettings, scope: str = TRANSFER_SCOPE):
        self.settings = settings
        self.scope = scope  # the node's own scope for these calls (disputes: disputes:notify)
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        s = self.settings
        return http_client.client(ca_bundle=s.ca_bundle, cert=s.client_cert, key=s.client_key,
                                  timeout=max(s.node_deadline, 10.0))

    def _token(self, http: httpx.Client, node_url: str) -> str:
        with self._lock:
            hit = self._tokens.get(node_url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        s = self.settings
        if not (s.trust_url and s.client_id):
            raise PeerUnavailable("this node is not configured for the federation")
        try:
            response = http.post(f"{s.trust_url}/token", data={
                "grant_type": "client_credentials", "client_id": s.client_id,
                "audience": node_url, "scope": self.scope})
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"trust framework: {exc!r}") from None
        if response.status_code != 200:
            raise PeerUnavailable(f"no token for {node_url}: {response.text[:200]}")
        body = response.json()
        with self._lock:
            self._tokens[node_url] = (time.monotonic() + int(body.get("expires_in", 60)) - 30,
                                      body["access_token"])
        return str(body["access_token"])

    def node_of(self, organisation: str) -> str:
        """The URL of the node that holds `organisation`'s records (trust directory)."""
        s = self.settings
        if not s.trust_url:
            raise PeerUnavailable("no trust framework to find the other node")
        try:
            with self._client() as http:
                nodes = http.get(f"{s.trust_url}/api/nodes").json()
                for node in nodes:
                    if node.get("org_id") == organisation:
                        return str(node["url"]).rstrip("/")
                for operator in sorted({n.get("org_id") for n in nodes if n.get("org_id")}):
                    hosted = http.get(f"{s.trust_url}/api/members/{quote(operator, safe='')}"
                                      "/hosted").json()
                    if any(h.get("org_id") == organisation for h in hosted):
                        return str(next(n["url"] for n in nodes
                                        if n.get("org_id") == operator)).rstrip("/")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise PeerUnavailable(f"trust directory: {exc!r}") from None
        raise PeerRefused(404, {"code": "SWITCH-VAL-010", "message": "The organisation taking "
                                "over has no node in the trust directory."})

    def node_serving(self, dataset_type: str) -> str:
        """The URL of the active node the trust directory lists as serving `dataset_type`
        (the product register: "Product", the market facilitator's node)."""
        s = self.settings
        if not s.trust_url:
            raise PeerUnavailable("no trust framework to find the node")
        try:
            with self._client() as http:
                response = http.get(f"{s.trust_url}/api/nodes",
                                    params={"dataset_type": dataset_type})
                response.raise_for_status()
                nodes = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PeerUnavailable(f"trust directory: {exc!r}") from None
        urls = sorted(str(n["url"]).rstrip("/") for n in nodes
                      if isinstance(n, dict) and n.get("url"))
        if not urls:
            raise PeerUnavailable(f"the trust directory lists no node serving {dataset_type}")
        return urls[0]

    def hosts(self, operator: str, organisation: str) -> bool:
        """Whether the directory lists `operator` as hosting `organisation`."""
        s = self.settings
        if operator == organisation:
            return True
        if not s.trust_url:
            return False
        try:
            with self._client() as http:
                hosted = http.get(f"{s.trust_url}/api/members/{quote(operator, safe='')}"
                                  "/hosted").json()
            return any(h.get("org_id") == organisation for h in hosted)
        except (httpx.HTTPError, ValueError, TypeError):
            raise PeerUnavailable("trust directory") from None

    def member(self, organisation: str) -> dict[str, Any]:
        """The directory's public entry of a member (its roles and licence areas)."""
        s = self.settings
        if not s.trust_url:
            raise PeerUnavailable("no trust framework to look the member up")
        try:
            with self._client() as http:
                response = http.get(f"{s.trust_url}/api/members/{quote(organisation, safe='')}")
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"trust directory: {exc!r}") from None
        if response.status_code != 200:
            raise PeerRefused(response.status_code, response.text[:300])
        found = response.json()
        return dict(found) if isinstance(found, dict) else {}

    def call(self, method: str, node_url: str, path: str, body: Any = None) -> Any:
        """One call to another node as this node; 2xx -> its JSON, 4xx -> PeerRefused,
        anything else -> PeerUnavailable."""
        try:
            with self._client() as http:
                token = self._token(http, node_url)
                response = http.request(method, f"{node_url}{path}", json=body,
                                        headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"{node_url}: {exc!r}") from None
        if 200 <= response.status_code < 300:
            return response.json()
        try:
            answer = response.json()
        except ValueError:
            answer = {"text": response.text[:300]}
        if 400 <= response.status_code < 500 and response.status_code not in (401, 408, 429):
            raise PeerRefused(response.status_code, answer)
        raise PeerUnavailable(f"{node_url}: {response.status_code} {answer}")
