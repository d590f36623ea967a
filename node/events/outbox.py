"""The outbox: events numbered 1, 2, 3 ... per node, each a named graph written in the
same store transaction as the change it reports (node/records/unit.py).

`head` is the newest *committed* sequence: readers (the feed, the delivery worker) never
read beyond it, so they do not see the events of a large upload still loading.

A bulk upload's events (one per record, EVT-VER-006) are stored as one graph,
`urn:fmar:event:{first}`, that names the upload's leaves graph (node/audit.py, read from the
journal, node/records/journal.py): event `first + i` is the registration of the i-th record
of the upload by IRI, its facts those of the record's version as written, its id a UUID
derived from the upload's and the sequence, so every read (and every retried webhook) gives
the same event.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from common.vocab import FMAR, XSD
from node.audit import now_iso
from node.events.model import EV, EVENT_BASE, Event, EventDraft, UploadEvent, event_graph
from node.ntriples import string, term_value, typed
from node.records.kind import KINDS, Facts
from node.store import GraphWrite, RecordStore

_RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
_LEAVES_CACHED = 2  # uploads whose record lists are kept in memory (sequential readers)


@dataclass(frozen=True)
class _Upload:
    """The stored events of one upload: sequences first .. first + count - 1."""

    first: int
    count: int
    leaves: str  # the upload's leaves graph (urn:fmar:audit-upload:{sequence})
    batch: str  # a UUID: each event's id is uuid5(batch, sequence)
    time: str
    event: UploadEvent


def _uploads(store: RecordStore) -> list[_Upload]:
    """Every upload's events graph (one row each: few), by first sequence."""
    found = store.select(
        f"SELECT ?g ?p ?o WHERE {{ GRAPH ?g {{ ?g <{EV}count> ?n ; ?p ?o }} "
        f'FILTER STRSTARTS(STR(?g), "{EVENT_BASE}") }}')
    by_graph: dict[str, dict[str, str]] = {}
    for s in found:
        by_graph.setdefault(s["g"].value, {})[s["p"].value.removeprefix(EV)] = \
            term_value(s["o"])
    return sorted((_upload_of(v) for v in by_graph.values()), key=lambda u: u.first)


def _upload_of(v: dict[str, str]) -> _Upload:
    return _Upload(int(v["sequence"]), int(v["count"]), v["leaves"], v["batch"], v["time"],
                   UploadEvent(v["type"], v["kind"], int(v["version"]), json.loads(v["data"])))


def newest_sequence(store: RecordStore, uploads: list[_Upload] | None = None) -> int:
    """The newest event's sequence by O(log n) point reads (events are numbered without
    gaps, as audit entries are)."""
    ends = [u.first + u.count - 1 for u in uploads or []]

    def exists(n: int) -> bool:
        return bool(store.triples(event_graph(n))) or any(
            u.first <= n <= end for u, end in zip(uploads or [], ends, strict=True))

    if not exists(1):
        return 0
    present, absent = 1, 2
    while exists(absent):
        present, absent = absent, absent * 2
    while absent - present > 1:
        middle = (present + absent) // 2
        if exists(middle):
            present = middle
        else:
            absent = middle
    return present


class Outbox:
    def __init__(self, store: RecordStore):
        self.store = store
        self._uploads = _uploads(store)
        self.head = newest_sequence(store, self._uploads)
        self._listeners: list[Callable[[], None]] = []
        self._leaves: OrderedDict[str, list[str]] = OrderedDict()  # by leaves graph
        self._prepared: _Upload | None = None  # an upload's events, until committed

    def prepare(self, drafts: Iterable[EventDraft]) -> tuple[list[GraphWrite], int]:
        """Number `drafts` after the head: the writes to store with the change, and the head
        they lead to (`commit` it once stored). Called under the unit's lock."""
        self._prepared = None  # an upload prepared before this and never committed
        sequence, time, writes = self.head, now_iso(), []
        for d in drafts:
            sequence += 1
            event = Event.of(sequence, time, d)
            writes.append(GraphWrite(event.graph, event.ntriples(), replace=True))
        return writes, sequence

    def prepare_upload(self, event: UploadEvent, leaves: str,
                       count: int) -> tuple[GraphWrite, int]:
        """The one graph holding the events of an upload's `count` records (those of the
        leaves graph `leaves`), numbered after the head, and the head they lead to (`commit`
        it once stored). Called under the unit's lock."""
        first, batch, time = self.head + 1, str(uuid.uuid4()), now_iso()
        self._prepared = _Upload(first, count, leaves, batch, time, event)
        s = f"<{event_graph(first)}>"
        lines = [
            f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{EV}UploadEvents> .",
            f'{s} <{EV}sequence> "{first}"^^<{XSD}integer> .',
            f'{s} <{EV}count> "{count}"^^<{XSD}integer> .',
            f"{s} <{EV}leaves> <{leaves}> .",
            f"{s} <{EV}batch> {string(batch)} .",
            f'{s} <{EV}time> "{time}"^^<{XSD}dateTime> .',
            f"{s} <{EV}type> {string(event.type)} .",
            f"{s} <{EV}kind> {string(event.kind)} .",
            f'{s} <{EV}version> "{event.version}"^^<{XSD}integer> .',
            f"{s} <{EV}data> {typed(json.dumps(event.data, sort_keys=True), _RDF_JSON)} .",
        ]
        return GraphWrite(event_graph(first), "\n".join(lines), replace=True), first + count - 1

    def commit(self, head: int) -> None:
        if head == self.head:
            return
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared.first == self.head + 1 and \
                head == prepared.first + prepared.count - 1:
            self._uploads.append(prepared)
        self.head = head
        for listener in self._listeners:
            listener()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after events are committed (wakes the delivery worker)."""
        self._listeners.append(listener)

    def read(self, sequence: int) -> Event | None:
        if sequence < 1 or sequence > self.head:
            return None
        upload = self._upload_holding(sequence)
        if upload is not None:
            return self._expanded(upload, sequence)
        return Event.from_triples(self.store.triples(event_graph(sequence)))

    def _upload_holding(self, sequence: int) -> _Upload | None:
        i = bisect.bisect_right([u.first for u in self._uploads], sequence) - 1
        if i >= 0 and sequence < self._uploads[i].first + self._uploads[i].count:
            return self._uploads[i]
        return None

    def _expanded(self, upload: _Upload, sequence: int) -> Event | None:
        """Event `sequence` of an upload: its record's registration (EVT-VER-006)."""
        records = self._leaves.get(upload.leaves)
        if records is None:
            # the leaves graph is in the journal (node/records/journal.py)
            records = sorted(s["r"].value for s in self.store.journal.select(
                f"SELECT ?r WHERE {{ GRAPH <{upload.leaves}> {{ ?r <{FMAR.auditLeaf}> ?l }} }}"))
            self._leaves[upload.leaves] = records
            while len(self._leaves) > _LEAVES_CACHED:
                self._leaves.popitem(last=False)
        index = sequence - upload.first
        if index >= len(records):
            return None
        record, e = records[index], upload.event
        return Event(sequence, str(uuid.uuid5(uuid.UUID(upload.batch), str(sequence))),
                     upload.time, e.type, e.kind, record, e.version,
                     self._facts(e.kind, record, e.version), e.data)

    def _facts(self, kind_name: str, iri: str, version: int) -> Facts:
        """The facts of `iri` as it was at `version` (the current record, or its history
        copy in the journal); none (nobody but the node's operators is entitled) if it is
        gone."""
        kind = KINDS.get(kind_name)
        if kind is None:
            return Facts()
        record = kind.read(iri, self.store.triples(iri))
        if record is not None and record.version != version:
            record = kind.read(iri, self.store.journal.triples(kind.version_iri(iri, version)))
        return kind.facts_of(record) if record is not None else Facts()

    def window(self, cursor: int, scan: int) -> int:
        """The last sequence a scan of at most `scan` events after `cursor` reaches now."""
        return max(cursor, min(self.head, cursor + scan))

    def after(self, cursor: int, until: int) -> Iterator[Event]:
        """Committed events after `cursor` up to `until` (from `window`), in order."""
        for sequence in range(cursor + 1, min(until, self.head) + 1):
            event = self.read(sequence)
            if event is not None:
                yield event


FIRST_EVENT = f"{EV}firstPendingEvent"  # on a large upload's pending marker


def roll_back_from(store: RecordStore, first: int) -> None:
    """Remove the events of a large upload that was not committed (node/bulk_commit.py)."""
    sequence, batch = first, []
    while store.triples(event_graph(sequence)):
        batch.append(GraphWrite(event_graph(sequence), "", replace=True))
        sequence += 1
        if len(batch) == 2_000:  # bounded transactions (memory)
            store.write(batch)
            batch = []
    if batch:
        store.write(batch)
