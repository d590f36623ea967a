"""Query worker processes: where every SPARQL query of the node is evaluated.

pyoxigraph has no query timeout and a running query cannot be interrupted, and a query
such as an `ORDER BY` over a cross product allocates without bound. So no query runs in
the node process. A pool of worker processes (fresh interpreters, `python -m
node.query.workers`) evaluates them:

- before each query the worker caps its address space (RLIMIT_AS = its size then + the
  memory limit); a query that needs more aborts the worker (SPARQL-020, 422); a worker
  that kept much memory after a query is replaced;
- the node waits for the answer until the deadline and SIGKILLs the worker otherwise
  (SPARQL-005, 504); a killed worker is replaced;
- a worker reads a read-only checkpoint of the store (`EmbeddedStore.query_source`) or
  a dataset shipped as N-Quads, never the node's live store: it holds no write lock and
  sees every write committed before the query started;
- a worker dies with the node: PR_SET_PDEATHSIG (SIGKILL when the thread that started it
  ends; workers are started from one long-lived thread), and a watchdog that exits when
  the worker's parent changes;
- a worker cannot open a network socket (a seccomp filter lets it create Unix sockets
  only, on x86-64 and arm64; `_filter_program`): Oxigraph evaluates SERVICE by calling
  the address, and the SERVICE check (SPARQL-004) is then not the only thing between a
  query and the node's network.
"""

from __future__ import annotations

import ctypes
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from node.store.base import QuerySource

PR_SET_PDEATHSIG = 1


class QueryFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def too_many_rows(max_rows: int) -> str:
    return f"The answer has more than {max_rows} results; narrow the query or add LIMIT."


# ------------------------------------------------------------------ worker side

def evaluate(store: Any, query: str, dataset: dict[str, Any] | None, fmt: str, max_rows: int
             ) -> tuple[bytes, int, str]:
    """Evaluate over `dataset` (node.query.execute.Dataset.as_request(): `default` graph
    names or "union", `named` graph names or None for all; FROM / FROM NAMED in the query
    are overridden). `dataset=None` is only for queries the node generated, which restrict
    themselves. `fmt` is a results format name (json, xml, csv, tsv) or an RDF media type."""
    import pyoxigraph as ox

    from node.query.results import ask_bytes, solutions_as

    try:
        if dataset is None:
            result = store.query(query)
        else:
            named = None if dataset["named"] is None else [ox.NamedNode(g)
                                                           for g in dataset["named"]]
            if dataset["default"] == "union":
                result = store.query(query, use_default_graph_as_union=True,
                                     named_graphs=named)
            else:
                result = store.query(query, named_graphs=named, default_graph=[
                    ox.NamedNode(g) for g in dataset["default"]])
    except SyntaxError as exc:
        raise QueryFailed("SPARQL-002", f"The query is not valid SPARQL: {exc}") from None
    if isinstance(result, ox.QueryBoolean):
        return ask_bytes(bool(result), fmt if "/" not in fmt else "json"), 1, "ASK"
    if isinstance(result, ox.QuerySolutions):
        # Written by Oxigraph, not row by row in Python: as TSV first (one line per
        # solution, counted as they are written), then in `fmt`.
        body, lines = _by_lines(result, ox.QueryResultsFormat.TSV, max_rows, header=1)
        body = solutions_as(body, "tsv", fmt)
        return body, lines - 1, "SELECT"
    rdf_format = ox.RdfFormat.from_media_type(fmt) if "/" in fmt else ox.RdfFormat.N_TRIPLES
    if rdf_format is None:
        raise ValueError(f"No RDF format has the media type {fmt}")
    body, lines = _by_lines(result, ox.RdfFormat.N_TRIPLES, max_rows)
    if rdf_format != ox.RdfFormat.N_TRIPLES:
        body = ox.serialize(ox.parse(body, format=ox.RdfFormat.N_TRIPLES),
                            format=rdf_format) or b""
    return body, lines, "CONSTRUCT"


class _TooManyRows(Exception):
    pass


class _Lines:
    """A file for Oxigraph to write to that counts lines and stops past `most`."""

    def __init__(self, most: int):
        self.most, self.lines = most, 0
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.lines += data.count(b"\n")
        if self.lines > self.most:
            raise _TooManyRows
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _by_lines(result: Any, fmt: Any, max_rows: int, header: int = 0) -> tuple[bytes, int]:
    """`result` as Oxigraph writes it in `fmt`, a format of one item per line (TSV,
    N-Triples), and its lines; past `max_rows` items it stops writing (SPARQL-006), and so
    evaluating."""
    sink = _Lines(max_rows + header)
    try:
        result.serialize(sink, format=fmt)
    except _TooManyRows:
        raise QueryFailed("SPARQL-006", too_many_rows(max_rows)) from None
    return b"".join(sink.parts), sink.lines


class _Stores:
    """The worker's open checkpoint (one at a time: a newer path replaces it)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.store: Any = None

    def open(self, source: QuerySource) -> Any:
        import pyoxigraph as ox

        if source.nquads is not None:
            store = ox.Store()
            if b"_:" in source.nquads:  # parse, not load: load would rename blank nodes
                store.extend(ox.parse(source.nquads, format=ox.RdfFormat.N_QUADS))
            else:  # (4x faster: no Python object per quad; lenient, a third faster: every
                # source is written by Oxigraph from terms it has parsed and checked)
                store.load(source.nquads, format=ox.RdfFormat.N_QUADS, lenient=True)
            for graph in source.empty_graphs:
                store.add_graph(ox.NamedNode(graph))
            return store
        if source.path is None:
            raise ValueError("A query source has a checkpoint path or N-Quads")
        if source.path != self.path:
            self.store = None  # close the older checkpoint first
            self.store = ox.Store.read_only(source.path)
            self.path = source.path
        return self.store


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the node ended before prctl took effect
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _address_space(field: int = 0) -> int:
    """Bytes of this process's address space (field 0) or resident set (field 1)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[field]) * resource.getpagesize()


def _limit_address_space(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))


# seccomp: a worker may create Unix sockets only. Refused with EACCES: socket() of any
# other family, io_uring_setup (io_uring opens and connects sockets by itself since
# Linux 5.19), the x32 system calls (x86-64 numbers with bit 30 set, which the socket
# check would not match) and every call made under another architecture (i386 through
# `int 0x80`, with its own numbers). Written out rather than taken from libseccomp's
# bindings: none is kept on PyPI, and the program is ten instructions.
_ARCH_SOCKET = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
_ARCH, _NR, _ARG0 = 4, 0, 16  # offsets in struct seccomp_data (args[0], low word)
_X32_BIT, _IO_URING_SETUP = 0x40000000, 425  # 425 on both architectures


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _filter_program(audit_arch: int, nr_socket: int) -> list[tuple[int, int, int, int]]:
    """The seccomp program, as (code, jump if true, jump if false, constant); a jump
    skips that many instructions."""
    load, jump_eq, jump_ge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JGE, RET
    allow, refuse = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ALLOW, RET_ERRNO | EACCES
    return [
        (load, 0, 0, _ARCH), (jump_eq, 0, 7, audit_arch),         # 0-1: another ABI: refuse
        (load, 0, 0, _NR), (jump_ge, 5, 0, _X32_BIT),             # 2-3: x32: refuse
        (jump_eq, 4, 0, _IO_URING_SETUP),                         # 4: refuse
        (jump_eq, 0, 2, nr_socket),                               # 5: not socket(): allow
        (load, 0, 0, _ARG0), (jump_eq, 0, 1, socket.AF_UNIX),     # 6-7: Unix only
        (ret, 0, 0, allow), (ret, 0, 0, refuse),                  # 8, 9
    ]


def _no_network() -> bool:
    """Install the filter above on this process (and the threads it starts later); False
    where it cannot be installed (another architecture, no seccomp)."""
    arch = _ARCH_SOCKET.get(os.uname().machine)
    if arch is None:
        return False
    program = _filter_program(*arch)
    filters = (_SockFilter * len(program))(*(_SockFilter(*i) for i in program))
    fprog = _SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, MODE_FILTER


def worker_main(parent: int, fd: int, memory_mb: int) -> None:
    if not _no_network():
        print("fmar query worker: no seccomp filter here; SERVICE is refused by SPARQL-004 "
              "only", file=sys.stderr)
    _die_with_parent(parent)
    import pyoxigraph  # noqa: F401  (loaded before any limit is set)

    import node.query.results  # noqa: F401

    conn = Connection(fd)
    stores = _Stores()
    resident, limit = _address_space(1), memory_mb * 1024 * 1024
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            os._exit(0)
        store = None
        try:
            # A query may add `memory_mb` to the worker's address space. Loading shipped
            # N-Quads counts; opening a checkpoint (the store's threads and caches) not.
            source = request["source"]
            if source.nquads is not None:
                _limit_address_space(_address_space() + limit)
            store = stores.open(source)
            if source.nquads is None:
                _limit_address_space(_address_space() + limit)
            body, rows, form = evaluate(store, request["query"], request["dataset"],
                                        request["fmt"], request["max_rows"])
            reply: tuple[Any, ...] = ("ok", body, rows, form)
        except QueryFailed as failed:
            reply = ("failed", failed.code, failed.message)
        except MemoryError:
            reply = ("failed", "SPARQL-020", "")
        except Exception as exc:  # noqa: BLE001  (reported to the node, worker goes on)
            reply = ("failed", "SPARQL-002", f"The query failed: {str(exc)[:300]}")
        del store
        _limit_address_space(resource.RLIM_INFINITY)
        # Memory the allocator kept after a big query would let the next one start
        # higher: a worker that holds a quarter of the limit more than when it started
        # asks to be replaced.
        retire = _address_space(1) > resident + limit // 4
        conn.send((*reply, retire))


# ------------------------------------------------------------------ node side

class _Worker:
    def __init__(self, process: subprocess.Popen, conn: Connection):
        self.process, self.conn = process, conn

    def kill(self) -> None:
        try:
            self.process.kill()
        except ProcessLookupError:
            pass
        self.process.wait()
        self.conn.close()


WAITING = 4  # queries that may wait for a busy worker, per worker


class WorkerPool:
    """Up to `size` worker processes; one query at a time each."""

    def __init__(self, size: int, memory_mb: int):
        self.size, self.memory_mb = size, memory_mb
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._lock = threading.Lock()
        self._started = 0
        self._waiting = 0
        self._closed = False
        self._live: set[_Worker] = set()
        # Workers are started from this one thread, which lives as long as the pool: the
        # kernel's parent-death signal fires when the thread that forked a child ends.
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="fmar-query-workers")

    def _start(self) -> None:
        try:
            worker = self._starter.submit(self._spawn).result()
        except Exception:
            with self._lock:
                self._started -= 1
            raise
        self._idle.put(worker)

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        process = subprocess.Popen(
            [sys.executable, "-m", "node.query.workers", str(os.getpid()),
             str(theirs.fileno()), str(self.memory_mb)],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        conn = Connection(ours.detach())
        if not conn.poll(60):
            process.kill()
            raise RuntimeError("a query worker did not start")
        conn.recv()
        worker = _Worker(process, conn)
        with self._lock:
            self._live.add(worker)
        return worker

    def acquire(self, timeout: float) -> _Worker | None:
        """An idle worker within `timeout`, or None. At most `WAITING` × size queries wait
        (each holds a server thread); more get None at once."""
        with self._lock:  # the first query starts every worker: later ones find one ready
            if self._waiting >= WAITING * self.size:
                return None
            self._waiting += 1
            missing = 0 if self._closed else self.size - self._started
            self._started += missing
        for _ in range(missing):
            threading.Thread(target=self._start, daemon=True).start()
        try:
            return self._idle.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            with self._lock:
                self._waiting -= 1

    def release(self, worker: _Worker) -> None:
        self._idle.put(worker)

    def discard(self, worker: _Worker) -> None:
        """Kill a worker (past its deadline, or dead) and start a replacement."""
        worker.kill()
        with self._lock:
            self._live.discard(worker)
            self._started -= 1
            replace = not self._closed
            if replace:
                self._started += 1
        if replace:
            threading.Thread(target=self._start, daemon=True).start()

    def run(self, worker: _Worker, request: dict[str, Any], deadline: float
            ) -> tuple[bytes, int, str]:
        """Send one query to `worker` and wait for its answer until `deadline`."""
        try:
            worker.conn.send(request)
            if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                self.discard(worker)
                raise QueryFailed("SPARQL-005", "The query ran past the time limit and was "
                                  "stopped.")
            *reply, retire = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.wait()
            status = worker.process.returncode
            self.discard(worker)
            if status == -signal.SIGABRT:  # Rust aborts when an allocation is refused
                raise QueryFailed("SPARQL-020", "") from None
            raise QueryFailed("SPARQL-021", "The query process ended without an answer "
                              f"(status {status}).") from None
        if retire:
            self.discard(worker)
        else:
            self.release(worker)
        if reply[0] == "ok":
            return reply[1], reply[2], reply[3]
        raise QueryFailed(reply[1], reply[2])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
        for worker in live:
            worker.kill()
        self._starter.shutdown(wait=False)


if __name__ == "__main__":
    worker_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
