"""Switching: requests, objections, and the hand-over of records between nodes.

On the holder's node (A): `request`, `object`, `withdraw`, and `advance`, which the
runner (node/switching/runner.py) calls for every request whose notice ended or whose
hand-over is under way. On the receiving node (B): `stage` and `activate`, called by A's
node with its own token. Every write is one `UnitOfWork` write; every step is persisted
before the next begins, and each is idempotent, so a crash of either node at any point is
resumed by A's runner (docs/design.md "Switching").
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from common.errors import BadInput, Conflict, Denied, DomainError, Invalid, NotFound
from common.vocab import FMAR, ORG_BASE
from node import ntriples, policy
from node.audit import now_iso
from node.config import NodeSettings
from node.events.model import EventDraft
from node.identity import Caller
from node.kinds import market_unit_capability as composition
from node.ntriples import term_value
from node.placement import Placement
from node.records import tombstone
from node.records.kind import KINDS, UUID, RecordKind
from node.records.status import Action
from node.records.unit import SYSTEM, UnitOfWork, default_events
from node.store import GraphWrite
from node.switching import bundle as bundles
from node.switching import notice
from node.switching.peer import PeerRefused, Peers
from node.switching.record import (
    INPUT,
    SWITCH_BASE,
    SWITCH_REQUEST,
    SwitchRecord,
    new_switch_iri,
)
from node.switching.states import FROZEN, HOLDER, OPEN, REQUESTER, State, check_transition
from node.switching.states import SYSTEM as BY_SYSTEM

logger = logging.getLogger("fmar.switching")

SWITCHABLE = ("asset", "market-unit")  # kinds a switch request names
# what moves with a record of a requested kind: a market unit takes its memberships (past
# ones too: they are its history) and the assets that are members today or later
CARRIED: dict[str, tuple[str, ...]] = {"asset": (), "market-unit": (
    "market-unit-membership", "asset")}
MAX_RECORDS = 500  # records a request names
IMPORT_BASE = "urn:fmar:switch-import:"
DEREGISTERED = "Deregistered"
ORG_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _body_fields(body: Any) -> tuple[str, str, list[str], str]:
    """SWITCH-IN-001: {From, RecordKind?, Records: [IRI or ID, ...], ConsentReference} (the
    request's input fields, `INPUT`), each of its JSON type; what the values must be is
    the shape's (shapes/switch_request.ttl), checked on the request as it would be
    stored."""
    if not isinstance(body, dict) or set(body) - set(INPUT):
        raise BadInput("SWITCH-IN-001", "A switch request is a JSON object with From, "
                       "Records, ConsentReference and optionally RecordKind.")
    holder, kind, records, consent = (body.get("From"), body.get("RecordKind", "asset"),
                                      body.get("Records"), body.get("ConsentReference"))
    if not isinstance(holder, str) or not ORG_ID.match(holder) or \
            not isinstance(kind, str) or \
            not isinstance(records, list) or not all(isinstance(r, str) for r in records) \
            or not isinstance(consent, str | None):
        raise BadInput("SWITCH-IN-001", "From is an organisation ID, RecordKind and "
                       "ConsentReference strings, Records a list of record IRIs or IDs.")
    return holder, kind, records, (consent or "").strip()


def kind_of(iri: str) -> RecordKind:
    """The switchable or carried kind of a record, by its IRI base."""
    for name in {*SWITCHABLE, *(c for carried in CARRIED.values() for c in carried)}:
        if iri.startswith(KINDS[name].iri_base):
            return KINDS[name]
    raise Invalid("SWITCH-VAL-001", "A record of this kind cannot be switched.",
                  {"record": iri[:200]})


def switched_in(sent: bundles.Bundle, writes: list[GraphWrite],
                versions: list[tuple[str, int]]) -> list[EventDraft]:
    """The events of an activation: one per record (`default_events`); a market unit's
    says who held it and who holds it now, and by which switch, so that the system
    operators' nodes subscribed here move their outcomes for it to the new FSP once they
    have confirmed the move themselves (node/events/inbox.py, INBOX-009..012)."""
    data = {"organisation": sent.to_organisation, "former": sent.from_organisation,
            "switch_request": sent.switch_request}
    return [replace(d, data=data) if d.kind == "market-unit" else d
            for d in default_events(Action.SWITCH_IN, writes, versions)]


class Switching:
    def __init__(self, unit: UnitOfWork, settings: NodeSettings, placement: Placement,
                 peers: Peers | None = None, on_moved: Callable[[], None] | None = None):
        self.unit, self.store, self.settings = unit, unit.store, settings
        self.placement = placement
        self.peers = peers or Peers(settings)
        self.on_moved = on_moved or (lambda: None)
        self._open: dict[str, SwitchRecord] = {}  # open requests held here, by IRI
        self._frozen: dict[str, str] = {}  # record IRI -> switch request freezing it
        self._lock = threading.Lock()  # one hand-over step at a time
        # checks of a bundle arriving here before it is staged; raise to refuse it (the
        # gaining FSP's consent, node/kinds/consents.py `switch_guard`)
        self.stage_guards: list[Callable[[bundles.Bundle], None]] = []
        for rec in self.all():
            self._remember(rec)
        unit.guards.append(self._guard)

    # ------------------------------------------------------------ state kept in memory

    def all(self) -> list[SwitchRecord]:
        query = (f"SELECT ?g WHERE {{ GRAPH ?g {{ ?g a <{FMAR.SwitchRequest}> }} }}")
        found = [SwitchRecord.from_triples(g, self.store.triples(g))
                 for g in (term_value(s["g"]) for s in self.store.select(query))]
        return [r for r in found if r is not None]

    def _remember(self, rec: SwitchRecord) -> None:
        """Called under the unit's lock after each write of a request."""
        self._open.pop(rec.iri, None)
        for iri in [i for i, s in self._frozen.items() if s == rec.iri]:
            del self._frozen[iri]
        if rec.state in OPEN:
            self._open[rec.iri] = rec
        if rec.state in FROZEN:
            self._frozen.update({iri: rec.iri for iri in rec.records})

    def _guard(self, kind: RecordKind, iri: str) -> None:
        """SWITCH-409: a record being handed over does not change on the holder's node."""
        if iri in self._frozen:
            raise Conflict("SWITCH-409", f"This {kind.label} is being handed over in a switch "
                           "and cannot change until the switch ends.",
                           {"switch_request": self._frozen[iri]})

    def _crash(self, step: str) -> None:
        """Test hook FMAR_SWITCH_CRASH_AT: die here as kill -9 would (no clean-up)."""
        if self.settings.switch_crash_at == step:
            logger.warning("FMAR_SWITCH_CRASH_AT=%s: exiting now", step)
            os._exit(137)

    # ------------------------------------------------------------ requests (people)

    def request(self, caller: Caller, body: Any) -> SwitchRecord:
        holder, kind_name, given, consent = _body_fields(body)
        facts = SWITCH_REQUEST.facts_of(SwitchRecord("", holder, caller.organisation_id,
                                                  kind_name, (), consent, "", ""))
        policy.authorise(caller, "switch-request", Action.REQUEST_SWITCH, facts)
        kind = KINDS[kind_name] if kind_name in SWITCHABLE and kind_name in KINDS else None
        if len(given) > MAX_RECORDS:
            raise Invalid("SWITCH-VAL-001", f"A switch names 1 to {MAX_RECORDS} records.")
        iris = []
        for item in given if kind is not None else []:  # another kind: the shape says so
            base, label = (kind.iri_base, kind.label) if kind is not None else ("", "")
            rid = item.removeprefix(base)
            if not UUID.match(rid):
                raise Invalid("SWITCH-VAL-001", f"'{item[:100]}' is not a {label} IRI or "
                              "ID.", {"record": item[:100]})
            iris.append(base + rid)
        created = notice.now()
        rec = SwitchRecord(new_switch_iri(), holder, caller.organisation_id, kind_name,
                           tuple(sorted(set(iris))), consent, State.REQUESTED, notice.iso(
                               notice.notice_ends(created, self.settings.switch_notice_days,
                                                  self.settings.switch_notice_seconds)),
                           created=notice.iso(created))
        rec.checked(1, rec.created)  # SWITCH-VAL-001, 003, ... before reading any record
        if kind is None:  # the shape refused it already (its rule, kept here for types)
            raise Invalid("SWITCH-VAL-001", f"Records of kind '{kind_name[:50]}' cannot be "
                          f"switched (switchable: {', '.join(SWITCHABLE)}).")
        with self.unit.lock:
            self._check_records(kind, holder, list(rec.records))
            busy = sorted(i for r in self._open.values() for i in r.records
                          if i in rec.records)
            if busy:
                raise Conflict("SWITCH-VAL-004", "Some records are already in an open switch "
                               "request.", {"records": busy})
            rec = rec.moved(records=tuple(self._with_carried(kind, holder, list(rec.records))))
            self.unit.write(caller, Action.REQUEST_SWITCH,
                            [GraphWrite(rec.iri, rec.checked(1, rec.created))], [(rec.iri, 1)])
            stored = self._read(rec.iri)
            self._remember(stored)
        return stored

    def _with_carried(self, kind: RecordKind, holder: str, iris: list[str]) -> list[str]:
        """The requested records and those that move with them (`CARRIED`), checked: an
        asset in a unit moves only with it (SWITCH-VAL-020), a unit's member assets are
        active assets of the holder (SWITCH-VAL-002) in no other open switch
        (SWITCH-VAL-021), and the whole fits one hand-over (SWITCH-VAL-022)."""
        day = composition.today()
        if kind.name == "asset":
            inside = sorted({m.unit for iri in iris
                             for m in composition.memberships(self.store, asset=iri)
                             if m.in_force_from(day)})
            if inside:
                raise Conflict("SWITCH-VAL-020", "An asset that is a member of a market unit "
                               "moves only with its unit: request the unit, or end the "
                               "membership first.", {"market_units": inside})
            return iris
        carried: set[str] = set()
        for unit in (iris if kind.name == "market-unit" else []):
            for m in composition.memberships(self.store, unit=unit):
                carried.add(m.iri)
                if m.in_force_from(day):
                    carried.add(m.asset)
        assets = sorted(i for i in carried if i.startswith(KINDS["asset"].iri_base))
        self._check_records(KINDS["asset"], holder, assets)
        busy = sorted(i for r in self._open.values() for i in r.records
                      if i in carried and not set(iris) & set(r.records))
        if busy:
            raise Conflict("SWITCH-VAL-021", "A member of the market unit is in another open "
                           "switch request: it ends first.", {"records": busy})
        everything = sorted(set(iris) | carried)
        if len(everything) > self.settings.switch_max_bundle:
            raise Invalid("SWITCH-VAL-022", "A hand-over moves at most "
                          f"{self.settings.switch_max_bundle} records "
                          "with the units' memberships and members; this one would move "
                          f"{len(everything)}.", {"records": len(everything)})
        return everything

    def requested(self, rec: SwitchRecord) -> list[str]:
        """The records the request named (the rest of `records` is carried with them)."""
        base = KINDS[rec.record_kind].iri_base
        return [i for i in rec.records if i.startswith(base)]

    def _check_records(self, kind: RecordKind, holder: str, iris: list[str]) -> None:
        """SWITCH-VAL-002: every record is held here, for `holder`, and active."""
        bad = []
        for iri in iris:
            current = kind.read(iri, self.store.triples(iri))
            if current is None or kind.facts_of(current).organisation != holder or any(
                    term_value(t.predicate) == str(FMAR.registrationStatus)
                    and term_value(t.object).endswith(DEREGISTERED) for t in current.triples):
                bad.append(iri)
        if bad:
            raise Invalid("SWITCH-VAL-002", f"Some records are not active {kind.label}s held on "
                          f"this node for '{holder}'.", {"records": bad})

    def _read(self, iri: str) -> SwitchRecord:
        rec = SwitchRecord.from_triples(iri, self.store.triples(iri))
        if rec is None:
            raise SWITCH_REQUEST.not_found()
        return rec

    def read(self, caller: Caller, switch_id: str) -> SwitchRecord:
        rec = self._read(SWITCH_REQUEST.iri_of(switch_id))
        policy.authorise(caller, "switch-request", "read", rec.facts)
        return rec

    def visible(self, caller: Caller) -> list[SwitchRecord]:
        """The requests a read would show this caller (POL-071), oldest first."""
        policy.require_scope(caller, "assets:read")

        def readable(rec: SwitchRecord) -> bool:
            try:
                policy.authorise(caller, "switch-request", "read", rec.facts)
                return True
            except DomainError:
                return False

        return sorted(filter(readable, self.all()), key=lambda r: r.created)

    def _move(self, caller: Caller, rec: SwitchRecord, to: State, by: str, action: str,
              **changes: Any) -> SwitchRecord:
        """One transition of a request held here, through the one write path."""
        def authorise(current: SwitchRecord) -> None:
            check_transition(current.state, to, by)

        def make(current: SwitchRecord, version: int) -> str:
            return current.moved(state=to, **changes).checked(version, now_iso())

        with self.unit.lock:
            moved: SwitchRecord = self.unit.change(
                SWITCH_REQUEST, rec.iri, caller, "*", action, authorise, make,
                lambda current, new: {"from": current.state, "state": str(to)})
            self._remember(moved)
        return moved

    def object(self, caller: Caller, switch_id: str, body: Any) -> SwitchRecord:
        """A's objection, within the notice (SWITCH-VAL-006), with its reason (the shape's
        SWITCH-VAL-007: an objected request states one)."""
        rec = self.read(caller, switch_id)
        policy.authorise(caller, "switch-request", Action.OBJECT_SWITCH, rec.facts)
        reason = body.get("Reason") if isinstance(body, dict) else None
        if notice.now() >= notice.parse(rec.notice_ends):
            raise Conflict("SWITCH-VAL-006", "The notice period has ended: the switch can no "
                           "longer be objected to.", {"notice_ends": rec.notice_ends})
        return self._move(caller, rec, State.OBJECTED, HOLDER, Action.OBJECT_SWITCH,
                          reason=reason.strip() if isinstance(reason, str) else None)

    def withdraw(self, caller: Caller, switch_id: str) -> SwitchRecord:
        rec = self.read(caller, switch_id)
        policy.authorise(caller, "switch-request", Action.WITHDRAW_SWITCH, rec.facts)
        return self._move(caller, rec, State.WITHDRAWN, REQUESTER, Action.WITHDRAW_SWITCH)

    # ------------------------------------------------------------ the hand-over (A's node)

    def pending(self) -> list[SwitchRecord]:
        """Requests this node has work on: notice ended, or a hand-over under way."""
        now = notice.now()
        with self.unit.lock:
            return [r for r in self._open.values()
                    if r.state != State.REQUESTED or notice.parse(r.notice_ends) <= now]

    def advance(self, rec: SwitchRecord) -> SwitchRecord:
        """Take every step that can be taken now; each persisted before the next."""
        with self._lock:
            kind = KINDS[rec.record_kind]
            if rec.state == State.REQUESTED:
                rec = self._move(SYSTEM, rec, State.ACCEPTED, BY_SYSTEM, Action.ADVANCE_SWITCH)
                self._crash("accepted")
            if rec.state == State.ACCEPTED:
                try:
                    target = self.peers.node_of(rec.requester)
                except PeerRefused as refused:
                    return self._reject(rec, refused)
                with self.unit.lock:  # checked, gathered and frozen together
                    try:  # changed during the notice (e.g. de-registered): nothing moves
                        named = self.requested(rec)
                        self._check_records(kind, rec.holder, named)
                        everything = self._with_carried(kind, rec.holder, named)
                    except (Invalid, Conflict) as invalid:
                        return self._reject(rec, PeerRefused(422, invalid.body()))
                    rec = self._move(SYSTEM, rec, State.TRANSFERRING, BY_SYSTEM,
                                     Action.ADVANCE_SWITCH, target_node=target,
                                     records=tuple(everything))
                self._crash("prepared")
            if rec.state == State.TRANSFERRING:
                sent = bundles.export(kind, kind_of, self.store, self.unit.journal, rec.iri,
                                      rec.switch_id, rec.holder, rec.requester,
                                      list(rec.records))
                try:
                    self.peers.call("PUT", rec.target_node or "",
                                    f"/switch-transfers/{rec.switch_id}", sent.as_json())
                except PeerRefused as refused:
                    return self._reject(rec, refused)
                self._crash("stage-sent")
                rec = self._move(SYSTEM, rec, State.STAGED, BY_SYSTEM, Action.ADVANCE_SWITCH)
                self._crash("staged")
            if rec.state == State.STAGED:
                rec = self._commit(rec)
                self._crash("committed")
            if rec.state == State.COMMITTED:
                self.peers.call("POST", rec.target_node or "",
                                f"/switch-transfers/{rec.switch_id}/activation")
                self._crash("activate-sent")
                rec = self._move(SYSTEM, rec, State.COMPLETED, BY_SYSTEM, Action.ADVANCE_SWITCH)
            return rec

    def _reject(self, rec: SwitchRecord, refused: PeerRefused) -> SwitchRecord:
        body = refused.body if isinstance(refused.body, dict) else {}
        reason = f"{body.get('code', refused.status)}: {body.get('message', '')}"[:1000]
        logger.warning("switch %s rejected: %s", rec.iri, reason)
        if rec.state == State.ACCEPTED:  # no node to hand over to: the records stay
            rec = self._move(SYSTEM, rec, State.TRANSFERRING, BY_SYSTEM, Action.ADVANCE_SWITCH)
        return self._move(SYSTEM, rec, State.REJECTED, BY_SYSTEM, Action.ADVANCE_SWITCH,
                          reason=reason)

    def _commit(self, rec: SwitchRecord) -> SwitchRecord:
        """One transaction on A: the records' graphs go, tombstones say where they went,
        the request is `committed`."""
        with self.unit.lock:
            current = self._read(rec.iri)
            check_transition(current.state, State.COMMITTED, BY_SYSTEM)
            version, at = current.version + 1, now_iso()
            writes = [GraphWrite(rec.iri, current.moved(state=State.COMMITTED).checked(
                          version, at)),
                      GraphWrite(SWITCH_REQUEST.version_iri(rec.iri, current.version),
                                 "\n".join(f"{t.subject} {t.predicate} {t.object} ."
                                           for t in current.triples))]
            audited = [(rec.iri, version)]
            for iri in rec.records:
                kind = kind_of(iri)
                record = kind.read(iri, self.store.triples(iri))
                if record is None:
                    continue  # moved already (this step is retried as a whole, never half)
                writes.append(GraphWrite(iri, "", replace=True))
                writes.append(tombstone.write(tombstone.Tombstone(
                    iri, rec.target_node or "", rec.requester, kind.facts_of(record), rec.iri, at)))
                audited.append((iri, record.version + 1))
            self.unit.write(SYSTEM, Action.SWITCH_OUT, writes, audited)
            moved = self._read(rec.iri)
            self._remember(moved)
        self.on_moved()
        return moved

    # ------------------------------------------------------------ receiving (B's node)

    def _authorise_transfer(self, caller: Caller, holder: str, requester: str) -> None:
        """POL-075: this node holds the organisation taking over; the calling node's
        operator held the records (or hosts their holder)."""
        if requester not in self.placement.organisations():
            raise Denied("POL-075", "This node does not hold records of the organisation "
                         "taking over.", {"organisation_id": requester})
        if not self.peers.hosts(caller.organisation_id, holder):
            raise Denied("POL-075", "The calling node does not hold the records' holder.",
                         {"organisation_id": holder})

    def _marker(self, switch_id: str) -> dict[str, str]:
        return {term_value(t.predicate): term_value(t.object)
                for t in self.store.triples(IMPORT_BASE + switch_id)}

    def _marker_write(self, sent: bundles.Bundle, state: str, keep_bundle: bool) -> GraphWrite:
        s, lit = f"<{IMPORT_BASE}{sent.switch_id}>", ntriples.string
        lines = [f"{s} <{FMAR.switchState}> {lit(state)} .",
                 f"{s} <{FMAR.switchRequest}> <{sent.switch_request}> .",
                 f"{s} <{FMAR.formerOrganisation}> <{ORG_BASE}{sent.from_organisation}> ."]
        if keep_bundle:
            lines.append(f"{s} <{FMAR.bundle}> {lit(json.dumps(sent.as_json()))} .")
        return GraphWrite(IMPORT_BASE + sent.switch_id, "\n".join(lines))

    def stage(self, caller: Caller, switch_id: str, body: Any) -> dict[str, Any]:
        """Keep the bundle, not yet as records (idempotent by switch ID)."""
        policy.authorise(caller, "switch-request", Action.TRANSFER_SWITCH)
        sent = bundles.Bundle.from_json(body)
        if sent.switch_id != switch_id or not UUID.match(switch_id) or \
                sent.switch_request != SWITCH_BASE + switch_id:
            raise BadInput("SWITCH-IN-001", "The bundle is for another switch.")
        self._authorise_transfer(caller, sent.from_organisation, sent.to_organisation)
        if sent.kind not in SWITCHABLE or not {r["kind"] for r in sent.records} <= {
                sent.kind, *CARRIED[sent.kind]}:
            raise Invalid("SWITCH-VAL-001", f"Records of kind '{sent.kind}' cannot be switched.")
        if len(sent.records) > self.settings.switch_max_bundle:
            raise Invalid("SWITCH-VAL-022", "A hand-over moves at most "
                          f"{self.settings.switch_max_bundle} records.")
        with self.unit.lock:
            marker = self._marker(switch_id)
            if marker:
                return {"switch_id": switch_id, "state": marker[str(FMAR.switchState)]}
            bundles.check(KINDS, sent)
            for guard in self.stage_guards:
                guard(sent)
            for r in sent.records:
                if self.store.triples(r["iri"]):
                    raise Conflict("SWITCH-VAL-009", "A record of the bundle is already held "
                                   "on this node.", {"record": r["iri"]})
            self.unit.write(caller, Action.TRANSFER_SWITCH,
                            [self._marker_write(sent, "staged", keep_bundle=True)], [])
        self._crash("import-staged")
        return {"switch_id": switch_id, "state": "staged"}

    def activate(self, caller: Caller, switch_id: str) -> dict[str, Any]:
        """Make the staged records this node's (idempotent: once active, says so)."""
        if not UUID.match(switch_id):
            raise SWITCH_REQUEST.not_found()
        policy.authorise(caller, "switch-request", Action.TRANSFER_SWITCH)
        with self.unit.lock:
            marker = self._marker(switch_id)
            if not marker:
                raise NotFound("SWITCH-404", "No such switch transfer staged on this node.")
            former = marker[str(FMAR.formerOrganisation)].removeprefix(ORG_BASE)
            if not self.peers.hosts(caller.organisation_id, former):
                raise Denied("POL-075", "The calling node does not hold the records' holder.",
                             {"organisation_id": former})
            if marker[str(FMAR.switchState)] == "active":
                return {"switch_id": switch_id, "state": "active"}
            sent = bundles.Bundle.from_json(json.loads(marker[str(FMAR.bundle)]))
            writes, versions = bundles.received_writes(KINDS, sent, now_iso())
            writes.append(self._marker_write(sent, "active", keep_bundle=False))
            self.unit.write(caller, Action.SWITCH_IN, writes, versions,
                            events=switched_in(sent, writes, versions))
        self.on_moved()
        self._crash("import-activated")
        return {"switch_id": switch_id, "state": "active"}
