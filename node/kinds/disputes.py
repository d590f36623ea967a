"""Disputes and data correction (issue 17 part 2, Elexon UC-05.03) as one record kind.

A party entitled to read a record (an asset, a market unit, a connection limit, ...) opens
a dispute on it. The dispute is held on the **opener's** node and points at the record by
IRI; the record's holder is told by a node-to-node notice (node/kinds/dispute_notices.py)
and reads the dispute through the federation. States move only through `TRANSITIONS`
(DISP-VAL-020..023), each a field-only write through the one write path, so history and
audit say who moved the dispute, from which state to which, and why. Each state has a
deadline (`deadlines`); after it the opener or the holder may escalate to the market
facilitator. Shapes: shapes/dispute.ttl (DISP-VAL-001..009).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import BadInput, Conflict, Invalid
from common.vocab import FMAR, ID_BASE, ORG_BASE, SHAPES_DIR
from node import ntriples
from node.asset_fields import Field, FieldTable
from node.events.types import register as event_type
from node.identity import Caller
from node.inputs import Properties, properties_from_json
from node.records.kind import UUID, Facts, RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.unit import UnitOfWork

DISPUTE_BASE = ID_BASE + "dispute/"
SHAPES_FILE = SHAPES_DIR / "dispute.ttl"
STATE, REASON, DEADLINE = str(FMAR.disputeState), str(FMAR.stateReason), str(FMAR.respondBy)
HOLDER = str(FMAR.recordHolder)

# the kinds a dispute may name, and the path their records are read at (on any node)
DISPUTABLE: dict[str, str] = {
    "asset": "/assets", "market-unit": "/market-units",
    "connection-limit": "/connection-limits", "qualification": "/qualifications",
    "grid-prequalification": "/grid-prequalifications"}

# ---------------------------------------------------------------- the state machine

OPENER, HOLDER_PARTY, FACILITATOR = "opener", "holder", "facilitator"
OPEN, RESPONDED, ESCALATED = "open", "responded", "escalated"
CORRECTED, UPHELD, WITHDRAWN = "corrected", "upheld", "withdrawn"
RESOLVED = (CORRECTED, UPHELD, WITHDRAWN)
ACTIVE = (OPEN, RESPONDED, ESCALATED)  # the record shows Query meanwhile
STATES = (*ACTIVE, *RESOLVED)


@dataclass(frozen=True)
class Transition:
    rule: str  # the rule ID of this move (docs/rules.md)
    by: tuple[str, ...]  # the parties that may make it
    reason: bool = False  # a reason is required
    after_deadline: tuple[str, ...] = ()  # parties that may make it only after the deadline


# (from, to) -> who. Nothing else moves a dispute. The holder answers (responded: what it
# corrected, or why the record stands); the opener accepts (corrected), withdraws, or
# finds the dispute upheld without a correction (the record stays Query with the reason);
# either escalates once the state's deadline has passed; the facilitator decides.
_ESCALATE = Transition("DISP-VAL-023", (FACILITATOR, OPENER, HOLDER_PARTY), reason=True,
                       after_deadline=(OPENER, HOLDER_PARTY))
TRANSITIONS: dict[tuple[str, str], Transition] = {
    (OPEN, RESPONDED): Transition("DISP-VAL-024", (HOLDER_PARTY,), reason=True),
    (OPEN, WITHDRAWN): Transition("DISP-VAL-025", (OPENER,)),
    (OPEN, ESCALATED): _ESCALATE,
    (RESPONDED, CORRECTED): Transition("DISP-VAL-026", (OPENER, FACILITATOR)),
    (RESPONDED, UPHELD): Transition("DISP-VAL-027", (OPENER, FACILITATOR), reason=True),
    (RESPONDED, WITHDRAWN): Transition("DISP-VAL-025", (OPENER,)),
    (RESPONDED, ESCALATED): _ESCALATE,
    (ESCALATED, CORRECTED): Transition("DISP-VAL-028", (FACILITATOR,), reason=True),
    (ESCALATED, UPHELD): Transition("DISP-VAL-028", (FACILITATOR,), reason=True),
    (ESCALATED, WITHDRAWN): Transition("DISP-VAL-025", (OPENER, FACILITATOR)),
}
DEFAULT_DAYS = {OPEN: 10, RESPONDED: 10, ESCALATED: 20}


def deadlines(days: str = "", seconds: float | None = None) -> dict[str, timedelta]:
    """How long each state lasts: `open=10,responded=10,escalated=20` (days, the defaults
    for what is not given); `seconds` replaces all of them (tests, trials)."""
    if seconds is not None:
        return {state: timedelta(seconds=seconds) for state in DEFAULT_DAYS}
    found = dict(DEFAULT_DAYS)
    for item in (i.strip() for i in days.split(",") if i.strip()):
        state, _, number = item.partition("=")
        if state.strip() not in found or not number.strip().isdigit():
            raise ValueError(f"FMAR_DISPUTE_DAYS: {item!r} is not <state>=<days>")
        found[state.strip()] = int(number)
    return {state: timedelta(days=n) for state, n in found.items()}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC)


def party_of(caller: Caller, record: Record) -> str | None:
    """Which party to the dispute the caller is (the opener first), or None."""
    if caller.organisation_id == record.facts.organisation:
        return OPENER
    if caller.organisation_id == holder_of(record):
        return HOLDER_PARTY
    if caller.has_role("MarketFacilitator"):
        return FACILITATOR
    return None


def holder_of(record: Record) -> str:
    return (record.value(HOLDER) or "").removeprefix(ORG_BASE)


def kind_of(iri: str) -> str | None:
    """The disputable kind of a record IRI (None: not a record a dispute may name)."""
    rest = iri.removeprefix(ID_BASE) if iri.startswith(ID_BASE) else ""
    name, _, record_id = rest.partition("/")
    return name if name in DISPUTABLE and UUID.match(record_id) else None


# ---------------------------------------------------------------- fields and kind


@dataclass(frozen=True)
class DisputeFacts(Facts):
    """A dispute's facts: its opener (`organisation`) and the record's holder."""

    holder: str = ""
    parties: frozenset[str] = frozenset()  # both: each reads it (policy.may_read, POL-086)


def _facts(record: Any) -> Facts:
    opener = (record.value(FMAR.organisation) or "").removeprefix(ORG_BASE)
    return DisputeFacts(opener, holder=holder_of(record), state=record.value(STATE),
                        parties=frozenset({opener, holder_of(record)}))


TABLE = FieldTable("DISP", (
    Field("Record", FMAR.disputesRecord, "record"),
    Field("RecordKind", FMAR.disputedKind, "string"),
    Field("OrganisationId", FMAR.organisation, "org"),
    Field("Holder", FMAR.recordHolder, "org"),
    Field("HolderNode", FMAR.holderNode, "string"),
    Field("Grounds", FMAR.disputeGrounds, "string"),
    Field("State", FMAR.disputeState, "string"),
    Field("Reason", FMAR.stateReason, "string"),
    Field("Deadline", FMAR.respondBy, "string"),
), ("DisputeId", "SetBy", "Version", "Created", "Modified"), "DisputeId", "A dispute",
    "dispute field names", "the fields are Record and Grounds (the node sets the rest)")

CODE_RULES = ("DISP-VAL-010", "DISP-VAL-011", "DISP-VAL-012", "DISP-VAL-020", "DISP-VAL-021",
              "DISP-VAL-022", "DISP-VAL-023", "DISP-VAL-024", "DISP-VAL-025", "DISP-VAL-026",
              "DISP-VAL-027", "DISP-VAL-028", "DISP-VAL-013", "DISP-VAL-014", "DISP-VAL-015",
              "DISP-VAL-016", "DISP-VAL-017",
              "DISP-IN-001", "DISP-IN-002", "DISP-IN-003",
              "DISP-IN-004", "DISP-IN-005", "DISP-VAL", "DISP-404", "DISP-412", "DISP-428")
DISPUTE = RecordKind(
    name="dispute", label="dispute", code="DISP", iri_base=DISPUTE_BASE,
    rdf_class=FMAR.Dispute, table=TABLE, shapes=(SHAPES_FILE,),
    rules=(*(f"DISP-VAL-{n:03d}" for n in range(1, 10)), *CODE_RULES,
           "POL-085", "POL-086", "POL-088", "POL-089"),
    held_by="the node of the party that opened it", facts=_facts,
    organisation_predicate=FMAR.disputeParty, area_predicate=None)
event_type("dispute", "create-dispute", "dispute.opened")
event_type("dispute", "transition-dispute", "dispute.state-changed")


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class Found:
    """The disputed record as its holder's node answered the opener's own token."""

    iri: str
    kind: str
    holder: str  # the record's organisation
    node: str  # the URL of the node that answered


class Disputes(Records):
    def __init__(self, unit: UnitOfWork, days: str = "", seconds: float | None = None):
        super().__init__(unit, DISPUTE)
        self.deadlines = deadlines(days, seconds)

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        """The two parties (POL-086: each reads the dispute; the listing finds them)."""
        orgs = [o for p, o in props if p in (str(FMAR.organisation), HOLDER)]
        return [(str(FMAR.disputeParty), o) for o in dict.fromkeys(orgs)]

    def deadline(self, state: str) -> str:
        return stamp(now() + self.deadlines.get(state, timedelta(days=DEFAULT_DAYS[OPEN])))

    def open(self, body: Any, caller: Caller, found: Found) -> Record:
        """Open a dispute on `found` (the entitlement was checked with the caller's own
        rights where the record is held: POL-085). The body gives Grounds (and the Record
        it names); the node sets the rest."""
        if not isinstance(body, dict) or set(body) - {"Record", "Grounds"}:
            raise BadInput("DISP-IN-001", 'A dispute is {"Record": "<record IRI>", '
                           '"Grounds": "<what is wrong, and why>"}.')
        if found.holder == caller.organisation_id:
            raise Invalid("DISP-VAL-016", "Your organisation holds this record: correct it "
                          "instead of disputing it.", {"record": found.iri})
        values = {"Record": found.iri, "RecordKind": found.kind,
                  "OrganisationId": caller.organisation_id, "Holder": found.holder,
                  "HolderNode": found.node, "Grounds": body.get("Grounds"), "State": OPEN,
                  "Deadline": self.deadline(OPEN)}
        if not isinstance(values["Grounds"], str):
            raise BadInput("DISP-IN-002", "Grounds takes a string.", {"field": "Grounds"})
        return self.create_from(properties_from_json(values, table=self.table), caller)

    def create(self, body: Any, caller: Caller) -> Record:
        raise BadInput("DISP-IN-001", "A dispute is opened with POST /disputes (the node "
                       "finds the record and its holder first).")

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        if current is None:
            if candidate.value(STATE) != OPEN:
                raise Invalid("DISP-VAL-010", "A dispute starts open; later states are "
                              "reached by transitions.", {"state": candidate.value(STATE)})
            self._one_open(candidate)

    def _one_open(self, candidate: Record) -> None:
        """DISP-VAL-012: one active dispute of an organisation on one record (decided under
        the write lock)."""
        active = " ".join(ntriples.string(s) for s in ACTIVE)
        query = (f"SELECT ?d WHERE {{ GRAPH ?d {{ ?d a <{FMAR.Dispute}> ; "
                 f"<{FMAR.disputesRecord}> <{candidate.value(FMAR.disputesRecord)}> ; "
                 f"<{FMAR.organisation}> <{ORG_BASE}{candidate.facts.organisation}> ; "
                 f"<{FMAR.disputeState}> ?s }} VALUES ?s {{ {active} }} "
                 f"FILTER (?d != <{candidate.iri}>) }} LIMIT 1")
        for row in self.store.select(query):
            raise Invalid("DISP-VAL-012", "Your organisation already has an active dispute on "
                          "this record: add to it, or withdraw it first.",
                          {"id": self.kind.record_id(row["d"].value)})

    def replace(self, record_id: str, body: Any, caller: Caller,
                if_match: str | None) -> Record:
        """PUT changes only Grounds, by the opener, while the dispute is open
        (DISP-VAL-011); everything else moves by a transition."""
        sent = properties_from_json(body, allow_asset_id=True, table=self.table)  # IN-001..003
        grounds = [p for p in sent if p[0] == str(FMAR.disputeGrounds)]

        def changed(current: Record) -> Properties:
            held = set(current.properties())
            if any(p not in held for p in sent if p[0] != str(FMAR.disputeGrounds)):
                raise Invalid("DISP-VAL-011", "A dispute's PUT changes Grounds only; its "
                              "state moves by POST .../transitions.")
            if current.value(STATE) != OPEN or party_of(caller, current) != OPENER:
                raise Conflict("DISP-VAL-011", "Only the opener changes the grounds, while the "
                               "dispute is open.", {"state": current.value(STATE)})
            return [p for p in current.properties()
                    if p[0] != str(FMAR.disputeGrounds)] + grounds

        return self.change(record_id, caller, if_match, "transition", changed)

    def transition(self, record_id: str, caller: Caller, if_match: str | None, to: Any,
                   reason: Any = None, at: datetime | None = None) -> Record:
        """Move the dispute to `to` if `TRANSITIONS` lets the caller's party make that move
        (judged on the state current under the write lock; If-Match optional)."""
        if not isinstance(to, str) or not to or not (reason is None or isinstance(reason, str)):
            raise BadInput("DISP-IN-004", 'A transition is {"to": "<state>", "reason": '
                           '"<text>"}, reason optional unless the move needs one.')
        reason = (reason or "").strip() or None
        moment = at or now()

        def moved(current: Record) -> Properties:
            state = current.value(STATE) or ""
            step = TRANSITIONS.get((state, to))
            if step is None:
                raise Conflict("DISP-VAL-020", f"A dispute does not move from '{state}' to "
                               f"'{to}'.", {"from": state, "to": to, "allowed": sorted(
                                   t for f, t in TRANSITIONS if f == state)})
            party = party_of(caller, current)
            if party not in step.by:
                raise Conflict("DISP-VAL-022", f"The move from '{state}' to '{to}' is made by "
                               f"the {' or the '.join(step.by)} ({step.rule}).",
                               {"from": state, "to": to, "by": list(step.by),
                                "rule": step.rule})
            if step.reason and not reason:
                raise Conflict("DISP-VAL-021", f"The move from '{state}' to '{to}' needs a "
                               "reason.", {"from": state, "to": to, "rule": step.rule})
            due = current.value(DEADLINE) or ""
            if party in step.after_deadline and stamp(moment) < due:
                raise Conflict("DISP-VAL-023", f"The {party} escalates only after the "
                               f"deadline of the '{state}' state ({due}); the market "
                               "facilitator may escalate at any time.",
                               {"from": state, "deadline": due})
            values: dict[str, Any] = {"State": to}
            if reason:
                values["Reason"] = reason
            if to in ACTIVE:
                values["Deadline"] = self.deadline(to)
            changed = properties_from_json(values, table=self.table)
            names = {p for p, _ in changed} | {REASON}
            return [p for p in current.properties() if p[0] not in names] + changed

        return self.change(record_id, caller, if_match or "*", "transition", moved)

    def summary(self, caller: Caller, at: datetime | None = None) -> dict[str, Any]:
        """The disputes the caller reads on this node, counted by state and age band
        (days since opened: 0-9, 10-29, 30+) and how many are past their deadline: the
        node-side part of the disputes report (merged across nodes by `merge_summaries`)."""
        moment = stamp(at or now())
        counts: dict[str, dict[str, int]] = {}
        overdue = 0
        for record in self.every(caller):
            state = record.value(STATE) or ""
            band = age_band(str(record.as_json().get("Created") or ""), at or now())
            row = counts.setdefault(state, {})
            row[band] = row.get(band, 0) + 1
            if state in ACTIVE and (record.value(DEADLINE) or "9") < moment:
                overdue += 1
        return {"by_state": counts, "overdue": overdue}


AGE_BANDS = ((10, "0-9 days"), (30, "10-29 days"))


def age_band(created: str, at: datetime) -> str:
    try:
        start = datetime.fromisoformat(created)
    except ValueError:
        return "unknown"
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    days = (at - start).days
    return next((label for limit, label in AGE_BANDS if days < limit), "30+ days")


def merge_summaries(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Node summaries added up (the federated disputes report)."""
    by_state: dict[str, dict[str, int]] = {}
    overdue = 0
    for part in parts:
        overdue += int(part.get("overdue", 0))
        for state, bands in dict(part.get("by_state", {})).items():
            row = by_state.setdefault(str(state), {})
            for band, n in dict(bands).items():
                row[str(band)] = row.get(str(band), 0) + int(n)
    return {"by_state": by_state, "overdue": overdue}
