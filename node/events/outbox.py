"""The outbox: events numbered 1, 2, 3 ... per node, each a named graph written in the
same store transaction as the change it reports (node/records/unit.py).

`head` is the newest *committed* sequence: readers (the feed, the delivery worker) never
read beyond it, so they do not see the events of a large upload still loading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from node.audit import now_iso
from node.events.model import EV, Event, EventDraft, event_graph
from node.store import GraphWrite, RecordStore


def newest_sequence(store: RecordStore) -> int:
    """The newest event's sequence by O(log n) point reads (events are numbered without
    gaps, as audit entries are)."""

    def exists(n: int) -> bool:
        return bool(store.triples(event_graph(n)))

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
        self.head = newest_sequence(store)
        self._listeners: list[Callable[[], None]] = []

    def prepare(self, drafts: Iterable[EventDraft]) -> tuple[list[GraphWrite], int]:
        """Number `drafts` after the head: the writes to store with the change, and the head
        they lead to (`commit` it once stored). Called under the unit's lock."""
        sequence, time, writes = self.head, now_iso(), []
        for d in drafts:
            sequence += 1
            event = Event.of(sequence, time, d)
            writes.append(GraphWrite(event.graph, event.ntriples(), replace=True))
        return writes, sequence

    def write_lines(self, drafts: Iterable[EventDraft], out: Callable[[str], object]) -> int:
        """Stream numbered `drafts` as TriG into a spool (bulk uploads, constant memory);
        returns the head they lead to."""
        sequence, time = self.head, now_iso()
        for d in drafts:
            sequence += 1
            event = Event.of(sequence, time, d)
            out(f"<{event.graph}> {{\n{event.ntriples()}\n}}\n")
        return sequence

    def commit(self, head: int) -> None:
        if head == self.head:
            return
        self.head = head
        for listener in self._listeners:
            listener()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after events are committed (wakes the delivery worker)."""
        self._listeners.append(listener)

    def read(self, sequence: int) -> Event | None:
        if sequence < 1 or sequence > self.head:
            return None
        return Event.from_triples(self.store.triples(event_graph(sequence)))

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
