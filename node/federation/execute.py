"""Run one SPARQL query against the node's store over a restricted dataset, with a time
limit and a result-size limit.

pyoxigraph has no query timeout and a running query cannot be interrupted from
Python, so an arbitrary query runs in a *forked child process*: the child inherits
the open store (copy-on-write, a consistent view of the latest writes), evaluates,
serialises and writes the answer to a pipe; the parent waits until the deadline and
SIGKILLs the child if it has not finished. The node process never runs the query
itself, so a runaway query costs one child process for at most the time limit.
Measured overhead of the fork: ~30 ms per query (docs/federation.md).

Queries the node writes itself (REST filter form, aggregates, federation fragments)
have a bounded cost and run in a thread (`isolation="thread"`): the deadline and
size limit are checked between solutions there.
"""

from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox

from node.errors import ApiError
from node.federation import lexer
from node.federation.results import ask_bytes, graph_bytes, select_bytes

MAX_QUERY_CHARS = 100_000


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # seconds of evaluation
    max_rows: int = 100_000  # solutions (SELECT) or triples (CONSTRUCT/DESCRIBE)
    concurrent: int = 2  # queries evaluated at once; more wait, then SPARQL-008

    @classmethod
    def from_env(cls) -> Limits:
        env = os.environ
        return cls(timeout=float(env.get("FMAR_SPARQL_TIMEOUT", "10")),
                   max_rows=int(env.get("FMAR_SPARQL_MAX_ROWS", "100000")),
                   concurrent=int(env.get("FMAR_SPARQL_CONCURRENT", "2")))


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


class _Failure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def evaluate(store: ox.Store, query: str, graphs: list[ox.NamedNode] | None, fmt: Any,
             max_rows: int, deadline: float | None = None,
             started: Any = None) -> tuple[bytes, int, str]:
    """Evaluate over the dataset whose default graph is the merge of `graphs` and whose
    named graphs are `graphs` (FROM / FROM NAMED in the query are overridden).
    `graphs=None` is only for queries the node generated, which restrict themselves."""
    try:
        if graphs is None:
            result = store.query(query)
        else:
            result = store.query(query, named_graphs=graphs,
                                 default_graph=graphs or [ox.NamedNode("urn:fmar:empty")])
    except SyntaxError as exc:
        raise _Failure("SPARQL-002", f"The query is not valid SPARQL: {exc}") from None
    if started is not None:
        started()
    if isinstance(result, ox.QueryBoolean):
        return ask_bytes(bool(result), fmt if isinstance(fmt, str) else "json"), 1, "ASK"
    items: list[Any] = []
    for count, item in enumerate(result, start=1):
        if count > max_rows:
            raise _Failure("SPARQL-006", f"The answer has more than {max_rows} results; narrow "
                           "the query or add LIMIT.")
        if deadline is not None and count % 256 == 0 and time.monotonic() > deadline:
            raise _Failure("SPARQL-005", "The query ran past the time limit and was stopped.")
        items.append(item)
    if isinstance(result, ox.QuerySolutions):
        variables = [v.value for v in result.variables]
        rows = [[s[v] for v in variables] for s in items]
        return select_bytes(variables, rows, fmt), len(rows), "SELECT"
    return graph_bytes(items, fmt), len(items), "CONSTRUCT"


class Executor:
    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits.from_env()
        self._slots = threading.BoundedSemaphore(self.limits.concurrent)

    def run(self, store: ox.Store, query: str, graphs: list[Any] | None, fmt: Any,
            media_type: str,
            *, isolation: str = "fork", timeout: float | None = None,
            max_rows: int | None = None) -> Answer:
        timeout = min(timeout or self.limits.timeout, self.limits.timeout)
        max_rows = min(max_rows or self.limits.max_rows, self.limits.max_rows)
        started = time.monotonic()
        if not self._slots.acquire(timeout=timeout):
            raise ApiError(503, "SPARQL-008", "The node is busy with other queries; try again.",
                           headers={"Retry-After": "2"})
        try:
            left = max(0.5, timeout - (time.monotonic() - started))
            nodes = None if graphs is None else [
                g if isinstance(g, ox.NamedNode) else ox.NamedNode(g) for g in graphs]
            if isolation == "fork":
                body, rows, form = _in_child(store, query, nodes, fmt, max_rows, left)
            else:
                body, rows, form = _in_thread(store, query, nodes, fmt, max_rows, left)
        except _Failure as failure:
            status = {"SPARQL-005": 504, "SPARQL-006": 422}.get(failure.code, 400)
            raise ApiError(status, failure.code, failure.message,
                           {"timeout_s": timeout, "max_rows": max_rows}) from None
        finally:
            self._slots.release()
        return Answer(body, media_type, rows, form)


def _in_thread(store: ox.Store, query: str, graphs: list[ox.NamedNode] | None, fmt: Any,
               max_rows: int, timeout: float) -> tuple[bytes, int, str]:
    return evaluate(store, query, graphs, fmt, max_rows, time.monotonic() + timeout)


_FORK_LOCK = threading.Lock()
STARTUP = 1.0  # seconds a child may take to start evaluating (see _in_child)


class _NoStart(Exception):
    pass


def _in_child(store: ox.Store, query: str, graphs: list[ox.NamedNode] | None, fmt: Any,
              max_rows: int, timeout: float) -> tuple[bytes, int, str]:
    """Evaluate in a forked child, killed at the deadline.

    Forking a multi-threaded process can leave the child blocked on a lock another
    thread held at fork time (measured: RocksDB's background flush/compaction right
    after the store is opened). The child therefore reports `S` as soon as the query
    is set up; a child that does not within STARTUP seconds is killed and the query
    forked again (3 tries), then run in a thread with a cooperative deadline."""
    deadline = time.monotonic() + timeout
    for _ in range(3):
        try:
            return _fork_once(store, query, graphs, fmt, max_rows, deadline)
        except _NoStart:
            continue
    return evaluate(store, query, graphs, fmt, max_rows, deadline)


def _fork_once(store: ox.Store, query: str, graphs: list[ox.NamedNode] | None, fmt: Any,
               max_rows: int, deadline: float) -> tuple[bytes, int, str]:
    with _FORK_LOCK:  # no other child inherits this pipe's write end
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: evaluate, write S, header line and body; exit without cleanup
            code = 0
            try:
                os.close(read_fd)
                try:
                    body, rows, form = evaluate(store, query, graphs, fmt, max_rows,
                                                started=lambda: os.write(write_fd, b"S"))
                    header = {"ok": True, "rows": rows, "form": form}
                except _Failure as failure:
                    body, header = b"", {"ok": False, "code": failure.code,
                                         "message": failure.message}
                except BaseException as exc:  # noqa: BLE001
                    body, header = b"", {"ok": False, "code": "SPARQL-002",
                                         "message": f"The query failed: {str(exc)[:300]}"}
                data = b"S" + json.dumps(header).encode() + b"\n" + body
                view = memoryview(data)
                while view:
                    written = os.write(write_fd, view)
                    view = view[written:]
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
    chunks: list[bytes] = []
    got = 0
    startup = time.monotonic() + STARTUP
    try:
        while True:
            now = time.monotonic()
            limit = min(deadline, startup) if got == 0 else deadline
            left = limit - now
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                if got == 0 and now < deadline:
                    raise _NoStart
                raise _Failure("SPARQL-005", "The query ran past the time limit and was "
                               "stopped.")
            ready, _, _ = select.select([read_fd], [], [], left)
            if ready:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    finally:
        os.close(read_fd)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    data = b"".join(chunks).lstrip(b"S")
    line, _, body = data.partition(b"\n")
    if not line:
        raise _Failure("SPARQL-002", "The query process ended without an answer.")
    header = json.loads(line)
    if not header["ok"]:
        raise _Failure(header["code"], header["message"])
    return body, int(header["rows"]), str(header["form"])
