"""Market units: an SPU (the assets behind one connection point) or an SPG (assets across
sites within one GSP group, licence area or constraint zone), held on its FSP's node.

- IRI https://id.fmar.uk/market-unit/{uuid}, class fmar:MarketUnit; errors MU-IN-*,
  MU-VAL (shapes/market_unit.ttl, MU-VAL-001..010), MU-404, MU-412, MU-428;
- written by its own FSP only (POL-041); read by the FSP, NESO, and the DNOs of the
  licence areas its members span (POL-003 on `fmar:spansDnoArea`);
- the node keeps, on every write, the areas and GSP groups spanned, the capability of the
  members in force that day, and when and why it last changed materially;
- members are separate records (node/kinds/market_unit_members.py), with a date each.

A material change (node/kinds/market_unit_capability.py `material_reasons`) is stamped on
the unit and passed to `material_change`, the one place that tells anyone else: the
callbacks in `material_hooks` (qualifications, events) are called with (unit IRI, reason).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyoxigraph as ox
from rdflib.namespace import XSD

from common.errors import Conflict
from common.vocab import CODE, FMAR, ORG_BASE, SHAPES_DIR
from node import ntriples
from node.asset_fields import Field, FieldTable
from node.audit import now_iso
from node.identity import Caller
from node.inputs import Properties
from node.kinds import market_unit_capability as composition
from node.kinds.market_unit_capability import UNIT_BASE, Placement, today
from node.records.kind import Facts, RecordKind
from node.records.record import Record
from node.records.service import CHANGE_DATA, Records
from node.records.unit import UnitOfWork

SHAPES_FILE = SHAPES_DIR / "market_unit.ttl"

FIELDS = (
    Field("Name", FMAR.marketUnitName, "string"),
    Field("OrganisationId", FMAR.organisation, "org"),
    Field("UnitType", FMAR.marketUnitType, "code:MarketUnitType"),
    Field("ConnectionMPAN", FMAR.connectionMPAN, "string"),
    Field("SitePostcode", FMAR.sitePostcode, "string"),
    Field("LocationScope", FMAR.locationScope, "code:LocationScope"),
    Field("GSPGroup", FMAR.unitGspGroup, "code:GSPGroup"),
    Field("DNOArea", FMAR.unitDnoArea, "code:DNOCode"),
    Field("ConstraintZone", FMAR.constraintZone, "string"),
    # what the unit states of its capability, for eligibility (node/kinds/eligibility.py)
    Field("FullDeliveryTimeSeconds", FMAR.fullDeliveryTime, "decimal"),
    Field("SustainedDurationMinutes", FMAR.sustainedDuration, "decimal"),
    Field("Direction", FMAR.direction, "code:Direction"),
    Field("BMRegistered", FMAR.bmRegistered, "boolean"),
    Field("MeteringResolution", FMAR.meteringResolution, "string"),
)
CAPABILITY_FIELDS = frozenset({"FullDeliveryTimeSeconds", "SustainedDurationMinutes",
                               "Direction", "BMRegistered", "MeteringResolution"})
KEPT_FIELDS = ("Capability", "SpansDNOAreas", "SpansGSPGroups", "MaterialChangeAt",
               "MaterialChangeReason")
TABLE = FieldTable("MU", FIELDS, ("UnitId", "SetBy", "Version", "Created", "Modified",
                                  *KEPT_FIELDS),
                   "UnitId", "A market unit", "market-unit field names",
                   "the fields are " + ", ".join(f.name for f in FIELDS))
# Changing these changes where the unit is: a material change.
PLACEMENT_FIELDS = frozenset(str(f.predicate) for f in FIELDS
                             if f.name not in ("Name", "OrganisationId", *CAPABILITY_FIELDS))
_DECIMAL = str(XSD.decimal)


def _codes(record: Record, predicate: Any) -> list[str]:
    return sorted(v.rsplit("/", 1)[-1] for v in record.values.get(str(predicate), []))


class UnitRecord(Record):
    """A stored market unit, with what the node keeps about it in its JSON."""

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        number = composition.Capability(self.value(FMAR.capabilityOn) or "")
        number.members = int(self.value(FMAR.memberCount) or 0)
        number.gen = composition.decimal_of(self.value(FMAR.totalGenCapacity))
        number.demand = composition.decimal_of(self.value(FMAR.totalDemandCapacity))
        number.rated = composition.decimal_of(self.value(FMAR.totalRatedCapacity))
        summary = number.as_json()
        for detail in ("Categories", "DNOAreas", "GSPGroups"):  # live: GET …/capability
            summary.pop(detail)
        body["Capability"] = summary
        body["SpansDNOAreas"] = _codes(self, FMAR.spansDnoArea)
        body["SpansGSPGroups"] = _codes(self, FMAR.spansGspGroup)
        body["MaterialChangeAt"] = self.value(FMAR.materialChangeAt)
        body["MaterialChangeReason"] = self.value(FMAR.materialChangeReason)
        return body


def _read(iri: str, triples: Iterable[ox.Triple]) -> UnitRecord | None:
    return UnitRecord.from_triples(MARKET_UNIT, iri, triples)  # type: ignore[return-value]


def _facts(record: Record) -> Facts:
    return Facts((record.value(FMAR.organisation) or "").removeprefix(ORG_BASE),
                 spans=frozenset(_codes(record, FMAR.spansDnoArea)))


MARKET_UNIT = RecordKind(
    name="market-unit", label="market unit", code="MU", iri_base=UNIT_BASE,
    rdf_class=FMAR.MarketUnit, table=TABLE, shapes=(SHAPES_FILE,),
    rules=(*(f"MU-VAL-{n:03d}" for n in range(1, 11)), "MU-VAL-037", "MU-VAL-038",
           "MU-IN-001", "MU-IN-002", "MU-IN-003", "MU-VAL", "MU-404", "MU-412", "MU-428",
           "POL-041"),
    held_by="the FSP's node",
    facts=_facts,
    reader=_read,
    area_predicate=FMAR.spansDnoArea,
)


def _unit_change(current: Any, new: Any) -> dict[str, Any]:
    """A unit's change event: its changed fields, material when a material change was
    stamped on it (capability moved past the share, a category added, the scope changed),
    with the reason: what the operators that qualified it subscribe to."""
    data = CHANGE_DATA(current, new)
    stamped = new is not None and \
        new.value(FMAR.materialChangeAt) != current.value(FMAR.materialChangeAt)
    data["material"] = stamped
    if stamped:
        data["reason"] = new.value(FMAR.materialChangeReason)
    return data


class MarketUnits(Records):
    event_data = staticmethod(_unit_change)

    def __init__(self, unit: UnitOfWork, material_share: float = 0.1):
        super().__init__(unit, MARKET_UNIT)
        self.material_share = material_share
        # called with (unit IRI, reason) after each material change is stored
        self.material_hooks: list[Callable[[str, str], object]] = []
        self._reasons: list[str] = []  # of the write under way (under the write lock)

    # ------------------------------------------------------------ what the node keeps

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        day = today()
        total = composition.capability(self.store, current.iri, day) if current else \
            composition.Capability(day)
        dno_areas, gsp_groups = self._spanned(current)
        for predicate, term in props:
            if predicate == str(FMAR.unitDnoArea):
                dno_areas.add(term.strip("<>").rsplit("/", 1)[-1])
            if predicate == str(FMAR.unitGspGroup):
                gsp_groups.add(term.strip("<>").rsplit("/", 1)[-1])
        if current is not None and self._placement(props) != self._placement(
                current.properties()):
            self._reasons.append("connection point or location scope changed")
        kept: Properties = [
            (str(FMAR.capabilityOn), ntriples.typed(day, str(XSD.date))),
            (str(FMAR.memberCount), ntriples.typed(str(total.members), str(XSD.integer))),
            (str(FMAR.totalGenCapacity), ntriples.typed(str(total.gen), _DECIMAL)),
            (str(FMAR.totalDemandCapacity), ntriples.typed(str(total.demand), _DECIMAL)),
            (str(FMAR.totalRatedCapacity), ntriples.typed(str(total.rated), _DECIMAL)),
            *((str(FMAR.spansDnoArea), f"<{CODE}DNOCode/{a}>") for a in sorted(dno_areas)),
            *((str(FMAR.spansGspGroup), f"<{CODE}GSPGroup/{g}>") for g in sorted(gsp_groups)),
        ]
        if current is None:  # a new unit (built outside the lock: never read _reasons)
            return kept
        at = current.value(FMAR.materialChangeAt)
        reason = current.value(FMAR.materialChangeReason)
        if self._reasons:  # a change runs under the write lock (`_announced`)
            at, reason = now_iso(), "; ".join(self._reasons)
        if at and reason:
            kept += [(str(FMAR.materialChangeAt), ntriples.typed(at, str(XSD.dateTime))),
                     (str(FMAR.materialChangeReason), ntriples.string(reason))]
        return kept

    def _spanned(self, current: Record | None) -> tuple[set[str], set[str]]:
        """The licence areas and GSP groups of every member the unit has had or will have."""
        dno_areas: set[str] = set()
        gsp_groups: set[str] = set()
        for membership in composition.memberships(self.store, unit=current.iri) \
                if current else []:
            asset = composition.asset_record(self.store, membership.asset)
            if asset is not None and asset.dno_area:
                dno_areas.add(asset.dno_area)
            if asset is not None and asset.code(FMAR.gspGroup):
                gsp_groups.add(asset.code(FMAR.gspGroup) or "")
        return dno_areas, gsp_groups

    @staticmethod
    def _placement(props: Properties) -> set[tuple[str, str]]:
        return {p for p in props if p[0] in PLACEMENT_FIELDS}

    # ------------------------------------------------------------ rules on other records

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """MU-VAL-037: a changed unit still fits every member in force today or later."""
        if current is None:
            return
        placement = Placement.of(candidate.values)
        for membership in composition.memberships(self.store, unit=candidate.iri):
            if not membership.in_force_from(today()):
                continue
            asset = composition.asset_record(self.store, membership.asset)
            misfit = placement.misfit(asset) if asset is not None else None
            if misfit is not None:
                raise Conflict("MU-VAL-037", "The change leaves a member outside the unit: "
                               f"asset {asset.asset_id if asset else ''} {misfit[1]}. End "
                               "its membership first.",
                               {"asset": membership.asset.rsplit("/", 1)[-1],
                                "membership": membership.membership_id})

    # ------------------------------------------------------------ writes

    def change(self, record_id: str, caller: Caller, if_match: str | None, verb: str,
               new_props: Any) -> Record:
        return self._announced(lambda: super(MarketUnits, self).change(
            record_id, caller, if_match, verb, new_props), [])

    def recompute(self, record_id: str, caller: Caller, reasons: list[str]) -> Record:
        """Keep the unit's spans and capability after its composition changed (the
        membership is already stored); `reasons`: why that change was material."""
        return self._announced(lambda: super(MarketUnits, self).change(
            record_id, caller, "*", "recompute", lambda current: current.properties()),
            reasons)

    def _announced(self, write: Callable[[], Record], reasons: list[str]) -> Record:
        """Run a change with `reasons` (and any `kept` finds) stamped on the unit; announce
        them once it is stored."""
        with self.unit.lock:
            self._reasons = list(reasons)
            try:
                record = write()
                found = self._reasons
            finally:
                self._reasons = []
        if found:
            self.material_change(record.iri, "; ".join(found))
        return record

    def delete(self, record_id: str, caller: Caller, if_match: str | None) -> None:
        """MU-VAL-038: a unit with members in force today or later is not removed (end
        their memberships first); its versions and past memberships stay."""
        current = self.read(record_id, caller)
        with self.unit.lock:
            open_ = [m for m in composition.memberships(self.store, unit=current.iri)
                     if m.in_force_from(today())]
            if open_:
                raise Conflict("MU-VAL-038", "The market unit still has members: end their "
                               "memberships before removing it.",
                               {"members": [m.asset.rsplit("/", 1)[-1] for m in open_]})
            super().delete(record_id, caller, if_match)

    def material_change(self, unit_iri: str, reason: str) -> None:
        """The one place a material change is announced (it is already stamped on the
        unit as MaterialChangeAt and MaterialChangeReason)."""
        for hook in self.material_hooks:
            hook(unit_iri, reason)
