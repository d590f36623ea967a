"""A stored record of a declared kind, read from its named graph: its fields as JSON, its
version and ETag, and the facts policy needs. Kinds with no reader of their own use it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox
from rdflib import Literal, URIRef

from common.vocab import DCTERMS, FMAR, ORG_BASE
from node.asset_fields import to_json_value
from node.ntriples import term_value

if TYPE_CHECKING:
    from node.records.kind import Facts, RecordKind

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

# What the node keeps on every record of a generic kind (never sent by a client).
KEPT = {
    "SetBy": str(FMAR.setBy),
    "Version": str(FMAR.version),
    "Created": str(DCTERMS.created),
    "Modified": str(DCTERMS.modified),
}


@dataclass
class Record:
    kind: RecordKind
    iri: str
    triples: list[ox.Triple]
    values: dict[str, list[str]]  # predicate -> its values, in stored order

    @classmethod
    def from_triples(cls, kind: RecordKind, iri: str,
                     triples: Iterable[ox.Triple]) -> Record | None:
        # the record's own triples, and those of its child resources <iri#…>
        kept = [t for t in triples if term_value(t.subject) == iri
                or term_value(t.subject).startswith(iri + "#")]
        values: dict[str, list[str]] = {}
        for t in kept:
            if term_value(t.subject) == iri:
                values.setdefault(t.predicate.value, []).append(term_value(t.object))
        if str(kind.rdf_class) not in values.get(RDF_TYPE, []):
            return None
        return cls(kind, iri, kept, values)

    def value(self, predicate: str | URIRef) -> str | None:
        found = self.values.get(str(predicate))
        return found[0] if found else None

    @property
    def record_id(self) -> str:
        return self.kind.record_id(self.iri)

    @property
    def version(self) -> int:
        return int(self.value(FMAR.version) or 0)

    @property
    def etag(self) -> str:
        return f'"{self.record_id}.v{self.version}"'

    @property
    def set_by(self) -> str:
        return (self.value(FMAR.setBy) or "").removeprefix(ORG_BASE)

    @property
    def facts(self) -> Facts:
        return self.kind.facts_of(self)

    def field(self, name: str) -> Any:
        """A client field's value as JSON (None if absent)."""
        assert self.kind.table is not None
        field = self.kind.table.by_name[name]
        found = self.value(field.iri)
        # a Literal carries any text (a URIRef of a name with spaces makes rdflib warn)
        return None if found is None else to_json_value(field, Literal(found))

    def properties(self) -> list[tuple[str, str]]:
        """The client fields as (predicate, N-Triples term), as a write receives them."""
        assert self.kind.table is not None
        client = {f.iri for f in self.kind.table.fields}
        return [(t.predicate.value, str(t.object)) for t in self.triples
                if t.predicate.value in client and term_value(t.subject) == self.iri]

    def as_json(self) -> dict[str, Any]:
        assert self.kind.table is not None
        body: dict[str, Any] = {self.kind.table.id_field: self.record_id, "id": self.iri}
        for f in self.kind.table.fields:
            if f.iri in self.values:
                body[f.name] = self.field(f.name)
        for name, predicate in self.kind.kept:
            if str(predicate) in self.values:
                found = self.values[str(predicate)]
                body[name] = found[0] if len(found) == 1 else found
        body["SetBy"] = self.set_by
        body["Version"] = self.version
        body["Created"] = self.value(DCTERMS.created)
        body["Modified"] = self.value(DCTERMS.modified)
        return body
