"""The one write path: every write of every record kind goes through `UnitOfWork`.

A write stores the record, the copy of its previous version (history) and its audit
entries in one store transaction, under one lock, so the version check (If-Match), the
new version and the audit chain are decided together. Later, events go here too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.errors import Stale, VersionRequired
from node import bulk_commit
from node.audit import AuditLog
from node.identity import Caller
from node.records.kind import RecordKind
from node.records.refusals import store_unavailable
from node.records.tombstone import absent
from node.store import GraphWrite, RecordStore, StoreError
from node.store.base import trig_text

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


class UnitOfWork:
    def __init__(self, store: RecordStore):
        self.store = store
        self.lock = threading.RLock()
        bulk_commit.recover(store)
        self.audit = AuditLog(store)
        # checks every change passes once authorised: (kind, IRI) -> None or raise
        # (a record frozen by a switch hand-over, node/switching/)
        self.guards: list[Callable[[RecordKind, str], None]] = []

    def write(self, caller: Caller, action: str, writes: list[GraphWrite],
              records: list[tuple[str, int]]) -> None:
        """Store `writes` and one audit entry per (record IRI, version), in one transaction."""
        with self.lock, _store_errors():
            audit_write, head = self.audit.prepare(caller, action, records)
            self.store.write([*writes, audit_write])
            self.audit.commit(head)

    def write_spool(self, caller: Caller, action: str, spool: Path, iris: list[str]) -> None:
        """A validated upload spooled as TriG (version 1 of each record): its audit entries
        are appended and the file loaded whole, or, when large, through the pending
        marker of node/bulk_commit.py."""
        if not iris:
            return
        with self.lock, _store_errors():
            audit_write, head = self.audit.prepare(caller, action, [(iri, 1) for iri in iris])
            with spool.open("ab") as out:
                out.write(trig_text([audit_write]).encode())
            if len(iris) <= SINGLE_TRANSACTION_LIMIT:
                self.store.load_file(spool)
            else:
                bulk_commit.commit(self.store, spool, iris, self.audit.sequence + 1)
            self.audit.commit(head)

    def change(self, kind: RecordKind, iri: str, caller: Caller, if_match: str | None,
               action: str, authorise: Callable[[Any], None],
               make: Callable[[Any, int], str]) -> Any:
        """Replace a record by `make(current, new_version) -> N-Triples`: authorised first
        (so a caller learns nothing of a record it may not touch), then guarded by
        If-Match; the version it replaces is kept as history."""
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
            self.write(caller, action, [GraphWrite(iri, make(current, version), replace=True),
                                        history], [(iri, version)])
        return kind.read(iri, self.store.triples(iri))
