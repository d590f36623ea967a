"""Committing a large all-or-nothing upload without one giant transaction.

Oxigraph holds a whole transaction in memory (about 55 KB an asset, 5.7 GB for
100,000), so a large validated upload is committed in three steps:

1. a *pending* marker graph naming every record of the upload and its audit
   sequence is written (one small transaction);
2. the records and their events are loaded without a transaction (streamed
   from the spool file in parts of `PART_BYTES`, so Oxigraph's bulk loader holds one
   part at a time; 2-3x faster);
3. the marker is dropped, with the journal's applied marker set: that is the commit point.

If step 2 fails, or the node stops before step 3, `recover` (run when the register
opens) removes the upload's records and events and the marker, so the store holds all of
the upload or none of it; its audit entry, already in the journal, is then past the
applied marker and rolled back too (node/records/journal.py). While step 2 runs, readers may see part of
the upload; other writers wait for the register's lock.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from common.vocab import FMAR
from node.events import outbox
from node.store import GraphWrite, RecordStore, StoreError

PENDING_BASE = "urn:fmar:pending-upload:"
_XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
ROLL_BACK_BATCH = 2_000  # graphs cleared per transaction when rolling an upload back
PART_BYTES = 32 * 1024 * 1024  # of TriG per bulk load (about 6,000 records)


def commit(store: RecordStore, spool: Path, records: list[str], first_sequence: int,
           first_event: int | None = None, with_commit: Sequence[GraphWrite] = ()) -> None:
    """Load `spool` (records and their events) so that it lands whole or not at all;
    `with_commit` is written in the commit's transaction."""
    marker = f"{PENDING_BASE}{uuid.uuid4()}"
    lines = [f'<{marker}> <{FMAR.sequence}> "{first_sequence}"^^<{_XSD_INTEGER}> .']
    if first_event is not None:
        lines.append(f'<{marker}> <{outbox.FIRST_EVENT}> "{first_event}"^^<{_XSD_INTEGER}> .')
    lines += [f"<{marker}> <{FMAR.pendingRecord}> <{iri}> ." for iri in records]
    store.write([GraphWrite(marker, "\n".join(lines), replace=True)])
    try:
        _load_in_parts(store, spool)
    except StoreError:
        _roll_back(store, marker)
        raise
    store.write([GraphWrite(marker, "", replace=True), *with_commit])


def _load_in_parts(store: RecordStore, spool: Path) -> None:
    """Load `spool` part by part, each part ending at the end of a graph block (a line
    `}`: every block the spool gets is `<g> {` N-Triples `}`)."""
    with tempfile.TemporaryDirectory(dir=spool.parent) as tmp, spool.open("rb") as source:
        part_path = Path(tmp) / "part.trig"
        more = True
        while more:
            size, more = 0, False
            with part_path.open("wb") as part:
                for line in source:
                    part.write(line)
                    size += len(line)
                    if size >= PART_BYTES and line == b"}\n":
                        more = True
                        break
            if size:
                store.load_file(part_path, transactional=False)


def recover(store: RecordStore) -> int:
    """Roll back every upload left pending; returns how many there were."""
    markers = [
        s["g"].value
        for s in store.select(
            f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?g <{FMAR.sequence}> ?s }} "
            f'FILTER STRSTARTS(STR(?g), "{PENDING_BASE}") }}'
        )
    ]
    for marker in markers:
        _roll_back(store, marker)
    return len(markers)


def _roll_back(store: RecordStore, marker: str) -> None:
    records = [
        s["r"].value
        for s in store.select(
            f"SELECT ?r WHERE {{ GRAPH <{marker}> {{ <{marker}> <{FMAR.pendingRecord}> ?r }} }}"
        )
    ]
    # in transactions of ROLL_BACK_BATCH graphs: one transaction of 100,000 graph clears
    # took 3.9 GB; the marker stays until the end, so a recovery that stops is redone
    for start in range(0, len(records), ROLL_BACK_BATCH):
        store.write([GraphWrite(r, "", replace=True)
                     for r in records[start:start + ROLL_BACK_BATCH]])
    for found in store.select(f"SELECT ?e WHERE {{ GRAPH <{marker}> {{ <{marker}> "
                              f"<{outbox.FIRST_EVENT}> ?e }} }}"):
        outbox.roll_back_from(store, int(found["e"].value))
    store.write([GraphWrite(marker, "", replace=True)])
