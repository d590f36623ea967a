"""Per-node, append-only, hash-chained audit log in PROV-O terms.

Each entry is stored as triples in the graph `urn:fmar:audit`. Its hash is the
SHA-256 of the canonical JSON of its fields, which include the previous entry's
hash, so editing or removing an entry breaks the chain (`fmar audit verify`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pyoxigraph as ox

from common.vocab import AUDIT_BASE, FMAR, PROV
from node import ntriples
from node.identity import Caller
from node.ntriples import term_value
from node.store.base import GraphWrite, RecordStore

AUDIT_GRAPH = "urn:fmar:audit"
GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    sequence: int
    time: str
    agent: str
    organisation: str
    on_behalf_of: str | None
    action: str
    record: str
    version: int
    previous_hash: str

    def digest(self) -> str:
        fields = {
            "sequence": self.sequence, "time": self.time, "agent": self.agent,
            "organisation": self.organisation, "on_behalf_of": self.on_behalf_of,
            "action": self.action, "record": self.record, "version": self.version,
            "previous_hash": self.previous_hash,
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def iri(self) -> str:
        return f"{AUDIT_BASE}{self.sequence}"

    def ntriples(self, digest: str | None = None) -> str:
        s = f"<{self.iri}>"

        lit = ntriples.string

        xsd = "http://www.w3.org/2001/XMLSchema#"
        lines = [
            f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{FMAR.AuditEntry}> .",
            f'{s} <{FMAR.sequence}> "{self.sequence}"^^<{xsd}integer> .',
            f'{s} <{PROV.startedAtTime}> "{self.time}"^^<{xsd}dateTime> .',
            f"{s} <{PROV.wasAssociatedWith}> {lit(self.agent)} .",
            f"{s} <{FMAR.organisation}> {lit(self.organisation)} .",
            f"{s} <{FMAR.action}> {lit(self.action)} .",
            f"{s} <{PROV.used}> <{self.record}> .",
            f'{s} <{FMAR.version}> "{self.version}"^^<{xsd}integer> .',
            f"{s} <{FMAR.previousHash}> {lit(self.previous_hash)} .",
            f"{s} <{FMAR.entryHash}> {lit(digest or self.digest())} .",
        ]
        if self.on_behalf_of:
            lines.append(f"{s} <{PROV.actedOnBehalfOf}> {lit(self.on_behalf_of)} .")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        body = asdict(self)
        body["hash"] = self.digest()
        return body


def now_iso() -> str:
    """UTC time in the canonical xsd:dateTime form (no trailing zeros in the fraction),
    which is how the store gives it back, so hashes computed later agree."""
    stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "")
    whole, _, fraction = stamp.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


_ENTRY_QUERY = f"""
SELECT ?e ?seq ?time ?agent ?org ?obo ?action ?record ?version ?prev ?hash WHERE {{
  GRAPH <{AUDIT_GRAPH}> {{
    ?e <{FMAR.sequence}> ?seq ; <{PROV.startedAtTime}> ?time ;
       <{PROV.wasAssociatedWith}> ?agent ; <{FMAR.organisation}> ?org ;
       <{FMAR.action}> ?action ; <{PROV.used}> ?record ; <{FMAR.version}> ?version ;
       <{FMAR.previousHash}> ?prev ; <{FMAR.entryHash}> ?hash .
    OPTIONAL {{ ?e <{PROV.actedOnBehalfOf}> ?obo }}
    %s
  }}
}} ORDER BY ?seq
"""


def _entry(solution: ox.QuerySolution) -> tuple[AuditEntry, str]:
    obo = solution["obo"]
    entry = AuditEntry(
        sequence=int(term_value(solution["seq"])),
        time=term_value(solution["time"]),
        agent=term_value(solution["agent"]),
        organisation=term_value(solution["org"]),
        on_behalf_of=term_value(obo) if obo is not None else None,
        action=term_value(solution["action"]),
        record=term_value(solution["record"]),
        version=int(term_value(solution["version"])),
        previous_hash=term_value(solution["prev"]),
    )
    return entry, term_value(solution["hash"])


def entries(store: RecordStore, record: str | None = None) -> list[tuple[AuditEntry, str]]:
    """Entries (with their stored hash) in sequence order, optionally for one record."""
    restriction = f"FILTER (?record = <{record}>)" if record else ""
    return [_entry(s) for s in store.select(_ENTRY_QUERY % restriction)]


class AuditLog:
    """Appends entries; the caller writes them in the same transaction as the change."""

    def __init__(self, store: RecordStore):
        self.sequence, self.head_hash = 0, GENESIS_HASH
        head = newest_entry(store)
        if head:
            self.sequence, self.head_hash = head

    def prepare(
        self, caller: Caller, action: str, records: list[tuple[str, int]]
    ) -> tuple[GraphWrite, tuple[int, str]]:
        """Entries for (record IRI, version) pairs and the write that stores them, with the
        chain head they lead to; `commit` the head once the write is stored."""
        sequence, previous = self.sequence, self.head_hash
        time = now_iso()
        lines = []
        for record, version in records:
            sequence += 1
            entry = AuditEntry(sequence, time, caller.subject, caller.organisation_id,
                               caller.actor, action, record, version, previous)
            previous = entry.digest()
            lines.append(entry.ntriples(previous))
        write = GraphWrite(AUDIT_GRAPH, "\n".join(lines), replace=False)
        return write, (sequence, previous)

    def commit(self, head: tuple[int, str]) -> None:
        self.sequence, self.head_hash = head


def newest_entry(store: RecordStore) -> tuple[int, str] | None:
    """(sequence, hash) of the newest entry, found by O(log n) point reads of entry IRIs
    (`urn:fmar:audit:{n}`), not by sorting every entry (a million entries took 22 s):
    entries are numbered 1..n without gaps (a gap means removed entries, which `verify`
    reports), so "entry n exists" holds up to the head and not beyond it."""

    def hash_of(n: int) -> str | None:
        found = list(store.select(
            f"SELECT ?hash WHERE {{ GRAPH <{AUDIT_GRAPH}> {{ <{AUDIT_BASE}{n}> "
            f"<{FMAR.entryHash}> ?hash }} }}"))
        return term_value(found[0]["hash"]) if found else None

    if hash_of(1) is None:
        return None
    present, absent = 1, 2
    while hash_of(absent) is not None:
        present, absent = absent, absent * 2
    while absent - present > 1:
        middle = (present + absent) // 2
        if hash_of(middle) is None:
            absent = middle
        else:
            present = middle
    head = hash_of(present)
    assert head is not None
    return present, head


@dataclass(frozen=True)
class ChainProblem:
    sequence: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.sequence}: {self.problem}"


def verify(store: RecordStore) -> tuple[int, list[ChainProblem]]:
    """Check the whole chain; returns (entries checked, problems found)."""
    problems: list[ChainProblem] = []
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for entry, stored_hash in entries(store):
        count += 1
        if entry.sequence != expected_sequence:
            problems.append(
                ChainProblem(
                    entry.sequence,
                    f"sequence gap: expected {expected_sequence} (entries removed)",
                )
            )
        if entry.previous_hash != expected_previous:
            problems.append(ChainProblem(entry.sequence, "previous hash does not match the chain"))
        if entry.digest() != stored_hash:
            problems.append(ChainProblem(entry.sequence, "content does not match its hash (edited)"))
        expected_previous = stored_hash
        expected_sequence = entry.sequence + 1
    return count, problems
