"""The consumer's federation client: finds the nodes in the trust directory and their
catalogues, gets one token per node (client credentials over mTLS, audience = that
node) and fans out with the federation engine. `fmar query` is a thin CLI over it.

    from node.federation.client import FederationClient
    fed = FederationClient(trust_url, ca_bundle="chain.pem", client_id="APP-…",
                           cert="client.pem", key="client.key")
    answer = fed.assets(category="BESS", dno="UKPN_EPN", connection_type="NON_FIRM",
                        min_capacity=1000)
    report = fed.aggregate(group_by="category,dno")
    joined = fed.sparql("SELECT … WHERE { … }")              # joins across nodes
    relayed = fed.via("https://node.example").assets(category="BESS")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from common import http_client as trust_http
from common.http_errors import ApiError
from node.federation.discovery import directory_nodes, discover
from node.federation.engine import Engine, NodeStatus, NodeTarget
from node.federation.tokens import (
    READ_SCOPE,
    RELAY_SCOPE,
    ClientCredentialsTokens,
    StaticTokens,
    TokenSource,
)
from node.query.aggregates import AggregateSpec
from node.query.filters import AssetFilter

T = TypeVar("T")


class FederationClient:
    def __init__(self, trust_url: str | None, *, ca_bundle: str | Path | None,
                 client_id: str | None = None, cert: str | Path | None = None,
                 key: str | Path | None = None, scope: str = READ_SCOPE, deadline: float = 5.0,
                 nodes: list[str] | None = None, tokens: TokenSource | None = None,
                 dataset_type: str = "Asset", max_quads: int | None = None):
        self.trust_url = trust_url.rstrip("/") if trust_url else None
        self.ca_bundle, self.cert, self.key = ca_bundle, cert, key
        self.deadline = deadline
        self.dataset_type = dataset_type
        self.max_quads = max_quads  # gather budget per node (default FMAR_FEDERATION_MAX_QUADS)
        self._nodes = [NodeTarget(u.rstrip("/")) for u in nodes] if nodes else None
        if tokens is None:
            if not (self.trust_url and client_id):
                raise ValueError("give trust_url and client_id, or a token source")
            tokens = ClientCredentialsTokens(self.trust_url, client_id, scope)
        self.tokens = tokens
        self.client_id = client_id
        # one event loop and one kept-alive HTTP client for the client's life: connections
        # (and their TLS sessions) and tokens are reused from one question to the next
        self._runner: asyncio.Runner | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()
        self._relays: dict[str, RelayedClient] = {}
        self.provenance = False  # ask for signed provenance records (node/provenance)
        self._write_tokens: ClientCredentialsTokens | None = None
        self.last_engine: Engine | None = None  # its `timing`: where the last call's time went

    def _call(self, work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """Run `work` with the kept-alive HTTP client, on the client's own event loop."""
        async def main() -> T:
            if self._client is None:
                self._client = trust_http.async_client(
                    ca_bundle=self.ca_bundle, cert=self.cert, key=self.key,
                    timeout=self.deadline + 1)
            return await work(self._client)

        with self._lock:
            if self._runner is None:
                self._runner = asyncio.Runner()
            return self._runner.run(main())

    def close(self) -> None:
        """Close the connections (also done on `with FederationClient(...) as fed:` exit)."""
        with self._lock:
            if self._runner is None:
                return
            if self._client is not None:
                self._runner.run(self._client.aclose())
                self._client = None
            self._runner.close()
            self._runner = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _targets(self, http: httpx.AsyncClient) -> list[NodeTarget]:
        if self._nodes is not None:
            return self._nodes
        assert self.trust_url
        try:
            return await asyncio.wait_for(discover(http, self.trust_url, self.dataset_type),
                                          self.deadline)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise ApiError(503, "FED-007", "The trust directory did not answer to find the "
                           f"nodes ({type(exc).__name__}).") from None

    def _run(self, work: Callable[[Engine, list[NodeTarget]], Awaitable[dict[str, Any]]],
             tokens: TokenSource | None = None) -> dict[str, Any]:
        async def main(http: httpx.AsyncClient) -> dict[str, Any]:
            self.last_engine = Engine(http, tokens or self.tokens, self.deadline,
                                      max_quads=self.max_quads)
            self.last_engine.provenance = self.provenance
            return await work(self.last_engine, await self._targets(http))

        return self._call(main)

    def nodes(self) -> list[NodeTarget]:
        return self._call(self._targets)

    def node_names(self) -> dict[str, str]:
        """Node URL -> the name of the organisation that runs it, from the public directory
        (empty when the directory cannot be read: names are a convenience)."""
        async def main(http: httpx.AsyncClient) -> dict[str, str]:
            nodes = await directory_nodes(http, self.trust_url or "", self.dataset_type)
            members = (await http.get(f"{self.trust_url}/api/members")).json()
            names = {m["id"]: m.get("trading_name") or m["legal_name"] for m in members}
            return {str(n["url"]).rstrip("/"): names.get(n.get("org_id"), n.get("org_id", ""))
                    for n in nodes}

        try:
            return self._call(main)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return {}

    def assets(self, **filters: Any) -> dict[str, Any]:
        spec = AssetFilter.parse(filters)
        return self._run(lambda engine, nodes: engine.assets(nodes, spec))

    def aggregate(self, group_by: str = "category,dno", **filters: Any) -> dict[str, Any]:
        spec = AggregateSpec.parse({"group_by": group_by, **filters})
        return self._run(lambda engine, nodes: engine.aggregate(nodes, spec))

    def report(self, tables: dict[str, AggregateSpec], body: dict[str, Any],
               on_answer: Callable[[NodeStatus], None] | None = None) -> dict[str, Any]:
        """A report's tables computed at every node and merged (node/reports);
        `on_answer` is told each node's status as it answers."""
        async def work(engine: Engine, nodes: list[NodeTarget]) -> dict[str, Any]:
            engine.on_answer = on_answer
            return await engine.report(nodes, tables, body)

        return self._run(work)

    def sparql(self, query: str, mode: str = "gather") -> dict[str, Any]:
        Engine.check(query, mode)  # fail fast: before discovery and before any node
        return self._run(lambda engine, nodes: engine.sparql(nodes, query, mode))

    def records(self, kind: str, **filters: str) -> dict[str, Any]:
        """The records of one kind (its path, e.g. "products") on every node, with the
        kind's filters (query parameter names)."""
        path = "/" + kind.strip("/")
        return self._run(lambda engine, nodes: engine.records(nodes, path, dict(filters)))

    def duplicates(self, tokens: list[str]) -> dict[str, Any]:
        """Keyed-hash duplicate check on every node (see node.federation.duplicates); asked
        with `assets:write`, the scope of a party that registers assets (POL-015)."""
        if (self._write_tokens is None and self.trust_url and self.client_id
                and isinstance(self.tokens, ClientCredentialsTokens)):
            self._write_tokens = ClientCredentialsTokens(self.trust_url, self.client_id,
                                                         "assets:write")
        return self._run(lambda engine, nodes: engine.duplicates(nodes, tokens),
                         self._write_tokens)

    def via(self, node_url: str) -> RelayedClient:
        """The same questions through one node's /federation endpoint (token exchange);
        one relayed client per node, so its tokens are kept too."""
        url = node_url.rstrip("/")
        if url not in self._relays:
            self._relays[url] = RelayedClient(self, url)
        return self._relays[url]


class RelayedClient:
    """Asks one node to run the federated query for the caller: only this token carries
    `may_act` naming that node, so only that node may exchange it (read scopes only)."""

    def __init__(self, parent: FederationClient, node_url: str):
        self.parent, self.node_url = parent, node_url
        self.tokens: TokenSource = parent.tokens
        if parent.trust_url and parent.client_id:
            self.tokens = ClientCredentialsTokens(parent.trust_url, parent.client_id,
                                                  RELAY_SCOPE, may_act=True)

    def _get(self, path: str, **kw: Any) -> dict[str, Any]:
        async def main(http: httpx.AsyncClient) -> dict[str, Any]:
            token = await self.tokens.token_for(http, self.node_url)
            response = await http.request(
                kw.pop("method", "GET"), f"{self.node_url}{path}",
                headers={"Authorization": f"Bearer {token}", **self._provenance(),
                         **kw.pop("headers", {})},
                timeout=self.parent.deadline * 3 + 5, **kw)
            body = response.json()
            if response.status_code >= 300 and "nodes" not in body:
                return {"error": body, "http_status": response.status_code}
            return body  # a federated answer, also one with an `error` of its stage

        return self.parent._call(main)

    def _provenance(self) -> dict[str, str]:
        from node.provenance.record import REQUEST_HEADER

        return {REQUEST_HEADER: "include"} if self.parent.provenance else {}

    def assets(self, **filters: Any) -> dict[str, Any]:
        return self._get("/federation/assets", params=AssetFilter.parse(filters).as_params())

    def aggregate(self, group_by: str = "category,dno", **filters: Any) -> dict[str, Any]:
        spec = AggregateSpec.parse({"group_by": group_by, **filters})
        return self._get("/federation/aggregate", params=spec.as_params())

    def records(self, kind: str, **filters: str) -> dict[str, Any]:
        return self._get(f"/federation/records/{kind.strip('/')}", params=filters)

    def report(self, name: str) -> dict[str, Any]:
        """A report (built in or saved on that node) run by the node (node/reports)."""
        return self._get(f"/reports/{name}/run")

    def sparql(self, query: str, mode: str = "gather") -> dict[str, Any]:
        return self._get("/federation/sparql", method="POST", params={"mode": mode},
                         content=query.encode(),
                         headers={"content-type": "application/sparql-query"})


__all__ = ["FederationClient", "RelayedClient", "StaticTokens"]
