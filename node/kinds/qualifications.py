"""Qualification (issue 12, UC-03.2): three record kinds and one state machine.

- `qualification-application`, held on the FSP's node: the FSP applies for a product for
  one of its market units, with the capability it claims and the evidence (POL-060).
- `qualification`, the outcome, held on the node of the system operator that runs the
  product (NESO for NESO products, the DNO for DSO products: POL-061); it points at the
  unit and the application by IRI, with a validity period and conditions.
- `grid-prequalification`, one record per affected DNO licence area, on that DNO's node
  (POL-062).

Market units and products are named by IRI only (https://id.fmar.uk/market-unit/<uuid>,
https://id.fmar.uk/product/<code>). A new application or outcome names a product that is
open in the product register, and an outcome is recorded by one of its procurers
(node/kinds/product_register.py, QUAL-VAL-030..039); who procures it is kept on the record
(`fmar:operatorArea`) for policy. States change only through `TRANSITIONS` (QUAL-VAL-020..024), each a
write through the one write path with its reason, so history and audit say who moved a
record from which state to which, and why. Shapes: shapes/qualification.ttl.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from common.errors import BadInput, Conflict, Invalid
from common.vocab import FMAR, ID_BASE, ORG_BASE, SHAPES_DIR, code_iri
from node import ntriples, policy
from node.asset_fields import Field, FieldTable
from node.identity import Caller
from node.inputs import Properties, properties_from_json
from node.kinds.product_register import ProductRegister, check_procurer
from node.kinds.products import PRODUCT_BASE
from node.records.kind import UUID, RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.unit import UnitOfWork

UNIT_BASE = ID_BASE + "market-unit/"
APPLICATION_BASE = ID_BASE + "qualification-application/"
QUALIFICATION_BASE = ID_BASE + "qualification/"
GRID_BASE = ID_BASE + "grid-prequalification/"
SHAPES_FILE = SHAPES_DIR / "qualification.ttl"
STATE, REASON = str(FMAR.qualificationState), str(FMAR.stateReason)
PRODUCT_IRI = re.compile(re.escape(PRODUCT_BASE) + r"[A-Z][A-Z0-9_]{0,31}")  # QUAL-VAL-002

# ---------------------------------------------------------------- the state machine

FSP, OPERATOR, DNO, NODE = "fsp", "operator", "dno", "node"  # who makes a transition


@dataclass(frozen=True)
class Transition:
    # FSP / OPERATOR / DNO through the API; NODE: the node itself, after a material change
    by: tuple[str, ...]
    reason: bool = False  # a reason is required


_OP, _OP_WHY = Transition((OPERATOR,)), Transition((OPERATOR,), reason=True)
_DNO, _DNO_WHY = Transition((DNO,)), Transition((DNO,), reason=True)
_REASSESS = Transition((OPERATOR, NODE), reason=True)  # the operator, or its node when told

# kind -> (from, to) -> who and whether a reason is needed. Nothing else moves a state.
TRANSITIONS: dict[str, dict[tuple[str, str], Transition]] = {
    "qualification-application": {
        ("requested", "withdrawn"): Transition((FSP,)),
        ("reassessment_required", "requested"): Transition((FSP,)),  # resubmitted
        ("reassessment_required", "withdrawn"): Transition((FSP,)),
        # a material change of the unit (on_material_change)
        ("requested", "reassessment_required"): Transition((NODE,), reason=True),
    },
    "qualification": {
        ("requested", "in_progress"): _OP,
        ("requested", "rejected"): _OP_WHY,
        ("in_progress", "temporary_qualified"): _OP,
        ("in_progress", "prequalified"): _OP,
        ("in_progress", "rejected"): _OP_WHY,
        ("temporary_qualified", "prequalified"): _OP,
        ("temporary_qualified", "verified"): _OP,
        ("temporary_qualified", "rejected"): _OP_WHY,
        ("prequalified", "verified"): _OP,
        ("prequalified", "rejected"): _OP_WHY,
        ("temporary_qualified", "reassessment_required"): _REASSESS,
        ("prequalified", "reassessment_required"): _REASSESS,
        ("verified", "reassessment_required"): _REASSESS,
        ("reassessment_required", "in_progress"): _OP,
        ("reassessment_required", "rejected"): _OP_WHY,
        ("rejected", "in_progress"): _OP_WHY,  # reopened (an appeal, new evidence)
    },
    "grid-prequalification": {
        ("requested", "in_progress"): _DNO,
        ("requested", "not_approved"): _DNO_WHY,
        ("in_progress", "approved"): _DNO,
        ("in_progress", "conditionally_approved"): _DNO_WHY,
        ("in_progress", "not_approved"): _DNO_WHY,
        ("conditionally_approved", "approved"): _DNO,
        ("conditionally_approved", "not_approved"): _DNO_WHY,
        ("approved", "reassessment_required"): _DNO_WHY,
        ("conditionally_approved", "reassessment_required"): _DNO_WHY,
        ("reassessment_required", "in_progress"): _DNO,
        ("not_approved", "in_progress"): _DNO_WHY,
    },
}
# the states a record starts in (QUAL-VAL-020); the first is the default
INITIAL = {"qualification-application": ("requested",),
           "qualification": ("requested", "in_progress"),
           "grid-prequalification": ("requested", "in_progress")}
# who moves each kind through the API (the policy rows say who that party is)
API_PARTY = {"qualification-application": FSP, "qualification": OPERATOR,
             "grid-prequalification": DNO}
# applications the system operator still has to assess (its queue)
OPEN_APPLICATION_STATES = ("requested", "reassessment_required")
GRANTED = ("temporary_qualified", "prequalified", "verified")
NODE_ACTOR = "node:material-change"  # the audit's `by` of the node's own moves

# ---------------------------------------------------------------- fields and kinds

_UNIT = Field("UnitId", FMAR.forUnit, "iri:" + UNIT_BASE)
_PRODUCT = Field("Product", FMAR.forProduct, "iri:" + PRODUCT_BASE)
_ORG = Field("OrganisationId", FMAR.organisation, "org")  # the unit's FSP: it reads the record
_STATE = Field("State", FMAR.qualificationState, "string")
_REASON = Field("Reason", FMAR.stateReason, "string")
_CONDITIONS = Field("Conditions", FMAR.qualificationConditions, "string")
KEPT_FIELDS = ("SetBy", "Version", "Created", "Modified")


def _table(id_field: str, label: str, fields: tuple[Field, ...]) -> FieldTable:
    return FieldTable("QUAL", fields, (id_field, *KEPT_FIELDS), id_field, label,
                      f"{label.split(' ', 1)[1]} field names",
                      "the fields are " + ", ".join(f.name for f in fields))


APPLICATION_TABLE = _table("ApplicationId", "A qualification application", (
    _UNIT, _PRODUCT, _ORG,
    Field("ClaimedUpKW", FMAR.claimedUpCapacity, "decimal"),
    Field("ClaimedDownKW", FMAR.claimedDownCapacity, "decimal"),
    Field("Evidence", FMAR.evidence, "string"), _STATE, _REASON))
QUALIFICATION_TABLE = _table("QualificationId", "A qualification", (
    _UNIT, _PRODUCT, _ORG,
    Field("ApplicationId", FMAR.answersApplication, "iri:" + APPLICATION_BASE), _STATE,
    Field("ValidFrom", FMAR.qualifiedFrom, "date"),
    Field("ValidTo", FMAR.qualifiedUntil, "date"),
    Field("QualifiedUpKW", FMAR.qualifiedUpCapacity, "decimal"),
    Field("QualifiedDownKW", FMAR.qualifiedDownCapacity, "decimal"), _CONDITIONS, _REASON))
GRID_TABLE = _table("GridPrequalificationId", "A grid prequalification", (
    _UNIT, _ORG, Field("DNOConnection", FMAR.dnoConnection, "code:DNOCode"), _STATE,
    _CONDITIONS, _REASON))

_SHAPE_RULES = (*(f"QUAL-VAL-{n:03d}" for n in range(1, 16)), "QUAL-VAL-040")
_CODE_RULES = ("QUAL-VAL-020", "QUAL-VAL-021", "QUAL-VAL-022", "QUAL-VAL-023", "QUAL-VAL-024",
               "QUAL-VAL-025", "QUAL-VAL-026", "QUAL-VAL-027", "QUAL-VAL-030", "QUAL-VAL-031",
               "QUAL-VAL-032", "QUAL-VAL-033", "QUAL-VAL-039", "QUAL-IN-001", "QUAL-IN-002", "QUAL-IN-003", "QUAL-IN-004",
               "QUAL-VAL", "QUAL-404", "QUAL-412", "QUAL-428")

APPLICATION = RecordKind(
    name="qualification-application", label="qualification application", code="QUAL",
    iri_base=APPLICATION_BASE, rdf_class=FMAR.QualificationApplication,
    table=APPLICATION_TABLE, shapes=(SHAPES_FILE,),
    rules=(*_SHAPE_RULES, *_CODE_RULES, "POL-060", "POL-064", "POL-065"),
    held_by="the FSP's node", area_predicate=FMAR.operatorArea)
QUALIFICATION = RecordKind(
    name="qualification", label="qualification", code="QUAL", iri_base=QUALIFICATION_BASE,
    rdf_class=FMAR.Qualification, table=QUALIFICATION_TABLE, shapes=(SHAPES_FILE,),
    rules=(*_SHAPE_RULES, *_CODE_RULES, "POL-061", "POL-063", "POL-065"),
    held_by="the node of the system operator that runs the product",
    area_predicate=FMAR.operatorArea)
GRID_PREQUALIFICATION = RecordKind(
    name="grid-prequalification", label="grid prequalification", code="QUAL",
    iri_base=GRID_BASE, rdf_class=FMAR.GridPrequalification, table=GRID_TABLE,
    shapes=(SHAPES_FILE,), rules=(*_SHAPE_RULES, *_CODE_RULES, "POL-062", "POL-063", "POL-065"),
    held_by="the DNO's node (one record per affected licence area)")


# ---------------------------------------------------------------- the services


def typed(table: FieldTable, body: Any) -> Any:
    """QUAL-IN-002: each value has its field's JSON type (a number of kW is a number, the
    rest are strings; null is no value), so `"Reason": false` is refused, not stored as
    text."""
    if not isinstance(body, dict):
        return body
    for name, value in body.items():
        field = table.by_name.get(name)
        if field is None or value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (field.kind == "decimal") != number or (field.kind != "decimal"
                                                   and not isinstance(value, str)):
            raise BadInput("QUAL-IN-002", f"{name} takes a "
                           f"{'number' if field.kind == 'decimal' else 'string'}.",
                           {"field": name})
    return body


class StatefulRecords(Records):
    """A kind whose `State` moves only through `TRANSITIONS`."""

    # the product register (node/kinds/product_register.py); node/register.py gives it
    products: ProductRegister | None = None

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        """The licence areas that procure the product (none for NESO's), from the product
        register: policy reads from them who runs it (POL-061, POL-064). A new record, or
        one naming another product, is checked against the register first: the product is
        there and open (QUAL-VAL-030/031, 503 QUAL-VAL-039 when it cannot be read) and
        procured by someone (QUAL-VAL-033); an outcome is recorded by a procurer
        (QUAL-VAL-032/033). A change naming the same product keeps the areas it had, so a
        transition never waits for the register."""
        if self.kind.area_predicate != FMAR.operatorArea:
            return []
        iri = next((o[1:-1] for p, o in props if p == str(FMAR.forProduct)), None)
        if current is not None and iri == current.value(FMAR.forProduct):
            return [(str(FMAR.operatorArea), f"<{area}>")
                    for area in current.values.get(str(FMAR.operatorArea), [])]
        if iri is None or not PRODUCT_IRI.fullmatch(iri) or self.products is None:
            return []  # QUAL-VAL-002 refuses it
        terms = self.products.open_product(iri)
        check_procurer(terms, caller)
        areas = terms.areas
        if self.kind is QUALIFICATION:  # the recording DNO's areas among the procuring ones
            areas = tuple(a for a in areas if a in caller.dno_areas) or areas
        return [(str(FMAR.operatorArea), f"<{code_iri('DNOCode', area)}>") for area in areas]

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        if current is None:
            state = candidate.value(STATE)
            if state not in INITIAL[self.kind.name]:
                raise Invalid("QUAL-VAL-020", f"A {self.kind.label} starts in one of "
                               f"{', '.join(INITIAL[self.kind.name])}; later states are "
                               "reached by transitions.",
                               {"state": state, "allowed": list(INITIAL[self.kind.name])})

    def create(self, body: Any, caller: Caller) -> Record:
        if isinstance(typed(self.table, body), dict) and body.get("State") in (None, ""):
            body = {**body, "State": INITIAL[self.kind.name][0]}
        return super().create(body, caller)

    def replace(self, record_id: str, body: Any, caller: Caller,
                if_match: str | None) -> Record:
        """PUT changes the other fields; State and Reason stay (QUAL-VAL-021)."""
        props = properties_from_json(typed(self.table, body), allow_asset_id=True,
                                     table=self.table)

        def kept_state(current: Record) -> Properties:
            held = {p: o for p, o in current.properties() if p in (STATE, REASON)}
            for p, o in props:
                if p in (STATE, REASON) and held.get(p) != o:
                    raise Invalid("QUAL-VAL-021", "State and Reason change only through a "
                                   f"transition (POST .../{record_id}/transitions).",
                                   {"state": current.value(STATE)})
            return [*(x for x in props if x[0] not in held), *held.items()]

        return self.change(record_id, caller, if_match, "update", kept_state)

    def transition(self, record_id: str, caller: Caller, if_match: str | None, to: Any,
                   reason: Any = None, *, party: str | None = None,
                   verb: str = "transition") -> Record:
        """Move the record to the state `to`, with `reason`, if `TRANSITIONS` has that move
        for `party` (the kind's API party by default). Authorised as the kind's action
        `verb` first; checked and written under the write lock against the record as it is
        (If-Match optional: the move is judged on the current state)."""
        if not isinstance(to, str) or not to or not (reason is None or isinstance(reason, str)):
            raise BadInput("QUAL-IN-004", 'A transition is {"to": "<state>", "reason": '
                           '"<text>"}, reason optional unless the move needs one.')
        party = party or API_PARTY[self.kind.name]
        table = TRANSITIONS[self.kind.name]
        reason = (reason or "").strip() or None

        def moved(current: Record) -> Properties:
            state = current.value(STATE) or ""
            step = table.get((state, to))
            if step is None:
                raise Conflict("QUAL-VAL-022", f"A {self.kind.label} does not move from "
                               f"'{state}' to '{to}'.", {"from": state, "to": to,
                               "allowed": sorted(t for f, t in table if f == state)})
            if party not in step.by:
                raise Conflict("QUAL-VAL-024", f"The move from '{state}' to '{to}' is made "
                               f"by the {' or the '.join(step.by)}, not through this route.",
                               {"from": state, "to": to, "by": list(step.by)})
            if step.reason and not reason:
                raise Conflict("QUAL-VAL-023", f"The move from '{state}' to '{to}' needs a "
                               "reason.", {"from": state, "to": to})
            values: dict[str, Any] = {"State": to}
            if reason:
                values["Reason"] = reason
            changed = properties_from_json(values, table=self.table)
            return [p for p in current.properties() if p[0] not in (STATE, REASON)] + changed

        return self.change(record_id, caller, if_match or "*", verb, moved)

    def one_per(self, rule: str, what: str, candidate: Record,
                predicates: tuple[str, ...]) -> None:
        """`rule`: no other record of this kind on this node has the candidate's values of
        `predicates` (decided under the write lock, so two writers cannot both pass)."""
        terms = []
        for predicate in predicates:
            term = next((t.object for t in candidate.triples
                         if t.predicate.value == predicate), None)
            if term is None:
                return
            terms.append(f"<{predicate}> {term}")
        query = (f"SELECT ?r WHERE {{ GRAPH ?r {{ ?r a <{self.kind.rdf_class}> ; "
                 f"{' ; '.join(terms)} }} FILTER (?r != <{candidate.iri}>) }} LIMIT 1")
        for row in self.store.select(query):
            other = row["r"].value
            raise Invalid(rule, f"This node already holds the {self.kind.label} {what}: "
                           "change it, or move it by a transition.",
                           {"id": self.kind.record_id(other)})

    def reassess(self, unit_iri: str, reason: str, states: tuple[str, ...],
                 acting: Callable[[Record], Caller], verb: str) -> list[str]:
        """The node's own move of this unit's records in `states` to
        `reassessment_required`, each as `acting(record)`; QUAL-IN-004 unless `unit_iri`
        is a market unit's IRI (it is spliced into the query only then)."""
        if not unit_iri.startswith(UNIT_BASE) or not UUID.fullmatch(unit_iri[len(UNIT_BASE):]):
            raise BadInput("QUAL-IN-004", "A material change names a market unit by its IRI.",
                           {"unit": str(unit_iri)[:200]})
        wanted = " ".join(ntriples.string(state) for state in states)
        query = (f"SELECT DISTINCT ?r WHERE {{ GRAPH ?r {{ ?r a <{self.kind.rdf_class}> ; "
                 f"<{FMAR.forUnit}> <{unit_iri}> ; <{FMAR.qualificationState}> ?state }} "
                 f"VALUES ?state {{ {wanted} }} }}")
        moved = []
        for iri in [row["r"].value for row in self.store.select(query)]:
            record = self.existing(self.kind.record_id(iri))
            try:
                self.transition(record.record_id, acting(record), None,
                                "reassessment_required",
                                f"Material change of the unit: {reason}"[:2000], party=NODE,
                                verb=verb)
            except Conflict:  # moved on meanwhile (withdrawn, rejected): nothing to reassess
                continue
            moved.append(record.iri)
        return moved


    def operator(self, record: Record) -> Caller:
        """The system operator a record of this kind belongs to, as its node acts for it
        (after a material change, after a unit switch); a kind the FSP holds has none."""
        raise NotImplementedError(f"a {self.kind.label} is the FSP's, not an operator's")

    def follow_switch(self, unit_iri: str, former: str, new: str, why: str) -> list[str]:
        """On a system operator's node, once it has confirmed that the unit `unit_iri`
        moved from FSP `former` to FSP `new` (node/events/inbox.py, INBOX-011): each record
        of this kind here for the unit that names `former` names `new` instead, with `why`
        as its Reason and its state unchanged, through the write path as the node acting
        for the record's operator (`operator`; subject `policy.SWITCH_FOLLOWER`, POL-096,
        verb `follow-switch`): history keeps the version naming `former`, the audit entry
        says who and the action. Outcomes (NESO's or a DNO's) and grid prequalifications
        (a DNO's) follow alike. Idempotent (a record already naming `new` is not found).
        Returns those moved."""
        if not unit_iri.startswith(UNIT_BASE) or not UUID.fullmatch(unit_iri[len(UNIT_BASE):]):
            raise BadInput("QUAL-IN-004", "A unit switch names a market unit by its IRI.",
                           {"unit": str(unit_iri)[:200]})
        query = (f"SELECT DISTINCT ?r WHERE {{ GRAPH ?r {{ ?r a <{self.kind.rdf_class}> ; "
                 f"<{FMAR.forUnit}> <{unit_iri}> ; <{FMAR.organisation}> "
                 f"<{ORG_BASE}{quote(former, safe='')}> }} }}")
        moved = []
        for iri in sorted(row["r"].value for row in self.store.select(query)):
            record = self.existing(self.kind.record_id(iri))
            caller = replace(self.operator(record), subject=policy.SWITCH_FOLLOWER)
            self.set_fields(record.record_id, caller, "*", "follow-switch",
                            {"OrganisationId": new, "Reason": why[:2000]})
            moved.append(iri)
        return moved


class QualificationApplications(StatefulRecords):
    def __init__(self, unit: UnitOfWork, units: RecordKind | None = None):
        """`units`: the market-unit kind, once this node holds units (QUAL-VAL-025)."""
        super().__init__(unit, APPLICATION)
        self.units = units

    def create(self, body: Any, caller: Caller) -> Record:
        """`OrganisationId` defaults to the caller's organisation (as for assets)."""
        if isinstance(body, dict) and body.get("OrganisationId") in (None, ""):
            body = {**body, "OrganisationId": caller.organisation_id}
        return super().create(body, caller)

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """QUAL-VAL-025: the unit is one this node holds, of the applying organisation. The
        market units are another kind: until the register gives it (`units`), the
        application only names the unit's IRI."""
        super().check(caller, candidate, current)
        units = self.units
        if units is None:
            return
        iri = candidate.value(FMAR.forUnit) or ""
        found = units.read(iri, self.store.triples(iri))
        if found is None or units.facts_of(found).organisation != candidate.facts.organisation:
            raise Invalid("QUAL-VAL-025", "UnitId names no market unit of the applying "
                          "organisation on this node: apply on the node holding your unit.",
                          {"unit": iri})

    def on_material_change(self, unit_iri: str, reason: str) -> list[str]:
        """A material change of the unit `unit_iri` (its capability, categories or location
        scope, decided by the market-unit kind): its open applications on this node go to
        `reassessment_required` with `reason`, each through the write path as the node
        acting for the application's FSP (verb `reassess`, POL-060), so the system
        operator finds them in its queue again. Returns the applications moved."""

        def fsp(record: Record) -> Caller:
            return Caller(NODE_ACTOR, record.facts.organisation, frozenset({"FSP"}),
                          frozenset({"assets:read", "assets:write"}))

        return self.reassess(unit_iri, reason, ("requested",), fsp, "reassess")


class Qualifications(StatefulRecords):
    def __init__(self, unit: UnitOfWork):
        super().__init__(unit, QUALIFICATION)

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """QUAL-VAL-026: one outcome per application on this node."""
        super().check(caller, candidate, current)
        self.one_per("QUAL-VAL-026", "answering this application", candidate,
                     (str(FMAR.answersApplication),))

    def on_material_change(self, unit_iri: str, reason: str) -> list[str]:
        """On the system operator's node, told of a material change of the unit: its
        granted qualifications here go to `reassessment_required` with `reason`, as the
        node acting for the operator that runs the product (POL-061; the move is the
        operator's or its node's). Returns the qualifications moved."""

        return self.reassess(unit_iri, reason, GRANTED, self.operator, "transition")

    def operator(self, record: Record) -> Caller:
        """The node acting for the operator that runs the outcome's product (its recorder:
        NESO, or the DNO of its operator areas)."""
        areas = frozenset(a.rsplit("/", 1)[-1]
                          for a in record.values.get(str(FMAR.operatorArea), []))
        return Caller(NODE_ACTOR, record.set_by, frozenset({"DNO"} if areas else {"NESO"}),
                      frozenset({"assets:read", "validation:write"}), areas)


class GridPrequalifications(StatefulRecords):
    def __init__(self, unit: UnitOfWork):
        super().__init__(unit, GRID_PREQUALIFICATION)

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """QUAL-VAL-027: one grid prequalification per unit and licence area."""
        super().check(caller, candidate, current)
        self.one_per("QUAL-VAL-027", "of this unit in this licence area", candidate,
                     (str(FMAR.forUnit), str(FMAR.dnoConnection)))

    def operator(self, record: Record) -> Caller:
        """The node acting for the DNO of the record's licence area (`DNOConnection`), its
        recorder (POL-062)."""
        area = record.facts.dno_area
        return Caller(NODE_ACTOR, record.set_by, frozenset({"DNO"}),
                      frozenset({"assets:read", "validation:write"}),
                      frozenset({area} if area else ()))
