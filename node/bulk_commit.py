"""Committing a large all-or-nothing upload without one giant transaction.

Oxigraph holds a whole transaction in memory (about 55 KB an asset, 5.7 GB for
100,000), so a large validated upload is committed through a *pending marker*
(`Upload`):

1. while the upload is still being validated, each part of `PART_BYTES` of valid records
   (about 6,000) is loaded as soon as it is full, without a transaction (Oxigraph's bulk
   loader, 2-3x faster), after a small transaction has added the part's records to the
   upload's marker graph (BULK-020: the store write overlaps validation);
2. once every row passed, the upload's audit entry and Merkle leaves are written to the
   journal first (node/records/journal.py, by the unit of work), then the last part is
   loaded with the upload's events graph, after the marker has been given the audit
   sequence and first event they use;
3. the marker is dropped, with the journal's applied marker set, in one record-store
   transaction: that is the commit point.

If a row fails, a load fails, or the node stops before step 3, the upload is rolled back
(at once, or by `recover` when the register opens): its records, events and the marker
go, so the record store holds all of the upload or none of it; its audit entry, already
in the journal, is then past the applied marker and rolled back too (JRN-001,
node/records/journal.py). While it runs, readers may see the records of the parts loaded
so far; other writers wait for the register's lock only while a part loads. An upload
that never outgrows `single_transaction` records is loaded in one transaction at the end,
with its events and the applied marker, as before.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from common.vocab import FMAR
from node.events import outbox
from node.store import GraphWrite, RecordStore, StoreError
from node.store.base import trig_text

PENDING_BASE = "urn:fmar:pending-upload:"
_XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
ROLL_BACK_BATCH = 2_000  # graphs cleared per transaction when rolling an upload back
PART_BYTES = 32 * 1024 * 1024  # of TriG per bulk load (about 6,000 records)


class Upload:
    """The records of one all-or-nothing upload, added as they are validated (`add`), then
    committed with the upload's events (`commit`) or dropped (`abandon`)."""

    def __init__(self, store: RecordStore, lock: threading.RLock, folder: Path,
                 single_transaction: int):
        self.store, self.lock = store, lock
        self.single_transaction = single_transaction
        self.marker: str | None = None  # once a part has been loaded
        self.count = 0
        self._path = folder / "part.trig"
        self._part = self._path.open("wb")
        self._size = 0
        self._records: list[str] = []  # of the part being filled

    def add(self, trig: bytes, records: list[str]) -> None:
        """Records (TriG of whole graphs, their IRIs); a full part is loaded now (under the
        lock), once the upload is too large for one transaction."""
        self._part.write(trig)
        self._size += len(trig)
        self._records += records
        self.count += len(records)
        if self._size >= PART_BYTES and self.count > self.single_transaction:
            with self.lock:
                self._load_part([])

    def commit(self, tail: list[GraphWrite], first_sequence: int,
               first_event: int | None = None,
               with_commit: Sequence[GraphWrite] = ()) -> None:
        """Load the rest with `tail` (the upload's events graph, added to the record store;
        its audit entry, `first_sequence`, is already in the journal, and its events start at
        `first_event`) and commit: `with_commit` (the journal's applied marker) is written
        in the commit's transaction, the one that drops the pending marker (or, for an
        upload loaded in one transaction, added in that one). Called under the lock."""
        if self.marker is None and self.count <= self.single_transaction:
            self._part.write(trig_text([*tail, *with_commit]).encode())
            self._part.close()
            self.store.load_file(self._path)
            return
        facts = [f'<{{m}}> <{FMAR.sequence}> "{first_sequence}"^^<{_XSD_INTEGER}> .']
        if first_event is not None:
            facts.append(f'<{{m}}> <{outbox.FIRST_EVENT}> "{first_event}"^^<{_XSD_INTEGER}> .')
        self._part.write(trig_text(tail).encode())
        self._load_part(facts)
        assert self.marker is not None
        self._part.close()
        try:
            self.store.write([GraphWrite(self.marker, "", replace=True), *with_commit])
        except StoreError:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Roll back what was loaded (a row failed, or the commit did)."""
        self._part.close()
        if self.marker is not None:
            with self.lock:
                _roll_back(self.store, self.marker)
            self.marker = None

    def _load_part(self, facts: list[str]) -> None:
        """Name the part's records (and `facts`, with `{m}` for the marker) in the marker,
        then load the part without a transaction; roll the upload back if that fails."""
        self.marker = self.marker or f"{PENDING_BASE}{uuid.uuid4()}"
        m = self.marker
        lines = [f.format(m=m) for f in facts]
        lines += [f"<{m}> <{FMAR.pendingRecord}> <{iri}> ." for iri in self._records]
        self._part.close()
        try:
            self.store.write([GraphWrite(m, "\n".join(lines), replace=False)])
            self.store.load_file(self._path, transactional=False)
        except StoreError:
            self.abandon()
            raise
        self._part = self._path.open("wb")
        self._size, self._records = 0, []


def recover(store: RecordStore) -> int:
    """Roll back every upload left pending; returns how many there were."""
    markers = [
        s["g"].value
        for s in store.select(
            f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?g <{FMAR.pendingRecord}> ?r }} "
            f'FILTER STRSTARTS(STR(?g), "{PENDING_BASE}") }}'
        )
    ]
    for marker in markers:
        _roll_back(store, marker)
    return len(markers)


def _roll_back(store: RecordStore, marker: str) -> None:
    """Remove an upload's records and, when the marker names them (it was committing),
    its events; the marker goes last, so a roll back that stops is redone. Its audit entry
    and leaves, in the journal, are past the applied marker: the unit of work rolls them
    back (JRN-001)."""
    records = [
        s["r"].value
        for s in store.select(
            f"SELECT ?r WHERE {{ GRAPH <{marker}> {{ <{marker}> <{FMAR.pendingRecord}> ?r }} }}"
        )
    ]
    # in transactions of ROLL_BACK_BATCH graphs: one transaction of 100,000 graph clears
    # took 3.9 GB; each is flushed, or the deletes pile up in the store's write buffers
    # (BULK-021: 1.9 GB to roll back 100,000 records)
    for start in range(0, len(records), ROLL_BACK_BATCH):
        store.write([GraphWrite(r, "", replace=True)
                     for r in records[start:start + ROLL_BACK_BATCH]])
        store.flush()
    for found in list(store.select(f"SELECT ?e WHERE {{ GRAPH <{marker}> {{ <{marker}> "
                                   f"<{outbox.FIRST_EVENT}> ?e }} }}")):
        outbox.roll_back_from(store, int(found["e"].value))
    store.write([GraphWrite(marker, "", replace=True)])
    store.flush()
