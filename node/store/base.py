"""What every store backend offers the node."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyoxigraph as ox


class StoreError(Exception):
    """The store could not complete an operation; nothing was written."""


@dataclass(frozen=True)
class GraphWrite:
    """Content for one named graph: N-Triples lines, replacing or adding."""

    graph: str
    ntriples: str
    replace: bool = True


@dataclass(frozen=True)
class QuerySource:
    """What a query worker reads (node/query/workers.py): a read-only checkpoint of
    the store (a directory), or the whole dataset as N-Quads, with the names of graphs
    it holds that have no quads (N-Quads cannot say so), written by Oxigraph (a worker
    loads them leniently). Plain data."""

    path: str | None = None
    nquads: bytes | None = None
    empty_graphs: tuple[str, ...] = ()


class RecordStore(Protocol):
    def write(self, writes: Sequence[GraphWrite]) -> None:
        """Apply all writes in one transaction: all of them or none."""
        ...

    def load_file(self, path: Path, transactional: bool = True) -> None:
        """Add the quads of a TriG file: in one transaction (all of them or none), or
        streamed without one (constant memory; see node/bulk_commit.py)."""
        ...

    def update(self, sparql_update: str) -> None:
        """Run one SPARQL UPDATE (atomic)."""
        ...

    def flush(self) -> None:
        """Write what is buffered in memory to disk, releasing the buffers (between the
        transactions of a long series of writes, e.g. rolling back an upload)."""
        ...

    def triples(self, graph: str) -> list[ox.Triple]:
        """The triples of one named graph (empty if it does not exist)."""
        ...

    def select(self, query: str) -> Iterator[ox.QuerySolution]:
        """Solutions of a SPARQL SELECT, streamed where the backend can."""
        ...

    def construct(self, query: str) -> Iterator[ox.Triple]:
        """Triples of a SPARQL CONSTRUCT."""
        ...

    def ask(self, query: str) -> bool: ...

    def graph_names(self) -> Iterator[str]:
        """The names (IRIs) of the store's named graphs."""
        ...

    @property
    def evaluates_queries(self) -> bool:
        """True for a SPARQL server that evaluates a caller's query itself (then the node
        sends it with `query_within`); False when the node's query workers evaluate it over
        `query_source()`."""
        ...

    @property
    def matches_empty_graphs(self) -> bool:
        """Whether `GRAPH ?g { }` matches every named graph (SPARQL 1.1); False for a server
        that matches none (Virtuoso 7.2), for which the rewrite (node/query/rewrite.py)
        names the graphs by their triples."""
        ...

    def query_source(self) -> AbstractContextManager[QuerySource]:
        """What a query worker reads (only when not `evaluates_queries`)."""
        ...

    @property
    def journal(self) -> RecordStore:
        """Where history versions and the audit log are kept (node/records/journal.py):
        a store of its own beside an embedded store (`<data dir>/journal`), never scanned by
        record queries; the same dataset for a remote store. A journal's own journal is
        itself."""
        ...

    def close(self) -> None:
        """Close the store (and its journal, if it has one of its own)."""
        ...


def update_text(writes: Sequence[GraphWrite], as_template: bool = False,
                block_lines: int | None = None) -> str:
    """One SPARQL UPDATE request that applies `writes` (atomic in one request).
    `as_template` writes `INSERT { … } WHERE {}` instead of `INSERT DATA { … }`, the same
    for a server that refuses blank nodes in INSERT DATA (Virtuoso 7); `block_lines` splits
    a graph's triples into `GRAPH` blocks of at most that many lines, the same again for a
    server whose parser limits a block (Virtuoso 7: under 5,000 triples)."""
    drops = [f"DROP SILENT GRAPH <{w.graph}> ;" for w in writes if w.replace]
    blocks = [f"GRAPH <{w.graph}> {{\n{part}\n}}" for w in writes if w.ntriples.strip()
              for part in _parts(w.ntriples, block_lines)]
    return "\n".join(drops) + "\n" + insert_text(blocks, as_template)


def _parts(ntriples: str, block_lines: int | None) -> list[str]:
    lines = ntriples.splitlines()
    if block_lines is None or len(lines) <= block_lines:
        return [ntriples]
    return ["\n".join(lines[i:i + block_lines]) for i in range(0, len(lines), block_lines)]


def insert_text(blocks: Sequence[str], as_template: bool = False) -> str:
    """INSERT DATA of `blocks` (triples, or `GRAPH <g> { … }`), or as a template."""
    body = "{\n" + "\n".join(blocks) + "\n}"
    return f"INSERT {body} WHERE {{}}" if as_template else f"INSERT DATA {body}"


def trig_text(writes: Sequence[GraphWrite]) -> str:
    """TriG of `writes` (for writes that only add): N-Triples lines are valid TriG."""
    return "".join(f"<{w.graph}> {{\n{w.ntriples}\n}}\n" for w in writes)
