"""The listing index itself: open, keep in step with the record store, and answer.

Consistency (docs/design.md, "The listing index"): every record write stores one audit
entry per record written, in the journal, committed by the record write's applied marker
(node/records/unit.py, node/records/journal.py); the head read here is the committed one.
The index keeps, in its own transaction with the rows, the sequence of the last audit entry
it applied. After each write, at start-up, and before each answer when it is behind, it
reads the entries after that sequence, re-reads those records from the store and replaces
their rows (IDX-001); an upload's rows, built with its records, are applied as they are
when its entry is the only one to apply (node/index/staged.py). A crash between the
store's commit and the index's is so repaired; an index that is missing, of another
schema, or ahead of the store (a store restored from a backup) is rebuilt from the store
(IDX-002).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, delete, event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from common.vocab import ASSET_BASE, AUDIT_BASE, FMAR
from node import policy
from node.audit import AUDIT_GRAPH, UPLOAD_BASE
from node.index import cells, filtered, queries, staged
from node.index.projection import record_row
from node.index.schema import (
    SCHEMA_VERSION,
    assets,
    meta,
    metadata,
)
from node.query import aggregates
from node.query.aggregates import AggregateSpec
from node.query.filters import AssetFilter
from node.records.reading import own_triples
from node.records.unit import Committed
from node.store import RecordStore

log = logging.getLogger(__name__)
CHUNK = 500  # records re-read from the store per query
PROV_USED = "http://www.w3.org/ns/prov#used"
INDEX_FILE = "listing-index.sqlite"


def _engine(path: Path | None) -> Engine:
    if path is None:  # a node without a data directory: an index in memory
        engine = create_engine("sqlite://", poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi: Any, _: Any) -> None:
        cursor = dbapi.cursor()
        if path is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class ListingIndex:
    """One node's index of its asset records (node/index/schema.py)."""

    def __init__(self, store: RecordStore, head: Callable[[], int], path: Path | None = None):
        self.store = store
        self.head = head  # the audit log's head sequence (the unit of work's)
        self.engine = _engine(path)
        self.lock = threading.Lock()  # one catch-up at a time
        self._background = ThreadPoolExecutor(1, thread_name_prefix="listing-index")
        metadata.create_all(self.engine)
        if self._stored("schema") not in (None, SCHEMA_VERSION):  # IDX-002: rebuilt anew
            metadata.drop_all(self.engine)
            metadata.create_all(self.engine)
        self.applied = self._stored_sequence()
        self._odd_reported: set[tuple[str, str]] = set()  # IDX-010: logged

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self.engine.dispose()

    # ------------------------------------------------------------ keeping in step

    def _stored(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def _stored_sequence(self) -> int | None:
        with self.engine.connect() as conn:
            found = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
        if found.get("schema") != SCHEMA_VERSION or "audit_sequence" not in found:
            return None
        return int(found["audit_sequence"])

    def current(self) -> bool:
        return self.applied == self.head()

    def catch_up(self, committed: Committed | None = None) -> None:
        """Apply every audit entry after the last applied (IDX-001), or rebuild (IDX-002).
        When the only entry to apply is an upload's whose rows were built with its records
        (`committed.derived`, node/index/staged.py), those rows are applied instead of
        re-reading its records from the store."""
        with self.lock:
            head = self.head()
            if self.applied is None or self.applied > head:
                self._rebuild(head)
                return
            if (committed is not None and isinstance(committed.derived, staged.StagedRows)
                    and committed.sequence == head == self.applied + 1):
                with self.engine.begin() as conn:
                    self._apply(conn, committed.derived)
                    self._mark(conn, head)
                self.applied = head
                return
            while self.applied < head:
                end = min(head, self.applied + CHUNK * 4)
                iris = self._records_of_entries(self.applied + 1, end)
                with self.engine.begin() as conn:
                    self._replace(conn, iris)
                    self._mark(conn, end)
                self.applied = end

    def ensure_current(self) -> None:
        """Before an answer: an index behind the store (a failed catch-up after a write)
        catches up first, so no answer is ever stale."""
        if not self.current():
            self.catch_up()

    def after_write(self, committed: Committed | None = None) -> None:
        """The unit of work's hook after each committed write. A failure leaves the index
        behind, never wrong: the next answer or write catches up (IDX-001)."""
        try:
            self.catch_up(committed)
        except Exception:
            log.exception("listing index: catch-up failed; it will be retried")

    def _records_of_entries(self, first: int, last: int) -> set[str]:
        found: set[str] = set()
        for start in range(first, last + 1, CHUNK):
            names = " ".join(f"<{AUDIT_BASE}{n}>"
                             for n in range(start, min(last, start + CHUNK - 1) + 1))
            query = (f"SELECT ?r WHERE {{ VALUES ?e {{ {names} }} GRAPH <{AUDIT_GRAPH}> "
                     f"{{ ?e <{PROV_USED}> ?r }} }}")
            found.update(s["r"].value for s in self.store.journal.select(query))
        for upload in [iri for iri in found if iri.startswith(UPLOAD_BASE)]:
            # one entry for a whole upload (ARM-AUD-001): its records are the leaves
            found.update(s["r"].value for s in self.store.journal.select(
                f"SELECT ?r WHERE {{ GRAPH <{upload}> {{ ?r <{FMAR.auditLeaf}> ?leaf }} }}"))
        return {iri for iri in found if iri.startswith(ASSET_BASE)}

    def _rows(self, iris: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Each record's current row (None: it is gone), read from the store in chunks: its
        columns and its JSON (IDX-008) from the same triples."""
        ordered = sorted(iris)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start:start + CHUNK]
            triples = own_triples(self.store, chunk)
            for iri in chunk:
                yield iri, record_row(iri, triples.get(iri, []))

    def _replace(self, conn: Connection, iris: Iterable[str], refresh: bool = True) -> None:
        """The rows of `iris`, re-read and replaced CHUNK at a time: a 100,000-record
        upload's rows held at once raised the node's peak RSS from 823 to 1,074 MiB
        (docs/performance.md). Only the capacity cells' values of the rows (code columns
        and measures, a few short strings a row) are kept across chunks, to refresh the
        cells once (IDX-020)."""
        ordered = sorted(iris)
        parts = [ordered[start:start + CHUNK] for start in range(0, len(ordered), CHUNK)]
        self._put(conn, ([staged.as_tuple(row) for _, row in self._rows(part) if row is not None]
                         for part in parts), parts, refresh)

    def _apply(self, conn: Connection, rows: staged.StagedRows) -> None:
        """An upload's rows, built with its records (node/index/staged.py), a chunk at a
        time as `_replace` puts the rows it reads."""
        self._put(conn, rows.chunks(), None, True)

    def _put(self, conn: Connection, chunks: Iterable[list[staged.Row]],
             replaced: list[list[str]] | None, refresh: bool) -> None:
        """Each chunk of rows replaces the rows of its IRIs (`replaced`, the same chunks'
        IRIs including those now gone; None: the rows' own); the capacity cells' values of
        the rows that left and joined are kept across chunks to refresh the cells once
        (IDX-020)."""
        left: list[tuple[Any, ...]] = []  # the replaced rows as they were (capacity cells)
        joined: list[tuple[Any, ...]] = []
        for n, present in enumerate(chunks):
            iris = replaced[n] if replaced is not None else [r[0] for r in present]
            for start in range(0, len(iris), CHUNK):  # SQLite's limit on parameters
                part = iris[start:start + CHUNK]
                left.extend(tuple(r) for r in conn.exec_driver_sql(
                    cells.rows_of_iris(len(part)), tuple(part)))
                conn.exec_driver_sql(f"DELETE FROM {assets.name} WHERE iri IN "
                                     f"({', '.join('?' for _ in part)})", tuple(part))
            staged.insert(conn, sorted(present))  # in IRI order: fewer pages touched
            if refresh:
                joined.extend(staged.cell_values(row) for row in present)
        if refresh:
            cells.refresh(conn, left, joined)

    def _mark(self, conn: Connection, sequence: int) -> None:
        conn.execute(delete(meta))
        conn.execute(insert(meta), [{"key": "schema", "value": SCHEMA_VERSION},
                                    {"key": "audit_sequence", "value": str(sequence)}])

    def _rebuild(self, head: int) -> None:
        """IDX-002: every current asset record, read again from the store."""
        log.info("listing index: rebuilding from the record store (audit head %s)", head)
        iris = [s["g"].value for s in self.store.select(
            f"SELECT ?g WHERE {{ GRAPH ?g {{ ?g a <{FMAR.Asset}> }} "
            f'FILTER (STRSTARTS(STR(?g), "{ASSET_BASE}")) }}')]
        with self.engine.begin() as conn:
            conn.execute(delete(assets))
            self._replace(conn, iris, refresh=False)
            cells.rebuild(conn)  # summed in one pass over the rows, not held per row
            self._mark(conn, head)
        with self.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        self.applied = head

    # ------------------------------------------------------------ answers

    def page(self, scope: policy.ReadScope, spec: AssetFilter, limit: int,
             after_iri: str) -> tuple[list[str], bool]:
        """The JSON of the first `limit` matching records after `after_iri` (IDX-004,
        IDX-008), and whether more follow."""
        self.ensure_current()
        with self.engine.connect() as conn:
            return queries.page(conn, scope, spec, limit, after_iri)

    def record(self, iri: str) -> tuple[str, str | None, str] | None:
        """IDX-011: (organisation code, licence area code, JSON) of the listed record `iri`
        when its row mirrors it exactly (organisation and area each one canonical IRI:
        IDX-010's state is not irregular), caught up first; else None (the store answers)."""
        self.ensure_current()
        with self.engine.connect() as conn:
            row = conn.execute(select(assets.c.organisation, assets.c.dno, assets.c.doc).where(
                assets.c.iri == iri, assets.c.listed,
                assets.c.q_state.in_((filtered.REGULAR, filtered.ODD_CAPACITY)))).first()
        if row is None or row.organisation is None or row.doc is None:
            return None
        return row.organisation, row.dno, row.doc

    def every(self, scope: policy.ReadScope, spec: AssetFilter,
              batch: int = 1000) -> Iterator[dict[str, Any]]:
        """The JSON of every matching listed record in IRI order, a keyset page of `batch`
        at a time (constant memory; each page catches up first, as any answer). The
        caller's codes are checked now, before the first record (FED-IN-001)."""
        queries.scope_condition(scope)

        def pages() -> Iterator[dict[str, Any]]:
            after = ""
            while True:
                docs, more = self.page(scope, spec, batch, after)
                bodies = [json.loads(doc) for doc in docs]
                yield from bodies
                if not more or not bodies:
                    return
                after = bodies[-1]["id"]

        return pages()

    def aggregate(self, spec: AggregateSpec, access: policy.AggregateScope,
                  key: bytes) -> dict[str, Any] | None:
        """The table `/query/aggregate` answers, or None when the index does not hold the
        spec's dimensions (the store answers). Disclosure control is the same function
        over the same inputs as on the SPARQL path (node/query/aggregates.py)."""
        if not queries.answerable(spec):
            return None
        self.ensure_current()
        with self.engine.connect() as conn:
            if access.disclosure is None:
                return aggregates.exact_table(spec, cells.exact(conn, spec, access.scope)
                                              if cells.answerable(spec) else
                                              list(queries.exact_groups(conn, spec,
                                                                        access.scope)))
            if cells.answerable(spec):  # IDX-021: from the capacity cells
                return aggregates.controlled_cells(
                    spec, cells.finest(conn, spec, access.scope), access.disclosure, key)
            return aggregates.controlled_table(
                spec, list(queries.capacity_groups(conn, spec, access.scope)),
                access.disclosure, key)

    def filter_assets(self, spec: AssetFilter, scope: policy.ReadScope
                      ) -> tuple[bytes, int] | None:
        """IDX-010: the SPARQL JSON results (and their number) of the REST filter form's
        query, or None when the index cannot answer it exactly (node/index/filtered.py):
        then the store answers."""
        if not filtered.answerable(spec):
            return None
        queries.scope_condition(scope)  # the caller's codes checked first (FED-IN-001)
        self.ensure_current()
        with self.engine.connect() as conn:
            odd = filtered.odd_record(conn, spec)
            if odd is not None:
                # once per record, not once per query (and at most 10,000 records)
                if odd not in self._odd_reported and len(self._odd_reported) < 10_000:
                    self._odd_reported.add(odd)
                    log.warning("IDX-010: the record %s has values the listing index "
                                "cannot mirror (%s: two values of a property, a code "
                                "outside its scheme or a blank node; ODD_CAPACITY: a "
                                "capacity Oxigraph reads otherwise); the store answers "
                                "the REST filter form while it is there", *odd)
                return None
            return filtered.answer(conn, spec, scope)

    def newest_modified(self, scope: policy.ReadScope) -> str | None:
        self.ensure_current()
        with self.engine.connect() as conn:
            return queries.newest_modified(conn, scope)


def open_index(data_dir: Path | None, store: RecordStore,
               head: Callable[[], int]) -> ListingIndex:
    """The node's index (`<data dir>/listing-index.sqlite`), caught up with the store."""
    index = ListingIndex(store, head, Path(data_dir) / INDEX_FILE if data_dir else None)
    index.catch_up()
    return index
