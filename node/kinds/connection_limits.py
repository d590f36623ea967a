"""Connection limits, the third record kind: an import or export limit a DNO or IDNO sets on
an asset connected in its licence area.

- held on the DNO's node (the asset itself is on its holder's node, often another one);
- written by a DNO or IDNO, only for its licence areas (POL-008);
- read by the asset's organisation, the DNO of the area and NESO (POL-003, as assets);
- shapes: shapes/connection_limit.ttl (LIM-001..007); errors LIM-IN-*, LIM-VAL, LIM-404,
  LIM-412, LIM-428;
- every write through the one write path (node/records/unit.py): history and audit.

Deleting a limit removes the current record (SPARQL no longer sees it); its versions and
audit entries stay.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox
from rdflib import Graph, URIRef
from rdflib.namespace import XSD

from common.vocab import ASSET_BASE, DCTERMS, FMAR, ID_BASE, ORG_BASE, SHAPES_DIR
from node import audit, policy
from node.asset_fields import Field, FieldTable, to_json_value
from node.audit import now_iso
from node.events.changes import change_data
from node.identity import Caller
from node.inputs import Properties, properties_from_json
from node.kinds.asset_records import RDF_TYPE, VALIDATOR
from node.ntriples import term_value
from node.query import filters as asset_filters
from node.records.kind import UUID, Facts, RecordKind
from node.records.reading import history as record_history
from node.records.refusals import not_found, refusal
from node.records.status import Action
from node.records.unit import UnitOfWork
from node.store import GraphWrite
from node.validation import ShapeSet

LIMIT_BASE = ID_BASE + "connection-limit/"
SHAPES_FILE = SHAPES_DIR / "connection_limit.ttl"

FIELDS = (
    Field("AssetId", FMAR.limitsAsset, "asset"),
    Field("OrganisationId", FMAR.organisation, "org"),  # the asset's holder: it reads the limit
    Field("DNOConnection", FMAR.dnoConnection, "code:DNOCode"),
    Field("ExportLimit", FMAR.exportLimit, "decimal"),
    Field("ImportLimit", FMAR.importLimit, "decimal"),
)
STATE_FIELDS = ("LimitId", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("LIM", FIELDS, STATE_FIELDS, "LimitId", "A connection limit",
                   "connection-limit field names",
                   "the fields are " + ", ".join(f.name for f in FIELDS))
_BY_PREDICATE = {f.iri: f for f in FIELDS}


@dataclass
class LimitRecord:
    """A stored connection limit as read from its named graph."""

    iri: str
    triples: list[ox.Triple]
    values: dict[str, str]

    @classmethod
    def from_triples(cls, iri: str, triples: Iterable[ox.Triple]) -> LimitRecord | None:
        kept = [t for t in triples if term_value(t.subject) == iri]
        values = {t.predicate.value: term_value(t.object) for t in kept}
        if values.get(RDF_TYPE) != str(FMAR.ConnectionLimit):
            return None
        return cls(iri, kept, values)

    @property
    def limit_id(self) -> str:
        return self.iri[len(LIMIT_BASE):]

    @property
    def version(self) -> int:
        return int(self.values.get(str(FMAR.version), 0))

    @property
    def etag(self) -> str:
        return f'"{self.limit_id}.v{self.version}"'

    @property
    def facts(self) -> Facts:
        area = self.values.get(str(FMAR.dnoConnection))
        return Facts(self.values.get(str(FMAR.organisation), "").removeprefix(ORG_BASE),
                     area.rsplit("/", 1)[-1] if area else None)

    def properties(self) -> Properties:
        return [(t.predicate.value, str(t.object)) for t in self.triples
                if t.predicate.value in _BY_PREDICATE]

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"LimitId": self.limit_id, "id": self.iri}
        for f in FIELDS:
            if f.iri in self.values:
                body[f.name] = to_json_value(f, URIRef(self.values[f.iri]))
        body["SetBy"] = self.values.get(str(FMAR.setBy), "").removeprefix(ORG_BASE)
        body["Version"] = self.version
        body["Created"] = self.values.get(str(DCTERMS.created))
        body["Modified"] = self.values.get(str(DCTERMS.modified))
        return body


CONNECTION_LIMIT = RecordKind(
    name="connection-limit", label="connection limit", code="LIM", iri_base=LIMIT_BASE,
    rdf_class=FMAR.ConnectionLimit, table=TABLE, shapes=(SHAPES_FILE,),
    rules=("LIM-001", "LIM-002", "LIM-003", "LIM-004", "LIM-005", "LIM-006", "LIM-007",
           "LIM-IN-001", "LIM-IN-002", "LIM-IN-003", "LIM-VAL", "LIM-404", "LIM-412",
           "LIM-428", "POL-008"),
    held_by="the DNO's (or IDNO's) node",
    read=LimitRecord.from_triples, facts=lambda record: record.facts,
)
SHAPES = ShapeSet(Graph().parse(SHAPES_FILE), FMAR.ConnectionLimit)


def _facts_of(props: Properties) -> Facts:
    found = {p: o.strip("<>") for p, o in props}
    area = found.get(str(FMAR.dnoConnection))
    return Facts(found.get(str(FMAR.organisation), "").removeprefix(ORG_BASE),
                 area.rsplit("/", 1)[-1] if area else None)


def _ntriples(iri: str, props: Properties, *, set_by: str, version: int, created: str,
              modified: str) -> str:
    s = f"<{iri}>"
    dt = f"<{XSD.dateTime}>"
    return "\n".join([
        f"{s} <{RDF_TYPE}> <{FMAR.ConnectionLimit}> .",
        f"{s} <{FMAR.setBy}> <{ORG_BASE}{set_by}> .",
        f'{s} <{FMAR.version}> "{version}"^^<{XSD.integer}> .',
        f'{s} <{DCTERMS.created}> "{created}"^^{dt} .',
        f'{s} <{DCTERMS.modified}> "{modified}"^^{dt} .',
        *(f"{s} <{p}> {o} ." for p, o in props),
    ])


def _checked(iri: str, text: str) -> None:
    """LIM-001..007 (shapes/connection_limit.ttl) on the record as it would be stored."""
    violations = VALIDATOR.validate(text, SHAPES, [iri])
    if violations:
        raise refusal(CONNECTION_LIMIT, violations)


class ConnectionLimits:
    def __init__(self, unit: UnitOfWork):
        self.unit = unit
        self.store = unit.store

    def _existing(self, limit_id: str) -> LimitRecord:
        iri = CONNECTION_LIMIT.iri_of(limit_id)
        record = LimitRecord.from_triples(iri, self.store.triples(iri))
        if record is None:
            raise not_found(CONNECTION_LIMIT)
        return record

    def create(self, body: Any, caller: Caller) -> LimitRecord:
        props = properties_from_json(body, table=TABLE)
        iri = LIMIT_BASE + str(uuid.uuid4())
        time = now_iso()
        text = _ntriples(iri, props, set_by=caller.organisation_id, version=1, created=time,
                         modified=time)
        _checked(iri, text)
        policy.authorise(caller, CONNECTION_LIMIT.name, Action.CREATE_LIMIT, _facts_of(props))
        self.unit.write(caller, Action.CREATE_LIMIT, [GraphWrite(iri, text, replace=False)],
                        [(iri, 1)])
        record = LimitRecord.from_triples(iri, self.store.triples(iri))
        assert record is not None
        return record

    def read(self, limit_id: str, caller: Caller) -> LimitRecord:
        record = self._existing(limit_id)
        policy.authorise(caller, CONNECTION_LIMIT.name, "read", record.facts)
        return record

    def replace(self, limit_id: str, body: Any, caller: Caller,
                if_match: str | None) -> LimitRecord:
        props = properties_from_json(body, allow_asset_id=True, table=TABLE)
        iri = CONNECTION_LIMIT.iri_of(limit_id)

        def authorise(current: LimitRecord) -> None:
            policy.authorise(caller, CONNECTION_LIMIT.name, Action.UPDATE_LIMIT, current.facts)

        def build(current: LimitRecord, version: int) -> str:
            text = _ntriples(iri, props, set_by=caller.organisation_id, version=version,
                             created=current.values.get(str(DCTERMS.created)) or now_iso(),
                             modified=now_iso())
            _checked(iri, text)
            # The new limit must be one the caller could set: not moved out of its areas.
            policy.authorise(caller, CONNECTION_LIMIT.name, Action.CREATE_LIMIT, _facts_of(props))
            return text

        return self.unit.change(CONNECTION_LIMIT, iri, caller, if_match, Action.UPDATE_LIMIT,
                                authorise, build, change_data(LimitRecord.as_json, {"SetBy"}))

    def delete(self, limit_id: str, caller: Caller, if_match: str | None) -> None:
        """The current record goes (an empty graph); its versions and audit entries stay."""
        def authorise(current: LimitRecord) -> None:
            policy.authorise(caller, CONNECTION_LIMIT.name, Action.DELETE_LIMIT, current.facts)

        self.unit.change(CONNECTION_LIMIT, CONNECTION_LIMIT.iri_of(limit_id), caller, if_match or "*",
                         Action.DELETE_LIMIT, authorise, lambda current, version: "")

    def history(self, limit_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self.read(limit_id, caller)
        return record_history(CONNECTION_LIMIT, self.store, current, "limit",
                              LimitRecord.as_json)

    def audit_trail(self, limit_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self._existing(limit_id)
        policy.authorise(caller, CONNECTION_LIMIT.name, "audit", current.facts)
        return [entry.as_dict() for entry, _ in audit.entries(self.store, current.iri)]

    def search(self, caller: Caller, asset_id: str | None, limit: int,
               after: str | None) -> tuple[list[LimitRecord], str | None]:
        """The limits the caller may read (POL-003), optionally of one asset, by ID."""
        scope = policy.asset_read_scope(caller)
        where = [*asset_filters.scope_patterns(scope),
                 f"?asset a <{FMAR.ConnectionLimit}> ."]
        if asset_id:
            if not UUID.match(asset_id):
                return [], None
            where.append(f"?asset <{FMAR.limitsAsset}> <{ASSET_BASE}{asset_id}> .")
        start = CONNECTION_LIMIT.iri_of(after) if after else ""
        matches = (s["asset"].value for s in self.store.select(
            f"SELECT ?asset WHERE {{ GRAPH ?asset {{ {' '.join(where)} }} }}"))
        iris = heapq.nsmallest(limit + 1, (iri for iri in matches if iri > start))
        records = [r for r in (LimitRecord.from_triples(i, self.store.triples(i))
                               for i in iris[:limit]) if r is not None]
        cursor = records[-1].limit_id if len(iris) > limit and records else None
        return records, cursor

