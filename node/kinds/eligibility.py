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
            words = "up (export or demand turn-down)" if side == "upCapacity" else "down"
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
            "ELIG-006", where[0], "ConstraintZone on the unit's members" if
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
