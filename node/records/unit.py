"""The one write path: every write of every record kind goes through `UnitOfWork`.

A write stores the copy of the record's previous version (history) and its audit entries
in the journal, then the record in the record store, each in one transaction, under one
lock, so the version check (If-Match), the new version and the audit chain are decided
together; the record write, which carries the journal's applied marker, is the commit
point (node/records/journal.py). The events the change emits (node/events/) are written
to the outbox in the record transaction: given by the kind
(`events=[draft(KIND, action, record, data)]`) or, when not given, derived from the kind
and action of each record written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from common.errors import Stale, VersionRequired
from node import bulk_commit
from node.audit import AuditLog
from node.events.model import EventDraft, UploadEvent
from node.events.outbox import Outbox
from node.events.types import event_type
from node.identity import Caller
from node.records import journal
from node.records.kind import KINDS, RecordKind
from node.records.refusals import store_unavailable
from node.records.tombstone import absent
from node.store import GraphWrite, RecordStore, StoreError

# Uploads up to this size are committed in one store transaction; larger ones
# through a pending marker (node/bulk_commit.py) to keep memory flat.
SINGLE_TRANSACTION_LIMIT = 5_000

SYSTEM = Caller("node", "node", frozenset({"Node"}))  # the node itself (seeding)


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        raise store_unavailable(exc) from None


def check_version(kind: RecordKind, current: Any, if_match: str | None) -> None:
    """<CODE>-428: a change names the version it was made from; <CODE>-412: that version
    is still the current one (`*` accepts any)."""
    if if_match is None:
        raise VersionRequired(
            f"{kind.code}-428",
            f"Changes need an If-Match header with the {kind.label}'s current ETag.")
    if if_match.strip() != "*" and current.etag not in [t.strip() for t in if_match.split(",")]:
        raise Stale(
            f"{kind.code}-412",
            f"The {kind.label} changed since you read it: If-Match does not match the current "
            "ETag. Read it again and re-apply your change.",
            {"current_etag": current.etag, "current_version": current.version},
        )


def kind_of(iri: str) -> RecordKind | None:
    """The declared kind whose IRI base `iri` starts with (the longest)."""
    found = [k for k in KINDS.values() if iri.startswith(k.iri_base)]
    return max(found, key=lambda k: len(k.iri_base)) if found else None


def _parsed(ntriples: str) -> list[Any]:
    """A write's triples (N-Triples, or the Turtle terms rdflib writes for categories)."""
    return list(ox.parse(ntriples, format=ox.RdfFormat.TURTLE)) if ntriples.strip() else []


def default_events(action: str, writes: list[GraphWrite],
                   records: list[tuple[str, int]]) -> list[EventDraft]:
    """One event per record written, typed by its kind and the action, entitled by the
    facts of the record as written (a removed record emits none by default)."""
    content = {w.graph: w.ntriples for w in writes}
    drafts = []
    for iri, version in records:
        kind = kind_of(iri)
        record = kind.read(iri, _parsed(content.get(iri, ""))) if kind else None
        if kind is not None and record is not None:
            drafts.append(EventDraft(event_type(kind.name, action), kind.name, iri, version,
                                     kind.facts_of(record)))
    return drafts


@dataclass(frozen=True)
class Committed:
    """What an `after_commit` hook is told: the sequence of the write's last audit entry
    and what the writer derived from the records written, if anything (an upload's
    listing index rows, node/index/staged.py)."""

    sequence: int
    derived: object = None


class UnitOfWork:
    def __init__(self, store: RecordStore):
        self.store = store
        self.journal = store.journal
        self.lock = threading.RLock()
        bulk_commit.recover(store)
        journal.open_journal(store)
        self.audit = AuditLog(self.journal)
        # a write whose journal part is written and whose record part is not known to
        # have landed (it failed, or anything else stopped it): settled before the next
        self._unsettled = False
        self._writes = 0  # since the applied marker was last compacted
        # called between a change's journal write and its record write (a test hook)
        self.between_writes: list[Callable[[], None]] = []
        self.outbox = Outbox(store)
        # checks every change passes once authorised: (kind, IRI) -> None or raise
        # (a record frozen by a switch hand-over, node/switching/)
        self.guards: list[Callable[[RecordKind, str], None]] = []
        # called under the lock after each committed write (the listing index catches up
        # from the audit log's sequence: node/index/)
        self.after_commit: list[Callable[[Committed], None]] = []

    def write(self, caller: Caller, action: str, writes: list[GraphWrite],
              records: list[tuple[str, int]],
              events: Iterable[EventDraft] | None = None) -> None:
        """Store `writes`, one audit entry per (record IRI, version) and the `events` (by
        default, one per record: `default_events`): history and entries in the journal,
        then the rest with the applied marker, each in one transaction."""
        with self.lock, _store_errors():
            self._settle()
            drafts = list(events) if events is not None else \
                default_events(action, writes, records)
            audit_write, head = self.audit.prepare(caller, action, records)
            event_writes, event_head = self.outbox.prepare(drafts)
            journal_writes, record_writes = journal.split(writes)
            made = journal.generated(head[0], journal_writes)
            self._journal_first([audit_write, *journal_writes, *([made] if made else [])], head)
            self._records_then(head, lambda: self.store.write(
                [*record_writes, *event_writes, self._marker(head[0])]))
            self.audit.commit(head)
            self.outbox.commit(event_head)
            self._committed(Committed(head[0]))

    def _marker(self, sequence: int) -> GraphWrite:
        self._writes += 1
        return journal.marker(sequence, replace=self._writes % journal.COMPACT_EVERY == 0)

    def _journal_first(self, writes: list[GraphWrite], head: tuple[int, str]) -> None:
        """Step 1: the change's entries and history in the journal (one transaction)."""
        if head[0] == self.audit.sequence and not any(w.ntriples.strip() for w in writes):
            return
        self._unsettled = True  # until the records land (a failed write may have landed)
        self.journal.write(writes)
        for hook in self.between_writes:
            hook()

    def _records_then(self, head: tuple[int, str], write: Callable[[], None]) -> None:
        """Step 2, the commit point: the records with the applied marker. If it fails, the
        journal's part is rolled back unless the marker says the records landed (JRN-001)."""
        try:
            write()
        except StoreError:
            self._settle()
            if self.audit.sequence == head[0]:
                return  # landed after all (an answer lost on the way back)
            raise
        self._unsettled = False

    def _settle(self) -> None:
        """After a failed write: the journal agrees with the record store again before the
        next write numbers its entries (node/records/journal.py `settle`)."""
        if not self._unsettled:
            return
        try:
            journal.settle(self.store, self.journal)
        except StoreError:
            return  # still unsettled: tried again before the next write
        self._unsettled = False
        self.audit = AuditLog(self.journal)

    def _committed(self, committed: Committed) -> None:
        for hook in self.after_commit:
            hook(committed)

    def upload(self, folder: Path) -> bulk_commit.Upload:
        """A new all-or-nothing upload (node/bulk_commit.py), its part file in `folder`:
        `add_to_upload` its validated records as they come (loaded in parts once it is
        large, BULK-020), then `commit_upload` it or `abandon()` it."""
        return bulk_commit.Upload(self.store, self.lock, folder, SINGLE_TRANSACTION_LIMIT)

    @staticmethod
    def add_to_upload(upload: bulk_commit.Upload, trig: bytes, records: list[str]) -> None:
        with _store_errors():
            upload.add(trig, records)

    def commit_upload(self, caller: Caller, action: str, upload: bulk_commit.Upload,
                      leaves: list[tuple[str, int, str]],
                      event: UploadEvent | None = None, derived: object = None) -> None:
        """Commit `upload`, given its (record IRI, version, content digest) leaves, with its
        one audit entry (a Merkle root over the leaves, ARM-AUD-001) and its one events
        graph (`event` for each record, EVT-VER-006); all of it, or (rolled back) none.
        As every write: the entry and the leaves go to the journal first, then the upload's
        commit in the record store drops its pending marker and sets the applied marker in
        one transaction (the commit point, node/bulk_commit.py). `derived` is handed to the
        `after_commit` hooks with the entry's sequence (`Committed`)."""
        if not leaves:
            upload.abandon()
            return
        with self.lock, _store_errors():
            self._settle()
            audit_writes, head = self.audit.prepare_upload(caller, action, leaves)
            tail: list[GraphWrite] = []  # to the record store, with the records
            event_head, first_event = self.outbox.head, None
            if event is not None:
                # names the upload's leaves graph (in the journal, where readers look)
                events_write, event_head = self.outbox.prepare_upload(
                    event, audit_writes[-1].graph, len(leaves))
                tail.append(events_write)
                first_event = self.outbox.head + 1
            try:
                self._journal_first(audit_writes, head)
            except BaseException:
                upload.abandon()  # the parts loaded so far go now, not at the next start
                raise
            self._records_then(head, lambda: upload.commit(
                tail, head[0], first_event, [journal.marker(head[0])]))
            self.audit.commit(head)
            self.outbox.commit(event_head)
            self._committed(Committed(head[0], derived))

    def change(self, kind: RecordKind, iri: str, caller: Caller, if_match: str | None,
               action: str, authorise: Callable[[Any], None],
               make: Callable[[Any, int], str],
               event_data: Callable[[Any, Any], dict[str, Any]] | None = None) -> Any:
        """Replace a record by `make(current, new_version) -> N-Triples`: authorised first
        (so a caller learns nothing of a record it may not touch), then guarded by
        If-Match; the version it replaces is kept as history. It emits one event, typed by
        kind and action, entitled by the new record's facts (the old one's when it is
        removed), with `event_data(current, new_record_or_None)` as its data."""
        with self.lock:
            current = kind.read(iri, self.store.triples(iri))
            if current is None:
                raise absent(kind, self.store, iri, caller)  # 404, or 410 when it moved
            authorise(current)
            for guard in self.guards:
                guard(kind, iri)
            check_version(kind, current, if_match)
            version = current.version + 1
            history = GraphWrite(
                kind.version_iri(iri, current.version),
                "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in current.triples),
                replace=True,
            )
            text = make(current, version)
            new = kind.read(iri, _parsed(text))
            event = EventDraft(event_type(kind.name, action), kind.name, iri, version,
                               kind.facts_of(new if new is not None else current),
                               event_data(current, new) if event_data else {})
            self.write(caller, action, [GraphWrite(iri, text, replace=True), history],
                       [(iri, version)], events=[event])
        return kind.read(iri, self.store.triples(iri))
