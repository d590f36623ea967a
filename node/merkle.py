"""A Merkle tree over the records of one upload (one audit entry per upload, issue 8).

Leaves are SHA-256 of "IRI\\nversion\\ncontent digest", ordered by record IRI; a node is
SHA-256 of its two children's hex digests concatenated; an odd node is carried up
unchanged. A proof is the list of (side, sibling) pairs from the leaf to the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pyoxigraph as ox


def content_digest(triples: Iterable[str]) -> str:
    """SHA-256 of a record's triples, each `s p o .` as the store gives it, sorted."""
    return hashlib.sha256("\n".join(sorted(triples)).encode()).hexdigest()


def leaf(iri: str, version: int, digest: str) -> str:
    return hashlib.sha256(f"{iri}\n{version}\n{digest}".encode()).hexdigest()


def _parent(left: str, right: str) -> str:
    return hashlib.sha256((left + right).encode()).hexdigest()


def root(leaves: list[str]) -> str:
    """The root of `leaves` (already in IRI order); the empty tree's root is sha256("")."""
    level = list(leaves)
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        level = [_parent(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def proof(leaves: list[str], index: int) -> list[tuple[str, str]]:
    """(side of the sibling: "left" or "right", sibling hash) from leaf `index` up."""
    path, level = [], list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("left" if sibling < index else "right", level[sibling]))
        level = [_parent(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
        index //= 2
    return path


def root_from_proof(leaf_hash: str, path: list[tuple[str, str]]) -> str:
    node = leaf_hash
    for side, sibling in path:
        node = _parent(sibling, node) if side == "left" else _parent(node, sibling)
    return node



def graph_quads(trig: str) -> dict[str, list[ox.Quad]]:
    """The quads of every named graph of `trig` as the store gives them back (Oxigraph
    canonicalises literals: "1.50" decimal reads as "1.5"), from a scratch store."""
    scratch = ox.Store()
    scratch.bulk_load(trig.encode(), format=ox.RdfFormat.TRIG)
    found: dict[str, list[ox.Quad]] = {}
    for q in scratch:
        assert isinstance(q.graph_name, ox.NamedNode)
        found.setdefault(q.graph_name.value, []).append(q)
    return found


def digests_of(graphs: dict[str, list[ox.Quad]]) -> dict[str, str]:
    """`content_digest` of each graph of `graph_quads`."""
    return {graph: content_digest(f"{q.subject} {q.predicate} {q.object} ." for q in quads)
            for graph, quads in graphs.items()}


def graph_digests(trig: str) -> dict[str, str]:
    """`content_digest` of every named graph of `trig`, over its triples as the store
    gives them back."""
    return digests_of(graph_quads(trig))
