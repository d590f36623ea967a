"""The switch request record kind: FSP B asks to take over records of FSP A.

Held on A's node (the node that holds the records), one named graph per request,
written only through the one write path (node/records/unit.py). Its state moves along
`node/switching/states.py`. Its fields (JSON name <-> predicate) are one table,
`SWITCH_TABLE`, from which the API's models are made (node/api/switching.py); every
version written is checked first against shapes/switch_request.ttl by the one validator
(`SwitchRecord.checked`, SWITCH-VAL-001, 003, 007, 030..034).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pyoxigraph as ox

from common.vocab import DCTERMS, FMAR, ID_BASE, ORG_BASE, SHAPES_DIR, XSD
from node import ntriples
from node.asset_fields import Field, FieldTable
from node.ntriples import term_value
from node.records.kind import Facts, RecordKind
from node.records.refusals import refusal
from node.validation import Validator

SWITCH_BASE = ID_BASE + "switch-request/"
SHAPES_FILE = SHAPES_DIR / "switch_request.ttl"
_ORG: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
_TEXT: dict[str, Any] = {"type": "string"}

# The fields of a switch request, in the order the API shows them; the first four are what
# FSP B sends (`INPUT`), the rest the node keeps.
FIELDS = (
    Field("From", FMAR.organisation, "org", doc="The organisation holding the records today "
          "(A)", schema=_ORG),
    Field("RecordKind", FMAR.recordKind, "string", doc="The kind of the records: `asset` "
          "(default) or `market-unit` (its memberships and member assets move with it)",
          schema={"type": "string", "enum": ["asset", "market-unit"]}),
    Field("Records", FMAR.switchedRecord, "record", doc="The records' IRIs (or IDs), 1 to "
          "500; once made, with those that move with them",
          schema={"type": "array", "items": {"type": "string"}, "minItems": 1,
                  "maxItems": 500}),
    Field("ConsentReference", FMAR.consentReference, "string",
          doc="The consumer's consent reference",
          schema={"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}),
    Field("To", FMAR.requestedBy, "org", doc="The organisation taking the records over (B)",
          schema=_ORG),
    Field("State", FMAR.switchState, "string", doc="requested, objected, withdrawn, "
          "accepted, transferring, staged, rejected, committed or completed", schema=_TEXT),
    Field("NoticeEnds", FMAR.noticeEnds, "string", doc="When A can no longer object",
          schema={"type": "string", "format": "date-time"}),
    Field("Reason", FMAR.switchReason, "string", doc="An objection's reason, or why the "
          "hand-over was refused", schema={"type": "string", "maxLength": 1000}),
    Field("TargetNode", FMAR.targetNode, "string", doc="The node of the organisation taking "
          "over, once known", schema={"type": "string", "format": "uri"}),
)
INPUT = ("From", "RecordKind", "Records", "ConsentReference")
SWITCH_TABLE = FieldTable("SWITCH", FIELDS, ("SwitchId", "Version", "Created", "Modified"),
                          "SwitchId", "A switch request", "switch request field names",
                          "the fields are " + ", ".join(INPUT))
_VALIDATOR = Validator(labels={f.iri: f.name for f in FIELDS})
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


@dataclass(frozen=True)
class SwitchFacts(Facts):
    """Facts of a switch request for policy: `organisation` is the holder (A), `requester`
    the organisation taking over (B)."""

    requester: str = ""


@dataclass(frozen=True)
class SwitchRecord:
    iri: str
    holder: str  # organisation A (today's holder)
    requester: str  # organisation B (tomorrow's holder)
    record_kind: str  # the kind of the records moved, e.g. "asset"
    records: tuple[str, ...]
    consent: str
    state: str
    notice_ends: str
    version: int = 1
    created: str = ""
    modified: str = ""
    reason: str | None = None  # an objection's or a refusal's reason
    target_node: str | None = None  # B's node, once known
    triples: list[ox.Triple] = field(default_factory=list, compare=False, repr=False)

    @property
    def switch_id(self) -> str:
        return self.iri[len(SWITCH_BASE):]

    @property
    def etag(self) -> str:
        return f'"{self.switch_id}.v{self.version}"'

    @property
    def facts(self) -> SwitchFacts:
        return SwitchFacts(self.holder, requester=self.requester)

    def moved(self, **changes: Any) -> SwitchRecord:
        return replace(self, **changes)

    def checked(self, version: int, modified: str) -> str:
        """Version `version` of the request as N-Triples, once it conforms to
        shapes/switch_request.ttl (else 422 with the first violation's rule ID and every
        violation): every write of a request goes through here."""
        from node.records.service import shape_set  # the kinds' compiled shapes

        text = self.ntriples(version, modified)
        violations = _VALIDATOR.validate(text, shape_set(SWITCH_REQUEST), [self.iri])
        if violations:
            raise refusal(SWITCH_REQUEST, violations, by_rule=True)
        return text

    def ntriples(self, version: int, modified: str) -> str:
        s, lit = f"<{self.iri}>", ntriples.string
        dt = f"^^<{XSD}dateTime>"
        lines = [
            f"{s} <{RDF_TYPE}> <{FMAR.SwitchRequest}> .",
            f"{s} <{FMAR.switchId}> {lit(self.switch_id)} .",
            f"{s} <{FMAR.organisation}> <{ORG_BASE}{self.holder}> .",
            f"{s} <{FMAR.requestedBy}> <{ORG_BASE}{self.requester}> .",
            f"{s} <{FMAR.recordKind}> {lit(self.record_kind)} .",
            f"{s} <{FMAR.consentReference}> {lit(self.consent)} .",
            f"{s} <{FMAR.switchState}> {lit(self.state)} .",
            f'{s} <{FMAR.noticeEnds}> "{self.notice_ends}"{dt} .',
            f'{s} <{FMAR.version}> "{version}"^^<{XSD}integer> .',
            f'{s} <{DCTERMS.created}> "{self.created or modified}"{dt} .',
            f'{s} <{DCTERMS.modified}> "{modified}"{dt} .',
            *(f"{s} <{FMAR.switchedRecord}> <{r}> ." for r in self.records),
        ]
        if self.reason:
            lines.append(f"{s} <{FMAR.switchReason}> {lit(self.reason)} .")
        if self.target_node:
            lines.append(f"{s} <{FMAR.targetNode}> {lit(self.target_node)} .")
        return "\n".join(lines)

    @classmethod
    def from_triples(cls, iri: str, triples: Iterable[ox.Triple]) -> SwitchRecord | None:
        values: dict[str, list[str]] = {}
        kept = []
        for t in triples:
            if term_value(t.subject) != iri:
                continue
            kept.append(t)
            values.setdefault(term_value(t.predicate), []).append(term_value(t.object))
        if str(FMAR.switchState) not in values:
            return None

        def one(p: Any) -> str:
            return values.get(str(p), [""])[0]

        def maybe(p: Any) -> str | None:
            found = values.get(str(p))
            return found[0] if found else None

        return cls(iri=iri, holder=one(FMAR.organisation).removeprefix(ORG_BASE),
                   requester=one(FMAR.requestedBy).removeprefix(ORG_BASE),
                   record_kind=one(FMAR.recordKind),
                   records=tuple(sorted(values.get(str(FMAR.switchedRecord), []))),
                   consent=one(FMAR.consentReference), state=one(FMAR.switchState),
                   notice_ends=one(FMAR.noticeEnds), version=int(one(FMAR.version) or 0),
                   created=one(DCTERMS.created), modified=one(DCTERMS.modified),
                   reason=maybe(FMAR.switchReason), target_node=maybe(FMAR.targetNode),
                   triples=kept)

    def as_json(self) -> dict[str, Any]:
        """The request as the API shows it: the fields of `SWITCH_TABLE`, in its order."""
        values = {"From": self.holder, "To": self.requester, "RecordKind": self.record_kind,
                  "Records": list(self.records), "ConsentReference": self.consent,
                  "State": self.state, "NoticeEnds": self.notice_ends, "Reason": self.reason,
                  "TargetNode": self.target_node}
        return {"id": self.iri, "SwitchId": self.switch_id,
                **{f.name: values[f.name] for f in SWITCH_TABLE.fields},
                "Version": self.version, "Created": self.created, "Modified": self.modified}


def new_switch_iri() -> str:
    return f"{SWITCH_BASE}{uuid.uuid4()}"


SWITCH_REQUEST = RecordKind(
    name="switch-request", label="switch request", code="SWITCH", iri_base=SWITCH_BASE,
    rdf_class=FMAR.SwitchRequest, table=SWITCH_TABLE, shapes=(SHAPES_FILE,),
    rules=("SWITCH-VAL-*", "SWITCH-IN-001", "SWITCH-404", "SWITCH-409", "SWITCH-410",
           "SWITCH-412", "SWITCH-428"),
    held_by="the node of the organisation that holds the records (FSP A)",
    reader=SwitchRecord.from_triples, facts=lambda record: record.facts,
)
