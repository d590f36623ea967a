"""Run one SPARQL query over a restricted dataset, within a time limit, a memory limit
and a result-size limit.

Every query (a caller's raw SPARQL, the node's generated queries, the federation's
joins) is evaluated in a query worker process (node/query/workers.py), never in
the node process: the worker's address space is capped, and it is killed at the
deadline. The node process only waits, so it keeps serving other callers whatever a
query does.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox

from common.http_errors import ApiError
from node.config import NodeSettings
from node.query import lexer, rewrite
from node.query.workers import QueryFailed, WorkerPool
from node.store.base import QuerySource, RecordStore

MAX_QUERY_CHARS = 100_000


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # seconds of evaluation
    max_rows: int = 100_000  # solutions (SELECT) or triples (CONSTRUCT/DESCRIBE)
    concurrent: int = 2  # queries evaluated at once; more wait, then SPARQL-008
    memory_mb: int = 1024  # address space a query may add to its worker

    @classmethod
    def of(cls, settings: NodeSettings) -> Limits:
        return cls(timeout=settings.sparql_timeout, max_rows=settings.sparql_max_rows,
                   concurrent=settings.sparql_concurrent, memory_mb=settings.sparql_memory_mb)


@dataclass(frozen=True)
class Dataset:
    """The dataset a query is evaluated over; the query's FROM / FROM NAMED are overridden.
    `default`: the merge of these graphs, or UNION (the union of all named graphs);
    `named`: these graphs, or None for every named graph of the store."""

    default: tuple[str, ...] | str
    named: tuple[str, ...] | None

    UNION = "union"

    @classmethod
    def listed(cls, graphs: list[str]) -> Dataset:
        """Today's form: the readable graphs, by name (default graph = their merge)."""
        names = tuple(graphs) or (rewrite.EMPTY_GRAPH,)
        return cls(names, names)

    @classmethod
    def restricted(cls) -> Dataset:
        """For a query rewritten by node/query/rewrite.py: an empty default graph and every
        named graph (the query restricts itself)."""
        return cls((rewrite.EMPTY_GRAPH,), None)

    @classmethod
    def whole_store(cls) -> Dataset:
        """A store holding only readable graphs (the federation's gathered fragments):
        default graph = the union of its graphs, named graphs = all of them. (Not a list
        of names: Oxigraph's union over a listed set of 20,000 graphs took 7.2 s where
        the whole store took 77 ms.)"""
        return cls(cls.UNION, None)

    def as_request(self) -> dict[str, Any]:
        return {"default": self.default, "named": self.named}


@dataclass
class Answer:
    body: bytes
    media_type: str
    rows: int
    form: str


class QueryRefused(ApiError):
    pass


def check_query(text: str) -> str:
    """The query form; refuses updates (SPARQL-003) and SERVICE (SPARQL-004)."""
    if not text or not text.strip():
        raise QueryRefused(400, "SPARQL-001", "No query: pass `query` (GET or form POST) or "
                           "a body of type application/sparql-query.")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryRefused(413, "SPARQL-009", f"The query is longer than {MAX_QUERY_CHARS} "
                           "characters.")
    form = lexer.query_form(text)
    if form == "UPDATE":
        raise QueryRefused(400, "SPARQL-003", "SPARQL UPDATE is not accepted: the node's "
                           "records change only through its API, with validation and audit.")
    if lexer.uses_service(text):
        raise QueryRefused(400, "SPARQL-004", "SERVICE is not accepted: use the federation "
                           "endpoint to query other nodes.")
    if form is None:
        raise QueryRefused(400, "SPARQL-002", "Not a SPARQL query (SELECT, CONSTRUCT, ASK or "
                           "DESCRIBE).")
    return form


STATUS = {"SPARQL-005": 504, "SPARQL-006": 422, "SPARQL-020": 422, "SPARQL-021": 500}


class Executor:
    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._workers = WorkerPool(self.limits.concurrent, self.limits.memory_mb)

    def run(self, store: RecordStore | ox.Store | QuerySource, query: str,
            graphs: Dataset | list[Any] | None,
            fmt: Any, media_type: str, *, timeout: float | None = None,
            max_rows: int | None = None, started: float | None = None) -> Answer:
        """Evaluate `query` over `store` (the node's store, or an in-memory store such as
        the federation's gathered fragments) in a worker. `graphs` is the dataset: a
        `Dataset`, a list of graph names (`Dataset.listed`), or None (the store as it is,
        for queries the node wrote itself); `fmt` a results format name or an `ox.RdfFormat`. The time
        limit counts from `started` (time.monotonic()) when given, else from now."""
        timeout = min(timeout or self.limits.timeout, self.limits.timeout)
        max_rows = min(max_rows or self.limits.max_rows, self.limits.max_rows)
        deadline = (started or time.monotonic()) + timeout
        if isinstance(graphs, list):
            graphs = Dataset.listed([g.value if isinstance(g, ox.NamedNode) else str(g)
                                     for g in graphs])
        request = {"query": query, "max_rows": max_rows,
                   "dataset": None if graphs is None else graphs.as_request(),
                   "fmt": fmt.media_type if isinstance(fmt, ox.RdfFormat) else str(fmt)}
        try:
            with _source(store) as source:
                worker = self._workers.acquire(max(0.0, deadline - time.monotonic()))
                if worker is None:
                    raise ApiError(503, "SPARQL-008", "The node is busy with other queries; "
                                   "try again.", headers={"Retry-After": "2"})
                body, rows, form = self._workers.run(worker, {**request, "source": source},
                                                     deadline)
        except QueryFailed as failure:
            raise self.refusal(failure, timeout, max_rows) from None
        return Answer(body, media_type, rows, form)

    def refusal(self, failure: QueryFailed, timeout: float | None = None,
                max_rows: int | None = None) -> ApiError:
        """The error a failed query answers (also for an answer not evaluated here but
        held to the same limits: IDX-010)."""
        message = failure.message or (
            f"The query needed more than the memory limit ({self.limits.memory_mb} MB) "
            "and was stopped; narrow the query or add LIMIT.")
        return ApiError(STATUS.get(failure.code, 400), failure.code, message,
                        {"timeout_s": timeout or self.limits.timeout,
                         "max_rows": max_rows or self.limits.max_rows,
                         "memory_mb": self.limits.memory_mb})

    def close(self) -> None:
        self._workers.close()


def _source(store: RecordStore | ox.Store | QuerySource
            ) -> AbstractContextManager[QuerySource]:
    if isinstance(store, QuerySource):  # data built for one query, as the worker reads it
        return nullcontext(store)
    if isinstance(store, ox.Store):  # an in-memory store built for one query
        return nullcontext(QuerySource(nquads=store.dump(format=ox.RdfFormat.N_QUADS)))
    return store.query_source()
