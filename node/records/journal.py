"""The journal: history versions and the audit log, kept out of the record store.

The record store holds current records only (JRN-004; with their events and tombstones); every
version a change replaces (`urn:fmar:version:…`), the audit log (`urn:fmar:audit`), the
leaves of upload entries (`urn:fmar:audit-upload:…`) and audit entries carried by a switch
(`urn:fmar:carried-audit:…`) go to the store's `journal` (node/store/: a second Oxigraph
store, `<data dir>/journal`, for the embedded backend; the same dataset for a remote one),
which record queries never scan.

A change is two writes, one per store, and each is one transaction:

1. the journal: the audit entries, the history versions, and one `prov:generated` triple
   per history graph from the change's last entry (in `urn:fmar:journal-graphs`), so the
   journal says which graphs a change added;
2. the record store: the records, the events, and the **applied marker**
   (`urn:fmar:journal-applied`: `fmar:sequence` of the change's last audit entry).

The record write is the commit point. Entries past the marker belong to a change that
never landed: they, their upload leaves and the graphs they generated are rolled back
(JRN-001) when the record write fails (if the marker says it did not land) and, after a
crash between the two writes, when the unit of work opens. A journal behind the marker
(restored from an older backup than the records) is reported (JRN-003): records then hold
changes without their entries; the node goes on from the journal's head (the marker is
set back to it), and `fmar audit verify` against the published head shows the loss
(AUD-ANC-005). Readers of the audit log
read up to the unit's committed head, or up to the marker (`fmar audit verify` beside a
running node), so none sees the entry of a change still landing (JRN-002).

A data directory of before the journal (the journal graphs in the record store) is moved
once, when the unit of work opens (JRN-005): the graphs are copied to the journal
(idempotent: a copy redone after a crash adds nothing), then dropped from the record store
with the marker set to the journal's head, in transactions of `MOVE_BATCH` graphs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from common.vocab import AUDIT_BASE, FMAR, VERSION_BASE
from node import audit
from node.ntriples import term_value
from node.records.carried import CARRIED_BASE
from node.store import GraphWrite, RecordStore

log = logging.getLogger(__name__)

APPLIED_GRAPH = "urn:fmar:journal-applied"
GENERATED_GRAPH = "urn:fmar:journal-graphs"
PROV_GENERATED = "http://www.w3.org/ns/prov#generated"
# graph name prefixes that belong to the journal (`urn:fmar:audit` covers the audit log and
# the upload leaves, `urn:fmar:audit-upload:…`)
JOURNAL_PREFIXES = (VERSION_BASE, CARRIED_BASE, audit.AUDIT_GRAPH, GENERATED_GRAPH)
MOVE_BATCH = 2_000  # graphs per transaction when moving a data directory's journal graphs
LOG_ENTRIES = 20_000  # audit entries per journal write when moving the audit log
ROLL_BACK_CHUNK = 500  # entries per roll-back query
_XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"


def is_journal(graph: str) -> bool:
    return graph.startswith(JOURNAL_PREFIXES)


def split(writes: Sequence[GraphWrite]) -> tuple[list[GraphWrite], list[GraphWrite]]:
    """(the writes that go to the journal, those that go to the record store): the record
    store holds current records only (JRN-004)."""
    return ([w for w in writes if is_journal(w.graph)],
            [w for w in writes if not is_journal(w.graph)])


def generated(head: int, writes: Sequence[GraphWrite]) -> GraphWrite | None:
    """What a change adds to the journal besides its entries, named from its last entry
    (so a roll-back finds it)."""
    graphs = [w.graph for w in writes if w.graph != audit.AUDIT_GRAPH]
    if not graphs:
        return None
    lines = "\n".join(f"<{AUDIT_BASE}{head}> <{PROV_GENERATED}> <{g}> ." for g in graphs)
    return GraphWrite(GENERATED_GRAPH, lines, replace=False)


def marker_line(sequence: int) -> str:
    return f'<{APPLIED_GRAPH}> <{FMAR.sequence}> "{sequence}"^^<{_XSD_INTEGER}> .'


def marker(sequence: int, replace: bool = True) -> GraphWrite:
    """The applied marker, written with the records (the commit point). The highest value
    in the graph counts: a write that only adds (`replace=False`) keeps the record write
    a plain load for the embedded store (replacing a graph makes it a SPARQL update, about
    a third slower for a chunk of 2,000 new records); the unit replaces the graph every
    `COMPACT_EVERY` writes and at start-up, so it stays small."""
    return GraphWrite(APPLIED_GRAPH, marker_line(sequence), replace=replace)


COMPACT_EVERY = 1_000


def applied(store: RecordStore) -> int | None:
    """The sequence of the last audit entry whose change is in the record store (None: no
    marker, a store of before the journal or a new one)."""
    found = [int(term_value(s["n"])) for s in store.select(
        f"SELECT ?n WHERE {{ GRAPH <{APPLIED_GRAPH}> {{ <{APPLIED_GRAPH}> <{FMAR.sequence}> ?n }} }}")]
    return max(found) if found else None


def head(journal: RecordStore) -> int:
    newest = audit.newest_entry(journal)
    return newest[0] if newest else 0


def roll_back(journal: RecordStore, after: int, until: int) -> None:
    """JRN-001: remove the entries after `after` up to `until`, their upload leaves and the
    graphs their changes generated; newest first, so a roll-back that stops leaves entries
    numbered without gaps (the head is found by point reads, `audit.newest_entry`) and is
    redone at the next opening."""
    for end in range(until, after, -ROLL_BACK_CHUNK):
        numbers = range(max(after + 1, end - ROLL_BACK_CHUNK + 1), end + 1)
        names = " ".join(f"<{AUDIT_BASE}{n}>" for n in numbers)
        graphs = [s["g"].value for s in journal.select(
            f"SELECT ?g WHERE {{ VALUES ?e {{ {names} }} GRAPH <{GENERATED_GRAPH}> "
            f"{{ ?e <{PROV_GENERATED}> ?g }} }}")]
        graphs += [f"{audit.UPLOAD_BASE}{n}" for n in numbers]
        journal.write([GraphWrite(g, "", replace=True) for g in graphs])
        journal.update(
            f"DELETE {{ GRAPH ?g {{ ?e ?p ?o }} }} WHERE {{ VALUES ?e {{ {names} }} "
            f"VALUES ?g {{ <{audit.AUDIT_GRAPH}> <{GENERATED_GRAPH}> }} GRAPH ?g {{ ?e ?p ?o }} }}")


def settle(store: RecordStore, journal: RecordStore) -> int:
    """Make the journal agree with the record store's marker (after a crash between the
    two writes, or a record write that failed); returns the committed head."""
    journal_head = head(journal)
    marked = applied(store)
    if marked is None:  # no change written since the journal began: nothing is applied
        marked = 0
    if journal_head > marked:
        log.warning("JRN-001: rolling back audit entries %s..%s of changes that never "
                    "reached the record store", marked + 1, journal_head)
        roll_back(journal, marked, journal_head)
        return marked
    if journal_head < marked:
        log.error("JRN-003: the record store holds changes up to audit entry %s but the "
                  "journal ends at %s (restored from an older backup?); the node goes on from "
                  "the journal's head; `fmar audit verify` against the published head shows "
                  "the loss", marked, journal_head)
        store.write([marker(journal_head)])  # the chain goes on from the journal's head
    return journal_head


def open_journal(store: RecordStore) -> int:
    """At start-up: move a data directory's journal graphs out of the record store
    (JRN-005), mark a store of before the marker, and settle; returns the committed head."""
    journal = store.journal
    if journal is not store:
        move(store, journal)
    elif applied(store) is None:
        # one dataset (a remote store): a store of before the marker had every entry written
        # with its change, so all are applied
        store.write([marker(head(journal))])
    marked = applied(store)
    store.write([marker(marked or 0)])  # one value (compacted), or 0 for a new store
    return settle(store, journal)


def _count(store: RecordStore, graph: str) -> int:
    [row] = list(store.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"))
    return int(term_value(row["n"]))


def _copy_log(store: RecordStore, journal: RecordStore) -> None:
    """The audit log of a record store, added to the journal's entry by entry in parts of
    `LOG_ENTRIES` (memory stays flat; a redo adds nothing), then checked whole: any triple
    left out (an entry numbered past the newest, say) is copied with the whole graph."""
    found = list(store.select(f"SELECT (MAX(?n) AS ?top) WHERE {{ GRAPH <{audit.AUDIT_GRAPH}> "
                              f"{{ ?e <{FMAR.sequence}> ?n }} }}"))
    top = found[0]["top"] if found else None
    newest = int(term_value(top)) if top is not None else 0
    for start in range(1, newest + 1, LOG_ENTRIES):
        names = " ".join(f"<{AUDIT_BASE}{n}>"
                         for n in range(start, min(newest, start + LOG_ENTRIES - 1) + 1))
        lines = [f"{s['s']} {s['p']} {s['o']} ." for s in store.select(
            f"SELECT ?s ?p ?o WHERE {{ VALUES ?s {{ {names} }} "
            f"GRAPH <{audit.AUDIT_GRAPH}> {{ ?s ?p ?o }} }}")]
        if lines:
            journal.write([GraphWrite(audit.AUDIT_GRAPH, "\n".join(lines), replace=False)])
    if _count(journal, audit.AUDIT_GRAPH) < _count(store, audit.AUDIT_GRAPH):
        journal.write([GraphWrite(audit.AUDIT_GRAPH, "\n".join(
            f"{t.subject} {t.predicate} {t.object} ."
            for t in store.triples(audit.AUDIT_GRAPH)), replace=False)])


def move(store: RecordStore, journal: RecordStore) -> int:
    """JRN-005: the journal graphs of a record store of before the journal, moved to the
    journal; returns how many graphs moved."""
    graphs = sorted(g for g in store.graph_names() if is_journal(g))
    if not graphs:
        return 0
    log.info("JRN-005: moving %s history and audit graphs to the journal", len(graphs))
    for start in range(0, len(graphs), MOVE_BATCH):
        batch = []
        for graph in graphs[start:start + MOVE_BATCH]:
            if graph == audit.AUDIT_GRAPH:
                _copy_log(store, journal)
            else:
                batch.append(GraphWrite(graph, "\n".join(
                    f"{t.subject} {t.predicate} {t.object} ." for t in store.triples(graph)),
                    replace=True))
        if batch:
            journal.write(batch)
    marked = applied(store)
    first = [marker(head(journal) if marked is None else marked)]
    for start in range(0, len(graphs), MOVE_BATCH):
        store.write([*first, *(GraphWrite(g, "", replace=True)
                               for g in graphs[start:start + MOVE_BATCH])])
        first = []
    return len(graphs)
