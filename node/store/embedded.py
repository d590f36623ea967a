"""Embedded backend: Oxigraph on disk inside the node process."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pyoxigraph as ox

from node.store.base import GraphWrite, QuerySource, StoreError, trig_text, update_text

JOURNAL_DIR = "journal"  # beside the record store, in the node's data directory


class EmbeddedStore:
    def __init__(self, path: Path | None, read_only: bool = False, is_journal: bool = False):
        """`path` None: in memory. A record store opens its journal (`journal`) on first
        use: `<path>/../journal` (in memory for an in-memory store); read-only, a data
        directory without a journal (not migrated yet) reads the journal's graphs from the
        record store itself."""
        self.read_only = read_only
        self._path = path
        self._is_journal = is_journal
        self._journal: EmbeddedStore | None = None
        if path is None:
            self._store = ox.Store()
        elif read_only:
            if not (path / "CURRENT").exists():
                raise StoreError(f"No node store in {path}.")
            self._store = ox.Store.read_only(str(path))
        else:
            path.mkdir(parents=True, exist_ok=True)
            self._store = ox.Store(str(path))
        # A read-only view (backup, audit verify beside a running node) never touches the
        # running node's checkpoints.
        # A journal is never queried by the query workers: no checkpoints of its own.
        self._checkpoints = _Checkpoints(self._store, None if read_only or is_journal
                                         else path)

    evaluates_queries = False
    matches_empty_graphs = True

    @property
    def journal(self) -> EmbeddedStore:
        if self._is_journal:
            return self
        if self._journal is None:
            if self._path is None:
                self._journal = EmbeddedStore(None, is_journal=True)
            elif self.read_only and not (self._path.parent / JOURNAL_DIR / "CURRENT").exists():
                return self  # a data directory of before the journal (JRN-005)
            else:
                self._journal = EmbeddedStore(self._path.parent / JOURNAL_DIR,
                                              read_only=self.read_only, is_journal=True)
        return self._journal

    def graph_names(self) -> Iterator[str]:
        return (g.value for g in self._store.named_graphs() if isinstance(g, ox.NamedNode))

    def query_source(self) -> AbstractContextManager[QuerySource]:
        """What a query worker reads: a read-only checkpoint holding every write committed
        so far (or, for an in-memory store, its N-Quads), kept until the `with` ends."""
        return self._checkpoints.lease()

    def write(self, writes: Sequence[GraphWrite]) -> None:
        try:
            if any(w.replace and self._store.contains_named_graph(ox.NamedNode(w.graph)) for w in writes):
                self._store.update(update_text(writes))
            else:
                self._store.load(trig_text(writes).encode(), format=ox.RdfFormat.TRIG)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc
        finally:
            self._checkpoints.changed()

    def load_file(self, path: Path, transactional: bool = True) -> None:
        load = self._store.load if transactional else self._store.bulk_load
        try:
            load(path=str(path), format=ox.RdfFormat.TRIG)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc
        finally:
            self._checkpoints.changed()

    def update(self, sparql_update: str) -> None:
        try:
            self._store.update(sparql_update)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(str(exc)) from exc
        finally:
            self._checkpoints.changed()

    def flush(self) -> None:
        try:
            self._store.flush()
        except OSError as exc:
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
        """Every quad of the records and then of the journal (history, audit log) as
        N-Quads: on a read-only view this is a snapshot of each, including what the running
        node has not flushed yet; the journal's is taken after the records', so it holds
        every entry of the records' changes (a change writes its journal part first) and
        perhaps entries past the records' applied marker, which the node rolls back when
        it opens the restored directory (node/records/journal.py)."""
        try:
            with target.open("xb") as out:
                self._store.dump(out, format=ox.RdfFormat.N_QUADS)
                if self.journal is not self:
                    self.journal._store.dump(out, format=ox.RdfFormat.N_QUADS)
        except (OSError, ValueError) as exc:
            raise StoreError(str(exc)) from exc

    def load_dump(self, source: Path) -> None:
        """Load a dump made by `dump` into this (empty) store (its journal's graphs are
        moved to the journal when the node opens it: node/records/journal.py `move`)."""
        try:
            self._store.bulk_load(path=str(source), format=ox.RdfFormat.N_QUADS)
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(f"{source} is not a backup made by `fmar backup`: {exc}") from exc

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._checkpoints.close()
        if not self.read_only:
            self._store.flush()
        # pyoxigraph releases the RocksDB lock when the store object goes away.
        del self._store


class _Checkpoints:
    """Read-only checkpoints of an on-disk store for the query workers.

    A checkpoint (`Store.backup`: hard links to the store's files, ~15 ms) is made when a
    query needs one and the store changed since the last; it is deleted once a newer one
    exists and no query holds it. Opening the live store read-only from another process
    while the node writes is undefined in Oxigraph; a checkpoint never changes."""

    def __init__(self, store: ox.Store, path: Path | None):
        self._store = store
        self._root = path.parent / "query-checkpoints" if path else None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)  # a previous run's
            self._root.mkdir(parents=True)
        self._lock = threading.Lock()
        self._generation = 0
        self._current: tuple[int, QuerySource] | None = None
        self._leases: Counter[QuerySource] = Counter()

    def changed(self) -> None:
        with self._lock:
            self._generation += 1

    @contextmanager
    def lease(self) -> Iterator[QuerySource]:
        with self._lock:
            generation = self._generation
            if self._current is None or self._current[0] != generation:
                old = self._current
                self._current = (generation, self._make())
                if old is not None and not self._leases[old[1]]:
                    self._remove(old[1])
            source = self._current[1]
            self._leases[source] += 1
        try:
            yield source
        finally:
            with self._lock:
                self._leases[source] -= 1
                if not self._leases[source]:
                    del self._leases[source]
                    if not self._is_current(source):
                        self._remove(source)

    def _is_current(self, source: QuerySource) -> bool:
        return self._current is not None and self._current[1] == source

    def _make(self) -> QuerySource:
        if self._root is None:
            return QuerySource(nquads=self._store.dump(format=ox.RdfFormat.N_QUADS))
        target = self._root / uuid.uuid4().hex
        self._store.backup(str(target))
        return QuerySource(path=str(target))

    @staticmethod
    def _remove(source: QuerySource) -> None:
        if source.path:
            shutil.rmtree(source.path, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            self._current = None
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
