"""Market unit memberships: an asset is in a unit from `ValidFrom` until `ValidTo`
(exclusive; absent while open). Each is a record of its own (class
fmar:MarketUnitMembership, held with its unit), so the composition at any date is a query,
and every change has its version, audit entry and author.

Rules (shapes/market_unit.ttl MU-VAL-020..025; here, on the node's store, MU-VAL-030..036
and MU-VAL-039), errors MUM-IN-*, MUM-VAL, MUM-404. After each change the unit keeps its
new spans and capability (`MarketUnits.recompute`), stamped material when
`material_reasons` says so.
"""

from __future__ import annotations

from typing import Any

from common.errors import BadInput, Conflict, Invalid, NotFound
from common.vocab import ASSET_BASE, FMAR, SHAPES_DIR
from node.asset_fields import Field, FieldTable
from node.identity import Caller
from node.kinds import market_unit_capability as composition
from node.kinds.asset_records import AssetRecord
from node.kinds.assets import ASSET
from node.kinds.market_unit_capability import (
    MEMBERSHIP_BASE,
    UNIT_BASE,
    Capability,
    Placement,
    today,
)
from node.kinds.market_units import MarketUnits
from node.records.kind import RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.status import RegistrationStatus, ValidationStatus

FIELDS = (
    Field("UnitId", FMAR.memberOf, "iri:" + UNIT_BASE),
    Field("AssetId", FMAR.memberAsset, "asset"),
    Field("OrganisationId", FMAR.organisation, "org"),  # the unit's FSP, set by the node
    Field("ValidFrom", FMAR.validFrom, "date"),
    Field("ValidTo", FMAR.validTo, "date"),
)
TABLE = FieldTable("MUM", FIELDS, ("MembershipId", "SetBy", "Version", "Created", "Modified"),
                   "MembershipId", "A membership", "membership field names",
                   "a new member is {AssetId, ValidFrom, ValidTo?}")
SENT_BY_CLIENT = frozenset({"AssetId", "ValidFrom", "ValidTo"})

MEMBERSHIP = RecordKind(
    name="market-unit-membership", label="membership", code="MUM",
    iri_base=MEMBERSHIP_BASE, rdf_class=FMAR.MarketUnitMembership, table=TABLE,
    shapes=(SHAPES_DIR / "market_unit.ttl",),
    rules=(*(f"MU-VAL-{n:03d}" for n in (*range(20, 26), *range(30, 37), 39)),
           "MUM-IN-001", "MUM-IN-002", "MUM-IN-003", "MUM-VAL", "MUM-404"),
    held_by="the FSP's node (with its unit)",
    area_predicate=None,
)


class Memberships(Records):
    def __init__(self, units: MarketUnits):
        super().__init__(units.unit, MEMBERSHIP)
        self.units = units

    # ------------------------------------------------------------ rules on the store

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        unit_iri = candidate.value(FMAR.memberOf) or ""
        unit = self.units.kind.read(unit_iri, self.store.triples(unit_iri))
        if unit is None:
            raise Invalid("MU-VAL-030", "The market unit named is not held on this node.")
        asset_iri = candidate.value(FMAR.memberAsset) or ""
        asset = composition.asset_record(self.store, asset_iri)
        organisation = unit.facts.organisation
        if asset is None or asset.organisation_id != organisation:
            # never says whether another FSP's asset exists
            raise Invalid("MU-VAL-031", f"Members are assets of {organisation} held on this "
                          f"node; asset {asset_iri.rsplit('/', 1)[-1]} is not one.")
        if current is None:  # joining: the asset as it is now
            self._may_join(asset, Placement.of(unit.values))
        start = candidate.value(FMAR.validFrom) or ""
        end = candidate.value(FMAR.validTo)
        for other in composition.memberships(self.store, asset=asset_iri):
            if other.iri != candidate.iri and other.overlaps(start, end):
                raise Conflict(
                    "MU-VAL-034", f"Asset {asset.asset_id} is already in market unit "
                    f"{other.unit_id} from {other.valid_from} to {other.valid_to or 'open'}: "
                    "an asset is in at most one unit at any time.",
                    {"unit": other.unit_id, "membership": other.membership_id,
                     "ValidFrom": other.valid_from, "ValidTo": other.valid_to})

    @staticmethod
    def _may_join(asset: AssetRecord, placement: Placement) -> None:
        if asset.registration_status != RegistrationStatus.ACTIVE:
            raise Invalid("MU-VAL-032", f"Asset {asset.asset_id} is not active "
                          f"({asset.registration_status}): it cannot join a market unit.")
        if asset.validation_status == ValidationStatus.QUERY:
            raise Invalid("MU-VAL-033", f"Asset {asset.asset_id} has validation status "
                          "Query: it joins a unit once the query is resolved.",
                          {"ValidationReason": asset.first(FMAR.validationReason)})
        misfit = placement.misfit(asset)
        if misfit is not None:
            raise Invalid(misfit[0], f"Asset {asset.asset_id} {misfit[1]}.")

    def refuse_deregistration(self, asset: AssetRecord) -> None:
        """MU-VAL-039: an asset in a unit today or later is not de-registered; ending its
        membership first (ValidTo today or earlier) allows it. A guard of
        `Assets.deregister_guards`."""
        for membership in composition.memberships(self.store, asset=asset.iri):
            if membership.in_force_from(today()):
                raise Conflict(
                    "MU-VAL-039", f"Asset {asset.asset_id} is in market unit "
                    f"{membership.unit_id} (until {membership.valid_to or 'open'}): end "
                    "its membership before de-registering it.",
                    {"unit": membership.unit_id, "membership": membership.membership_id})

    # ------------------------------------------------------------ reads

    def of_unit(self, unit_id: str, caller: Caller, on: str | None) -> list[Record]:
        """The memberships in force on `on` (every one, past and future, when None)."""
        unit = self.units.read(unit_id, caller)
        found = [m for m in composition.memberships(self.store, unit=unit.iri)
                 if on is None or m.in_force(on)]
        return [r for r in (self.kind.read(m.iri, self.store.triples(m.iri)) for m in found)
                if r is not None]

    def capability(self, unit_id: str, caller: Caller, on: str | None) -> Capability:
        unit = self.units.read(unit_id, caller)
        return composition.capability(self.store, unit.iri, on or today())

    # ------------------------------------------------------------ composition changes

    def add(self, unit_id: str, body: Any, caller: Caller) -> Record:
        """A member from ValidFrom (until ValidTo, if given)."""
        unit = self.units.read(unit_id, caller)
        if not isinstance(body, dict):
            raise BadInput("MUM-IN-001", "A new member is a JSON object {AssetId, ValidFrom, "
                           "ValidTo?}.")
        extra = sorted(set(body) - SENT_BY_CLIENT)
        if extra:
            raise BadInput("MUM-IN-002", "A new member is {AssetId, ValidFrom, ValidTo?}; the "
                           "node sets the rest from the unit.", {"fields": extra})
        full = {**body, "UnitId": unit.record_id, "OrganisationId": unit.facts.organisation}
        on = str(body.get("ValidFrom") or "")
        with self.unit.lock:
            self._not_handed_over(unit, str(body.get("AssetId") or ""))
            before = composition.capability(self.store, unit.iri, on)
            record = self.create(full, caller)
            self._recompute(unit, caller, before)
        return record

    def end(self, unit_id: str, membership_id: str, valid_to: Any, caller: Caller) -> Record:
        """The member leaves the unit on `valid_to` (not in force from that day)."""
        unit = self.units.read(unit_id, caller)
        if not isinstance(valid_to, str) or not valid_to:
            raise BadInput("MUM-IN-003", "Ending a membership needs ValidTo, a date "
                           "(YYYY-MM-DD): the day it ends.")
        with self.unit.lock:
            membership = self.existing(membership_id)
            if membership.value(FMAR.memberOf) != unit.iri:
                raise NotFound("MUM-404", "No such membership of this market unit.")
            self._not_handed_over(unit, membership.value(FMAR.memberAsset) or "")
            before = composition.capability(self.store, unit.iri, valid_to)
            record = self.set_fields(membership_id, caller, "*", "end", {"ValidTo": valid_to})
            self._recompute(unit, caller, before)
        return record

    def _not_handed_over(self, unit: Record, asset: str) -> None:
        """SWITCH-409 before anything is stored: a unit, or an asset, frozen by a switch
        hand-over (the unit's guards) takes no new or ended membership."""
        asset_iri = asset if asset.startswith(ASSET_BASE) else ASSET_BASE + asset
        for guard in self.unit.guards:
            guard(self.units.kind, unit.iri)
            guard(ASSET, asset_iri)

    def _recompute(self, unit: Record, caller: Caller, before: Capability) -> None:
        after = composition.capability(self.store, unit.iri, before.on)
        reasons = composition.material_reasons(before, after, self.units.material_share)
        self.units.recompute(unit.record_id, caller, reasons)
