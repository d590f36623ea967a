"""Tombstones: what a node keeps of a record that moved to another node (a switch).

The record's graph is gone from the node (queries, duplicate checks and writes no longer
see it); `urn:fmar:tombstone:<record IRI>` says where it went, for whom, and when. A read
or change of the IRI then answers 410 SWITCH-410 naming the new node, to those who could
read the record before or its new holder; anyone else gets the kind's 404. What policy
knew of the record's areas is kept (`fmar:formerDnoArea`: its licence area, or each one a
market unit spanned), so a DNO that read a unit through its members' areas is still told.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import DomainError, Gone
from common.vocab import FMAR, ORG_BASE
from node import ntriples
from node.identity import Caller
from node.ntriples import term_value
from node.records.kind import Facts, RecordKind
from node.store import GraphWrite, RecordStore

TOMBSTONE_BASE = "urn:fmar:tombstone:"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"


@dataclass(frozen=True)
class Tombstone:
    iri: str
    moved_to: str  # the node URL now holding the record
    organisation: str  # the new holder
    former: Facts  # what policy knew of the record here
    switch_request: str
    moved_at: str


def graph_of(iri: str) -> str:
    return TOMBSTONE_BASE + iri


def write(stone: Tombstone) -> GraphWrite:
    s, lit = f"<{stone.iri}>", ntriples.string
    lines = [f"{s} <{FMAR.movedTo}> {lit(stone.moved_to)} .",
             f"{s} <{FMAR.movedToOrganisation}> <{ORG_BASE}{stone.organisation}> .",
             f"{s} <{FMAR.formerOrganisation}> <{ORG_BASE}{stone.former.organisation}> .",
             f"{s} <{FMAR.switchRequest}> <{stone.switch_request}> .",
             f'{s} <{FMAR.movedAt}> "{stone.moved_at}"^^<{XSD_DATETIME}> .']
    areas = {stone.former.dno_area} if stone.former.dno_area else set()
    lines += [f"{s} <{FMAR.formerDnoArea}> {lit(area)} ."
              for area in sorted(areas | stone.former.spans)]
    return GraphWrite(graph_of(stone.iri), "\n".join(lines), replace=True)


def read(store: RecordStore, iri: str) -> Tombstone | None:
    values, areas = {}, []
    for t in store.triples(graph_of(iri)):
        predicate, value = term_value(t.predicate), term_value(t.object)
        if predicate == str(FMAR.formerDnoArea):
            areas.append(value)
        values[predicate] = value
    if str(FMAR.movedTo) not in values:
        return None
    # one area: the record's own (read as before); several: those a unit spanned
    return Tombstone(iri, values[str(FMAR.movedTo)],
                     values[str(FMAR.movedToOrganisation)].removeprefix(ORG_BASE),
                     Facts(values[str(FMAR.formerOrganisation)].removeprefix(ORG_BASE),
                           areas[0] if len(areas) == 1 else None, spans=frozenset(areas)),
                     values[str(FMAR.switchRequest)], values[str(FMAR.movedAt)])


def absent(kind: RecordKind, store: RecordStore, iri: str, caller: Caller) -> DomainError:
    """The error for an IRI with no record here: SWITCH-410 (with `moved_to`) when it moved
    and the caller could read it before or holds it now; else the kind's 404."""
    from node import policy  # policy reads the record kinds; imported when first needed

    stone = read(store, iri)
    if stone is None or not (caller.organisation_id == stone.organisation
                             or policy.may_read(caller, stone.former, kind.name)):
        return kind.not_found()
    return Gone("SWITCH-410", f"This {kind.label} moved to another node in a switch: read and "
                "change it there.",
                {"moved_to": stone.moved_to, "organisation": stone.organisation,
                 "switch_request": stone.switch_request, "moved_at": stone.moved_at})
