"""Per-node, append-only, hash-chained audit log in PROV-O terms.

Each entry is stored as triples in the graph `urn:fmar:audit` of the node's journal
(node/records/journal.py: a store apart from the records). The functions here that read
entries take the journal or the record store (they read its `journal`: a journal's journal
is itself); `verify` reads the records of the record store too. Its hash is the
SHA-256 of the canonical JSON of its fields, which include the previous entry's
hash, so editing or removing an entry breaks the chain (`fmar audit verify`).

A bulk upload is one entry (ARM-AUD-001): it names the graph of its records
(`urn:fmar:audit-upload:{sequence}`, one `fmar:auditLeaf "version digest"` per record)
and commits to them by the Merkle root of node/merkle.py, which `verify` recomputes
from the stored records (ARM-AUD-002, ARM-AUD-003).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pyoxigraph as ox

from common.vocab import AUDIT_BASE, FMAR, PROV, XSD
from node import merkle, ntriples
from node.identity import Caller
from node.ntriples import term_value
from node.store.base import GraphWrite, RecordStore

AUDIT_GRAPH = "urn:fmar:audit"
UPLOAD_BASE = "urn:fmar:audit-upload:"  # + sequence: the records one upload entry covers
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
    merkle_root: str | None = None  # an upload entry: `record` is its graph, `version` a count

    def digest(self) -> str:
        fields: dict[str, object] = {
            "sequence": self.sequence, "time": self.time, "agent": self.agent,
            "organisation": self.organisation, "on_behalf_of": self.on_behalf_of,
            "action": self.action, "record": self.record, "version": self.version,
            "previous_hash": self.previous_hash,
        }
        if self.merkle_root is not None:
            fields["merkle_root"] = self.merkle_root
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def iri(self) -> str:
        return f"{AUDIT_BASE}{self.sequence}"

    def ntriples(self, digest: str | None = None) -> str:
        s = f"<{self.iri}>"

        lit = ntriples.string

        lines = [
            f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{FMAR.AuditEntry}> .",
            f'{s} <{FMAR.sequence}> "{self.sequence}"^^<{XSD}integer> .',
            f'{s} <{PROV.startedAtTime}> "{self.time}"^^<{XSD}dateTime> .',
            f"{s} <{PROV.wasAssociatedWith}> {lit(self.agent)} .",
            f"{s} <{FMAR.organisation}> {lit(self.organisation)} .",
            f"{s} <{FMAR.action}> {lit(self.action)} .",
            f"{s} <{PROV.used}> <{self.record}> .",
            f'{s} <{FMAR.version}> "{self.version}"^^<{XSD}integer> .',
            f"{s} <{FMAR.previousHash}> {lit(self.previous_hash)} .",
            f"{s} <{FMAR.entryHash}> {lit(digest or self.digest())} .",
        ]
        if self.on_behalf_of:
            lines.append(f"{s} <{PROV.actedOnBehalfOf}> {lit(self.on_behalf_of)} .")
        if self.merkle_root is not None:
            lines.append(f"{s} <{FMAR.merkleRoot}> {lit(self.merkle_root)} .")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        body = asdict(self)
        if self.merkle_root is None:
            del body["merkle_root"]
        body["hash"] = self.digest()
        return body


def now_iso() -> str:
    """UTC time in the canonical xsd:dateTime form (no trailing zeros in the fraction),
    which is how the store gives it back, so hashes computed later agree."""
    stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "")
    whole, _, fraction = stamp.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


def canonical_time(lexical: str) -> str:
    """An xsd:dateTime read back, in `now_iso`'s form (the one an entry's hash is of):
    Virtuoso gives the fraction back padded with zeros, to 3 or 6 digits ("…12.12Z" reads
    as "…12.120Z"), Oxigraph in that form already."""
    whole, dot, rest = lexical.partition(".")
    if not dot:
        return lexical
    digits = len(rest) - len(rest.lstrip("0123456789"))
    fraction, zone = rest[:digits].rstrip("0"), rest[digits:]
    return f"{whole}.{fraction}{zone}" if fraction else f"{whole}{zone}"


_ENTRY_QUERY = f"""
SELECT ?e ?seq ?time ?agent ?org ?obo ?action ?record ?version ?prev ?hash ?root WHERE {{
  GRAPH <{AUDIT_GRAPH}> {{
    ?e <{FMAR.sequence}> ?seq ; <{PROV.startedAtTime}> ?time ;
       <{PROV.wasAssociatedWith}> ?agent ; <{FMAR.organisation}> ?org ;
       <{FMAR.action}> ?action ; <{PROV.used}> ?record ; <{FMAR.version}> ?version ;
       <{FMAR.previousHash}> ?prev ; <{FMAR.entryHash}> ?hash .
    OPTIONAL {{ ?e <{PROV.actedOnBehalfOf}> ?obo }}
    OPTIONAL {{ ?e <{FMAR.merkleRoot}> ?root }}
    %s
  }}
}} ORDER BY ?seq
"""


def _entry(solution: ox.QuerySolution) -> tuple[AuditEntry, str]:
    obo, root = solution["obo"], solution["root"]
    entry = AuditEntry(
        sequence=int(term_value(solution["seq"])),
        time=canonical_time(term_value(solution["time"])),
        agent=term_value(solution["agent"]),
        organisation=term_value(solution["org"]),
        on_behalf_of=term_value(obo) if obo is not None else None,
        action=term_value(solution["action"]),
        record=term_value(solution["record"]),
        version=int(term_value(solution["version"])),
        previous_hash=term_value(solution["prev"]),
        merkle_root=term_value(root) if root is not None else None,
    )
    return entry, term_value(solution["hash"])


def entries(journal: RecordStore, record: str | None = None,
            entry: str | None = None, upto: int | None = None) -> list[tuple[AuditEntry, str]]:
    """Entries (with their stored hash) in sequence order, optionally for one record
    or one entry IRI, and only up to sequence `upto` (the committed head: JRN-002)."""
    restriction = f"FILTER (?record = <{record}>)" if record else \
        (f"FILTER (?e = <{entry}>)" if entry else "")
    if upto is not None:
        restriction += f" FILTER (?seq <= {int(upto)})"
    return [_entry(s) for s in journal.journal.select(_ENTRY_QUERY % restriction)]


class AuditLog:
    """Appends entries; the caller writes them in the same transaction as the change."""

    def __init__(self, journal: RecordStore):
        self.sequence, self.head_hash = 0, GENESIS_HASH
        head = newest_entry(journal)
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

    def prepare_upload(
        self, caller: Caller, action: str, leaves: list[tuple[str, int, str]]
    ) -> tuple[list[GraphWrite], tuple[int, str]]:
        """One entry for a whole upload of (record IRI, version, content digest) leaves
        (ARM-AUD-001): the chained entry with the leaves' Merkle root, and the graph of
        its leaves."""
        sequence = self.sequence + 1
        ordered = sorted(leaves)
        graph = f"{UPLOAD_BASE}{sequence}"
        entry = AuditEntry(sequence, now_iso(), caller.subject, caller.organisation_id,
                           caller.actor, action, graph, len(ordered), self.head_hash,
                           merkle.root([merkle.leaf(*x) for x in ordered]))
        digest = entry.digest()
        members = "\n".join(f'<{iri}> <{FMAR.auditLeaf}> "{version} {content}" .'
                            for iri, version, content in ordered)
        return ([GraphWrite(AUDIT_GRAPH, entry.ntriples(digest), replace=False),
                 GraphWrite(graph, members, replace=False)], (sequence, digest))

    def commit(self, head: tuple[int, str]) -> None:
        self.sequence, self.head_hash = head


def newest_entry(store: RecordStore) -> tuple[int, str] | None:
    """(sequence, hash) of the newest entry, found by O(log n) point reads of entry IRIs
    (`urn:fmar:audit:{n}`), not by sorting every entry (a million entries took 22 s):
    entries are numbered 1..n without gaps (a gap means removed entries, which `verify`
    reports), so "entry n exists" holds up to the head and not beyond it."""

    def hash_of(n: int) -> str | None:
        found = list(store.journal.select(
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


def _leaves(store: RecordStore, graph: str) -> list[tuple[str, int, str]]:
    """(record IRI, version, content digest) of an upload entry, in IRI order."""
    found = []
    for s in store.journal.select(f"SELECT ?r ?l WHERE {{ GRAPH <{graph}> {{ ?r <{FMAR.auditLeaf}> ?l }} }}"):
        version, _, content = term_value(s["l"]).partition(" ")
        found.append((s["r"].value, int(version), content))
    return sorted(found)


def stored_digest(store: RecordStore, iri: str, version: int,
                  journal: RecordStore | None = None) -> str | None:
    """The content digest of version `version` of a record as stored now (the current
    graph in the record store, or the history graph of the journal that holds it)."""
    if store.ask(f"ASK {{ GRAPH <{iri}> {{ <{iri}> <{FMAR.version}> {version} }} }}"):
        source, graph = store, iri
    else:
        journal = journal or store.journal
        graphs = [s["g"].value for s in journal.select(
            f'SELECT ?g WHERE {{ GRAPH ?g {{ <{iri}> <{FMAR.version}> {version} }} }}')]
        if not graphs:
            return None
        source, graph = journal, graphs[0]
    return merkle.content_digest(f"{t.subject} {t.predicate} {_as_written(t.object)} ."
                                 for t in source.triples(graph))


_XSD_DATETIME = ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime")


def _as_written(term: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple) -> object:
    """A term as its leaf was computed (Oxigraph's form): a time Virtuoso gave back padded
    ("…12.120Z") without the zeros."""
    if isinstance(term, ox.Literal) and term.datatype == _XSD_DATETIME:
        return ox.Literal(canonical_time(term.value), datatype=_XSD_DATETIME)
    return term


def covering(journal: RecordStore, iri: str,
             upto: int | None = None) -> Iterator[tuple[AuditEntry, str, dict[str, object]]]:
    """The upload entries that cover record `iri`: (entry, stored hash, the record's leaf
    with its Merkle proof to the entry's root)."""
    for s in journal.journal.select(f"SELECT ?g WHERE {{ GRAPH ?g {{ <{iri}> <{FMAR.auditLeaf}> ?l }} "
                          f'FILTER STRSTARTS(STR(?g), "{UPLOAD_BASE}") }}'):
        graph = s["g"].value
        sequence = int(graph[len(UPLOAD_BASE):])
        if upto is not None and sequence > upto:
            continue
        leaves = _leaves(journal, graph)
        index = next(i for i, x in enumerate(leaves) if x[0] == iri)
        hashes = [merkle.leaf(*x) for x in leaves]
        for entry, stored in entries(journal, entry=f"{AUDIT_BASE}{sequence}"):
            yield entry, stored, {
                "record": iri, "version": leaves[index][1], "content_digest": leaves[index][2],
                "leaf": hashes[index], "index": index,
                "proof": [{"side": side, "hash": h} for side, h in merkle.proof(hashes, index)],
            }


def trail(journal: RecordStore, iri: str, upto: int | None = None) -> list[dict[str, object]]:
    """A record's audit trail: its own entries and the upload entries covering it (each
    with `covers`: the record's leaf and proof path), in sequence order, up to `upto`."""
    found: list[tuple[int, dict[str, object]]] = [
        (entry.sequence, entry.as_dict()) for entry, _ in entries(journal, iri, upto=upto)]
    for entry, _, covers in covering(journal, iri, upto):
        found.append((entry.sequence, {**entry.as_dict(), "covers": covers}))
    return [body for _, body in sorted(found, key=lambda x: x[0])]


def by_version(journal: RecordStore, iri: str, upto: int | None = None) -> dict[int, AuditEntry]:
    """The entry that wrote each version of a record (its own, or its upload's)."""
    found = {covers["version"]: entry for entry, _, covers in covering(journal, iri, upto)}
    found.update({entry.version: entry for entry, _ in entries(journal, iri, upto=upto)})
    return {int(str(v)): e for v, e in found.items()}


@dataclass(frozen=True)
class ChainProblem:
    sequence: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.sequence}: {self.problem}"


def verify(store: RecordStore, journal: RecordStore | None = None,
           upto: int | None = None) -> tuple[int, list[ChainProblem]]:
    """Check the whole chain (of `journal`, by default the store's, up to `upto`: entries
    past it belong to a change still landing, JRN-002) against the records of `store`;
    returns (entries checked, problems found)."""
    journal = journal or store.journal
    problems: list[ChainProblem] = []
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for entry, stored_hash in entries(journal, upto=upto):
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
        if entry.merkle_root is not None:
            problems += _upload_problems(store, journal, entry)
        expected_previous = stored_hash
        expected_sequence = entry.sequence + 1
    return count, problems


def _upload_problems(store: RecordStore, journal: RecordStore,
                     entry: AuditEntry) -> list[ChainProblem]:
    """ARM-AUD-002: an upload entry's leaves still give its root and count;
    ARM-AUD-003: every record it covers, as stored, still gives its leaf."""
    leaves = _leaves(journal, entry.record)
    problems = []
    if len(leaves) != entry.version or \
            merkle.root([merkle.leaf(*x) for x in leaves]) != entry.merkle_root:
        problems.append(ChainProblem(entry.sequence, "ARM-AUD-002: the upload's records do not "
                                     "give its Merkle root (leaves edited or removed)"))
    for iri, version, content in leaves:
        if stored_digest(store, iri, version, journal) != content:
            problems.append(ChainProblem(entry.sequence, f"ARM-AUD-003: record {iri} version "
                                         f"{version} does not match the upload's leaf (edited)"))
    return problems
