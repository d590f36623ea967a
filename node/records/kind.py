"""A record kind as a declaration: what the machinery needs to store, check, version,
audit and authorise records of that kind. Each kind declares one in node/kinds/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyoxigraph as ox
from rdflib import URIRef

from common.errors import NotFound
from common.vocab import FMAR, ORG_BASE, VERSION_BASE
from node.asset_fields import FieldTable
from node.records.record import Record

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class StoredRecord(Protocol):
    """What the write path reads of a stored record of any kind."""

    iri: str
    triples: list[ox.Triple]

    @property
    def version(self) -> int: ...

    @property
    def etag(self) -> str: ...


@dataclass(frozen=True)
class Facts:
    """What policy needs to know of a record: whose it is, where, and whether it is public."""

    organisation: str = ""
    dno_area: str | None = None
    public: bool = False
    operator: str | None = None  # the system operator role that runs a product
    state: str | None = None  # a record state a rule depends on (a product's status)
    # further licence areas a record spans (a market unit's members'): their DNOs read it
    spans: frozenset[str] = frozenset()


KINDS: dict[str, RecordKind] = {}  # every declared kind, by name (node/kinds/ declare them)


@dataclass(frozen=True)
class RecordKind:
    name: str  # the kind in the policy table, e.g. "asset"
    label: str  # in messages: "No such {label}."
    code: str  # error code family: ARM-404, LIM-412, ...
    iri_base: str  # a record's IRI (and its named graph) is iri_base + its ID
    rdf_class: URIRef
    table: FieldTable | None  # client fields (JSON name <-> predicate) and state fields
    shapes: tuple[Path, ...]  # SHACL shapes its records conform to
    rules: tuple[str, ...]  # the rule IDs those shapes (and the kind's code) report
    held_by: str  # which party's node holds the records
    # the accessors policy needs; by default the organisation and area predicates below
    facts: Callable[[Any], Facts] | None = None
    # (IRI, triples) -> record or None; by default a generic Record (node/records/record.py)
    reader: Callable[[str, Iterable[ox.Triple]], Any] | None = None
    # where search finds the facts of a stored record (POL-003 inside the query)
    organisation_predicate: URIRef = FMAR.organisation
    area_predicate: URIRef | None = FMAR.dnoConnection
    # values the node keeps beyond SetBy/Version/Created/Modified, shown in JSON: name ->
    # predicate (a generic kind's service computes them in `kept`)
    kept: tuple[tuple[str, URIRef], ...] = ()

    def __post_init__(self) -> None:
        KINDS[self.name] = self

    def read(self, iri: str, triples: Iterable[ox.Triple]) -> Any:
        """The stored record at `iri` from its graph's triples, or None."""
        if self.reader is not None:
            return self.reader(iri, triples)
        return Record.from_triples(self, iri, triples)

    def facts_of(self, record: Any) -> Facts:
        if self.facts is not None:
            return self.facts(record)
        area = record.value(self.area_predicate) if self.area_predicate else None
        return Facts((record.value(self.organisation_predicate) or "").removeprefix(ORG_BASE),
                     area.rsplit("/", 1)[-1] if area else None)

    def action(self, verb: str) -> str:
        """A generic kind's action name, in the audit log and the policy table:
        "create-market-unit"."""
        return f"{verb}-{self.name}"

    def iri_of(self, record_id: str) -> str:
        """A record's IRI from its ID (a UUID, assigned by the node); anything else names no
        record (<CODE>-404, never a store error)."""
        if not UUID.match(record_id):
            raise self.not_found()
        return self.iri_base + record_id

    def not_found(self) -> NotFound:
        return NotFound(f"{self.code}-404", f"No such {self.label}.")

    def record_id(self, iri: str) -> str:
        return iri[len(self.iri_base):]

    def version_iri(self, iri: str, version: int) -> str:
        """The named graph of an earlier version (assets keep their original form)."""
        local = self.record_id(iri) if self.name == "asset" else f"{self.name}/{self.record_id(iri)}"
        return f"{VERSION_BASE}{local}:{version}"
