"""Audit entries carried with a record from the node that held it before (a switch).

They are kept verbatim, hashes included, in `urn:fmar:carried-audit:<switch ID>` of the
journal (node/records/journal.py), so
they can still be checked against the chain of the node that wrote them; this node's own
chain (`urn:fmar:audit`) goes on with its own entries."""

from __future__ import annotations

from node import audit
from node.audit import AuditEntry
from node.store import GraphWrite, RecordStore

CARRIED_BASE = "urn:fmar:carried-audit:"


def graph_write(switch_id: str, entries_ntriples: str) -> GraphWrite:
    return GraphWrite(CARRIED_BASE + switch_id, entries_ntriples, replace=True)


def entries(journal: RecordStore, record: str) -> list[AuditEntry]:
    query = audit._ENTRY_QUERY.replace(f"GRAPH <{audit.AUDIT_GRAPH}>", "GRAPH ?g") % (
        f'FILTER (?record = <{record}> && STRSTARTS(STR(?g), "{CARRIED_BASE}"))')
    return [audit._entry(s)[0] for s in journal.journal.select(query)]
