"""The federated query engine: one engine behind the client library, `fmar query` and a
node's `/federation` endpoints.

It calls every contributing node in parallel, each with its own token (audience = that
node) and its own deadline, and always reports per node: answered / timed_out /
refused / error, with the time it took. Rows carry the node they came from; an answer
with any node not answered is marked `partial`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import pyoxigraph as ox

from node.federation import aggregates, joins
from node.federation.aggregates import AggregateSpec
from node.federation.execute import Executor, Limits, check_query
from node.federation.filters import AssetFilter
from node.federation.results import MEDIA_OF, parse_select_json, term_json
from node.federation.tokens import TokenRefused, TokenSource

ANSWERED, TIMED_OUT, REFUSED, ERROR = "answered", "timed_out", "refused", "error"


@dataclass(frozen=True)
class NodeTarget:
    url: str
    org_id: str | None = None
    name: str | None = None


@dataclass
class NodeStatus:
    node: str
    status: str
    ms: float
    rows: int | None = None
    http_status: int | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class Outcome:
    statuses: list[NodeStatus]
    payloads: dict[str, Any] = field(default_factory=dict)  # node url -> parsed body

    @property
    def partial(self) -> bool:
        return any(s.status != ANSWERED for s in self.statuses)

    def status_json(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(s).items() if v is not None} for s in self.statuses]


Parse = Callable[[httpx.Response], tuple[Any, int]]


_EXECUTOR: Executor | None = None


def _shared_executor() -> Executor:
    """One executor per process for the joins of gather mode, so that their concurrency
    cap holds across requests (a relaying node serves many)."""
    global _EXECUTOR
    if _EXECUTOR is None:
        base = Limits.from_env()
        _EXECUTOR = Executor(Limits(timeout=base.timeout, max_rows=1_000_000,
                                    concurrent=base.concurrent))
    return _EXECUTOR


class Engine:
    def __init__(self, http: httpx.AsyncClient, tokens: TokenSource, deadline: float = 5.0,
                 limits: Limits | None = None):
        self.http = http
        self.tokens = tokens
        self.deadline = deadline
        self.executor = Executor(limits) if limits else _shared_executor()

    # ------------------------------------------------------------------ fan-out
    async def _one(self, node: NodeTarget, method: str, path: str, parse: Parse,
                   **request: Any) -> tuple[NodeStatus, Any]:
        started = time.perf_counter()

        def status(kind: str, **kw: Any) -> NodeStatus:
            return NodeStatus(node.url, kind, round((time.perf_counter() - started) * 1000, 1),
                              **kw)

        async def call() -> tuple[NodeStatus, Any]:
            try:
                token = await self.tokens.token_for(self.http, node.url)
            except TokenRefused as refused:
                kind = ERROR if refused.status >= 500 else REFUSED
                return status(kind, code=refused.code, message=refused.message), None
            headers = dict(request.pop("headers", {}))
            headers["Authorization"] = f"Bearer {token}"
            try:
                response = await self.http.request(method, f"{node.url}{path}", headers=headers,
                                                   **request)
            except httpx.TimeoutException:
                return status(TIMED_OUT, code="FED-001",
                              message="The node did not answer within the deadline."), None
            except httpx.HTTPError as exc:
                return status(ERROR, code="FED-002",
                              message=f"The node cannot be reached: {type(exc).__name__}"), None
            if response.status_code >= 300:
                try:
                    body = response.json()
                    code, message = body.get("code"), body.get("message")
                except ValueError:
                    code, message = None, response.text[:200]
                kind = (REFUSED if response.status_code in (401, 403) else
                        TIMED_OUT if code == "SPARQL-005" else ERROR)
                return status(kind, http_status=response.status_code, code=code,
                              message=message), None
            try:
                payload, rows = parse(response)
            except (ValueError, KeyError, TypeError) as exc:
                return status(ERROR, http_status=response.status_code, code="FED-005",
                              message=f"The node's answer cannot be read: {exc}"), None
            return status(ANSWERED, rows=rows, http_status=response.status_code), payload

        try:
            return await asyncio.wait_for(call(), timeout=self.deadline)
        except TimeoutError:
            return status(TIMED_OUT, code="FED-001",
                          message=f"No answer within the deadline of {self.deadline:.1f} s."), None

    async def fan_out(self, nodes: list[NodeTarget], method: str, path: str, parse: Parse,
                      **request: Any) -> Outcome:
        results = await asyncio.gather(*(self._one(n, method, path, parse, **dict(request))
                                         for n in nodes))
        outcome = Outcome([s for s, _ in results])
        for node, (st, payload) in zip(nodes, results):
            if st.status == ANSWERED:
                outcome.payloads[node.url] = payload
        return outcome

    # ------------------------------------------------------------------ REST filter form
    async def assets(self, nodes: list[NodeTarget], spec: AssetFilter) -> dict[str, Any]:
        def parse(response: httpx.Response) -> tuple[Any, int]:
            body = response.json()
            return body, len(body["results"]["bindings"])

        outcome = await self.fan_out(nodes, "GET", "/query/assets", parse,
                                     params=spec.as_params())
        variables: list[str] = []
        bindings: list[dict[str, Any]] = []
        truncated = []
        for node in nodes:
            body = outcome.payloads.get(node.url)
            if body is None:
                continue
            variables = variables or list(body["head"]["vars"])
            for binding in body["results"]["bindings"]:
                bindings.append({**binding, "_node": {"type": "uri", "value": node.url}})
            if body.get("truncated"):
                truncated.append(node.url)
        return {"partial": outcome.partial, "nodes": outcome.status_json(),
                "truncated": truncated,
                "head": {"vars": [*variables, "_node"] if variables else ["_node"]},
                "results": {"bindings": bindings}}

    # ------------------------------------------------------------------ aggregates
    async def aggregate(self, nodes: list[NodeTarget], spec: AggregateSpec) -> dict[str, Any]:
        def parse(response: httpx.Response) -> tuple[Any, int]:
            body = response.json()
            return body, len(body["cells"])

        outcome = await self.fan_out(nodes, "GET", "/query/aggregate", parse,
                                     params=spec.as_params())
        partials = [outcome.payloads[n.url] for n in nodes if n.url in outcome.payloads]
        suppressed = sorted({p.get("suppressed_below") or 0 for p in partials} - {0})
        answer = {"partial": outcome.partial, "nodes": outcome.status_json(),
                  "group_by": list(spec.group_by), "unit": "kW",
                  "suppressed_below": suppressed[-1] if suppressed else None,
                  "cells": aggregates.merge(spec, partials)}
        control = next((p["disclosure_control"] for p in partials
                        if p.get("disclosure_control")), None)
        if control:  # the margins of every table returned, merged the same way
            answer["disclosure_control"] = control
            answer["margins"] = aggregates.merge(spec, partials, "margins")
        return answer

    # ------------------------------------------------------------------ duplicates
    async def duplicates(self, nodes: list[NodeTarget], tokens: list[str]) -> dict[str, Any]:
        """Which nodes hold a record with one of these keyed hashes (and its holder)."""
        def parse(response: httpx.Response) -> tuple[Any, int]:
            body = response.json()
            return body["matches"], len(body["matches"])

        outcome = await self.fan_out(nodes, "POST", "/federation/duplicates", parse,
                                     json={"tokens": tokens})
        matches = [{**m, "node": n.url} for n in nodes for m in outcome.payloads.get(n.url, [])]
        return {"partial": outcome.partial, "nodes": outcome.status_json(), "matches": matches}

    # ------------------------------------------------------------------ SPARQL
    async def sparql(self, nodes: list[NodeTarget], query: str,
                     mode: str = "gather") -> dict[str, Any]:
        form = check_query(query)
        if mode == "distribute":
            return await self._distribute(nodes, query, form)
        if mode != "gather":
            raise ValueError(mode)
        return await self._gather(nodes, query, form)

    async def _distribute(self, nodes: list[NodeTarget], query: str, form: str) -> dict[str, Any]:
        graph_form = form in ("CONSTRUCT", "DESCRIBE")
        accept = "application/n-triples" if graph_form else MEDIA_OF["json"]

        def parse(response: httpx.Response) -> tuple[Any, int]:
            if graph_form:
                triples = list(ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES))
                return triples, len(triples)
            body = response.json()
            if "boolean" in body:
                return body, 1
            return body, len(body["results"]["bindings"])

        outcome = await self.fan_out(nodes, "POST", "/sparql", parse, content=query.encode(),
                                     headers={"content-type": "application/sparql-query",
                                              "accept": accept})
        base = {"partial": outcome.partial, "nodes": outcome.status_json(), "mode": "distribute"}
        if graph_form:
            triples: set[Any] = set()
            for node in nodes:
                triples.update(outcome.payloads.get(node.url) or [])
            text = ox.serialize(sorted(triples, key=str), format=ox.RdfFormat.N_TRIPLES) or b""
            return {**base, "format": "application/n-triples", "graph": text.decode()}
        if form == "ASK":
            return {**base, "boolean": any(outcome.payloads.get(n.url, {}).get("boolean")
                                           for n in nodes)}
        variables: list[str] = []
        bindings = []
        for node in nodes:
            body = outcome.payloads.get(node.url)
            if body is None:
                continue
            variables = variables or list(body["head"]["vars"])
            bindings += [{**b, "_node": {"type": "uri", "value": node.url}}
                         for b in body["results"]["bindings"]]
        return {**base, "head": {"vars": [*variables, "_node"]}, "results": {"bindings": bindings}}

    async def _gather(self, nodes: list[NodeTarget], query: str, form: str) -> dict[str, Any]:
        predicates = joins.query_predicates(query)
        fragment = joins.fragment_query(predicates)

        def parse(response: httpx.Response) -> tuple[Any, int]:
            variables, rows = parse_select_json(response.json())
            index = {v: i for i, v in enumerate(variables)}
            quads = [ox.Quad(r[index["s"]], r[index["p"]], r[index["o"]], r[index["g"]])
                     for r in rows]
            return quads, len(quads)

        outcome = await self.fan_out(nodes, "POST", "/sparql", parse, content=fragment.encode(),
                                     headers={"content-type": "application/sparql-query",
                                              "accept": MEDIA_OF["json"]})
        store = ox.Store()
        holders: dict[str, set[str]] = {}
        for node in nodes:
            quads = outcome.payloads.get(node.url) or []
            store.extend(quads)
            for quad in quads:
                holders.setdefault(quad.graph_name.value, set()).add(node.url)
        graphs = sorted(holders)
        started = time.perf_counter()
        fmt: Any = ox.RdfFormat.N_TRIPLES if form in ("CONSTRUCT", "DESCRIBE") else "json"
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, lambda: self.executor.run(
            store, query, graphs, fmt, "", timeout=self.deadline * 2))
        base = {"partial": outcome.partial, "nodes": outcome.status_json(), "mode": "gather",
                "fragment": {"predicates": predicates, "quads": sum(
                    len(outcome.payloads.get(n.url) or []) for n in nodes)},
                "join_ms": round((time.perf_counter() - started) * 1000, 1)}
        if form in ("CONSTRUCT", "DESCRIBE"):
            return {**base, "format": "application/n-triples", "graph": answer.body.decode()}
        body = json.loads(answer.body)
        if "boolean" in body:
            return {**base, "boolean": body["boolean"]}
        for binding in body["results"]["bindings"]:
            found = sorted({n for value in binding.values() if value.get("type") == "uri"
                            for n in holders.get(value["value"], ())})
            binding["_nodes"] = {"type": "literal", "value": " ".join(found)}
        body["head"]["vars"].append("_nodes")
        return {**base, **body}


async def run_with_client(make_client: Callable[[], httpx.AsyncClient], tokens: TokenSource,
                          deadline: float,
                          work: Callable[[Engine], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    async with make_client() as http:
        return await work(Engine(http, tokens, deadline))


def binding_value(binding: dict[str, Any], name: str) -> str | None:
    value = binding.get(name)
    return None if value is None else value["value"]


__all__ = ["Engine", "NodeStatus", "NodeTarget", "Outcome", "binding_value", "term_json"]
