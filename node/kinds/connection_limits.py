"""Connection limits, the third record kind: an import or export limit a DNO or IDNO sets on
a connection point in its licence area (UC-06.2, issue 14).

- held on the DNO's node (the asset itself is on its holder's node, often another one);
- applies to an FMAR asset (AssetId) or to a connection point (MPAN and Site);
- written by a DNO or IDNO, only for its licence areas (POL-008);
- read by the asset's organisation, the DNO of the area and NESO (POL-003, as assets);
- shapes: shapes/connection_limit.ttl (GICM-VAL-001..026); errors LIM-IN-*, LIM-VAL,
  LIM-404, LIM-412, LIM-428; bulk CSV import in node/kinds/limit_import.py;
- a time profile (TimeProfile: seasons and time bands) is held as child resources
  <limit#band-n> in the limit's graph;
- `effective_capability` caps an asset's capability by the limits in force on a day;
- every write through the one write path (node/records/unit.py): history and audit.

Deleting a limit removes the current record (SPARQL no longer sees it); its versions and
audit entries stay.
"""

from __future__ import annotations

import heapq
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from datetime import time as TimeOfDay
from typing import Any

import pyoxigraph as ox
from rdflib import Graph, URIRef
from rdflib.namespace import XSD

from common.vocab import ASSET_BASE, DCTERMS, FMAR, ID_BASE, ORG_BASE, SHAPES_DIR
from node import audit, policy
from node.asset_fields import Field, FieldTable, to_json_value
from node.audit import now_iso
from node.identity import Caller
from node.inputs import InputError, Properties, properties_from_json
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
    Field("MPAN", FMAR.limitsMPAN, "string"),
    Field("Site", FMAR.limitsSite, "string"),
    Field("OrganisationId", FMAR.organisation, "org"),  # the asset's holder: it reads the limit
    Field("DNOConnection", FMAR.dnoConnection, "code:DNOCode"),
    Field("LimitType", FMAR.limitType, "code:LimitType"),
    Field("ExportLimit", FMAR.exportLimit, "decimal"),
    Field("ImportLimit", FMAR.importLimit, "decimal"),
    Field("ConstraintZone", FMAR.constraintZone, "string"),
    Field("ANMScheme", FMAR.anmScheme, "string"),
    Field("CurtailmentOrder", FMAR.curtailmentOrder, "integer"),
    Field("ValidFrom", FMAR.validFrom, "date"),
    Field("ValidTo", FMAR.validTo, "date"),
    Field("Reason", FMAR.limitReason, "string"),
)
PROFILE = "TimeProfile"  # a list of time bands, each of BAND_FIELDS
BAND_FIELDS = (
    Field("Season", FMAR.season, "code:Season"),
    Field("From", FMAR.bandFrom, "time"),
    Field("To", FMAR.bandTo, "time"),
    Field("ImportLimit", FMAR.bandImportLimit, "decimal"),
    Field("ExportLimit", FMAR.bandExportLimit, "decimal"),
)
MAX_BANDS = 48
STATE_FIELDS = ("LimitId", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("LIM", FIELDS, STATE_FIELDS, "LimitId", "A connection limit",
                   "connection-limit field names",
                   "the fields are " + ", ".join([*(f.name for f in FIELDS), PROFILE]))
BAND_TABLE = FieldTable("LIM", BAND_FIELDS, (), "", "A time band", "time band field names",
                        "a band's fields are " + ", ".join(f.name for f in BAND_FIELDS))
_BY_PREDICATE = {f.iri: f for f in FIELDS}
_BAND_BY_PREDICATE = {f.iri: f for f in BAND_FIELDS}
BAND_MARK = "#band-"  # a band's IRI is the limit's IRI + BAND_MARK + its number

Bands = list[Properties]  # the time profile: each band's (predicate, N-Triples object) pairs


def limit_input(body: Any, *, allow_id: bool = False) -> tuple[Properties, Bands]:
    """A limit's JSON (or CSV row) as its properties and its time bands (LIM-IN-001..004).
    In a CSV row, TimeProfile is the same list written as JSON text in one cell."""
    if not isinstance(body, dict) or PROFILE not in body:
        return properties_from_json(body, allow_asset_id=allow_id, table=TABLE), []
    rest = {k: v for k, v in body.items() if k != PROFILE}
    profile = body[PROFILE]
    if isinstance(profile, str):
        profile = _profile_text(profile)
    if profile is None:
        profile = []
    if not isinstance(profile, list) or len(profile) > MAX_BANDS:
        raise InputError("LIM-IN-004", f"{PROFILE} is a list of at most {MAX_BANDS} time bands, "
                         "each an object of " + BAND_TABLE.hint.removeprefix("a band's fields are ")
                         + ".", {"field": PROFILE})
    bands = [properties_from_json(band, table=BAND_TABLE) for band in profile]
    return properties_from_json(rest, allow_asset_id=allow_id, table=TABLE), bands


def _profile_text(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InputError("LIM-IN-004", f"{PROFILE} in a CSV cell is a JSON list of time bands.",
                         {"field": PROFILE}) from None


def band_lines(iri: str, bands: Bands) -> list[str]:
    """The time profile as N-Triples: each band a child resource <limit#band-n>."""
    lines = []
    for number, props in enumerate(bands, start=1):
        band = f"<{iri}{BAND_MARK}{number}>"
        lines.append(f"<{iri}> <{FMAR.timeBand}> {band} .")
        lines.append(f"{band} <{RDF_TYPE}> <{FMAR.TimeBand}> .")
        lines.extend(f"{band} <{p}> {o} ." for p, o in props)
    return lines


@dataclass
class LimitRecord:
    """A stored connection limit as read from its named graph."""

    iri: str
    triples: list[ox.Triple]
    values: dict[str, str]

    @classmethod
    def from_triples(cls, iri: str, triples: Iterable[ox.Triple]) -> LimitRecord | None:
        band_base = iri + BAND_MARK
        kept = [t for t in triples if term_value(t.subject) == iri
                or term_value(t.subject).startswith(band_base)]
        values = {t.predicate.value: term_value(t.object) for t in kept
                  if term_value(t.subject) == iri}
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
                if term_value(t.subject) == self.iri and t.predicate.value in _BY_PREDICATE]

    def bands(self) -> list[dict[str, Any]]:
        """The time profile in band order, as JSON objects."""
        found: dict[int, dict[str, Any]] = {}
        band_base = self.iri + BAND_MARK
        for t in self.triples:
            subject = term_value(t.subject)
            field = _BAND_BY_PREDICATE.get(t.predicate.value)
            if field is None or not subject.startswith(band_base):
                continue
            number = subject[len(band_base):]
            band = found.setdefault(int(number) if number.isdigit() else 0, {})
            value = to_json_value(field, URIRef(term_value(t.object)))
            band[field.name] = "24:00" if field.name == "To" and value == "00:00" else value
        return [found[n] for n in sorted(found)]

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"LimitId": self.limit_id, "id": self.iri}
        for f in FIELDS:
            if f.iri in self.values:
                body[f.name] = to_json_value(f, URIRef(self.values[f.iri]))
        bands = self.bands()
        if bands:
            body[PROFILE] = bands
        body["SetBy"] = self.values.get(str(FMAR.setBy), "").removeprefix(ORG_BASE)
        body["Version"] = self.version
        body["Created"] = self.values.get(str(DCTERMS.created))
        body["Modified"] = self.values.get(str(DCTERMS.modified))
        return body


CONNECTION_LIMIT = RecordKind(
    name="connection-limit", label="connection limit", code="LIM", iri_base=LIMIT_BASE,
    rdf_class=FMAR.ConnectionLimit, table=TABLE, shapes=(SHAPES_FILE,),
    rules=("GICM-VAL-*", "LIM-IN-001", "LIM-IN-002", "LIM-IN-003", "LIM-IN-004",
           "LIM-IN-009", "LIM-IN-013", "LIM-VAL", "LIM-BULK", "LIM-404", "LIM-412", "LIM-428",
           "POL-008"),
    held_by="the DNO's (or IDNO's) node",
    read=LimitRecord.from_triples, facts=lambda record: record.facts,
)
SHAPES = ShapeSet(Graph().parse(SHAPES_FILE), FMAR.ConnectionLimit)


def _facts_of(props: Properties) -> Facts:
    found = {p: o.strip("<>") for p, o in props}
    area = found.get(str(FMAR.dnoConnection))
    return Facts(found.get(str(FMAR.organisation), "").removeprefix(ORG_BASE),
                 area.rsplit("/", 1)[-1] if area else None)


def _ntriples(iri: str, props: Properties, bands: Bands, *, set_by: str, version: int,
              created: str, modified: str) -> str:
    s = f"<{iri}>"
    dt = f"<{XSD.dateTime}>"
    return "\n".join([
        f"{s} <{RDF_TYPE}> <{FMAR.ConnectionLimit}> .",
        f"{s} <{FMAR.setBy}> <{ORG_BASE}{set_by}> .",
        f'{s} <{FMAR.version}> "{version}"^^<{XSD.integer}> .',
        f'{s} <{DCTERMS.created}> "{created}"^^{dt} .',
        f'{s} <{DCTERMS.modified}> "{modified}"^^{dt} .',
        *(f"{s} <{p}> {o} ." for p, o in props),
        *band_lines(iri, bands),
    ])


def facts_of(props: Properties) -> Facts:
    """What policy needs of a limit about to be written (its holder and licence area)."""
    return _facts_of(props)


def new_limit_text(iri: str, props: Properties, bands: Bands, set_by: str, time: str) -> str:
    """Version 1 of a new limit as N-Triples (a bulk import's rows)."""
    return _ntriples(iri, props, bands, set_by=set_by, version=1, created=time, modified=time)


def _checked(iri: str, text: str) -> None:
    """GICM-VAL-001..026 (shapes/connection_limit.ttl) on the record as it would be stored."""
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
        props, bands = limit_input(body)
        iri = LIMIT_BASE + str(uuid.uuid4())
        time = now_iso()
        text = _ntriples(iri, props, bands, set_by=caller.organisation_id, version=1, created=time,
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
        props, bands = limit_input(body, allow_id=True)
        iri = CONNECTION_LIMIT.iri_of(limit_id)

        def authorise(current: LimitRecord) -> None:
            policy.authorise(caller, CONNECTION_LIMIT.name, Action.UPDATE_LIMIT, current.facts)

        def build(current: LimitRecord, version: int) -> str:
            text = _ntriples(iri, props, bands, set_by=caller.organisation_id, version=version,
                             created=current.values.get(str(DCTERMS.created)) or now_iso(),
                             modified=now_iso())
            _checked(iri, text)
            # The new limit must be one the caller could set: not moved out of its areas.
            policy.authorise(caller, CONNECTION_LIMIT.name, Action.CREATE_LIMIT, _facts_of(props))
            return text

        return self.unit.change(CONNECTION_LIMIT, iri, caller, if_match, Action.UPDATE_LIMIT,
                                authorise, build)

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



# ---------------------------------------------------------------- capability under limits

# The seasons of a time profile, by month (ontology/fmar.ttl code:Season).
SEASON_OF_MONTH = {12: "WINTER", 1: "WINTER", 2: "WINTER", 11: "WINTER", 3: "SPRING",
                   4: "SPRING", 5: "SUMMER", 6: "SUMMER", 7: "SUMMER", 8: "SUMMER",
                   9: "AUTUMN", 10: "AUTUMN"}


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _minutes(text: str, end: bool = False) -> int:
    hours, minutes = text.split(":")[:2]
    found = int(hours) * 60 + int(minutes)
    return 24 * 60 if end and found == 0 else found


def in_force(limit: dict[str, Any], on: date) -> bool:
    """A limit applies from ValidFrom to ValidTo, both days included."""
    start, end = limit.get("ValidFrom"), limit.get("ValidTo")
    return (start is None or str(start) <= on.isoformat()) and \
        (end is None or on.isoformat() <= str(end))


def _band_caps(limit: dict[str, Any], on: date, at: TimeOfDay | None, name: str) -> list[float]:
    """A time profile's caps of one direction on a day: the band covering `at`, or, without
    a time, every band of the day's season (the tightest applies at some time that day)."""
    season = SEASON_OF_MONTH[on.month]
    caps = []
    for band in limit.get(PROFILE) or []:
        if band.get("Season") not in (season, "ALL_YEAR"):
            continue
        if at is not None and not (_minutes(str(band["From"])) <= at.hour * 60 + at.minute
                                   < _minutes(str(band["To"]), end=True)):
            continue
        cap = _number(band.get(name))
        if cap is not None:
            caps.append(cap)
    return caps


def _asset_capacity(asset: dict[str, Any], direction: str) -> float | None:
    """What the asset itself can do: GenCapacity (export) or DemandCapacity (import),
    else its RatedCapacity; 0 when it says it cannot (CanExport / CanImport false)."""
    if asset.get(f"Can{direction}") is False:
        return 0.0
    own = _number(asset.get("GenCapacity" if direction == "Export" else "DemandCapacity"))
    return own if own is not None else _number(asset.get("RatedCapacity"))


def effective_capability(asset: dict[str, Any], limits: Iterable[dict[str, Any]], on: date,
                         at: TimeOfDay | None = None) -> dict[str, Any]:
    """An asset's export and import capability in kW on a day (and optionally at a time of
    day), capped by the connection limits in force then. `asset` and `limits` are their
    JSON forms (Elexon names; LimitRecord.as_json). A limit caps by its flat ExportLimit /
    ImportLimit and by its time bands; an EXPORT_ONLY limit allows no import. None means
    neither the asset nor any limit says."""
    applied = [limit for limit in limits if in_force(limit, on)]
    answer: dict[str, Any] = {"on": on.isoformat(), "at": at.isoformat("minutes") if at else None,
                              "limits": sorted(str(lim.get("LimitId")) for lim in applied)}
    for direction in ("Export", "Import"):
        caps = []
        own = _asset_capacity(asset, direction)
        if own is not None:
            caps.append(own)
        for limit in applied:
            flat = _number(limit.get(f"{direction}Limit"))
            if flat is not None:
                caps.append(flat)
            caps.extend(_band_caps(limit, on, at, f"{direction}Limit"))
            if direction == "Import" and limit.get("LimitType") == "EXPORT_ONLY":
                caps.append(0.0)
        answer[f"{direction}Capability"] = min(caps) if caps else None
    return answer
