"""POL-011 inside the query: a caller's SPARQL rewritten so that it reads only the record
graphs it may read, without listing them.

The caller's query is parsed (rdflib's SPARQL algebra) and written out again with every
access to the data restricted by indexed properties of the record graph that holds it:

- a triple pattern over the default graph, `s p o`, becomes `GRAPH ?gN { s p o }` kept
  to the readable graphs (each triple pattern its own graph variable: the default graph
  of today's dataset is the merge of the readable graphs, so the triples of one solution
  may come from different records);
- a `GRAPH g { … }` pattern keeps its body and is joined with the restriction of g;
- the restriction of a graph g (`restricted_graph`): g is a record graph (its name under
  https://id.fmar.uk/, so never a `urn:fmar:` event, marker or pending upload; history
  versions and the audit log are not in the record store at all, but in its journal,
  node/records/journal.py, so no query scans them) and, unless the caller reads
  everything (NESO: only that name filter), one of the branches
  `GRAPH g { g fmar:organisation <org> . s p o }` for the caller's
  organisation, `GRAPH g { g fmar:dnoConnection ?area . s p o } VALUES ?area { … }` for
  its licence areas (one branch, whatever their number: a record holds one area), or g
  is a public record (an asset category or a product version). The indexed pattern
  comes first in the block (Oxigraph then looks `s p o` up in each readable graph), except
  where `s p o` is bound: a constant subject or literal, or inside FILTER [NOT] EXISTS
  (evaluated once per outer solution), where `s p o` is matched first and the branch's
  pattern checked by FILTER EXISTS on its graph; each branch excludes the graphs of the
  branches before it, so a record readable two ways comes once. The branches go in one sub-select,
  which Oxigraph evaluates once and joins by hash.

The rewritten query runs over a dataset whose default graph is empty and whose named
graphs are all of the store's (`RESTRICTED_DATASET`): a pattern the rewrite did not
restrict reads nothing, so a mistake here fails closed.

Exactness: the answers equal those over today's dataset (the graph list of
node/query/dataset.py) because a triple is in at most one readable graph (every triple of
a record graph has the record as subject), so the merge of the readable graphs and the
union of per-graph matches have the same triples. tests/test_query_rewrite.py checks this
with generated queries for every role.

DESCRIBE is written as the CONSTRUCT of the described resources' triples in the readable
graphs (`Writer.describe`): the same description, since a record graph holds no blank node
for a concise bounded description to follow.

A path of a fixed number of steps (`p/q`, `^(p/q)`, `(p/q)|r`) is its steps, each restricted
(`Writer.steps`).

Not rewritten (`Unsupported`; the caller gets today's graph-list form): over the default
graph the property paths of any number of steps (`p*`, `p+`, `p?`): a path's closure
crosses records, which a per-triple restriction cannot express in SPARQL.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef, Variable
from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
from rdflib.plugins.sparql.algebra import translateGroupGraphPattern, translateQuery, traverse
from rdflib.plugins.sparql.operators import and_, simplify
from rdflib.plugins.sparql.parser import parseQuery
from rdflib.plugins.sparql.parserutils import CompValue

from common.http_errors import ApiError
from common.vocab import FMAR, ORG_BASE, code_iri
from node import policy

EMPTY_GRAPH = "urn:fmar:empty"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class Unsupported(Exception):
    """A query this rewrite does not express; run it over the listed dataset instead."""


# ------------------------------------------------------------------ the restriction

def _code(value: str) -> str:
    if not CODE_RE.match(value):
        raise ValueError(f"not a code: {value!r}")
    return value


def _alternatives(scope: policy.ReadScope, g: str,
                  fresh: Callable[[], str]) -> list[tuple[str, str, str]]:
    """The ways a record graph `g` is readable under `scope` (not everything), each
    (pattern inside `GRAPH g` that binds g, VALUES of its variable or "", filter on g):
    one for the caller's organisations, one for its licence areas, one per kind of public
    record. Several organisations or areas are one alternative whose object is a variable
    of VALUES, so the query grows by a term per value, not by a branch (Virtuoso refused
    the branch per value for a DNO of 14 areas as "Query too large"). Exact because a
    record holds at most one organisation and one licence area (every shape says
    `sh:maxCount 1`; tests/test_query_rewrite.py checks that they do)."""
    record = policy.record_graph_filter(g)  # POL-011, POL-082
    alternatives = []
    for predicate, values in ((FMAR.organisation, [f"<{ORG_BASE}{_code(o)}>" for o in
                                                   sorted(scope.organisations)]),
                              (FMAR.dnoConnection, [f"<{code_iri('DNOCode', _code(a))}>"
                                                    for a in sorted(scope.dno_areas)])):
        if len(values) == 1:
            alternatives.append((f"{g} <{predicate}> {values[0]} .", "", record))
        elif values:
            v = fresh()
            alternatives.append((f"{g} <{predicate}> {v} .",
                                 f"VALUES {v} {{ {' '.join(values)} }}", record))
    # public records: an asset-category record holds exactly one fmar:AssetCategory
    # (CAT-DEF-001), a product version one fmar:Product
    alternatives += [(f"{fresh()} a <{rdf_class}> .", "",
                      f'FILTER(STRSTARTS(STR({g}), "{base}"))')
                     for base, rdf_class in policy.PUBLIC_RECORDS]
    return alternatives


def _in_graph(g: str, patterns: str, values: str) -> str:
    return f"{values} GRAPH {g} {{ {patterns} }}" if values else f"GRAPH {g} {{ {patterns} }}"


def restricted_graph(scope: policy.ReadScope, g: str, body: str, fresh: Callable[[], str],
                     body_first: bool = False, once: bool = True) -> str:
    """`GRAPH g { body }` kept to the graphs the caller may read (POL-011). The branches
    (the caller's organisations, its licence areas, the public records) each put their
    pattern first in the same `GRAPH` block as `body`, so that Oxigraph starts from it
    and looks `body` up by index in each readable graph (`body_first`: the other way
    round, for a body more selective than a licence area: a constant subject or literal,
    or one inside EXISTS, whose variables the outer solution binds; the branch's pattern
    is then a FILTER EXISTS on the graph, because in one block Oxigraph's planner, not
    knowing those bindings, would start from the pattern again),
    and each excludes the graphs of the branches before it, so that a record readable
    two ways comes once. `once`: the branches as one sub-select, evaluated once and
    joined by hash (not inside EXISTS, where a sub-select would not see the outer
    solution's values and would be evaluated whole for each)."""
    record = policy.record_graph_filter(g)  # POL-011, POL-082
    if scope.everything:
        return f"GRAPH {g} {{ {body} }} {record}"
    alternatives = _alternatives(scope, g, fresh)
    branches = []
    for i, (pattern, values, condition) in enumerate(alternatives):
        excluded = "".join(f" FILTER NOT EXISTS {{ {_in_graph(g, earlier, values_)} }}"
                           for earlier, values_, _ in alternatives[:i])
        block = (f"GRAPH {g} {{ {body} }} FILTER EXISTS {{ {_in_graph(g, pattern, values)} }}"
                 if body_first else _in_graph(g, f"{pattern} {body}", values))
        branches.append(f"{{ {block} {condition}{excluded} }}")
    # A sub-select, so Oxigraph evaluates the branches once and joins their solutions by
    # hash: as a plain group beside another restricted pattern it re-ran them for every
    # solution of the other (20,000 assets: 208 s for `?a a fmar:Asset ; fmar:ratedCapacity
    # ?cap` as an FSP, 64 ms so).
    union = " UNION ".join(branches)
    return f"{{ SELECT * WHERE {{ {union} }} }}" if once else union


def is_iri(value: str) -> bool:
    try:
        ox.NamedNode(value)
    except ValueError:
        return False
    return True


def restriction(scope: policy.ReadScope, g: str) -> str:
    """Patterns, to be joined in the group of a pattern binding `g` to a graph name, that
    keep only the graphs the caller may read (POL-011). Not a sub-select: g is bound
    first (five names looked up: 0.2 ms; as a sub-select every readable graph is listed
    first, 15.6 ms for 10,000)."""
    names = (f"?_c_{n}" for n in itertools.count())
    return restricted_graph(scope, g, "", lambda: next(names), once=False)


# ------------------------------------------------------------------ writing SPARQL back

def term(value: Any) -> str:
    if isinstance(value, Variable):
        return f"?{value}"
    if isinstance(value, URIRef):
        return str(ox.NamedNode(str(value)))
    if isinstance(value, Literal):
        if value.language:
            return str(ox.Literal(str(value), language=value.language))
        datatype = ox.NamedNode(str(value.datatype)) if value.datatype else None
        return str(ox.Literal(str(value), datatype=datatype))
    if isinstance(value, BNode):
        return f"_:{value}"
    raise Unsupported(f"a term rdflib gave as {type(value).__name__}")


def path_text(path: Any) -> str:
    if isinstance(path, URIRef):
        return term(path)
    if isinstance(path, InvPath):
        return f"^({path_text(path.arg)})"
    if isinstance(path, SequencePath):
        return "(" + "/".join(path_text(a) for a in path.args) + ")"
    if isinstance(path, AlternativePath):
        return "(" + "|".join(path_text(a) for a in path.args) + ")"
    if isinstance(path, MulPath):
        return f"({path_text(path.path)}){path.mod}"
    if isinstance(path, NegatedPath):
        return "!(" + "|".join(f"^{term(a.arg)}" if isinstance(a, InvPath) else term(a)
                               for a in path.args) + ")"
    raise Unsupported(f"a property path of type {type(path).__name__}")


def _one_step(path: Any) -> bool:
    """A path each of whose matches is one triple."""
    if isinstance(path, (URIRef, Variable, NegatedPath)):
        return True
    if isinstance(path, InvPath):
        return _one_step(path.arg)
    if isinstance(path, AlternativePath):
        return all(_one_step(a) for a in path.args)
    return False


def _reads_data(p: Any) -> bool:
    """Whether algebra `p` matches a triple anywhere (in EXISTS too, still in rdflib's
    parse form there)."""
    found: list[bool] = []
    traverse(p, visitPre=lambda n: found.append(True) if isinstance(n, CompValue) and (
        (n.name == "BGP" and n.triples) or n.name in ("TriplesBlock", "Builtin_EXISTS",
                                                       "Builtin_NOTEXISTS")) else None)
    return bool(found)


AGGREGATES = {"Aggregate_Count": "COUNT", "Aggregate_Sum": "SUM", "Aggregate_Min": "MIN",
              "Aggregate_Max": "MAX", "Aggregate_Avg": "AVG", "Aggregate_Sample": "SAMPLE",
              "Aggregate_GroupConcat": "GROUP_CONCAT"}
OPERATORS = {"ConditionalOrExpression": "||", "ConditionalAndExpression": "&&"}


class Writer:
    """Writes rdflib algebra back as SPARQL, restricting data access as described above."""

    def __init__(self, scope: policy.ReadScope | None, taken: str, empty_graphs: bool = True):
        self.scope = scope  # None: no restriction (evaluation over a filtered store)
        self.empty_graphs = empty_graphs  # the server matches `GRAPH ?g { }` to every graph
        self.prefix = "_r_"
        while self.prefix in taken:
            self.prefix += "r_"
        self.count = 0
        self.in_exists = 0  # depth of FILTER [NOT] EXISTS being written

    def fresh(self) -> str:
        self.count += 1
        return f"?{self.prefix}{self.count}"

    def restricted(self, g: str) -> str:
        """The restriction of `g`, joined right after the `GRAPH g { … }` that binds it. For
        a caller who may read every record graph, the filter on its name alone: that block
        already holds g to a graph of the store, and a second `GRAPH g { }` costs a join."""
        if self.scope is None:
            return ""
        if self.scope.everything:
            return policy.record_graph_filter(g)  # POL-011, POL-082
        return restricted_graph(self.scope, g, "", self.fresh, once=not self.in_exists)

    def graph_names(self, g: str) -> str:
        """`GRAPH g { }`, restricted: the readable graphs' names. The restriction binds g
        itself unless the caller reads everything; then g is any record graph, named by
        `GRAPH g { }` where the server matches it to every graph, else by the graphs'
        triples (Virtuoso 7.2 matches `GRAPH ?g { }` to none; GROUP BY, as DISTINCT is
        slow there, see RemoteStore.graph_names)."""
        assert self.scope is not None
        if not self.scope.everything:
            return self.restricted(g)
        if self.empty_graphs:
            return f"GRAPH {g} {{ }} {self.restricted(g)}"
        s, p, o = self.fresh(), self.fresh(), self.fresh()
        return (f"{{ SELECT {g} WHERE {{ GRAPH {g} {{ {s} {p} {o} }} }} GROUP BY {g} }} "
                f"{self.restricted(g)}")

    def restricted_graph(self, g: str, body: str, body_first: bool = False) -> str:
        if self.scope is None:
            return f"GRAPH {g} {{ {body} }}"
        return restricted_graph(self.scope, g, body, self.fresh, body_first,
                                once=not self.in_exists)

    # ------------------------------------------------------------ expressions
    def expr(self, e: Any, in_graph: bool) -> str:
        if isinstance(e, (Variable, URIRef, Literal, BNode)):
            return term(e)
        if isinstance(e, list):
            return ", ".join(self.expr(x, in_graph) for x in e)
        if not isinstance(e, CompValue):
            raise Unsupported(f"an expression rdflib gave as {type(e).__name__}")
        name = e.name
        if name in OPERATORS:
            parts = [self.expr(e.expr, in_graph)] + [self.expr(o, in_graph)
                                                     for o in (e.other or [])]
            return "(" + f" {OPERATORS[name]} ".join(parts) + ")"
        if name == "RelationalExpression":
            left = self.expr(e.expr, in_graph)
            if e.op in ("IN", "NOT IN"):
                return f"({left} {e.op} ({self.expr(list(e.other), in_graph)}))"
            return f"({left} {e.op} {self.expr(e.other, in_graph)})"
        if name in ("AdditiveExpression", "MultiplicativeExpression"):
            text = self.expr(e.expr, in_graph)
            for op, other in zip(e.op or [], e.other or [], strict=True):
                text = f"({text} {op} {self.expr(other, in_graph)})"
            return text
        if name == "UnaryNot":
            return f"(!{self.expr(e.expr, in_graph)})"
        if name == "UnaryMinus":
            return f"(-{self.expr(e.expr, in_graph)})"
        if name == "UnaryPlus":
            return f"(+{self.expr(e.expr, in_graph)})"
        if name in ("Builtin_EXISTS", "Builtin_NOTEXISTS"):
            graph = e.graph
            if graph.name in ("GroupGraphPatternSub", "SubSelect"):
                graph = translateGroupGraphPattern(graph)
            word = "EXISTS" if name == "Builtin_EXISTS" else "NOT EXISTS"
            self.in_exists += 1
            try:
                return f"({word} {{ {self.pattern(graph, in_graph)} }})"
            finally:
                self.in_exists -= 1
        if name == "Function":
            args = self.expr(list(e.expr or []), in_graph)
            distinct = "DISTINCT " if e.distinct else ""
            return f"{term(e.iri)}({distinct}{args})"
        if name.startswith("Builtin_"):
            operands = [self.expr(v, in_graph) for k, v in e.items() if not k.startswith("_")]
            return f"{name[len('Builtin_'):]}({', '.join(operands)})"
        raise Unsupported(f"an expression {name}")

    # ------------------------------------------------------------ patterns
    def triple(self, s: Any, p: Any, o: Any, in_graph: bool, bnodes: dict[Any, str]) -> str:
        def node(x: Any) -> str:
            if isinstance(x, BNode):  # a blank node of a pattern is a variable
                return bnodes.setdefault(x, self.fresh())
            return term(x)

        if in_graph or self.scope is None:
            predicate = node(p) if isinstance(p, (Variable, BNode)) else path_text(p)
            return f"{node(s)} {predicate} {node(o)} ."
        return self.steps(s, p, o, node)

    def steps(self, s: Any, p: Any, o: Any, node: Callable[[Any], str]) -> str:
        """`s p o` over the default graph, each triple it matches in a readable graph. A
        path of a fixed number of steps is written as SPARQL defines it: a sequence as the
        join of its steps through fresh variables, an alternative as a UNION, an inverse
        with its ends swapped (the same multiset of solutions). `p?`, `p*` and `p+` have no
        such form (Unsupported)."""
        if isinstance(p, (Variable, BNode)) or _one_step(p):
            predicate = node(p) if isinstance(p, (Variable, BNode)) else path_text(p)
            # Body first where it is bound: a constant subject or literal, or inside
            # EXISTS, evaluated once per outer solution with its variables set (pattern
            # first there scanned every readable graph per solution: 19 s for `no-limit`
            # over 20,000).
            selective = isinstance(s, URIRef) or isinstance(o, Literal) or self.in_exists > 0
            return self.restricted_graph(self.fresh(), f"{node(s)} {predicate} {node(o)} .",
                                         selective)
        if isinstance(p, InvPath):
            return self.steps(o, p.arg, s, node)
        if isinstance(p, SequencePath):
            ends = [s, *(Variable(self.fresh()[1:]) for _ in p.args[1:]), o]
            return " ".join(f"{{ {self.steps(ends[i], step, ends[i + 1], node)} }}"
                            for i, step in enumerate(p.args))
        if isinstance(p, AlternativePath):
            return "{ " + " UNION ".join(f"{{ {self.steps(s, a, o, node)} }}"
                                         for a in p.args) + " }"
        raise Unsupported("a property path of any number of steps (p?, p*, p+)")

    def pattern(self, p: Any, in_graph: bool) -> str:
        """The group graph pattern (without its braces) of algebra node `p`."""
        name = p.name
        if name == "BGP":
            bnodes: dict[Any, str] = {}
            return " ".join(self.triple(s, pr, o, in_graph, bnodes) for s, pr, o in p.triples)
        if name == "Join":
            return f"{{ {self.pattern(p.p1, in_graph)} }} {{ {self.pattern(p.p2, in_graph)} }}"
        if name == "LeftJoin":
            condition = p.expr
            filt = ("" if condition is None or getattr(condition, "name", "") == "TrueFilter"
                    else f" FILTER({self.expr(condition, in_graph)})")
            return (f"{{ {self.pattern(p.p1, in_graph)} }} OPTIONAL {{ "
                    f"{self.pattern(p.p2, in_graph)}{filt} }}")
        if name == "Union":
            return (f"{{ {self.pattern(p.p1, in_graph)} }} UNION "
                    f"{{ {self.pattern(p.p2, in_graph)} }}")
        if name == "Minus":
            return (f"{{ {self.pattern(p.p1, in_graph)} }} MINUS "
                    f"{{ {self.pattern(p.p2, in_graph)} }}")
        if name == "Filter":
            return f"{{ {self.pattern(p.p, in_graph)} }} FILTER({self.expr(p.expr, in_graph)})"
        if name == "Extend":
            return (f"{{ {self.pattern(p.p, in_graph)} }} "
                    f"BIND({self.expr(p.expr, in_graph)} AS {term(p.var)})")
        if name == "Graph":
            if isinstance(p.term, Variable) or self.scope is None:
                g, bind = term(p.term), ""
            else:  # GRAPH <iri>: the restriction needs a variable
                g = self.fresh()
                bind = f"VALUES {g} {{ {term(p.term)} }} "
            body = self.pattern(p.p, True)
            if self.scope is not None and not _reads_data(p.p):
                # no triple to match: every readable graph, named as `GRAPH g { }` is
                # (Virtuoso matches a GRAPH block without triples to no graph)
                names = bind + self.graph_names(g)
                return f"{{ {body} }} {names}" if body.strip() else names
            return f"{bind}GRAPH {g} {{ {body} }} {self.restricted(g)}"
        if name == "ToMultiSet":
            return self.pattern(p.p, in_graph)
        if name == "values":
            return self.values(p)
        if name in ("Project", "Distinct", "Reduced", "Slice", "OrderBy"):
            return f"{{ {self.select(p, in_graph)} }}"
        if name == "AggregateJoin":
            return f"{{ {self.aggregate(p, in_graph)} }}"
        if name == "Group":  # a Group without aggregates (GROUP BY, projecting group keys)
            raise Unsupported("GROUP BY without an aggregate")
        if name == "ServiceGraphPattern":
            raise Unsupported("SERVICE")
        raise Unsupported(f"a pattern {name}")

    def values(self, p: Any) -> str:
        rows = p.res
        variables: list[Variable] = []
        for row in rows:
            variables += [v for v in row if v not in variables]
        lines = " ".join("(" + " ".join("UNDEF" if row.get(v, "UNDEF") == "UNDEF"
                                        else term(row[v]) for v in variables) + ")"
                         for row in rows)
        return f"VALUES ({' '.join(term(v) for v in variables)}) {{ {lines} }}"

    def aggregate(self, p: Any, in_graph: bool) -> str:
        """AggregateJoin(Group(…)) as a sub-select binding each aggregate's result."""
        group = p.p
        columns = []
        for agg in p.A:
            distinct = "DISTINCT " if agg.distinct == "DISTINCT" else ""
            arg = "*" if agg.vars == "*" else self.expr(agg.vars, in_graph)
            sep = (f"; SEPARATOR={term(agg.separator)}" if agg.name == "Aggregate_GroupConcat"
                   and agg.separator is not None else "")
            columns.append(f"({AGGREGATES[agg.name]}({distinct}{arg}{sep}) AS {term(agg.res)})")
        by = ""
        if group.expr:
            by = " GROUP BY " + " ".join(term(x) if isinstance(x, Variable)
                                         else f"({self.expr(x, in_graph)})" for x in group.expr)
        return (f"SELECT {' '.join(columns)} WHERE {{ {self.pattern(group.p, in_graph)} }}{by}")

    def select(self, p: Any, in_graph: bool, projection: list[Variable] | None = None,
               distinct: bool = True) -> str:
        """A solution-modifier chain (Slice, Distinct, Project, OrderBy) as a SELECT
        (`distinct` False: without its DISTINCT or REDUCED)."""
        limit = offset = ""
        modifier = ""
        order = ""
        variables = projection
        while p.name in ("Slice", "Distinct", "Reduced", "Project", "OrderBy"):
            if p.name == "Slice":
                if p.length is not None:
                    limit = f" LIMIT {int(p.length)}"
                if p.start:
                    offset = f" OFFSET {int(p.start)}"
            elif p.name in ("Distinct", "Reduced"):
                if distinct:
                    modifier = "DISTINCT " if p.name == "Distinct" else "REDUCED "
            elif p.name == "Project":  # (a DESCRIBE's also lists its constant IRIs)
                variables = [v for v in p.PV if isinstance(v, Variable)]
            else:
                order = " ORDER BY " + " ".join(
                    f"{c.order or 'ASC'}({self.expr(c.expr, in_graph)})"
                    if isinstance(c, CompValue) and c.name == "OrderCondition"
                    else f"({self.expr(c, in_graph)})" for c in p.expr)
            p = p.p
        head = " ".join(term(v) for v in variables) if variables else "*"
        return (f"SELECT {modifier}{head} WHERE {{ {self.pattern(p, in_graph)} }}"
                f"{order}{limit}{offset}")

    def describe(self, algebra: Any) -> str:
        """DESCRIBE as the CONSTRUCT of every triple whose subject is a described resource,
        in the graphs the caller may read. The same description as Oxigraph's DESCRIBE
        over the readable graphs' merge (its concise bounded description: those triples,
        and the triples of blank nodes they reach, of which a record graph has none: every
        triple of a record graph has the record as subject), and on every server (Virtuoso
        describes otherwise). The described resources are bound before their triples are
        looked up by subject: the restriction then checks those graphs alone."""
        described, p, o, g = self.fresh(), self.fresh(), self.fresh(), self.fresh()
        constants = [t for t in algebra.PV if not isinstance(t, Variable)]
        variables = [t for t in algebra.PV if isinstance(t, Variable)]
        # rdflib adds DISTINCT to a DESCRIBE's solutions; a LIMIT counts them as they are
        where = None if algebra.p is None else self.select(algebra.p, False, distinct=False)
        sources = []
        if constants:  # described for each solution: so only if there is one
            values = f"VALUES {described} {{ {' '.join(term(c) for c in constants)} }}"
            sources.append(values if where is None else
                           f"{{ SELECT * WHERE {{ {{ {where} }} }} LIMIT 1 }} {values}")
        if where is not None:
            sources += [f"SELECT DISTINCT ({term(v)} AS {described}) WHERE {{ {{ {where} }} "
                        f"FILTER(BOUND({term(v)})) }}" for v in variables]
        if not sources:
            return "CONSTRUCT { } WHERE { }"
        union = " UNION ".join(f"{{ {source} }}" for source in sources)
        lookup = f"GRAPH {g} {{ {described} {p} {o} }} "
        if self.scope is None:
            lookup = f"{described} {p} {o} ."
        elif self.scope.everything:
            lookup += policy.record_graph_filter(g)  # POL-011, POL-082
        else:  # g bound first, then its few patterns looked up (body first in each branch,
            # as `triple` writes a bound pattern, took 72 s for a DNO at 100,000)
            lookup += restricted_graph(self.scope, g, "", self.fresh, once=False)
        return (f"CONSTRUCT {{ {described} {p} {o} }} WHERE {{ "
                f"{{ SELECT DISTINCT {described} WHERE {{ {union} }} }} {lookup} }}")

    def template(self, triples: list[Any]) -> str:
        return " ".join(f"{term(s)} {term(p)} {term(o)} ." for s, p, o in triples)


class TooLarge(Exception):
    """rdflib's parser recurses once per pattern: past ~100 triple patterns (or deep
    nesting) it gives up. Such a query is not known to be invalid."""


def _variables(where: Any) -> list[Variable]:
    """Every variable written in `where`: for `DESCRIBE *`, those in scope and more (one
    never bound describes nothing)."""
    found: list[Variable] = []
    traverse(where, visitPre=lambda n: found.append(n)
             if isinstance(n, Variable) and n not in found else None)
    return found


def _keep_false_filters(node: Any) -> None:
    """rdflib's algebra drops a FILTER whose condition is a literal Python reads as false
    (`FILTER(false)`, `FILTER(0)`, `FILTER("")`: `if filters:` on the literal), so the
    rewrite would answer every solution. A constant condition becomes `(c && c)`, the
    same value in SPARQL (an error too), which rdflib keeps."""
    if isinstance(node, CompValue) and node.name == "Filter":
        condition = simplify(node["expr"])  # as the algebra does next: `(0)` is `0`
        if isinstance(condition, Literal) or getattr(condition, "name", "") == "literal":
            node["expr"] = and_(condition, condition)


@lru_cache(maxsize=32)
def parse(query: str) -> Any:
    """The query's rdflib algebra, or SPARQL-002. Cached (the federation's planner, the
    client and the rewrite ask for the same query); the algebra is only read."""
    try:
        parsed = parseQuery(query)
        if parsed[1].name == "DescribeQuery" and parsed[1].var is None:
            parsed[1]["var"] = _variables(parsed[1].where)  # rdflib cannot read DESCRIBE *
        traverse(parsed, visitPre=_keep_false_filters)
        return translateQuery(parsed).algebra
    except RecursionError:
        raise TooLarge from None
    except Exception as exc:  # noqa: BLE001 - pyparsing and algebra errors alike
        raise ApiError(400, "SPARQL-002", f"The query is not valid SPARQL 1.1: {exc}") from None


def restricted_query(query: str, scope: policy.ReadScope, empty_graphs: bool = True) -> str:
    """POL-011: `query` rewritten to read only what `scope` may read, for
    `Dataset.restricted()`; Unsupported when it cannot be (then list the graphs).
    `empty_graphs`: whether the server matches `GRAPH ?g { }` to every graph."""
    try:
        algebra = parse(query)
    except TooLarge:
        raise Unsupported("a query too large for the parser") from None
    try:
        return write(algebra, query, scope, empty_graphs)
    except RecursionError:
        raise Unsupported("a query too deep for the rewrite") from None


def write(algebra: Any, query: str, scope: policy.ReadScope | None,
          empty_graphs: bool = True) -> str:
    """The query text of `algebra` (parsed from `query`), restricted to `scope` (or not
    restricted, scope None). Unsupported for what this rewrite does not cover."""
    writer = Writer(scope, query, empty_graphs)
    name = algebra.name
    if name == "SelectQuery":
        return writer.select(algebra.p, False, list(algebra.PV))
    if name == "AskQuery":
        return f"ASK {{ {writer.pattern(algebra.p, False)} }}"
    if name == "ConstructQuery":
        body = algebra.p
        inner = (writer.select(body, False) if body.name in
                 ("Slice", "Distinct", "Reduced", "Project", "OrderBy")
                 else None)
        where = f"{{ {inner} }}" if inner else writer.pattern(body, False)
        return f"CONSTRUCT {{ {writer.template(algebra.template or [])} }} WHERE {{ {where} }}"
    if name == "DescribeQuery":
        return writer.describe(algebra)
    raise Unsupported(f"a {name}")

