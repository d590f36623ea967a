"""What a market unit is made of on a date, read from the node's store: its memberships,
the capability of the members in force (never typed in), whether an asset fits a unit's
connection point or location scope, and when a change of composition is material.

Plain reads and pure functions; the services in node/kinds/market_units.py and
node/kinds/market_unit_members.py decide with them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from common.errors import BadInput
from common.vocab import FMAR, ID_BASE
from node.kinds.asset_records import AssetRecord
from node.records.status import RegistrationStatus
from node.store import RecordStore

UNIT_BASE = ID_BASE + "market-unit/"
MEMBERSHIP_BASE = ID_BASE + "market-unit-membership/"
SPU, SPG = "SPU", "SPG"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def day_of(text: str | None) -> str | None:
    """MU-IN-004: a date parameter (`on`) is YYYY-MM-DD; None stays None."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat() if len(text) == 10 else _bad_day(text)
    except ValueError:
        return _bad_day(text)


def _bad_day(text: str) -> str:
    raise BadInput("MU-IN-004", "A date is YYYY-MM-DD.", {"value": text[:40]})


@dataclass(frozen=True)
class Membership:
    """One stored membership: its asset is in its unit from `valid_from` until `valid_to`
    (exclusive; None: open)."""

    iri: str
    unit: str
    asset: str
    valid_from: str
    valid_to: str | None

    @property
    def membership_id(self) -> str:
        return self.iri.removeprefix(MEMBERSHIP_BASE)

    @property
    def unit_id(self) -> str:
        return self.unit.removeprefix(UNIT_BASE)

    def in_force(self, on: str) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)

    def in_force_from(self, on: str) -> bool:
        """In force on `on` or on any later day."""
        return self.valid_to is None or on < self.valid_to

    def overlaps(self, start: str, end: str | None) -> bool:
        return (end is None or self.valid_from < end) and \
            (self.valid_to is None or start < self.valid_to)


def memberships(store: RecordStore, *, unit: str | None = None,
                asset: str | None = None) -> list[Membership]:
    """The stored memberships of a unit, or of an asset (IRIs), oldest first."""
    bound = [f"?m <{FMAR.memberOf}> <{unit}> ." if unit else "",
             f"?m <{FMAR.memberAsset}> <{asset}> ." if asset else ""]
    rows = store.select(
        "SELECT ?m ?unit ?asset ?from ?to WHERE { GRAPH ?m { "
        f"?m a <{FMAR.MarketUnitMembership}> ; <{FMAR.memberOf}> ?unit ; "
        f"<{FMAR.memberAsset}> ?asset ; <{FMAR.validFrom}> ?from . {' '.join(bound)} "
        f"OPTIONAL {{ ?m <{FMAR.validTo}> ?to }} }} }}")
    found = [Membership(r["m"].value, r["unit"].value, r["asset"].value, r["from"].value,
                        r["to"].value if r["to"] is not None else None) for r in rows]
    return sorted(found, key=lambda m: (m.valid_from, m.iri))


def decimal_of(text: str | None) -> Decimal:
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Capability:
    """The members in force on `on`, summed: computed, never typed in."""

    on: str
    members: int = 0
    gen: Decimal = Decimal(0)
    demand: Decimal = Decimal(0)
    rated: Decimal = Decimal(0)
    categories: Counter[str] = field(default_factory=Counter)
    dno_areas: set[str] = field(default_factory=set)
    gsp_groups: set[str] = field(default_factory=set)

    def add(self, asset: AssetRecord) -> None:
        self.members += 1
        self.gen += decimal_of(asset.first(FMAR.genCapacity))
        self.demand += decimal_of(asset.first(FMAR.demandCapacity))
        self.rated += decimal_of(asset.first(FMAR.ratedCapacity))
        self.categories[asset.code(FMAR.assetCategory) or "unknown"] += 1
        if asset.dno_area:
            self.dno_areas.add(asset.dno_area)
        gsp = asset.code(FMAR.gspGroup)
        if gsp:
            self.gsp_groups.add(gsp)

    def as_json(self) -> dict[str, Any]:
        return {"On": self.on, "Members": self.members, "GenCapacity": _number(self.gen),
                "DemandCapacity": _number(self.demand), "RatedCapacity": _number(self.rated),
                "Categories": dict(sorted(self.categories.items())),
                "DNOAreas": sorted(self.dno_areas), "GSPGroups": sorted(self.gsp_groups)}


def asset_record(store: RecordStore, asset_iri: str) -> AssetRecord | None:
    return AssetRecord.from_triples(asset_iri, store.triples(asset_iri))


def takes_part(asset: AssetRecord | None) -> bool:
    """An asset counts in its unit's capability only while Active: one suspended when its
    consent was revoked (node/kinds/consents.py) leaves it, and its eligibility."""
    return asset is not None and asset.registration_status == RegistrationStatus.ACTIVE


def capability(store: RecordStore, unit_iri: str, on: str) -> Capability:
    total = Capability(on)
    for membership in memberships(store, unit=unit_iri):
        if membership.in_force(on):
            asset = asset_record(store, membership.asset)
            if asset is not None and takes_part(asset):
                total.add(asset)
    return total


def material_reasons(before: Capability, after: Capability, share: float) -> list[str]:
    """Why a change of composition is material (empty: it is not): a capability sum moved
    by more than `share` of what it was, a category was added, or the licence areas or
    GSP groups spanned changed."""
    reasons = []
    for name, old, new in (("GenCapacity", before.gen, after.gen),
                           ("DemandCapacity", before.demand, after.demand),
                           ("RatedCapacity", before.rated, after.rated)):
        if old == new:
            continue
        if old == 0 or abs(new - old) / old > Decimal(str(share)):
            reasons.append(f"{name} {_number(old)} -> {_number(new)} kW")
    added = sorted(set(after.categories) - set(before.categories))
    if added:
        reasons.append("category added: " + ", ".join(added))
    if after.dno_areas != before.dno_areas or after.gsp_groups != before.gsp_groups:
        reasons.append("location changed: licence areas " + ",".join(sorted(after.dno_areas))
                       + "; GSP groups " + ",".join(sorted(after.gsp_groups)))
    return reasons


# ---------------------------------------------------------------- fitting a unit

def _code(value: str | None) -> str | None:
    return value.rsplit("/", 1)[-1] if value else None


def _postcode(value: str | None) -> str:
    return (value or "").replace(" ", "").upper()


@dataclass(frozen=True)
class Placement:
    """What a unit's members must share: its type and connection point or scope."""

    unit_type: str | None
    mpan: str | None = None
    site: str | None = None
    scope: str | None = None
    gsp: str | None = None
    dno: str | None = None

    @classmethod
    def of(cls, values: dict[str, list[str]]) -> Placement:
        def one(predicate: Any) -> str | None:
            found = values.get(str(predicate))
            return found[0] if found else None

        return cls(_code(one(FMAR.marketUnitType)), one(FMAR.connectionMPAN),
                   one(FMAR.sitePostcode), _code(one(FMAR.locationScope)),
                   _code(one(FMAR.unitGspGroup)), _code(one(FMAR.unitDnoArea)))

    def misfit(self, asset: AssetRecord) -> tuple[str, str] | None:
        """(rule, why) when `asset` does not share this unit's connection point (SPU,
        MU-VAL-035) or location scope (SPG, MU-VAL-036); None when it fits."""
        if self.unit_type == SPU:
            if self.mpan and self.mpan not in (asset.first(FMAR.importMPAN),
                                               asset.first(FMAR.exportMPAN)):
                return "MU-VAL-035", f"is not metered at the SPU's connection MPAN {self.mpan}"
            if self.site and _postcode(self.site) != _postcode(asset.first(FMAR.postcode)):
                return "MU-VAL-035", f"is not at the SPU's site (postcode {self.site})"
        if self.unit_type == SPG:
            if self.scope == "GSPGroup" and asset.code(FMAR.gspGroup) != self.gsp:
                return "MU-VAL-036", f"is not in the SPG's GSP group {self.gsp}"
            if self.scope in ("DNOArea", "ConstraintZone") and asset.dno_area != self.dno:
                return "MU-VAL-036", f"is not connected in the SPG's licence area {self.dno}"
        return None
