"""Embedded backend: Oxigraph on disk inside the node process."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyoxigraph as ox

from node.store.base import GraphWrite, StoreError, trig_text, update_text


class EmbeddedStore:
    def __init__(self, path: Path | None, read_only: bool = False):
        self.read_only = read_only
        if path is None:
            self._store = ox.Store()
        elif read_only:
            if not (path / "CURRENT").exists():
                raise StoreError(f"No node store in {path}.")
            self._store = ox.Store.read_only(str(path))
        else:
            path.mkdir(parents=True, exist_ok=True)
            self._store = ox.Store(str(path))

    def write(self, writes: Sequence[GraphWrite]) -> None:
        try:
            if any(w.replace and self._store.contains_named_graph(ox.NamedNode(w.graph)) for w in writes):
                self._store.update(update_text(writes))
            else:
                self._store.load(trig_text(writes).encode(), format=ox.RdfFormat.TRIG)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc

    def load_file(self, path: Path, transactional: bool = True) -> None:
        load = self._store.load if transactional else self._store.bulk_load
        try:
            load(path=str(path), format=ox.RdfFormat.TRIG)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc

    def update(self, sparql_update: str) -> None:
        try:
            self._store.update(sparql_update)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc

    def triples(self, graph: str) -> list[ox.Triple]:
        return [
            ox.Triple(q.subject, q.predicate, q.object)
            for q in self._store.quads_for_pattern(None, None, None, ox.NamedNode(graph))
        ]

    def select(self, query: str) -> Iterator[ox.QuerySolution]:
        result = self._store.query(query)
        assert isinstance(result, ox.QuerySolutions)
        return iter(result)

    def construct(self, query: str) -> Iterator[ox.Triple]:
        result = self._store.query(query)
        assert isinstance(result, ox.QueryTriples)
        return iter(result)

    def ask(self, query: str) -> bool:
        return bool(self._store.query(query))

    def dump(self, target: Path) -> None:
        """Every quad (records, history, audit log) as N-Quads: on a read-only view this is
        a consistent snapshot, including what the running node has not flushed yet."""
        try:
            self._store.dump(str(target), format=ox.RdfFormat.N_QUADS)
        except (OSError, ValueError) as exc:
            raise StoreError(str(exc)) from exc

    def load_dump(self, source: Path) -> None:
        """Load a dump made by `dump` into this (empty) store."""
        try:
            self._store.bulk_load(path=str(source), format=ox.RdfFormat.N_QUADS)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(f"{source} is not a backup made by `fmar backup`: {exc}") from exc

    def close(self) -> None:
        if not self.read_only:
            self._store.flush()
        # pyoxigraph releases the RocksDB lock when the store object goes away.
        del self._store
