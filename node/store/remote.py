"""Remote backend: any SPARQL 1.1 Protocol + Graph Store Protocol server.

Servers differ in where the endpoints are and in a few details; a `Layout` names them
(`LAYOUTS`: `oxigraph` for `oxigraph serve`, `virtuoso` for Virtuoso Open Source 7). The
code path is the same for every server; docs/operator.md says how to run each."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pyoxigraph as ox

from node.store.base import GraphWrite, QuerySource, StoreError, insert_text, update_text

FORM = "application/x-www-form-urlencoded"


class QueryLimitExceeded(StoreError):
    """A query answer from the server took longer than the deadline (`what="time"`) or
    was bigger than the byte limit (`what="size"`)."""

    def __init__(self, what: str):
        super().__init__(f"query answer over the {what} limit")
        self.what = what


@dataclass
class QueryAnswer:
    status: int
    body: bytes


@dataclass(frozen=True)
class Layout:
    """Where a server keeps its endpoints (paths under the base URL) and its quirks."""

    query: str
    update: str
    store: str
    # The Graph Store Protocol endpoint takes a whole dataset (TriG) in one POST; else
    # `load_file` sends the quads as SPARQL INSERT DATA.
    store_takes_datasets: bool = True
    # How credentials in the URL are sent: "basic" or "digest".
    auth: str = "basic"
    # INSERT DATA may hold blank nodes (SPARQL 1.1); else writes holding any go as
    # `INSERT { … } WHERE {}`, which means the same.
    blank_nodes_in_data: bool = True
    # Most triples in one `GRAPH <g> { … }` block of an update, if the server limits it.
    block_triples: int | None = None
    # A query parameter giving the server the node's time limit (milliseconds), if any.
    timeout_parameter: str | None = None
    # A response header (name, value) by which the server marks an answer cut short by
    # its time limit but sent as a success (Virtuoso's "anytime" answers): refused.
    incomplete_header: tuple[str, str] | None = None
    # A prefix the server puts before blank node labels in SPARQL results (JSON, XML),
    # which makes them invalid labels: removed.
    blank_node_prefix: bytes | None = None
    # Whether `GRAPH ?g { }` matches every named graph, as SPARQL 1.1 says.
    matches_empty_graphs: bool = True
    # Protocol parameters giving a query an empty default graph and every named graph,
    # the dataset of a rewritten query (node/query/rewrite.py), so that a pattern it left
    # unrestricted reads nothing. None needed where the default graph is empty (`oxigraph
    # serve` without --union-default-graph; there `default-graph-uri` alone would also
    # drop the named graphs, as the protocol says).
    restricted_dataset: tuple[tuple[str, str], ...] = ()
    # The results format the node asks for in its own reads (SELECT, ASK).
    results_format: ox.QueryResultsFormat = ox.QueryResultsFormat.JSON


LAYOUTS = {
    "oxigraph": Layout("/query", "/update", "/store"),
    # Virtuoso: the authenticated endpoints (digest) let the node's own SQL user update;
    # its Graph Store endpoint reads and writes one graph at a time.
    "virtuoso": Layout("/sparql-auth", "/sparql-auth", "/sparql-graph-crud-auth",
                       store_takes_datasets=False, auth="digest", blank_nodes_in_data=False,
                       block_triples=1000,
                       timeout_parameter="timeout", incomplete_header=("x-sql-state", "S1TAT"),
                       blank_node_prefix=b"nodeID://",
                       matches_empty_graphs=False,
                       # its default graph is every graph; naming one keeps the named ones
                       restricted_dataset=(("default-graph-uri", "urn:fmar:empty"),),
                       # its JSON writer is the slow part of a large read (a 500-record
                       # read-back: 3.2 s as JSON, 0.8 s as XML)
                       results_format=ox.QueryResultsFormat.XML),
}


def _not_answered(exc: httpx.HTTPError) -> StoreError:
    return StoreError(f"the SPARQL server did not answer ({type(exc).__name__}: {exc})")


class RemoteStore:
    """Talks to a SPARQL server over HTTP.

    `query_url`, `update_url` and `store_url` default to the layout's paths under one
    base URL. Queries go as form-encoded POSTs (`query=`), which every SPARQL 1.1 server
    takes (Virtuoso 7.2 does not answer a direct `application/sparql-query` POST).
    """

    def __init__(
        self,
        base_url: str,
        query_url: str | None = None,
        update_url: str | None = None,
        store_url: str | None = None,
        timeout: float = 60.0,
        layout: str = "oxigraph",
        credentials: tuple[str, str] | None = None,
        batch_quads: int = 20_000,
        update_timeout: float = 600.0,
    ):
        if layout not in LAYOUTS:
            raise StoreError(f"unknown SPARQL server layout {layout!r}; one of {sorted(LAYOUTS)}")
        paths = LAYOUTS[layout]
        base = base_url.rstrip("/")
        self.layout = paths
        self.query_url = query_url or f"{base}{paths.query}"
        self.update_url = update_url or f"{base}{paths.update}"
        self.store_url = store_url or f"{base}{paths.store}"
        self.batch_quads = batch_quads
        self.update_timeout = update_timeout  # a load of thousands of records is one update
        auth: httpx.Auth | None = None
        if credentials:
            auth = (httpx.DigestAuth(*credentials) if paths.auth == "digest"
                    else httpx.BasicAuth(*credentials))
        self._http = httpx.Client(timeout=timeout, auth=auth)

    @classmethod
    def from_url(cls, url: str) -> RemoteStore:
        """From FMAR_SPARQL_URL: `http[s]://[user:password@]host:port[/base][?layout=name]`.
        Credentials go in the URL as for a database URL; `layout` defaults to oxigraph."""
        parts = urlsplit(url)
        options = parse_qs(parts.query)
        unknown = set(options) - {"layout"}
        if unknown:
            raise StoreError(f"unknown option(s) in the SPARQL URL: {sorted(unknown)}")
        credentials = ((parts.username or "", parts.password or "")
                       if parts.username is not None else None)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return cls(base, layout=options.get("layout", ["oxigraph"])[-1],
                   credentials=credentials)

    evaluates_queries = True

    @property
    def journal(self) -> RemoteStore:
        """The same dataset: history versions and the audit log stay graphs of the server
        (docs/operator.md); the record queries never read them (their names are not record
        names), and the journal's write protocol is the same (node/records/journal.py)."""
        return self

    @property
    def matches_empty_graphs(self) -> bool:
        return self.layout.matches_empty_graphs

    @property
    def restricted_dataset(self) -> tuple[tuple[str, str], ...]:
        return self.layout.restricted_dataset

    def graph_names(self) -> Iterator[str]:
        # GROUP BY, not DISTINCT: Virtuoso 7.2 answers `SELECT DISTINCT ?g WHERE { GRAPH ?g
        # { ?s ?p ?o } }` over 2,000 graphs in more than a minute, this in 40 ms
        query = "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
        return (s["g"].value for s in self.select(query))

    def query_source(self) -> AbstractContextManager[QuerySource]:
        """Never asked for: the server evaluates queries itself (`evaluates_queries`)."""
        raise StoreError("A remote store evaluates queries itself; it has no query source.")

    def write(self, writes: Sequence[GraphWrite]) -> None:
        template = not self.layout.blank_nodes_in_data and any("_:" in w.ntriples for w in writes)
        self.update(update_text(writes, as_template=template,
                                block_lines=self.layout.block_triples))

    def update(self, sparql_update: str) -> None:
        response = self._request(
            "POST",
            self.update_url,
            content=sparql_update.encode(),
            headers={"content-type": "application/sparql-update"},
            timeout=self.update_timeout,
        )
        if response.status_code >= 300:
            raise StoreError(f"update refused ({response.status_code}): {response.text[:300]}")

    def flush(self) -> None:
        """Nothing: the server buffers and flushes its own writes."""

    def load_file(self, path: Path, transactional: bool = True) -> None:
        if not self.layout.store_takes_datasets:
            self._load_by_update(path, transactional)
            return
        # Graph Store Protocol: POST of a dataset to the store adds it (one request;
        # the server decides how it applies it).
        with path.open("rb") as body:
            response = self._request("POST", self.store_url, content=body,
                                     headers={"content-type": "application/trig"})
        if response.status_code >= 300:
            raise StoreError(f"load refused ({response.status_code}): {response.text[:300]}")

    def _load_by_update(self, path: Path, transactional: bool) -> None:
        """The quads of a TriG file as INSERT DATA: one request holding all of them when
        `transactional` (parsed whole first, so a bad file sends nothing), else requests
        of `batch_quads` quads each (constant memory)."""
        try:
            quads = ox.parse(path=str(path), format=ox.RdfFormat.TRIG)
            if transactional:
                self.update(self._insert(list(quads)))
                return
            batch: list[ox.Quad] = []
            for quad in quads:
                batch.append(quad)
                if len(batch) >= self.batch_quads:
                    self.update(self._insert(batch))
                    batch = []
            if batch:
                self.update(self._insert(batch))
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc

    def _insert(self, quads: Sequence[ox.Quad]) -> str:
        """An update adding `quads`, grouped by graph."""
        by_graph: dict[str, list[str]] = {}
        for quad in quads:
            graph = "" if isinstance(quad.graph_name, ox.DefaultGraph) else str(quad.graph_name)
            by_graph.setdefault(graph, []).append(
                f"{quad.subject} {quad.predicate} {quad.object} .")
        size = self.layout.block_triples or max(len(quads), 1)
        blocks = []
        for graph, lines in by_graph.items():
            for i in range(0, len(lines), size):
                part = "\n".join(lines[i:i + size])
                blocks.append(f"GRAPH {graph} {{\n{part}\n}}" if graph else part)
        template = not self.layout.blank_nodes_in_data and any(
            isinstance(term, ox.BlankNode) for q in quads for term in (q.subject, q.object))
        return insert_text(blocks, as_template=template)

    def triples(self, graph: str) -> list[ox.Triple]:
        response = self._request("GET", self.store_url, params={"graph": graph},
                                 headers={"accept": "application/n-triples"})
        if response.status_code == 404:
            return []
        if response.status_code >= 300:
            raise StoreError(f"graph read failed ({response.status_code})")
        return [q.triple for q in ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES)]

    def query_within(self, content: bytes, content_type: str, accept: str, timeout: float,
                     max_bytes: int) -> QueryAnswer:
        """POST a query; the whole answer within `timeout` seconds (not per read, as
        httpx's timeout) and at most `max_bytes`, else QueryLimitExceeded. Leaving the
        connection is all the node can do: the server's own limit (`oxigraph serve
        --timeout-s`) stops the evaluation there. A direct `application/sparql-query`
        body is sent form-encoded (see the class)."""
        if content_type.split(";")[0].strip() == "application/sparql-query":
            content, content_type = urlencode({"query": content.decode()}).encode(), FORM
        if self.layout.timeout_parameter and content_type.split(";")[0].strip() == FORM:
            content += f"&{self.layout.timeout_parameter}={int(timeout * 1000)}".encode()
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        size = 0
        try:
            with self._http.stream("POST", self.query_url, content=content, timeout=timeout,
                                   headers={"content-type": content_type,
                                            "accept": accept}) as response:
                if self._incomplete(response):
                    raise QueryLimitExceeded("time")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise QueryLimitExceeded("size")
                    if time.monotonic() > deadline:
                        raise QueryLimitExceeded("time")
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise QueryLimitExceeded("time") from None
        except httpx.ConnectError as exc:
            raise _not_answered(exc) from None
        except httpx.HTTPError as exc:  # e.g. an answer whose headers pass the client's limit
            raise StoreError(f"the SPARQL server's answer could not be read "
                             f"({type(exc).__name__})") from None
        return QueryAnswer(response.status_code, self._results(b"".join(chunks)))

    def _request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One request to the server; one it does not answer (refused, timed out) is a
        StoreError like one it refuses."""
        try:
            return self._http.request(method, url, **options)
        except httpx.HTTPError as exc:
            raise _not_answered(exc) from None

    def _incomplete(self, response: httpx.Response) -> bool:
        marker = self.layout.incomplete_header
        return marker is not None and response.headers.get(marker[0]) == marker[1]

    def _results(self, body: bytes) -> bytes:
        """Query results with the server's blank node prefix (if any) taken off."""
        prefix = self.layout.blank_node_prefix
        if not prefix or prefix not in body:
            return body
        escaped = re.escape(prefix)
        body = re.sub(rb'("type"\s*:\s*"bnode"\s*,\s*"value"\s*:\s*")' + escaped, rb"\1", body)
        return re.sub(rb"(<bnode>)" + escaped, rb"\1", body)

    def _query(self, query: str, accept: str) -> bytes:
        response = self._request(
            "POST",
            self.query_url,
            data={"query": query},
            headers={"accept": accept},
        )
        if response.status_code >= 300:
            raise StoreError(f"query failed ({response.status_code}): {response.text[:300]}")
        if self._incomplete(response):
            raise StoreError("the server cut the answer short (its time limit)")
        return self._results(response.content)

    def select(self, query: str) -> Iterator[ox.QuerySolution]:
        results = self.layout.results_format
        result = ox.parse_query_results(self._query(query, results.media_type), format=results)
        assert isinstance(result, ox.QuerySolutions)
        return iter(result)

    def construct(self, query: str) -> Iterator[ox.Triple]:
        body = self._query(query, "application/n-triples")
        return (q.triple for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES))

    def ask(self, query: str) -> bool:
        results = self.layout.results_format
        return bool(ox.parse_query_results(self._query(query, results.media_type),
                                           format=results))

    def close(self) -> None:
        self._http.close()
