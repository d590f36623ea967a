"""The node side of querying: SPARQL over the caller's dataset, the REST filter form, and
aggregates, each restricted by `node.policy`. The routers in node/api call these."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import pyoxigraph as ox

from common.http_errors import ApiError
from common.web import media_ranges
from node import policy
from node.identity import Caller
from node.query import aggregates, filters, lexer, rewrite
from node.query.dataset import AllowedGraphs
from node.query.execute import Answer, Dataset, Executor, Limits, check_query
from node.query.results import (
    GRAPH_TYPES,
    MEDIA_OF,
    SELECT_TYPES,
    solutions_as,
)
from node.query.workers import QueryFailed, too_many_rows
from node.store import RecordStore, StoreError
from node.store.remote import QueryAnswer, QueryLimitExceeded, RemoteStore


class AggregateIndex(Protocol):
    """What the listing index (node/index/) answers for this service."""

    def aggregate(self, spec: aggregates.AggregateSpec, access: policy.AggregateScope,
                  key: bytes) -> dict[str, Any] | None: ...

    def newest_modified(self, scope: policy.ReadScope) -> str | None: ...

    def filter_assets(self, spec: filters.AssetFilter, scope: policy.ReadScope
                      ) -> tuple[bytes, int] | None: ...


def negotiate(accept: str | None, form: str, fmt: str | None = None) -> tuple[Any, str]:
    """(format, media type) for the query form from `format` or the Accept header."""
    graph_form = form in ("CONSTRUCT", "DESCRIBE")
    table: dict[str, Any] = GRAPH_TYPES if graph_form else SELECT_TYPES
    short = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
             "csv": "text/csv", "tsv": "text/tab-separated-values", "turtle": "text/turtle",
             "ttl": "text/turtle", "jsonld": "application/ld+json",
             "json-ld": "application/ld+json", "nt": "application/n-triples",
             "ntriples": "application/n-triples", "rdfxml": "application/rdf+xml"}
    candidates: list[tuple[float, int, str]] = []
    if fmt:
        candidates.append((2.0, 0, short.get(fmt.lower(), fmt.lower())))
    candidates += [(q, i + 1, media) for i, (media, q) in enumerate(media_ranges(accept))]
    candidates.sort(key=lambda c: (-c[0], c[1]))
    for _, _, media in candidates:
        if graph_form and media == "application/json":
            media = "application/ld+json"
        if media in table:
            chosen = table[media]
            if graph_form:
                return chosen, media
            return chosen, MEDIA_OF[chosen]
        if media in ("*/*", "application/*", "text/*") or (media.startswith("text/html")):
            break
    if candidates and not any(m in ("*/*", "application/*", "text/*") or m.startswith("text/html")
                              for _, _, m in candidates):
        raise ApiError(406, "SPARQL-007", "No acceptable result format for this query form.",
                       {"available": sorted(table)})
    if graph_form:
        return ox.RdfFormat.TURTLE, "text/turtle"
    return "json", MEDIA_OF["json"]


class QueryService:
    def __init__(self, store: RecordStore, limits: Limits | None = None,
                 disclosure_key: bytes | None = None, index: AggregateIndex | None = None):
        self.store = store
        self.index = index  # the listing index (node/index/): aggregates it holds
        # keys the random rounding of disclosure-controlled aggregates (SDC-004)
        self.disclosure_key = disclosure_key or secrets.token_bytes(32)
        self.allowed = AllowedGraphs(store)
        self.executor = Executor(limits)
        rewrite.parse("ASK {}")  # rdflib builds its parser on first use (~1 s): not in a query

    def close(self) -> None:
        self.executor.close()

    # --------------------------------------------------------------- raw SPARQL
    def sparql(self, caller: Caller, query: str, accept: str | None, fmt: str | None = None,
               default_graph_uri: list[str] | None = None,
               named_graph_uri: list[str] | None = None) -> Answer:
        """POL-011: the caller's query over what it may read. The query is rewritten to
        restrict itself (node/query/rewrite.py); a query the rewrite does not cover, or
        one naming its dataset by protocol parameters, runs over the readable graphs by
        name."""
        started = time.monotonic()  # the time limit counts the dataset listing too
        scope = policy.sparql_read_scope(caller)
        form = check_query(query)
        if self.store.evaluates_queries:
            check_portable(query)
        chosen, media = negotiate(accept, form, fmt)
        requested = sorted(set(default_graph_uri or []) | set(named_graph_uri or []))
        dataset: Dataset
        try:
            if requested:  # the protocol's dataset narrows the caller's; never widens it
                dataset = Dataset.listed(self.readable(requested, scope))
            else:
                try:
                    query = rewrite.restricted_query(query, scope,
                                                     self.store.matches_empty_graphs)
                    dataset = Dataset.restricted()
                except rewrite.Unsupported:
                    dataset = Dataset.listed(self.allowed.names(scope))
        except StoreError as failed:  # a SPARQL server that did not list the graphs
            raise ApiError(502, "SPARQL-011", "The SPARQL server failed the query.",
                           {"server": str(failed)}) from None
        if self.store.evaluates_queries:
            return self._remote(query, dataset, chosen, media, form)
        return self.executor.run(self.store, query, dataset, chosen, media, started=started)

    def readable(self, graphs: list[str], scope: policy.ReadScope) -> list[str]:
        """Those of `graphs` the caller may read (POL-011), by the rewrite's restriction."""
        names = " ".join(str(ox.NamedNode(g)) for g in graphs if rewrite.is_iri(g))
        if not names:
            return []
        query = (f"SELECT DISTINCT ?g WHERE {{ VALUES ?g {{ {names} }} "
                 f"{rewrite.restriction(scope, '?g')} }}")
        return sorted(s["g"].value for s in self.store.select(query))

    def _remote(self, query: str, dataset: Dataset, chosen: Any, media: str, form: str
                ) -> Answer:
        """An external SPARQL server: the dataset goes as default-graph-uri/named-graph-uri
        protocol parameters; the time and size limits hold on the node's side (see docs).
        Solutions are asked as JSON and written by Oxigraph in the format asked for, so
        they read the same from every server (Virtuoso's TSV is not SPARQL 1.1's)."""
        assert isinstance(self.store, RemoteStore)  # the only store that `evaluates_queries`
        data: list[tuple[str, str]] = [("query", query)]
        if dataset == Dataset.restricted():
            # The protocol has no "every named graph": a rewritten query goes with what
            # the server needs for an empty default graph, often nothing (docs/federation.md)
            data += self.store.restricted_dataset
        else:
            assert dataset.default != Dataset.UNION and dataset.named is not None
            data += [("default-graph-uri", g) for g in dataset.default]
            data += [("named-graph-uri", g) for g in dataset.named]
        solutions = form in ("SELECT", "ASK")
        response = self._remote_query(urlencode(data).encode(),
                                      "application/x-www-form-urlencoded",
                                      MEDIA_OF["json"] if solutions else media)
        if response.status >= 300:
            raise ApiError(400, "SPARQL-002", "The SPARQL server refused the query.",
                           {"server": response.body[:300].decode(errors="replace")})
        if solutions:
            return Answer(server_results(response.body, chosen), media, -1, form)
        return Answer(response.body, media, -1, form)

    def _remote_query(self, content: bytes, content_type: str, accept: str) -> QueryAnswer:
        limits = self.executor.limits
        assert isinstance(self.store, RemoteStore)  # the only store that `evaluates_queries`
        try:
            return self.store.query_within(content, content_type, accept, limits.timeout,
                                           limits.memory_mb * 1024 * 1024)
        except QueryLimitExceeded as exceeded:
            details = {"timeout_s": limits.timeout, "max_rows": limits.max_rows,
                       "memory_mb": limits.memory_mb}
            if exceeded.what == "time":
                raise ApiError(504, "SPARQL-005", "The query ran past the time limit.",
                               details) from None
            raise ApiError(422, "SPARQL-020", "The answer is bigger than the memory limit "
                           f"({limits.memory_mb} MB); narrow the query or add LIMIT.",
                           details) from None
        except StoreError as failed:
            raise ApiError(502, "SPARQL-011", "The SPARQL server failed the query.",
                           {"server": str(failed)}) from None

    # --------------------------------------------------------------- generated queries
    def filter_assets(self, caller: Caller, spec: filters.AssetFilter) -> Answer:
        scope = policy.sparql_read_scope(caller)
        if self.index is not None and not self.store.evaluates_queries:
            # IDX-010: the same answer from the listing index, when it holds it. (A SPARQL
            # server's answer is its own: numbers compared, terms written its way.)
            found = self.index.filter_assets(spec, scope)
            if found is not None:
                body, rows = found
                if rows > self.executor.limits.max_rows:  # as the query worker refuses it
                    raise self.executor.refusal(QueryFailed(
                        "SPARQL-006", too_many_rows(self.executor.limits.max_rows)))
                return Answer(body, MEDIA_OF["json"], rows, "SELECT")
        return self.run_generated(filters.select_query(spec, scope))

    def aggregate(self, caller: Caller, spec: aggregates.AggregateSpec) -> dict[str, Any]:
        access = policy.aggregate_read_scope(caller)
        control = access.disclosure
        if control is not None:
            policy.check_disclosure_filter(control, spec.filter.min_capacity,
                                           spec.filter.max_capacity)
        if self.index is not None:
            table = self.index.aggregate(spec, access, self.disclosure_key)
            if table is not None:
                return table
        if control is None:
            answer = self.run_generated(aggregates.node_query(spec, access.scope))
            return aggregates.node_result(spec, answer.body)
        answer = self.run_generated(aggregates.controlled_query(spec, access.scope))
        return aggregates.controlled_result(spec, answer.body, control, self.disclosure_key)

    def run_generated(self, query: str) -> Answer:
        """A SELECT the node wrote itself (REST filter form, aggregates). Its patterns carry
        the policy restriction and address record graphs explicitly (`GRAPH ?a` with ?a an
        asset IRI), so it runs over the store as is, with index lookups, without a
        per-graph dataset list; in a query worker like every query."""
        if self.store.evaluates_queries:
            return self._remote_generated(query)
        return self.executor.run(self.store, query, None, "json", MEDIA_OF["json"])

    def _remote_generated(self, query: str) -> Answer:
        response = self._remote_query(query.encode(), "application/sparql-query",
                                      MEDIA_OF["json"])
        if response.status >= 300:
            raise ApiError(502, "SPARQL-011", "The SPARQL server failed the query.",
                           {"server": response.body[:300].decode(errors="replace")})
        return Answer(response.body, MEDIA_OF["json"], -1, "SELECT")



def check_portable(query: str) -> None:
    """SPARQL-012: a node on a SPARQL server passes on only SPARQL 1.1 Query. A server's
    own syntax and functions (Virtuoso's DEFINE pragmas, its `bif:` functions, among them
    an HTTP client) would act with the node's account on the server."""
    foreign = lexer.outside_sparql11(query)
    if foreign is not None:
        raise ApiError(400, "SPARQL-012", "Only SPARQL 1.1 Query goes to this node's SPARQL "
                       "server: its own keywords and functions are refused (XSD casts are "
                       "the only functions called by IRI; a list in a triple pattern reads as "
                       "a call).", {"refused": foreign[:100]})


def server_results(body: bytes, fmt: str) -> bytes:
    """A SPARQL server's JSON results (SELECT or ASK) as the node writes them in `fmt`."""
    try:
        return solutions_as(body, "json", fmt)
    except SyntaxError as exc:
        raise ApiError(502, "SPARQL-011", "The SPARQL server's answer cannot be read.",
                       {"server": str(exc)[:300]}) from None


def disclosure_key(data_dir: Path | None) -> bytes | None:
    """The node's secret for keyed rounding (SDC-004), kept in its data directory (mode
    0600) so a restart does not draw fresh noise; None (a new key per process) without one."""
    if data_dir is None:
        return None
    path = Path(data_dir) / "disclosure.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path.read_bytes()


def service_for(app: Any) -> QueryService:
    """The node's query service, opened with the app (node/api/services.py)."""
    return app.state.services.query
