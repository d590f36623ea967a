"""Remote backend: any SPARQL 1.1 Protocol + Graph Store Protocol server."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyoxigraph as ox

from node.store.base import GraphWrite, StoreError, update_text


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


class RemoteStore:
    """Talks to a server such as `oxigraph serve` over HTTP.

    `query_url`, `update_url` and `store_url` default to Oxigraph's layout
    under one base URL (`/query`, `/update`, `/store`).
    """

    def __init__(
        self,
        base_url: str,
        query_url: str | None = None,
        update_url: str | None = None,
        store_url: str | None = None,
        timeout: float = 60.0,
    ):
        base = base_url.rstrip("/")
        self.query_url = query_url or f"{base}/query"
        self.update_url = update_url or f"{base}/update"
        self.store_url = store_url or f"{base}/store"
        self._http = httpx.Client(timeout=timeout)

    evaluates_queries = True

    def graph_names(self) -> Iterator[str]:
        query = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
        return (s["g"].value for s in self.select(query))

    def write(self, writes: Sequence[GraphWrite]) -> None:
        self.update(update_text(writes))

    def update(self, sparql_update: str) -> None:
        response = self._http.post(
            self.update_url,
            content=sparql_update.encode(),
            headers={"content-type": "application/sparql-update"},
        )
        if response.status_code >= 300:
            raise StoreError(f"update refused ({response.status_code}): {response.text[:300]}")

    def load_file(self, path: Path, transactional: bool = True) -> None:
        # Graph Store Protocol: POST of a dataset to the store adds it (one request;
        # the server decides how it applies it).
        with path.open("rb") as body:
            response = self._http.post(
                self.store_url, content=body, headers={"content-type": "application/trig"}
            )
        if response.status_code >= 300:
            raise StoreError(f"load refused ({response.status_code}): {response.text[:300]}")

    def triples(self, graph: str) -> list[ox.Triple]:
        response = self._http.get(
            self.store_url, params={"graph": graph}, headers={"accept": "application/n-triples"}
        )
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
        --timeout-s`) stops the evaluation there."""
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        size = 0
        try:
            with self._http.stream("POST", self.query_url, content=content, timeout=timeout,
                                   headers={"content-type": content_type,
                                            "accept": accept}) as response:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise QueryLimitExceeded("size")
                    if time.monotonic() > deadline:
                        raise QueryLimitExceeded("time")
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise QueryLimitExceeded("time") from None
        return QueryAnswer(response.status_code, b"".join(chunks))

    def _query(self, query: str, accept: str) -> bytes:
        response = self._http.post(
            self.query_url,
            content=query.encode(),
            headers={"content-type": "application/sparql-query", "accept": accept},
        )
        if response.status_code >= 300:
            raise StoreError(f"query failed ({response.status_code}): {response.text[:300]}")
        return response.content

    def select(self, query: str) -> Iterator[ox.QuerySolution]:
        body = self._query(query, "application/sparql-results+json")
        result = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
        assert isinstance(result, ox.QuerySolutions)
        return iter(result)

    def construct(self, query: str) -> Iterator[ox.Triple]:
        body = self._query(query, "application/n-triples")
        return (q.triple for q in ox.parse(body, format=ox.RdfFormat.N_TRIPLES))

    def ask(self, query: str) -> bool:
        body = self._query(query, "application/sparql-results+json")
        return bool(ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON))

    def close(self) -> None:
        self._http.close()
