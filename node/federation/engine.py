"""The federated query engine: one engine behind the client library, `fmar query` and a
node's `/federation` endpoints.

It calls every contributing node in parallel, each with its own token (audience = that
node) and its own deadline, and always reports per node: answered / timed_out /
refused / error, with the time it took. Rows carry the node they came from; an answer
with any node not answered is marked `partial`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import httpx
import pyoxigraph as ox

from common.http_errors import ApiError
from node.federation import joins
from node.federation.tokens import TokenRefused, TokenSource
from node.query import aggregates
from node.query.aggregates import AggregateSpec
from node.query.execute import Dataset, Executor, Limits, check_query
from node.query.filters import AssetFilter
from node.query.results import MEDIA_OF, term_json
from node.store.base import QuerySource

ANSWERED, TIMED_OUT, REFUSED, ERROR = "answered", "timed_out", "refused", "error"
MAX_RECORDS_PER_NODE = 10_000  # records of one kind gathered from one node


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


MAX_QUADS = 50_000  # fragment rows a gather query may take from one node (FED-010)


@dataclass
class Timing:
    """Where the time of the last federated call went, in ms: per node, getting its token
    and its answer (connection, TLS, the node's work, transfer and parsing); `fan_out`, the
    wall time of all nodes in parallel; `merge`, the rest (merging, joins)."""

    token: dict[str, float] = field(default_factory=dict)
    node: dict[str, float] = field(default_factory=dict)
    fan_out: float = 0.0
    merge: float = 0.0  # also parsing the question (SPARQL)


def _timed(method: Callable[..., Any]) -> Callable[..., Any]:
    """Records the time a federated call spent outside its fan-out (`Timing.merge`)."""
    @functools.wraps(method)
    async def timed(self: Engine, *args: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(self, *args, **kw)
        finally:
            self.timing.merge = round(_ms_since(started) - self.timing.fan_out, 2)

    return timed


_SHARED: list[Executor] = []


def _shared_executor() -> Executor:
    """One executor per process for the joins of engines given none, so that their
    concurrency cap holds across calls."""
    if not _SHARED:
        _SHARED.append(Executor(Limits(max_rows=1_000_000)))
    return _SHARED[0]


class Engine:
    """`executor`: the query workers of gather joins (a relaying node gives its own, with
    its settings' limits; else one shared by the process)."""

    def __init__(self, http: httpx.AsyncClient, tokens: TokenSource, deadline: float = 5.0,
                 executor: Executor | None = None, max_quads: int | None = None):
        self.http = http
        self.tokens = tokens
        self.deadline = deadline
        self.max_quads = max_quads or MAX_QUADS
        self.executor = executor or _shared_executor()
        self.timing = Timing()
        # ask every node for its signed provenance record (node/provenance), kept by node
        self.provenance = False
        self.provenance_records: dict[str, Any] = {}
        # called with each node's status as it answers (progress in `fmar report run`)
        self.on_answer: Callable[[NodeStatus], None] | None = None

    # ------------------------------------------------------------------ fan-out
    async def _one(self, node: NodeTarget, method: str, path: str, parse: Parse,
                   **request: Any) -> tuple[NodeStatus, Any]:
        started = time.perf_counter()

        def status(kind: str, **kw: Any) -> NodeStatus:
            return NodeStatus(node.url, kind, round((time.perf_counter() - started) * 1000, 1),
                              **kw)

        stage = "token"

        async def call() -> tuple[NodeStatus, Any]:
            nonlocal stage
            try:
                token = await self.tokens.token_for(self.http, node.url)
            except TokenRefused as refused:
                kind = ERROR if refused.status >= 500 else REFUSED
                return status(kind, code=refused.code, message=refused.message), None
            finally:
                self.timing.token[node.url] = _ms_since(started)
            stage = "node"
            asked = time.perf_counter()
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
                payload, rows = await _read(parse, response)
            except (ValueError, KeyError, TypeError) as exc:
                return status(ERROR, http_status=response.status_code, code="FED-005",
                              message=f"The node's answer cannot be read: {exc}"), None
            finally:
                self.timing.node[node.url] = _ms_since(asked)
            return status(ANSWERED, rows=rows, http_status=response.status_code), payload

        try:
            return await asyncio.wait_for(call(), timeout=self.deadline)
        except TimeoutError:
            if stage == "token":  # the node was never asked
                return status(ERROR, code="FED-009", message="The trust framework gave no "
                              f"token for this node within the deadline of "
                              f"{self.deadline:.1f} s."), None
            return status(TIMED_OUT, code="FED-001",
                          message=f"No answer within the deadline of {self.deadline:.1f} s."), None

    async def fan_out(self, nodes: list[NodeTarget], method: str, path: str, parse: Parse,
                      **request: Any) -> Outcome:
        started = time.perf_counter()
        self.timing = Timing()
        try:
            results = await self._gather_nodes(nodes, method, path, parse, **request)
        finally:
            self.timing.fan_out = _ms_since(started)
        outcome = Outcome([s for s, _ in results])
        for node, (st, payload) in zip(nodes, results):
            if st.status == ANSWERED:
                outcome.payloads[node.url] = payload
        return outcome

    async def _gather_nodes(self, nodes: list[NodeTarget], method: str, path: str,
                            parse: Parse, **request: Any) -> list[tuple[NodeStatus, Any]]:
        async def one(node: NodeTarget) -> tuple[NodeStatus, Any]:
            result = await self._one(node, method, path, parse, **dict(request))
            if self.on_answer is not None:
                self.on_answer(result[0])
            return result

        return await asyncio.gather(*(one(n) for n in nodes))

    # ------------------------------------------------------------------ REST filter form
    @_timed
    async def assets(self, nodes: list[NodeTarget], spec: AssetFilter) -> dict[str, Any]:
        def parse(response: httpx.Response) -> tuple[Any, int]:
            body = response.json()
            return body, len(body["results"]["bindings"])

        outcome = await self.fan_out(nodes, "GET", "/query/assets", parse,
                                     params=spec.as_params(), **self._provenance_headers())
        variables: list[str] = []
        bindings: list[dict[str, Any]] = []
        truncated = []
        for node in nodes:
            body = outcome.payloads.get(node.url)
            if body is None:
                continue
            variables = variables or list(body["head"]["vars"])
            bindings += _from_node(body["results"]["bindings"], node)
            if body.get("truncated"):
                truncated.append(node.url)
        return self._with_provenance(outcome, {
            "partial": outcome.partial, "nodes": outcome.status_json(), "truncated": truncated,
            "head": {"vars": [*variables, "_node"] if variables else ["_node"]},
            "results": {"bindings": bindings}})

    def _provenance_headers(self) -> dict[str, Any]:
        from node.provenance.record import REQUEST_HEADER

        return {"headers": {REQUEST_HEADER: "include"}} if self.provenance else {}

    def _with_provenance(self, outcome: Outcome, answer: dict[str, Any]) -> dict[str, Any]:
        """Each answering node's record (as it sent it), when asked for."""
        if self.provenance:
            self.provenance_records = {
                url: body["provenance"][0] for url, body in outcome.payloads.items()
                if isinstance(body.get("provenance"), list) and body["provenance"]}
            answer["provenance"] = list(self.provenance_records.values())
        return answer

    # ------------------------------------------------------------------ aggregates
    @_timed
    async def aggregate(self, nodes: list[NodeTarget], spec: AggregateSpec) -> dict[str, Any]:
        def parse(response: httpx.Response) -> tuple[Any, int]:
            body = response.json()
            return body, len(body["cells"])

        outcome = await self.fan_out(nodes, "GET", "/query/aggregate", parse,
                                     params=spec.as_params(), **self._provenance_headers())
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
        return self._with_provenance(outcome, answer)

    # ------------------------------------------------------------------ reports
    @_timed
    async def report(self, nodes: list[NodeTarget], tables: dict[str, AggregateSpec],
                     body: dict[str, Any]) -> dict[str, Any]:
        """A report's tables (node/reports): each node computes every table at once
        (POST /query/report, the same aggregates and disclosure control as
        /query/aggregate) and says how fresh its data is; the tables are merged here as
        `aggregate` merges one. `about`: each answering node's own facts."""
        def parse(response: httpx.Response) -> tuple[Any, int]:
            answer = response.json()
            missing = set(tables) - set(answer["tables"])
            if missing:  # an old or broken node: its answer is not merged
                raise ValueError(f"no table {min(missing)!r}")
            return answer, sum(len(answer["tables"][t]["cells"]) for t in tables)

        outcome = await self.fan_out(nodes, "POST", "/query/report", parse, json=body)
        answered = [outcome.payloads[n.url] for n in nodes if n.url in outcome.payloads]
        merged: dict[str, Any] = {}
        for name, spec in tables.items():
            partials = [a["tables"][name] for a in answered]
            control = next((p["disclosure_control"] for p in partials
                            if p.get("disclosure_control")), None)
            table: dict[str, Any] = {"group_by": list(spec.group_by), "measure": spec.measure,
                                     "unit": "kW", "cells": aggregates.merge(spec, partials)}
            if control:
                table["disclosure_control"] = control
                table["suppressed_below"] = control["threshold"]
                table["margins"] = aggregates.merge(spec, partials, "margins")
            merged[name] = table
        return {"partial": outcome.partial, "nodes": outcome.status_json(), "tables": merged,
                "about": {n.url: outcome.payloads[n.url].get("node", {})
                          for n in nodes if n.url in outcome.payloads}}

    # ------------------------------------------------------------------ records of a kind
    @_timed
    async def records(self, nodes: list[NodeTarget], path: str, params: dict[str, str],
                      max_per_node: int = MAX_RECORDS_PER_NODE) -> dict[str, Any]:
        """The records of one kind the caller may read on every node (`path`: the kind's
        listing, e.g. /products, with its filters), each page followed to the node's end
        or `max_per_node`; items carry `_node`. A node cut short is listed in `truncated`."""
        def parse(response: httpx.Response) -> tuple[Any, int]:
            body = response.json()
            return body, len(body["items"])

        async def one(node: NodeTarget) -> tuple[NodeStatus, list[dict[str, Any]], bool]:
            items: list[dict[str, Any]] = []
            after: str | None = None
            while True:
                page = {**params, "limit": "1000", **({"after": after} if after else {})}
                status, body = await self._one(node, "GET", path, parse, params=page)
                if body is None:
                    return status, items, False
                items += [{**item, "_node": node.url} for item in body["items"]]
                after = body.get("next")
                if not after or len(items) >= max_per_node:
                    status.rows = len(items)
                    return status, items[:max_per_node], bool(after)

        started = time.perf_counter()
        self.timing = Timing()
        try:
            results = await asyncio.gather(*(one(n) for n in nodes))
        finally:
            self.timing.fan_out = _ms_since(started)
        outcome = Outcome([status for status, _, _ in results])
        return {"partial": outcome.partial, "nodes": outcome.status_json(),
                "truncated": [n.url for n, (_, _, cut) in zip(nodes, results) if cut],
                "items": [item for _, items, _ in results for item in items]}

    # ------------------------------------------------------------------ duplicates
    @_timed
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
    @staticmethod
    def check(query: str, mode: str = "gather") -> tuple[str, joins.Plan]:
        """The query's form and plan, or its refusal (SPARQL-001..004, -009), before any
        node is asked: an invalid query costs no round trip."""
        form = check_query(query)
        if mode not in ("gather", "distribute"):
            raise ValueError(mode)
        return form, joins.plan(query)

    @_timed
    async def sparql(self, nodes: list[NodeTarget], query: str,
                     mode: str = "gather") -> dict[str, Any]:
        form, plan = await asyncio.to_thread(self.check, query, mode)  # rdflib: CPU-bound
        if mode == "distribute":
            return await self._distribute(nodes, query, form)
        if plan.everything == "DESCRIBE":
            select = joins.described_by_select(query)
            if select is not None:
                return await self._describe(nodes, select)
        return await self._gather(nodes, query, form, plan)

    async def _describe(self, nodes: list[NodeTarget], select: str) -> dict[str, Any]:
        """A DESCRIBE with a WHERE clause, in two gathers: the resources its solutions
        bind (`select`, its SELECT form), then the quads whose subject is one of them.
        A node that failed either time leaves the description partial."""
        found = await self._gather(nodes, select, "SELECT",
                                   await asyncio.to_thread(joins.plan, select))
        if "error" in found:
            return found
        resources = sorted({value["value"] for row in found["results"]["bindings"]
                            for name, value in row.items()
                            if name != "_nodes" and value.get("type") == "uri"})
        where = {"fragment": found["fragment"], "resources": len(resources)}
        base = {"partial": found["partial"], "nodes": found["nodes"], "mode": "gather",
                "where": where}
        if len(resources) > joins.MAX_DESCRIBED:
            return self._failed(base, "gather", ApiError(
                422, "FED-012", f"The DESCRIBE names {len(resources)} resources, more than "
                f"{joins.MAX_DESCRIBED}; narrow its WHERE clause or add a LIMIT.",
                {"resources": len(resources), "max_resources": joins.MAX_DESCRIBED}))
        if not resources:
            return {**base, "format": "application/n-triples", "graph": ""}
        text, plan = joins.describing(resources)
        described = await self._gather(nodes, text, "DESCRIBE", plan)
        first = {s["node"]: s for s in found["nodes"]}
        described["nodes"] = [first[s["node"]] if first[s["node"]]["status"] != ANSWERED
                              else s for s in described["nodes"]]
        described["partial"] = found["partial"] or described["partial"]
        described["where"] = where
        return described

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
            bindings += _from_node(body["results"]["bindings"], node)
        return {**base, "head": {"vars": [*variables, "_node"]}, "results": {"bindings": bindings}}

    async def _gather(self, nodes: list[NodeTarget], query: str, form: str,
                      plan: joins.Plan) -> dict[str, Any]:
        fragment = joins.fragment_query(plan, limit=self.max_quads + 1)

        def parse(response: httpx.Response) -> tuple[Any, int]:
            try:  # parsed by Oxigraph: TSV, the smallest and quickest to read
                solutions = ox.parse_query_results(response.content,
                                                   format=ox.QueryResultsFormat.TSV)
            except SyntaxError as exc:
                raise ValueError(str(exc)) from None
            if not isinstance(solutions, ox.QuerySolutions):
                raise TypeError("not the rows of a SELECT")
            index = {v.value: i for i, v in enumerate(solutions.variables)}
            s, p, o, g = index["s"], index["p"], index["o"], index["g"]
            quads: list[ox.Quad] = []
            names: set[ox.NamedNode] = set()
            add, quad = quads.append, ox.Quad
            name_rows = 0
            for row in solutions:
                predicate = row[p]
                if predicate is None:
                    name = row[g]
                    if not isinstance(name, ox.NamedNode):
                        raise ValueError("a fragment row without its graph")
                    names.add(name)
                    name_rows += 1
                else:
                    add(quad(row[s], predicate, row[o], row[g]))
            # the fragment binds ?g in GRAPH ?g: every quad is in a named graph
            filled = {cast(ox.NamedNode, q.graph_name).value for q in quads}
            return (quads, filled, {n.value for n in names}), len(quads) + name_rows

        outcome = await self.fan_out(nodes, "POST", "/sparql", parse, content=fragment.encode(),
                                     headers={"content-type": "application/sparql-query",
                                              "accept": MEDIA_OF["tsv"]})
        received: dict[str, tuple[list[ox.Quad], set[str], set[str]]] = {
            n.url: outcome.payloads.get(n.url) or ([], set(), set()) for n in nodes}
        base: dict[str, Any] = {
            "partial": outcome.partial, "nodes": outcome.status_json(), "mode": "gather",
            "fragment": {"predicates": plan.predicates, "everything": plan.everything,
                         "patterns": [list(p) for p in plan.patterns],
                         "filtered": [list(f) for f in plan.filtered],
                         "graph_names": plan.graph_names,
                         "quads": sum(len(q) for q, _, _ in received.values())}}
        over = [s.node for s in outcome.statuses
                if (s.rows or 0) > self.max_quads or s.code == "SPARQL-006"]
        if over:
            return self._failed(base, "gather", ApiError(
                422, "FED-010", f"The query needs more than {self.max_quads} quads from a "
                "node" + (f" ({plan.everything})" if plan.everything else "") + "; give its "
                "predicates as constants, or use mode=distribute for a node-local query.",
                {"nodes": over, "max_quads": self.max_quads}))
        holders: dict[str, set[str]] = {}
        with_quads: set[str] = set()
        for url, (_, filled, names) in received.items():
            with_quads |= filled
            for graph in filled | names:
                holders.setdefault(graph, set()).add(url)
        started = time.perf_counter()
        empty_graphs = tuple(sorted(set(holders) - with_quads))
        fmt: Any = ox.RdfFormat.N_TRIPLES if form in ("CONSTRUCT", "DESCRIBE") else "json"
        wide = joins.widened(query) if form == "SELECT" else None
        run = wide[0] if wide else query

        def join() -> Any:
            # the union of the fragments, as the join's worker reads it: every graph in it
            # is readable, so its dataset is the whole of it
            union = QuerySource(nquads=ox.serialize(
                (q for quads, _, _ in received.values() for q in quads),
                format=ox.RdfFormat.N_QUADS) or b"", empty_graphs=empty_graphs)
            return self.executor.run(union, run, Dataset.whole_store(), fmt, "",
                                     timeout=self.deadline * 2)

        try:
            answer = await asyncio.to_thread(join)
        except ApiError as failure:
            return self._failed(base, "join", failure)
        base["join_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if form in ("CONSTRUCT", "DESCRIBE"):
            return {**base, "format": "application/n-triples", "graph": answer.body.decode()}
        body = json.loads(answer.body)
        if "boolean" in body:
            return {**base, "boolean": body["boolean"]}
        # _nodes: the nodes holding the records whose IRIs the solution binds, join
        # variables that are not projected included (evaluated with SELECT *, then projected)
        projected = wide[1] if wide else body["head"]["vars"]
        bindings = []
        for binding in body["results"]["bindings"]:
            found = sorted({n for value in binding.values() if value.get("type") == "uri"
                            for n in holders.get(value["value"], ())})
            row = {v: binding[v] for v in projected if v in binding}
            row["_nodes"] = {"type": "literal", "value": " ".join(found)}
            bindings.append(row)
        return {**base, "head": {"vars": [*projected, "_nodes"]},
                "results": {"bindings": bindings}}

    @staticmethod
    def _failed(base: dict[str, Any], stage: str, failure: ApiError) -> dict[str, Any]:
        """An answer that could not be computed: every node's status, and why not."""
        error = {"stage": stage, "status": failure.status, **failure.body()}
        return {**base, "partial": True, "error": error}


# A node's answer past this size is read on one thread of its own, off the event loop (a
# gather fragment is hundreds of thousands of rows); smaller ones are read in place. One
# thread: readers in parallel only contend for the GIL (measured 5-17% slower gathers).
LARGE_ANSWER = 256 * 1024
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fmar-answers")


async def _read(parse: Parse, response: httpx.Response) -> tuple[Any, int]:
    if len(response.content) < LARGE_ANSWER:
        return parse(response)
    return await asyncio.get_running_loop().run_in_executor(_READER, parse, response)


def _from_node(bindings: list[dict[str, Any]], node: NodeTarget) -> list[dict[str, Any]]:
    """A node's parsed rows, each marked with the node (`_node`), in place."""
    where = {"type": "uri", "value": node.url}
    for binding in bindings:
        binding["_node"] = where
    return bindings


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


__all__ = ["Engine", "NodeStatus", "NodeTarget", "Outcome", "Timing", "term_json"]
