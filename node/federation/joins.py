"""Cross-node queries by fragment shipping ("gather" mode).

A SPARQL query whose solutions may combine records of several nodes (an asset on an
FSP node joined with its connection limit on a DNO node, an aggregate over all
nodes) cannot be answered by running it at each node and concatenating. The engine
instead asks each node, with the caller's own token, for the *fragment* of the
caller's dataset the query can touch — the quads whose predicate occurs in the
query's triple patterns (every quad if a pattern has a variable predicate or a
negated property path) — loads the union into an in-memory store and evaluates the
query there, over the same dataset shape a node uses (default graph = merge of the
record graphs, named graphs = the record graphs).

So the answer is, by construction, the answer over the union of what the caller may
read on each node: the test oracle of the design. What crosses the network is only
the caller's readable quads with the query's predicates.
"""

from __future__ import annotations

from typing import Any

from rdflib import URIRef, Variable
from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
from rdflib.plugins.sparql import prepareQuery


class _AllPredicates(Exception):
    pass


def _path_iris(path: Any, out: set[str]) -> None:
    if isinstance(path, URIRef):
        out.add(str(path))
    elif isinstance(path, (Variable, NegatedPath)):
        raise _AllPredicates
    elif isinstance(path, (SequencePath, AlternativePath)):
        for arg in path.args:
            _path_iris(arg, out)
    elif isinstance(path, InvPath):
        _path_iris(path.arg, out)
    elif isinstance(path, MulPath):
        _path_iris(path.path, out)
    else:
        raise _AllPredicates


def _walk(node: Any, out: set[str], seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    name = getattr(node, "name", None)
    if name in ("BGP", "TriplesBlock") or (isinstance(node, dict) and "triples" in node
                                            and name not in ("ConstructQuery",)):
        for triple in node.get("triples") or []:
            items = list(triple)
            for i in range(1, len(items), 3):  # (s, p, o) runs
                _path_iris(items[i], out)
    if isinstance(node, dict):
        for value in node.values():
            _walk(value, out, seen)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, out, seen)


def query_predicates(query: str) -> list[str] | None:
    """Predicates the query's patterns can match, or None for 'all of them'."""
    try:
        prepared = prepareQuery(query)
    except Exception:  # noqa: BLE001 - unparseable here: fetch everything, the store decides
        return None
    out: set[str] = set()
    try:
        _walk(prepared.algebra, out, set())
    except _AllPredicates:
        return None
    if "DESCRIBE" in type(prepared.algebra).__name__.upper() or \
            getattr(prepared.algebra, "name", "") == "DescribeQuery":
        return None
    return sorted(out)


def fragment_query(predicates: list[str] | None) -> str:
    if predicates is None:
        return "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"
    if not predicates:
        return "SELECT ?g ?s ?p ?o WHERE { FILTER(false) }"
    values = " ".join(f"<{p}>" for p in predicates)
    return f"SELECT ?g ?s ?p ?o WHERE {{ VALUES ?p {{ {values} }} GRAPH ?g {{ ?s ?p ?o }} }}"
