"""The one write path: every write of every record kind goes through `UnitOfWork`.

A write stores the record, the copy of its previous version (history) and its audit
entries in one store transaction, under one lock, so the version check (If-Match), the
new version and the audit chain are decided together. The events the change emits
(node/events/) are written to the outbox in that same transaction: given by the kind
(`events=[draft(KIND, action, record, data)]`) or, when not given, derived from the kind
and action of each record written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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


class UnitOfWork:
    def __init__(self, store: RecordStore):
        self.store = store
        self.lock = threading.RLock()
        bulk_commit.recover(store)
        self.audit = AuditLog(store)
        self.outbox = Outbox(store)
        # checks every change passes once authorised: (kind, IRI) -> None or raise
        # (a record frozen by a switch hand-over, node/switching/)
        self.guards: list[Callable[[RecordKind, str], None]] = []
        # called under the lock after each committed write (the listing index catches up
        # from the audit log's sequence: node/index/)
        self.after_commit: list[Callable[[], None]] = []

    def write(self, caller: Caller, action: str, writes: list[GraphWrite],
              records: list[tuple[str, int]],
              events: Iterable[EventDraft] | None = None) -> None:
        """Store `writes`, one audit entry per (record IRI, version) and the `events` (by
        default, one per record: `default_events`), in one transaction."""
        with self.lock, _store_errors():
            drafts = list(events) if events is not None else \
                default_events(action, writes, records)
            audit_write, head = self.audit.prepare(caller, action, records)
            event_writes, event_head = self.outbox.prepare(drafts)
            self.store.write([*writes, audit_write, *event_writes])
            self.audit.commit(head)
            self.outbox.commit(event_head)
            self._committed()

    def _committed(self) -> None:
        for hook in self.after_commit:
            hook()

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
                      event: UploadEvent | None = None) -> None:
        """Commit `upload`, given its (record IRI, version, content digest) leaves, with its
        one audit entry (a Merkle root over the leaves, ARM-AUD-001) and its one events
        graph (`event` for each record, EVT-VER-006); all of it, or (rolled back) none."""
        if not leaves:
            upload.abandon()
            return
        with self.lock, _store_errors():
            tail, head = self.audit.prepare_upload(caller, action, leaves)
            event_head, first_event = self.outbox.head, None
            if event is not None:
                events_write, event_head = self.outbox.prepare_upload(
                    event, tail[-1].graph, len(leaves))
                tail.append(events_write)
                first_event = self.outbox.head + 1
            upload.commit(tail, self.audit.sequence + 1, first_event)
            self.audit.commit(head)
            self.outbox.commit(event_head)
            self._committed()

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
