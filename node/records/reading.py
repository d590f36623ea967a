"""Reading any kind's history: every version with who changed it and when."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pyoxigraph as ox

from node import audit
from node.records import carried
from node.records.kind import RecordKind
from node.store import RecordStore


def history(kind: RecordKind, journal: RecordStore, current: Any, key: str,
            as_json: Callable[[Any], dict[str, Any]],
            upto: int | None = None) -> list[dict[str, Any]]:
    """Versions 1..current of a record, each with its audit entry (action, by whom, when;
    entries carried from the node that held it before a switch count too)
    and the record as it was (under `key`, e.g. "asset"): the earlier versions and the
    entries (up to the committed head `upto`) are read from the journal."""
    by_version = {entry.version: entry for entry in carried.entries(journal, current.iri)}
    by_version.update(audit.by_version(journal, current.iri, upto))
    versions = []
    for n in range(1, current.version + 1):
        record = current if n == current.version else kind.read(
            current.iri, journal.triples(kind.version_iri(current.iri, n)))
        entry = by_version.get(n)
        versions.append({
            "version": n,
            "action": entry.action if entry else None,
            "by": entry.agent if entry else None,
            "organisation": entry.organisation if entry else None,
            "on_behalf_of": entry.on_behalf_of if entry else None,
            "at": entry.time if entry else None,
            key: as_json(record) if record else None,
        })
    return versions


def own_triples(store: RecordStore, iris: Sequence[str],
                whole_graph: bool = False) -> dict[str, list[ox.Triple]]:
    """The triples about each record in its own graph (as `AssetRecord.from_triples` keeps
    them), or with `whole_graph` every triple of its graph (its child resources too, as
    `store.triples` gives them), for many records in one store query (one request to a
    remote store, not one a record); a record that is gone has none."""
    found: dict[str, list[ox.Triple]] = defaultdict(list)
    if not iris:
        return found
    names = " ".join(f"<{iri}>" for iri in iris)
    subject = "?s" if whole_graph else "?g"
    for s in store.select(f"SELECT ?g {'?s ' if whole_graph else ''}?p ?o WHERE "
                          f"{{ VALUES ?g {{ {names} }} GRAPH ?g {{ {subject} ?p ?o }} }}"):
        graph = s["g"]
        found[graph.value].append(ox.Triple(s["s"] if whole_graph else graph, s["p"], s["o"]))
    return found
