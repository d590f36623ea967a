"""An event: what changed (type, kind, record, version), when, the facts policy needs to
decide who may receive it (POL-040), and a small data dict. Stored as RDF, one named graph
per event (`urn:fmar:event:{sequence}`), outside the record graphs, so SPARQL never sees
them (POL-011)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph as ox

from common.vocab import XSD
from node import ntriples
from node.events.types import event_type
from node.ntriples import term_value
from node.records.kind import Facts, RecordKind

EVENT_BASE = "urn:fmar:event:"
EV = "https://id.fmar.uk/def/event#"  # the outbox's own terms (node state, not records)
_RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"


def event_graph(sequence: int) -> str:
    return f"{EVENT_BASE}{sequence}"


@dataclass(frozen=True)
class EventDraft:
    """An event before the unit of work numbers it (sequence, id, time)."""

    type: str
    kind: str
    record: str  # the record's IRI
    version: int
    facts: Facts
    data: dict[str, Any] = field(default_factory=dict)


def draft(kind: RecordKind, action: str, record: Any, data: dict[str, Any] | None = None,
          *, facts: Facts | None = None) -> EventDraft:
    """The event of `action` on `record` (a kind's stored record), in one line."""
    return EventDraft(event_type(kind.name, action), kind.name, record.iri, record.version,
                      facts or kind.facts_of(record), data or {})


@dataclass(frozen=True)
class UploadEvent:
    """The event of every record of an upload (EVT-VER-006): one `type` for all, each
    record at `version`; stored once, as one graph naming the upload's leaves graph
    (node/events/outbox.py), and read back as one event per record."""

    type: str
    kind: str
    version: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    sequence: int  # per node, 1, 2, 3 ... without gaps: the feed's cursor
    id: str  # a UUID: the webhook-id, the same on every retry
    time: str
    type: str
    kind: str
    record: str
    version: int
    facts: Facts
    data: dict[str, Any]

    @classmethod
    def of(cls, sequence: int, time: str, d: EventDraft) -> Event:
        return cls(sequence, str(uuid.uuid4()), time, d.type, d.kind, d.record, d.version,
                   d.facts, d.data)

    @property
    def graph(self) -> str:
        return event_graph(self.sequence)

    def as_json(self) -> dict[str, Any]:
        """What subscribers receive (the feed's items, a webhook's body)."""
        return {"id": self.id, "sequence": str(self.sequence), "type": self.type,
                "kind": self.kind, "record": self.record, "version": self.version,
                "time": self.time, "data": self.data}

    def ntriples(self) -> str:
        s = f"<{self.graph}>"
        lit = ntriples.string
        lines = [
            f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{EV}Event> .",
            f'{s} <{EV}sequence> "{self.sequence}"^^<{XSD}integer> .',
            f"{s} <{EV}id> {lit(self.id)} .",
            f'{s} <{EV}time> "{self.time}"^^<{XSD}dateTime> .',
            f"{s} <{EV}type> {lit(self.type)} .",
            f"{s} <{EV}kind> {lit(self.kind)} .",
            f"{s} <{EV}record> <{self.record}> .",
            f'{s} <{EV}version> "{self.version}"^^<{XSD}integer> .',
            f"{s} <{EV}organisation> {lit(self.facts.organisation)} .",
            f'{s} <{EV}public> "{str(self.facts.public).lower()}"^^<{XSD}boolean> .',
            f"{s} <{EV}data> {ntriples.typed(json.dumps(self.data, sort_keys=True), _RDF_JSON)} .",
        ]
        if self.facts.dno_area:
            lines.append(f"{s} <{EV}dnoArea> {lit(self.facts.dno_area)} .")
        if self.facts.spans:  # the further licence areas a record spans (market units)
            lines.append(f"{s} <{EV}spans> {lit(','.join(sorted(self.facts.spans)))} .")
        return "\n".join(lines)

    @classmethod
    def from_triples(cls, triples: Iterable[ox.Triple]) -> Event | None:
        v = {t.predicate.value.removeprefix(EV): term_value(t.object) for t in triples}
        if "sequence" not in v:
            return None
        return cls(int(v["sequence"]), v["id"], v["time"], v["type"], v["kind"], v["record"],
                   int(v["version"]),
                   Facts(v["organisation"], v.get("dnoArea"), v["public"] == "true",
                         spans=frozenset(filter(None, v.get("spans", "").split(",")))),
                   json.loads(v["data"]))
