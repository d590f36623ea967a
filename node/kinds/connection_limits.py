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
- a kind on the generic record service (node/records/service.py): every write through the
  one write path (node/records/unit.py), with history and audit.

Deleting a limit removes the current record (SPARQL no longer sees it); its versions and
audit entries stay.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from datetime import time as TimeOfDay
from typing import Any

import pyoxigraph as ox
from rdflib import URIRef

from common.vocab import FMAR, ID_BASE, ORG_BASE, SHAPES_DIR
from node import ntriples
from node.asset_fields import Field, FieldTable, to_json_value
from node.inputs import InputError, Properties, properties_from_json
from node.ntriples import term_value
from node.records.kind import Facts, RecordKind
from node.records.record import RDF_TYPE, Record
from node.records.service import Records
from node.records.unit import UnitOfWork

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


def facts_of(props: Properties) -> Facts:
    """What policy needs of a limit about to be written (its holder and licence area)."""
    found = {p: o.strip("<>") for p, o in props}
    area = found.get(str(FMAR.dnoConnection))
    return Facts(found.get(str(FMAR.organisation), "").removeprefix(ORG_BASE),
                 area.rsplit("/", 1)[-1] if area else None)


# Between reading a body and building the record, each band travels among the limit's
# properties as (fmar:timeBand, its properties as a JSON string literal); `split_bands`
# turns them into the child resources. Never stored in this form.
_TIME_BAND = str(FMAR.timeBand)


def with_bands(props: Properties, bands: Bands) -> Properties:
    return [*props, *((_TIME_BAND, ntriples.string(json.dumps(band))) for band in bands)]


def split_bands(iri: str, props: Properties) -> tuple[Properties, list[str]]:
    """A limit's own properties, and its bands as child resources (N-Triples lines)."""
    own = [(p, o) for p, o in props if p != _TIME_BAND]
    bands = [[(p, o) for p, o in json.loads(json.loads(text))]
             for p, text in props if p == _TIME_BAND]
    return own, band_lines(iri, bands)


class LimitRecord(Record):
    """A stored limit: a generic record whose time profile is read from its child bands."""

    @classmethod
    def read(cls, iri: str, triples: Iterable[ox.Triple]) -> LimitRecord | None:
        record = cls.from_triples(CONNECTION_LIMIT, iri, triples)
        return record if isinstance(record, LimitRecord) else None

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

    def band_properties(self) -> Bands:
        grouped: dict[str, Properties] = {}
        for t in self.triples:
            subject = term_value(t.subject)
            if subject.startswith(self.iri + BAND_MARK) and \
                    t.predicate.value in _BAND_BY_PREDICATE:
                grouped.setdefault(subject, []).append((t.predicate.value, str(t.object)))
        number = len(self.iri + BAND_MARK)
        return [grouped[s] for s in sorted(grouped, key=lambda s: int(s[number:] or 0))]

    def properties(self) -> list[tuple[str, str]]:
        return with_bands(super().properties(), self.band_properties())

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        bands = self.bands()
        if bands:
            body[PROFILE] = bands
        return body


CONNECTION_LIMIT = RecordKind(
    name="connection-limit", label="connection limit", code="LIM", iri_base=LIMIT_BASE,
    rdf_class=FMAR.ConnectionLimit, table=TABLE, shapes=(SHAPES_FILE,),
    rules=("GICM-VAL-*", "LIM-IN-001", "LIM-IN-002", "LIM-IN-003", "LIM-IN-004",
           "LIM-IN-009", "LIM-IN-013", "LIM-VAL", "LIM-BULK", "LIM-404", "LIM-412", "LIM-428",
           "POL-008"),
    held_by="the DNO's (or IDNO's) node",
    reader=lambda iri, triples: LimitRecord.read(iri, triples),
)


class ConnectionLimits(Records):
    """Limits need nothing beyond their shapes (GICM-VAL-001..026) and policy (POL-003,
    POL-008); their time profile is read from the body and held as child bands."""

    def __init__(self, unit: UnitOfWork):
        super().__init__(unit, CONNECTION_LIMIT)

    def properties(self, body: Any, *, replacing: bool = False) -> Properties:
        return with_bands(*limit_input(body, allow_id=replacing))

    def children(self, iri: str, props: Properties) -> tuple[Properties, list[str]]:
        return split_bands(iri, props)


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
