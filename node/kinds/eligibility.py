"""Eligibility: a market unit's capability validated against each product's requirements.

A product version's technical requirements become a SHACL shape (`requirement_shapes`),
generated from its record, one property shape per stated requirement, each with its rule
ID (ELIG-001..007). The unit's capability (`Capability`, computed from its members, its
own optional attributes and the connection limits in force) is one node validated against
that shape with the one validator. Each requirement then has one of three answers:

- met;
- not met: the unit's value, the required value and a sentence in plain words;
- cannot tell: the unit lacks the attribute; the answer names the attribute to add.

A product that states no figure for a requirement asks nothing of it (unknown is not
zero). A unit qualified for a product that an equivalence (node/kinds/equivalences.py)
declares at least as demanding is eligible via that equivalence, and the answer says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rdflib import Graph

from common.vocab import FMAR
from node.kinds.market_unit_capability import asset_record, memberships, takes_part
from node.records.record import Record
from node.validation import ShapeSet, Validator

UNIT = "https://id.fmar.uk/eligibility/unit"  # the focus node of a capability
_VALIDATOR = Validator()
CAPABILITY_CLASS = FMAR.UnitCapability


@dataclass(frozen=True)
class Capability:
    """What a unit can do, as eligibility reads it (None: not known)."""

    up_mw: float | None = None  # more generation / less demand, after connection limits
    down_mw: float | None = None  # less generation / more demand
    full_delivery_s: float | None = None
    sustained_min: float | None = None
    direction: str | None = None  # Up, Down, Both
    asset_count: int = 0
    gsp_groups: frozenset[str] = frozenset()
    dno_areas: frozenset[str] = frozenset()
    constraint_zones: frozenset[str] | None = None  # None: the unit states none
    bm_registered: bool | None = None

    def ntriples(self) -> str:
        s = f"<{UNIT}>"
        lines = [f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{CAPABILITY_CLASS}> ."]

        def add(predicate: str, term: str) -> None:
            lines.append(f"{s} <{FMAR[predicate]}> {term} .")

        def number(value: float) -> str:
            return f'"{Decimal(repr(float(value)))}"^^<http://www.w3.org/2001/XMLSchema#decimal>'

        for name, value in (("upCapacity", self.up_mw), ("downCapacity", self.down_mw),
                            ("fullDeliveryTime", self.full_delivery_s),
                            ("sustainedDuration", self.sustained_min)):
            if value is not None:
                add(name, number(value))
        if self.direction:
            add("direction", f"<https://id.fmar.uk/def/code/Direction/{self.direction}>")
        add("assetCount", number(self.asset_count))
        add("gspGroupCount", number(len(self.gsp_groups)))
        add("dnoAreaCount", number(len(self.dno_areas)))
        if self.constraint_zones is not None:
            add("constraintZoneCount", number(len(self.constraint_zones)))
        if self.bm_registered is not None:
            add("bmRegistered", '"true"^^<http://www.w3.org/2001/XMLSchema#boolean>'
                if self.bm_registered else '"false"^^<http://www.w3.org/2001/XMLSchema#boolean>')
        return "\n".join(lines)

    def value(self, attribute: str) -> Any:
        return {"upCapacity": self.up_mw, "downCapacity": self.down_mw,
                "fullDeliveryTime": self.full_delivery_s,
                "sustainedDuration": self.sustained_min, "direction": self.direction,
                "assetCount": self.asset_count, "gspGroupCount": len(self.gsp_groups),
                "dnoAreaCount": len(self.dno_areas),
                "constraintZoneCount": None if self.constraint_zones is None
                else len(self.constraint_zones),
                "bmRegistered": self.bm_registered}[attribute]


@dataclass(frozen=True)
class Requirement:
    rule: str
    attribute: str  # the capability predicate (local name)
    add: str  # what the unit should state when it cannot be told
    required: str  # in words: "at least 1 MW"
    constraint: str  # the SHACL constraint, in Turtle, on the attribute
    plain: str  # the sentence when not met, with {value} and {required}


def requirements(product: Record) -> list[Requirement]:
    """The requirements a product version states (none for a figure it leaves unknown)."""
    found: list[Requirement] = []
    direction = product.field("Direction")
    minimum = product.field("MinCapacityMW")
    if minimum is not None:
        sides = {"Up": ["upCapacity"], "Down": ["downCapacity"],
                 "Both": ["upCapacity", "downCapacity"]}.get(direction, ["upCapacity"])
        for side in sides:
            words = ("up (more export or less demand)" if side == "upCapacity"
                     else "down (more demand or less export)")
            found.append(Requirement(
                "ELIG-001", side, f"the unit's {words} capability (its members' capacities)",
                f"at least {minimum} MW", f"sh:minInclusive {Decimal(str(minimum))}",
                f"The unit offers {{value}} MW {words}; the product needs {{required}}."))
    seconds = product.field("FullDeliveryTimeSeconds")
    if seconds is not None:
        found.append(Requirement(
            "ELIG-002", "fullDeliveryTime", "FullDeliveryTimeSeconds on the unit",
            f"at most {seconds} s", f"sh:maxInclusive {Decimal(str(seconds))}",
            "The unit reaches full delivery in {value} s; the product needs {required}."))
    minutes = product.field("MinDurationMinutes")
    if minutes is not None:
        found.append(Requirement(
            "ELIG-003", "sustainedDuration", "SustainedDurationMinutes on the unit",
            f"at least {minutes} min", f"sh:minInclusive {Decimal(str(minutes))}",
            "The unit sustains full power for {value} min; the product needs {required}."))
    if direction:
        allowed = {"Up": ["Up", "Both"], "Down": ["Down", "Both"], "Both": ["Both"]}[direction]
        codes = " ".join(f"<https://id.fmar.uk/def/code/Direction/{d}>" for d in allowed)
        found.append(Requirement(
            "ELIG-004", "direction", "Direction on the unit (Up, Down or Both)",
            " or ".join(allowed), f"sh:in ( {codes} )",
            "The unit delivers {value}; the product needs {required}."))
    if product.field("AggregationAllowed") is False:
        found.append(Requirement(
            "ELIG-005", "assetCount", "members", "one asset (no aggregation)",
            "sh:maxInclusive 1",
            "The unit aggregates {value} assets; the product takes {required}."))
    scope = product.field("LocationScope")
    where = {"GSPGroup": ("gspGroupCount", "one GSP group"),
             "DNOArea": ("dnoAreaCount", "one DNO licence area"),
             "ConstraintZone": ("constraintZoneCount", "one constraint zone")}.get(scope)
    if where:
        found.append(Requirement(
            "ELIG-006", where[0], "ConstraintZone on the unit" if
            where[0] == "constraintZoneCount" else "members", where[1], "sh:maxInclusive 1",
            "The unit's members span {value} of them; the product needs {required}."))
    if product.field("BMRequired") is True:
        found.append(Requirement(
            "ELIG-007", "bmRegistered", "BMRegistered on the unit", "BM registration",
            'sh:hasValue "true"^^xsd:boolean',
            "The unit is not registered in the Balancing Mechanism; the product needs "
            "{required}."))
    return found


def requirement_shapes(product: Record) -> str:
    """The product version's requirements as a SHACL shape (Turtle)."""
    lines = ["@prefix sh: <http://www.w3.org/ns/shacl#> .",
             "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .",
             "@prefix fmar: <https://id.fmar.uk/def/fmar#> .",
             f"<{product.iri}#requirements> a sh:NodeShape ; sh:targetClass <{CAPABILITY_CLASS}> ."]
    for n, req in enumerate(requirements(product)):
        lines.append(
            f"<{product.iri}#requirements> sh:property [ fmar:ruleId \"{req.rule}\" ; "
            f"sh:path fmar:{req.attribute} ; {req.constraint} ; "
            f"sh:message \"[{req.rule}] {req.attribute} {n}\" ] .")
    return "\n".join(lines)


@lru_cache(maxsize=256)
def _compiled(iri: str, version: int, turtle: str) -> ShapeSet:  # one per product version
    return ShapeSet(Graph().parse(data=turtle, format="turtle"), CAPABILITY_CLASS)


@dataclass
class Answer:
    rule: str
    attribute: str
    answer: str  # met | not met | cannot tell
    required: str
    unit_value: Any = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        body = {"rule": self.rule, "attribute": self.attribute, "answer": self.answer,
                "required": self.required, "unit_value": self.unit_value}
        if self.message:
            body["message"] = self.message
        return body


@dataclass
class Qualified:
    """A qualification the unit holds (from the system operators' nodes)."""

    product: str  # product IRI
    until: date | None = None
    record: str = ""


@dataclass
class Equivalence:
    """Qualified for `source` makes a unit eligible to apply for `target`."""

    source: str  # product IRI
    target: str
    record: str = ""


@dataclass
class Eligibility:
    product: Record
    answers: list[Answer]
    via: dict[str, Any] | None = None
    checked_on: date = field(default_factory=date.today)

    @property
    def outcome(self) -> str:
        if self.via:
            return "eligible"
        if any(a.answer == "not met" for a in self.answers):
            return "not eligible"
        if any(a.answer == "cannot tell" for a in self.answers):
            return "cannot tell"
        return "eligible"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "product": self.product.value(FMAR.product),
            "product_code": self.product.field("ProductCode"),
            "product_version": self.product.iri,
            "version": self.product.version,
            "outcome": self.outcome,
            "requirements": [a.as_dict() for a in self.answers],
        }
        if self.via:
            body["via"] = self.via
        return body


def assess(capability: Capability, product: Record, qualified: Sequence[Qualified] = (),
           equivalences: Sequence[Equivalence] = (), on: date | None = None) -> Eligibility:
    """The unit's answer for one product version."""
    on = on or date.today()
    reqs = requirements(product)
    shapes = _compiled(product.iri, product.version, requirement_shapes(product))
    broken = {(v.rule, (v.path or "").rsplit("#", 1)[-1])
              for v in _VALIDATOR.validate(capability.ntriples(), shapes, [UNIT])}
    answers = []
    for req in reqs:
        value = capability.value(req.attribute)
        if value is None:
            answers.append(Answer(req.rule, req.attribute, "cannot tell", req.required, None,
                                  f"Cannot tell: add {req.add}."))
        elif (req.rule, req.attribute) in broken:
            answers.append(Answer(req.rule, req.attribute, "not met", req.required, value,
                                  req.plain.format(value=value, required=req.required)))
        else:
            answers.append(Answer(req.rule, req.attribute, "met", req.required, value))
    result = Eligibility(product, answers, checked_on=on)
    target = product.value(FMAR.product)
    if result.outcome != "eligible":
        for eq in equivalences:
            held = next((q for q in qualified if q.product == eq.source
                         and (q.until is None or q.until >= on)), None)
            if eq.target == target and held:
                result.via = {"equivalence": eq.record, "from": eq.source,
                              "qualified_until": held.until.isoformat() if held.until else None,
                              "qualification": held.record}
                break
    return result


# ---------------------------------------------------------------- a unit and its sources

QUALIFIED_STATES = frozenset({"prequalified", "verified"})  # count for an equivalence


@dataclass
class Context:
    """What eligibility reads besides the unit: the product versions in force (Active, on
    the day), the equivalences in force, the qualifications each unit holds, the
    connection limits on each asset (export, import kW), and where each came from."""

    products: list[Record]
    equivalences: list[Equivalence] = field(default_factory=list)
    qualified: dict[str, list[Qualified]] = field(default_factory=dict)  # unit IRI ->
    limits: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)


def _kw(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _capped(capacity: float, limit: float | None) -> float:
    return capacity if limit is None else min(capacity, limit)


def unit_capability(store: Any, unit: Record, on: date,
                    limits: dict[str, tuple[float | None, float | None]]) -> Capability:
    """A unit's capability on a day: its members in force, each capped by the connection
    limits on it (a non-firm or export-only connection offers no more than its limit),
    with what the unit states of itself (delivery time, duration, direction, BM)."""
    up = down = 0.0
    count = 0
    gsp: set[str] = set()
    areas: set[str] = set()
    for membership in memberships(store, unit=unit.iri):
        if not membership.in_force(on.isoformat()):
            continue
        asset = asset_record(store, membership.asset)
        if asset is None or not takes_part(asset):  # a suspended member offers nothing
            continue
        count += 1
        export_limit, import_limit = limits.get(asset.iri, (None, None))
        gen, demand = _kw(asset.first(FMAR.genCapacity)), _kw(asset.first(FMAR.demandCapacity))
        # up: export more (up to the export limit) or consume less; down: consume more (up
        # to the import limit) or export less. The range at most, from the member's ratings.
        up += _capped(gen, export_limit) + demand
        down += _capped(demand, import_limit) + gen
        if asset.dno_area:
            areas.add(asset.dno_area)
        if group := asset.code(FMAR.gspGroup):
            gsp.add(group)
    stated = unit.field("Direction")
    derived = "Both" if up > 0 and down > 0 else "Up" if up > 0 else "Down" if down > 0 \
        else None
    zone = unit.field("ConstraintZone")
    delivery, sustained = unit.field("FullDeliveryTimeSeconds"), unit.field(
        "SustainedDurationMinutes")
    return Capability(
        up_mw=round(up / 1000, 3), down_mw=round(down / 1000, 3),  # to the kW
        full_delivery_s=float(delivery) if delivery is not None else None,
        sustained_min=float(sustained) if sustained is not None else None,
        direction=stated or derived, asset_count=count, gsp_groups=frozenset(gsp),
        dno_areas=frozenset(areas),
        constraint_zones=frozenset({zone}) if zone else None,
        bm_registered=unit.field("BMRegistered"))


def in_force_versions(products: Sequence[Record], on: date) -> list[Record]:
    """Of stored product versions, those Active and in force on the day, one a product."""
    chosen: dict[str, Record] = {}
    for version in products:
        start = date.fromisoformat(version.field("ValidFrom"))
        end = version.field("ValidTo")
        if version.field("Status") == "Active" and start <= on and \
                (not end or on <= date.fromisoformat(end)):
            chosen[version.field("ProductCode")] = version
    return [chosen[code] for code in sorted(chosen)]


def unit_answer(unit: Record, capability: Capability, context: Context,
                on: date) -> dict[str, Any]:
    """A unit's eligibility for every product in force: each with its outcome, the product
    version it used, and each requirement's answer."""
    held = context.qualified.get(unit.iri, [])
    results = [assess(capability, product, held, context.equivalences, on).as_dict()
               for product in context.products]
    return {"unit": unit.iri, "unit_id": unit.record_id, "on": on.isoformat(),
            "capability": {"up_mw": capability.up_mw, "down_mw": capability.down_mw,
                           "direction": capability.direction,
                           "assets": capability.asset_count,
                           "gsp_groups": sorted(capability.gsp_groups),
                           "dno_areas": sorted(capability.dno_areas)},
            "products": results,
            "eligible": [r["product_code"] for r in results if r["outcome"] == "eligible"]}
