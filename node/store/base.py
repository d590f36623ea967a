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
    the store (a directory), or the whole dataset as N-Quads. Plain data."""

    path: str | None = None
    nquads: bytes | None = None


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

    def query_source(self) -> AbstractContextManager[QuerySource]:
        """What a query worker reads (only when not `evaluates_queries`)."""
        ...

    def close(self) -> None: ...


def update_text(writes: Sequence[GraphWrite]) -> str:
    """One SPARQL UPDATE request that applies `writes` (atomic in one request)."""
    drops = [f"DROP SILENT GRAPH <{w.graph}> ;" for w in writes if w.replace]
    blocks = [f"GRAPH <{w.graph}> {{\n{w.ntriples}\n}}" for w in writes if w.ntriples.strip()]
    return "\n".join(drops) + "\nINSERT DATA {\n" + "\n".join(blocks) + "\n}"


def trig_text(writes: Sequence[GraphWrite]) -> str:
    """TriG of `writes` (for writes that only add): N-Triples lines are valid TriG."""
    return "".join(f"<{w.graph}> {{\n{w.ntriples}\n}}\n" for w in writes)
