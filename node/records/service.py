"""Records of one declared kind: create, read, change, state changes, delete, history,
audit and search, every write through the one write path (node/records/unit.py).

A kind whose records need nothing beyond their shapes and policy rows uses `Records`
as it is; a kind with rules that read other records (a market unit's members) subclasses
it and overrides `check`, and one with values the node computes overrides `kept`.
Actions are the kind's verbs ("create-market-unit", node/records/kind.py `action`), each a
row of node/policy.py POLICY.
"""

from __future__ import annotations

import heapq
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import pyoxigraph as ox
from rdflib import Graph
from rdflib.namespace import XSD

from common.errors import BadInput
from common.vocab import DCTERMS, FMAR, ORG_BASE
from node import audit, policy
from node.asset_fields import to_ntriples
from node.audit import now_iso
from node.events.changes import change_data
from node.events.types import event_type
from node.identity import Caller
from node.inputs import Properties, properties_from_json
from node.records import tombstone
from node.records.kind import UUID, RecordKind
from node.records.reading import history as record_history
from node.records.reading import own_triples
from node.records.record import RDF_TYPE, Record
from node.records.refusals import refusal
from node.records.scope import scope_patterns
from node.records.unit import UnitOfWork
from node.store import GraphWrite
from node.validation import ShapeSet, Validator

MAX_PAGE = 1000
_SAFE_IRI = re.compile(r"^https://id\.fmar\.uk/[A-Za-z0-9._~/:-]{1,200}$")
CHANGE_DATA = change_data(Record.as_json, {"SetBy"})  # an event's changed fields


def record_text(kind: RecordKind, iri: str, props: Properties, *, set_by: str, version: int,
                created: str, modified: str, children: Sequence[str] = ()) -> str:
    """A record as N-Triples: its class, what the node keeps, its fields, and the triples of
    its child resources <iri#…> (`Records.children`)."""
    s = f"<{iri}>"
    dt = f"<{XSD.dateTime}>"
    return "\n".join([
        f"{s} <{RDF_TYPE}> <{kind.rdf_class}> .",
        f"{s} <{FMAR.setBy}> <{ORG_BASE}{set_by}> .",
        f'{s} <{FMAR.version}> "{version}"^^<{XSD.integer}> .',
        f'{s} <{DCTERMS.created}> "{created}"^^{dt} .',
        f'{s} <{DCTERMS.modified}> "{modified}"^^{dt} .',
        *(f"{s} <{p}> {o} ." for p, o in props),
        *children,
    ])


def _parsed(kind: RecordKind, iri: str, text: str) -> Record:
    triples = [q.triple for q in ox.parse(text.encode(), format=ox.RdfFormat.N_TRIPLES)]
    record = Record.from_triples(kind, iri, triples)
    assert record is not None  # record_text always states the class
    return record


def record_from_json(kind: RecordKind, item: Mapping[str, Any]) -> Record | None:
    """A record of `kind` from its JSON form (another node's answer): its client fields,
    version and set-by, read back as the node would store them (None if unreadable)."""
    assert kind.table is not None
    fields = {k: v for k, v in item.items() if k in kind.table.by_name}
    try:
        props = properties_from_json(fields, table=kind.table)
        iri = str(item["id"])
        if not (iri.startswith(kind.iri_base) and UUID.match(kind.record_id(iri))):
            return None
        text = record_text(kind, iri, props, set_by=str(item.get("SetBy") or "unknown"),
                           version=int(item.get("Version") or 1),
                           created=str(item.get("Created") or "1970-01-01T00:00:00"),
                           modified=str(item.get("Modified") or "1970-01-01T00:00:00"))
        kept = [f"<{iri}> <{predicate}> <{item[name]}> ." for name, predicate in kind.kept
                if isinstance(item.get(name), str) and _SAFE_IRI.match(item[name])]
        return _parsed(kind, iri, "\n".join([text, *kept]))
    except (BadInput, KeyError, ValueError, SyntaxError):
        return None


@cache
def shape_set(kind: RecordKind) -> ShapeSet:
    """A kind's shapes, compiled once."""
    shapes = Graph()
    for path in kind.shapes:
        shapes.parse(path)
    return ShapeSet(shapes, kind.rdf_class)


class Records:
    # the data of a change's event: its changed fields and whether it is material
    event_data: Callable[[Any, Any], dict[str, Any]] = staticmethod(CHANGE_DATA)

    def __init__(self, unit: UnitOfWork, kind: RecordKind):
        assert kind.table is not None, "a generic kind declares its field table"
        self.unit = unit
        self.store = unit.store
        self.kind = kind
        self.table = kind.table
        self.shapes = shape_set(kind)
        for row_kind, action in policy.POLICY:  # name the events of its actions (EVT-IN-003)
            if row_kind == kind.name and action not in ("read", "audit"):
                event_type(kind.name, action)
        self.validator = Validator(labels={f.iri: f.name for f in self.table.fields})

    # ------------------------------------------------------------ hooks for a kind

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """Rules beyond the shapes, on the record as it would be stored (override; raise a
        domain error to refuse). `current` is None on create."""

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        """Values the node computes and keeps with the record (override)."""
        return []

    def properties(self, body: Any, *, replacing: bool = False) -> Properties:
        """A client's JSON body as the record's properties (override for values the field
        table cannot read alone, e.g. a list of nested objects; `replacing`: a PUT, which
        may echo the record's ID)."""
        return properties_from_json(body, allow_asset_id=replacing, table=self.table)

    def children(self, iri: str, props: Properties) -> tuple[Properties, list[str]]:
        """Properties held as child resources <iri#…> in the record's graph (override):
        the record's own properties, and the children's triples as N-Triples lines."""
        return props, []

    # ------------------------------------------------------------ reads

    def existing(self, record_id: str) -> Record:
        iri = self.kind.iri_of(record_id)
        record = self.kind.read(iri, self.store.triples(iri))
        if record is None:
            raise self.kind.not_found()
        return record

    def read(self, record_id: str, caller: Caller) -> Record:
        """The record, or 410 SWITCH-410 when it moved in a switch (to those who could read
        it), else the kind's 404."""
        iri = self.kind.iri_of(record_id)
        record = self.kind.read(iri, self.store.triples(iri))
        if record is None:
            raise tombstone.absent(self.kind, self.store, iri, caller)
        policy.authorise(caller, self.kind.name, "read", record.facts)
        return record

    def history(self, record_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self.read(record_id, caller)
        return record_history(self.kind, self.unit.journal, current, "record",
                              lambda record: record.as_json(),  # a kind's own reader's
                              self.unit.audit.sequence)

    def audit_trail(self, record_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self.existing(record_id)
        policy.authorise(caller, self.kind.name, "audit", current.facts)
        return audit.trail(self.unit.journal, current.iri, self.unit.audit.sequence)

    def search(self, caller: Caller, where: Mapping[str, Any] | None = None,
               limit: int = 100, after: str | None = None) -> tuple[list[Record], str | None]:
        """The records the caller may read (the kind's read rule inside the query), whose
        fields equal `where` (JSON field names), in ID order after `after`."""
        scope = policy.read_scope(caller, self.kind.name)
        patterns = [*scope_patterns(scope, "r", self.kind.organisation_predicate,
                                    self.kind.area_predicate),
                    f"?r a <{self.kind.rdf_class}> ."]
        for name, value in (where or {}).items():
            field = self.table.by_name.get(name)
            if field is None:
                raise BadInput(f"{self.table.code}-IN-002", f"Cannot filter on '{name}'.",
                               {"fields": [name]})
            if (field.kind == "asset" or field.kind.startswith("iri:")) \
                    and not UUID.match(str(value).removeprefix(field.kind[4:])):
                return [], None
            patterns.append(f"?r <{field.iri}> {to_ntriples(field, value)} .")
        if after and not UUID.match(after):
            raise BadInput("REQ-IN-002", f"`after` is the ID of the last {self.kind.label} of "
                           "the previous page (the `next` it gave).", {"after": after[:100]})
        start = self.kind.iri_base + after if after else ""
        matches = (s["r"].value for s in self.store.select(
            f"SELECT DISTINCT ?r WHERE {{ GRAPH ?r {{ {' '.join(patterns)} }} }}"))
        limit = max(1, min(limit, MAX_PAGE))
        iris = heapq.nsmallest(limit + 1, (iri for iri in matches if iri > start))
        triples = own_triples(self.store, iris[:limit], whole_graph=True)  # one query
        records = [r for r in (self.kind.read(i, triples.get(i, [])) for i in iris[:limit])
                   if r is not None]
        cursor = records[-1].record_id if len(iris) > limit and records else None
        return records, cursor

    def every(self, caller: Caller, where: Mapping[str, Any] | None = None,
              cap: int = 10_000) -> list[Record]:
        """Every record the caller may read (as `search`, page after page), up to `cap`."""
        found: list[Record] = []
        after: str | None = None
        while len(found) < cap:
            page, after = self.search(caller, where, MAX_PAGE, after)
            found += page
            if not after:
                break
        return found[:cap]

    # ------------------------------------------------------------ writes

    def _candidate(self, caller: Caller, iri: str, props: Properties, current: Record | None,
                   version: int) -> tuple[Record, str]:
        """The record as it would be stored, checked against the shapes (<CODE>-VAL with
        every violation) and the kind's own rules."""
        time = now_iso()
        created = (current.value(DCTERMS.created) if current else None) or time
        own, children = self.children(iri, [*props, *self.kept(caller, props, current)])
        text = record_text(self.kind, iri, own, set_by=caller.organisation_id,
                           version=version, created=created, modified=time,
                           children=children)
        violations = self.validator.validate(text, self.shapes, [iri])
        if violations:
            raise refusal(self.kind, violations)
        candidate = _parsed(self.kind, iri, text)
        return candidate, text

    def create(self, body: Any, caller: Caller) -> Record:
        return self.create_from(self.properties(body), caller)

    def create_from(self, props: Properties, caller: Caller) -> Record:
        iri = self.kind.iri_base + str(uuid.uuid4())
        candidate, text = self._candidate(caller, iri, props, None, 1)
        policy.authorise(caller, self.kind.name, self.kind.action("create"), candidate.facts,
                         new=True)
        with self.unit.lock:
            self.check(caller, candidate, None)
            self.unit.write(caller, self.kind.action("create"),
                            [GraphWrite(iri, text, replace=False)], [(iri, 1)])
        return self.existing(candidate.record_id)

    def replace(self, record_id: str, body: Any, caller: Caller,
                if_match: str | None) -> Record:
        props = self.properties(body, replacing=True)
        return self.change(record_id, caller, if_match, "update", lambda current: props)

    def set_fields(self, record_id: str, caller: Caller, if_match: str | None, verb: str,
                   values: Mapping[str, Any]) -> Record:
        """A change of some fields only (a state transition: "withdraw", "decide"), as the
        kind's action `verb`; the other fields stay as they are."""
        changed = properties_from_json(dict(values), table=self.table)
        names = {p for p, _ in changed}

        def merged(current: Record) -> Properties:
            return [p for p in current.properties() if p[0] not in names] + changed

        return self.change(record_id, caller, if_match, verb, merged)

    def change(self, record_id: str, caller: Caller, if_match: str | None, verb: str,
               new_props: Any) -> Record:
        """Replace a record by `new_props(current) -> Properties` as the action `verb`:
        authorised on the record as it is and as it would be, guarded by If-Match, kept
        as history, audited."""
        iri = self.kind.iri_of(record_id)
        action = self.kind.action(verb)

        def authorise(current: Record) -> None:
            policy.authorise(caller, self.kind.name, action, current.facts)

        def build(current: Record, version: int) -> str:
            candidate, text = self._candidate(caller, iri, new_props(current), current, version)
            policy.authorise(caller, self.kind.name, action, candidate.facts, new=True)
            self.check(caller, candidate, current)
            return text

        record: Record = self.unit.change(self.kind, iri, caller, if_match, action,
                                          authorise, build, self.event_data)
        return record

    def delete(self, record_id: str, caller: Caller, if_match: str | None) -> None:
        """The current record goes (an empty graph); its versions and audit entries stay."""
        action = self.kind.action("delete")

        def authorise(current: Record) -> None:
            policy.authorise(caller, self.kind.name, action, current.facts)

        self.unit.change(self.kind, self.kind.iri_of(record_id), caller, if_match or "*",
                         action, authorise, lambda current, version: "")
