"""The export bundle of a switch, generic over record kinds: each record's current graph,
its earlier versions and its audit entries, as N-Triples text in JSON.

`export` reads it on the sending node (the records are frozen, so it reads the same
each time it is asked); `received_writes` builds, on the receiving node, the writes
that make the records its own: versions 1..n as they were, version n+1 naming the new
organisation, and the carried audit entries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox

from common.errors import BadInput, Invalid
from common.vocab import DCTERMS, FMAR, ORG_BASE, PROV, XSD
from node import audit
from node.ntriples import term_value
from node.records import carried
from node.records.kind import UUID, RecordKind
from node.store import GraphWrite, RecordStore

_REPLACED = {str(FMAR.organisation), str(FMAR.version), str(DCTERMS.modified)}


def _text(triples: list[ox.Triple]) -> str:
    return "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in triples)


@dataclass(frozen=True)
class Bundle:
    switch_request: str
    switch_id: str
    kind: str
    from_organisation: str
    to_organisation: str
    records: list[dict[str, Any]]  # {iri, kind, version, graph, versions: {n: text}, audit}

    def as_json(self) -> dict[str, Any]:
        return {"switch_request": self.switch_request, "switch_id": self.switch_id,
                "kind": self.kind, "from_organisation": self.from_organisation,
                "to_organisation": self.to_organisation, "records": self.records}

    @classmethod
    def from_json(cls, body: Any) -> Bundle:
        try:
            records = [{"iri": str(r["iri"]), "kind": str(r.get("kind", body["kind"])),
                        "version": int(r["version"]),
                        "graph": str(r["graph"]),
                        "versions": {str(k): str(v) for k, v in dict(r["versions"]).items()},
                        "audit": str(r["audit"])} for r in body["records"]]
            return cls(str(body["switch_request"]), str(body["switch_id"]), str(body["kind"]),
                       str(body["from_organisation"]), str(body["to_organisation"]), records)
        except (KeyError, TypeError, ValueError):
            raise BadInput("SWITCH-IN-001", "A switch transfer is a JSON bundle: "
                           "switch_request, switch_id, kind, from_organisation, "
                           "to_organisation and records.") from None


def export(requested: RecordKind, kind_of: Callable[[str], RecordKind], store: RecordStore,
           journal: RecordStore, switch_request: str, switch_id: str, holder: str,
           requester: str, iris: list[str]) -> Bundle:
    """The bundle of a switch of `requested` records: `iris` are those and the records
    carried with them (a unit's memberships and member assets), each of `kind_of(iri)`;
    their earlier versions and audit entries are read from the `journal`."""
    records = []
    for iri in iris:
        kind = kind_of(iri)
        current = kind.read(iri, store.triples(iri))
        if current is None:
            raise kind.not_found()
        versions = {str(n): _text(journal.triples(kind.version_iri(iri, n)))
                    for n in range(1, current.version)}
        entries = "\n".join(e.ntriples(h) for e, h in audit.entries(journal, iri))
        carried_before = "\n".join(e.ntriples() for e in carried.entries(journal, iri))
        records.append({"iri": iri, "kind": kind.name, "version": current.version, "graph": _text(current.triples),
                        "versions": versions, "audit": "\n".join(
                            x for x in (carried_before, entries) if x)})
    return Bundle(switch_request, switch_id, requested.name, holder, requester, records)


def record_organisation(bundle_record: dict[str, Any]) -> str | None:
    for t in _parse(bundle_record["graph"]):
        if term_value(t.subject) == bundle_record["iri"] and \
                term_value(t.predicate) == str(FMAR.organisation):
            return term_value(t.object).removeprefix(ORG_BASE)
    return None


def _parse(text: str) -> list[ox.Triple]:
    try:
        return [q.triple for q in ox.parse(text.encode(), format=ox.RdfFormat.N_TRIPLES)]
    except (SyntaxError, ValueError):
        raise BadInput("SWITCH-IN-001", "A record of the bundle is not N-Triples.") from None


def check(kinds: Mapping[str, RecordKind], bundle: Bundle) -> None:
    """SWITCH-VAL-002 / SWITCH-IN-001 on the receiving node, before anything is staged:
    each record is a record of the kind it says (its IRI), of the former holder, and every
    text of the bundle is N-Triples."""
    for r in bundle.records:
        kind = kinds[r["kind"]]
        rid = r["iri"].removeprefix(kind.iri_base)
        if rid == r["iri"] or not UUID.match(rid) or \
                record_organisation(r) != bundle.from_organisation:
            raise Invalid("SWITCH-VAL-002", f"A record of the bundle is not a {kind.label} of "
                          f"'{bundle.from_organisation}'.", {"record": r["iri"][:200]})
        for text in (*r["versions"].values(), r["audit"]):
            _parse(text)


def _carried_entries(text: str, iris: set[str]) -> str:
    """Only the audit entries about the bundle's own records travel."""
    triples = _parse(text)
    about = {term_value(t.subject) for t in triples
             if term_value(t.predicate) == str(PROV.used) and term_value(t.object) in iris}
    return "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in triples
                     if term_value(t.subject) in about)


def received_writes(kinds: Mapping[str, RecordKind], bundle: Bundle, now: str) -> tuple[
        list[GraphWrite], list[tuple[str, int]]]:
    """The writes that make the bundle's records this node's, and the (IRI, version) of
    each new version (for the audit entries)."""
    writes, versions = [], []
    audit_text = []
    for r in bundle.records:
        iri, version, kind = r["iri"], r["version"], kinds[r["kind"]]
        for n, text in r["versions"].items():
            writes.append(GraphWrite(kind.version_iri(iri, int(n)), text, replace=True))
        writes.append(GraphWrite(kind.version_iri(iri, version), r["graph"], replace=True))
        s = f"<{iri}>"
        kept = [f"{t.subject} {t.predicate} {t.object} ." for t in _parse(r["graph"])
                if not (term_value(t.subject) == iri and term_value(t.predicate) in _REPLACED)]
        kept += [f"{s} <{FMAR.organisation}> <{ORG_BASE}{bundle.to_organisation}> .",
                 f'{s} <{FMAR.version}> "{version + 1}"^^<{XSD}integer> .',
                 f'{s} <{DCTERMS.modified}> "{now}"^^<{XSD}dateTime> .']
        writes.append(GraphWrite(iri, "\n".join(kept), replace=True))
        versions.append((iri, version + 1))
        if r["audit"]:
            audit_text.append(_carried_entries(r["audit"], {iri}))
    writes.append(carried.graph_write(bundle.switch_id, "\n".join(audit_text)))
    return writes, versions
