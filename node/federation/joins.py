"""Cross-node queries by fragment shipping ("gather" mode).

A SPARQL query whose solutions may combine records of several nodes (an asset on an
FSP node joined with its connection limit on a DNO node, an aggregate over all
nodes) cannot be answered by running it at each node and concatenating. The engine
instead asks each node, with the caller's own token, for the *fragment* of the
caller's dataset the query can touch, loads the union into an in-memory store and
evaluates the query there, over the same dataset shape a node uses (default graph =
merge of the record graphs, named graphs = the record graphs).

`plan()` parses the query once, before any node is contacted, and decides the
fragment:

- the quads matching each triple pattern with a constant IRI as subject or object
  (`?l a fmar:ConnectionLimit`, `<asset> ?p ?o`), and the quads of every other
  predicate the query names (`?a fmar:ratedCapacity ?c`, paths);
- for `DESCRIBE <a> <b>` (constant IRIs, no WHERE clause), the quads whose subject is
  one of them: a record holds no blank node for a description to follow;
- every readable quad when a pattern has only variables, a negated path, or a
  zero-or-one / zero-or-more path (`p?`, `p*`: its zero-length part matches every
  term of the active graph, not only those of the fetched predicates), and for any
  other DESCRIBE (its resources are known only after the join);
- plus the names of the readable graphs when the query has a GRAPH pattern (an empty
  `GRAPH ?g { }` matches every graph of the dataset, whatever it holds).

A filter is pushed into a predicate's fragment (`Plan.filtered`) when no quad it drops
could reach the answer: the FILTER stands directly over a basic graph pattern, the
predicate is named by one triple pattern of the whole query, `?s <p> ?v`, and the
conjunct compares that object variable with a number (`<`, `<=`, `>`, `>=`, `=`) or
names IRIs (`=`, `IN`). Every solution built from a dropped quad then fails the same
conjunct in the join, which still evaluates the whole query.

So the answer is, by construction, the answer over the union of what the caller may
read on each node: the test oracle of the design. A fragment larger than the
engine's budget is refused (FED-010) rather than evaluated on part of the data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from rdflib import BNode, Literal, URIRef, Variable
from rdflib.paths import (
    AlternativePath,
    InvPath,
    MulPath,
    NegatedPath,
    SequencePath,
    ZeroOrMore,
    ZeroOrOne,
)

from common.http_errors import ApiError
from node.query import lexer
from node.query.rewrite import TooLarge, parse, term


@dataclass(frozen=True)
class Plan:
    """What each node sends for a query: the quads of `predicates` (None: every readable
    quad, for the reason in `everything`), the quads matching each of `patterns` (a
    constant subject or object: (subject, predicate, object) in SPARQL syntax, None for a
    variable) and, if `graph_names`, the names of its readable graphs."""

    predicates: list[str] | None
    graph_names: bool
    everything: str | None = None
    patterns: tuple[tuple[str | None, str | None, str | None], ...] = ()
    # (predicate IRI, a condition on ?o): that predicate's quads, only those meeting it
    filtered: tuple[tuple[str, str], ...] = ()


class _Everything(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _path_iris(path: Any, out: set[str]) -> None:
    if isinstance(path, URIRef):
        out.add(str(path))
    elif isinstance(path, Variable):
        raise _Everything("a variable predicate")
    elif isinstance(path, NegatedPath):
        raise _Everything("a negated property path")
    elif isinstance(path, (SequencePath, AlternativePath)):
        for arg in path.args:
            _path_iris(arg, out)
    elif isinstance(path, InvPath):
        _path_iris(path.arg, out)
    elif isinstance(path, MulPath):
        if path.mod in (ZeroOrOne, ZeroOrMore):
            raise _Everything(f"a zero-length property path ({path.mod})")
        _path_iris(path.path, out)
    else:
        raise _Everything(f"a property path rdflib cannot read ({type(path).__name__})")


@dataclass
class _Found:
    predicates: set[str]
    graph: bool = False
    patterns: set[tuple[str | None, str | None, str | None]] = field(default_factory=set)
    uses: Counter[str] = field(default_factory=Counter)  # triple patterns naming each IRI
    # (predicate IRI, condition on ?o) of each FILTER over a basic graph pattern
    conditions: list[tuple[str, str]] = field(default_factory=list)


def _constant(value: Any) -> str | None:
    """An IRI or literal of the query in N-Triples syntax (escaped by pyoxigraph)."""
    return term(value) if isinstance(value, (URIRef, Literal)) else None


def _iri(value: Any) -> str | None:
    """An IRI of the query in N-Triples syntax. Not a literal: rdflib may write its
    lexical form otherwise than the query does (`01` as `1`), and the fragment would then
    miss the quads the query matches."""
    return term(value) if isinstance(value, URIRef) else None


def _triple(s: Any, p: Any, o: Any, found: _Found) -> None:
    named: set[str] = set()
    everything: _Everything | None = None
    try:
        _path_iris(p, named)
    except _Everything as reason:
        everything = reason
    # a path counts as two uses: its steps cannot take a condition of their own
    found.uses.update(named if isinstance(p, URIRef) else {n: 2 for n in named})
    if isinstance(p, (Variable, BNode)) and (_constant(s) or _constant(o)):
        found.patterns.add((_constant(s), None, _constant(o)))  # e.g. <asset> ?p ?o
    elif isinstance(p, URIRef) and (_iri(s) or _iri(o)):
        found.patterns.add((_iri(s), term(p), _iri(o)))  # e.g. ?l a fmar:ConnectionLimit
    elif everything is not None:
        raise everything
    else:
        found.predicates |= named


def _walk(node: Any, found: _Found, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    name = getattr(node, "name", None)
    if name == "ServiceGraphPattern":
        raise _service_refused()
    if name == "Graph":
        found.graph = True
    if name == "Filter" and getattr(node.get("p"), "name", None) == "BGP":
        _conditions(node["expr"], node["p"].get("triples") or [], found)
    if name in ("BGP", "TriplesBlock") or (isinstance(node, dict) and "triples" in node
                                            and name not in ("ConstructQuery",)):
        for triple in node.get("triples") or []:
            items = list(triple)
            for i in range(1, len(items), 3):  # (s, p, o) runs
                _triple(items[i - 1], items[i], items[i + 1], found)
    for value in _children(node):
        _walk(value, found, seen)


_EXISTS = ("Builtin_EXISTS", "Builtin_NOTEXISTS")


def _children(node: Any) -> list[Any]:
    """The parts of an algebra node. The group of an EXISTS is read from its attribute:
    rdflib translates it there and leaves in the mapping a parse tree from which the
    FILTERs inside (a nested EXISTS, a SERVICE in it) are gone."""
    if isinstance(node, dict):
        values = list(node.values())
        if getattr(node, "name", None) in _EXISTS and "graph" in vars(node):
            values.append(vars(node)["graph"])
        return values
    if isinstance(node, (list, tuple)):
        return list(node)
    return []


_NUMERIC = {f"http://www.w3.org/2001/XMLSchema#{t}" for t in ("integer", "decimal", "double")}
_COMPARISONS = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}  # op: op mirrored


def _conjuncts(expr: Any) -> list[Any]:
    if getattr(expr, "name", None) == "ConditionalAndExpression":
        return [expr["expr"], *(expr.get("other") or [])]
    return [expr]


def _condition(conjunct: Any) -> tuple[Variable, str] | None:
    """(?v, the conjunct over ?o) for `?v op number`, `number op ?v`, `?v = <iri>` and
    `?v IN (<iri>, ...)`; None for any other conjunct."""
    if getattr(conjunct, "name", None) != "RelationalExpression":
        return None
    left, op, right = conjunct["expr"], conjunct["op"], conjunct.get("other")
    if op == "IN" and isinstance(left, Variable) and isinstance(right, list) and right \
            and all(isinstance(item, URIRef) for item in right):
        return left, "?o IN (" + ", ".join(term(item) for item in right) + ")"
    if op not in _COMPARISONS:
        return None
    if not isinstance(left, Variable):
        left, right, op = right, left, _COMPARISONS[op]
    if not isinstance(left, Variable):
        return None
    if isinstance(right, Literal) and str(right.datatype) in _NUMERIC \
            and not right.ill_typed and right.value is not None:
        return left, f"?o {op} {term(right)}"
    if isinstance(right, URIRef) and op == "=":
        return left, f"?o = {term(right)}"
    return None


def _conditions(expr: Any, triples: list[Any], found: _Found) -> None:
    """Conditions a FILTER directly over a basic graph pattern puts on the objects of its
    `?s <p> ?v` patterns (pushed into their fragments when <p> is named only there)."""
    for conjunct in _conjuncts(expr):
        condition = _condition(conjunct)
        if condition is None:
            continue
        variable, text = condition
        for s, p, o in triples:
            if o == variable and isinstance(p, URIRef) and isinstance(s, (Variable, BNode)) \
                    and s != variable:
                found.conditions.append((str(p), text))


def _pushed(found: _Found, fetched: set[str]) -> dict[str, list[str]]:
    """Predicate IRI -> the conditions its quads must meet, for predicates fetched by
    predicate (`fetched`) and named by one triple pattern only; the others go whole."""
    pushed: dict[str, list[str]] = {}
    for predicate, text in found.conditions:
        if predicate in fetched and found.uses[predicate] == 1:
            pushed.setdefault(predicate, []).append(text)
    return pushed


def plan(query: str) -> Plan:
    """Parse the query and decide its fragment; SPARQL-002 or SPARQL-004 up front.

    A query too large for rdflib falls back to the plan that needs no analysis: every
    readable quad (within the budget, FED-010); SERVICE is then found by the lexer and
    the syntax by the nodes."""
    too_large = Plan(None, False, "a query too large for the planner")
    try:
        algebra = parse(query)
    except TooLarge:
        if lexer.uses_service(query):
            raise _service_refused() from None
        return too_large
    found = _Found(set())
    everything = None
    try:
        _walk(algebra, found, set())
    except (_Everything, RecursionError) as stopped:
        everything = stopped.reason if isinstance(stopped, _Everything) else too_large.everything
        try:  # the walk stopped early: finish the SERVICE check
            service = has_service(algebra)
        except RecursionError:
            service = lexer.uses_service(query)
        if service:
            raise _service_refused() from None
    if everything is None and getattr(algebra, "name", "") == "DescribeQuery":
        described = _described_iris(algebra)
        if described is None:
            everything = "DESCRIBE"
        else:  # a description is the triples whose subject is the resource
            found.patterns |= {(iri, None, None) for iri in described}
    if everything is not None:  # every graph with something readable comes with its quads
        return Plan(None, False, everything)
    whole = {term(URIRef(p)) for p in found.predicates}
    patterns = {p for p in found.patterns if p[1] not in whole}  # those not already sent
    pushed = _pushed(found, found.predicates)
    filtered = tuple((p, " && ".join(sorted(set(conditions))))
                     for p, conditions in sorted(pushed.items()))
    return Plan(sorted(found.predicates - set(pushed)), found.graph, None,
                tuple(sorted(patterns, key=str)), filtered)


def _described_iris(algebra: Any) -> list[str] | None:
    """The IRIs of `DESCRIBE <a> <b>` without a WHERE clause or a dataset, in N-Triples
    syntax; None for any other DESCRIBE (its resources are known only after the join).
    A node's record holds no blank node a description would follow (docs/federation.md),
    so a description is the triples whose subject is the resource."""
    if algebra.get("p") is not None or algebra.get("datasetClause"):
        return None
    described = list(algebra.get("PV") or [])
    if not described or not all(isinstance(v, URIRef) for v in described):
        return None
    return sorted(term(v) for v in described)


MAX_DESCRIBED = 1_000  # resources a DESCRIBE with a WHERE clause may name (FED-012)


def described_by_select(query: str) -> str | None:
    """For a DESCRIBE with a WHERE clause and no dataset: a SELECT with the same WHERE and
    solution modifiers whose rows bind the resources it describes (its variables, and its
    constants as `(<c> AS ?_describedN)`, which the engine then reads as IRIs). Without
    DISTINCT, as Oxigraph applies LIMIT to a DESCRIBE's solutions. None when the query
    is not such a DESCRIBE."""
    head = lexer.query_head(query, "DESCRIBE")
    if head is None:
        return None
    tokens, start, end = head
    if tokens[end].group().upper() == "FROM":
        return None
    projection: list[str] = []
    for token in tokens[start + 1:end]:
        if token.lastgroup == "var":
            projection.append(token.group())
        elif token.lastgroup in ("iri", "pname"):
            projection.append(f"({token.group()} AS ?_described{len(projection)})")
        elif token.group() == "*" and end == start + 2:
            projection.append("*")
        else:
            return None
    if not projection:
        return None
    return f"{query[:tokens[start].start()]}SELECT {' '.join(projection)} " \
           f"{query[tokens[end].start():]}"


def describing(resources: list[str]) -> tuple[str, Plan]:
    """`DESCRIBE` of these resource IRIs, and its plan: the quads whose subject is one."""
    named = sorted(f"<{iri}>" for iri in set(resources))
    return f"DESCRIBE {' '.join(named)}", Plan([], False, None,
                                               tuple((iri, None, None) for iri in named))


def _service_refused() -> ApiError:
    return ApiError(400, "SPARQL-004", "SERVICE is not accepted: the federation engine "
                    "queries the nodes itself.")


def has_service(node: Any, seen: set[int] | None = None) -> bool:
    """Whether a parsed query (rdflib algebra) has a SERVICE pattern anywhere."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return False
    seen.add(id(node))
    if getattr(node, "name", None) == "ServiceGraphPattern":
        return True
    return any(has_service(value, seen) for value in _children(node))


def fragment_query(plan: Plan, limit: int | None = None) -> str:
    """The query each node runs: rows (?g ?s ?p ?o) of the fragment, and rows with only
    ?g bound for the graph names. `limit` caps the rows (the engine asks for one more
    than its budget, to know when it is exceeded)."""
    parts = []
    if plan.predicates is None:
        parts.append("{ GRAPH ?g { ?s ?p ?o } }")
    else:
        if plan.predicates:
            values = " ".join(f"<{p}>" for p in plan.predicates)
            parts.append(f"{{ VALUES ?p {{ {values} }} GRAPH ?g {{ ?s ?p ?o }} }}")
        for predicate_iri, condition in plan.filtered:
            parts.append(f"{{ GRAPH ?g {{ ?s <{predicate_iri}> ?o }} FILTER({condition}) "
                         f"BIND(<{predicate_iri}> AS ?p) }}")
        # every quad of named subjects (`<asset> ?p ?o`, DESCRIBE): one VALUES block, so
        # that the node's query stays one pattern however many there are
        whole = [p for p in plan.patterns if p[0] and p[1] is None and p[2] is None]
        if whole:
            subjects = " ".join(cast(str, s) for s, _, _ in whole)
            parts.append(f"{{ VALUES ?s {{ {subjects} }} GRAPH ?g {{ ?s ?p ?o }} }}")
        fetched_whole = set(whole)
        for subject, predicate, obj in (p for p in plan.patterns if p not in fetched_whole):
            binds = "".join(f" BIND({term} AS ?{name})" for name, term in
                            (("s", subject), ("p", predicate), ("o", obj)) if term)
            parts.append(f"{{ GRAPH ?g {{ {subject or '?s'} {predicate or '?p'} "
                         f"{obj or '?o'} }}{binds} }}")
        if plan.graph_names:
            parts.append("{ GRAPH ?g { } }")
    where = " UNION ".join(parts) if parts else "FILTER(false)"
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    return f"SELECT ?g ?s ?p ?o WHERE {{ {where} }}{tail}"


_PASS_THROUGH = {"Slice", "Project", "OrderBy", "Filter", "Extend", "ToMultiSet"}


def widened(query: str) -> tuple[str, list[str]] | None:
    """For row provenance: (the query with `SELECT *`, its projected variables) when that
    gives the same rows before projection — a SELECT of plain variables, without DISTINCT,
    REDUCED, GROUP BY or aggregates. Then `_nodes` can name the records bound to join
    variables that are not projected. None for other queries (and for `SELECT *`)."""
    try:
        algebra = parse(query)
    except TooLarge:
        return None
    if getattr(algebra, "name", "") != "SelectQuery":
        return None
    node = algebra.p
    while getattr(node, "name", None) in _PASS_THROUGH:
        node = node.p
    if getattr(node, "name", None) in ("Distinct", "Reduced", "AggregateJoin", "Group"):
        return None
    head = lexer.query_head(query, "SELECT")
    if head is None:
        return None
    tokens, start, end = head
    projected = [m.group()[1:] for m in tokens[start + 1:end] if m.lastgroup == "var"]
    if not projected or len(projected) != end - start - 1:
        return None  # `*`, DISTINCT, an expression: no widening
    end_at = tokens[end - 1].end()
    return query[:tokens[start].end()] + " *" + query[end_at:], projected
