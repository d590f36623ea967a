"""The one validator: SHACL shapes, compiled once, applied to records as submitted.

Shapes are compiled into SPARQL queries that find violations for a whole batch
of records at once, and run on Oxigraph over an in-memory copy of the batch:

* SHACL Core constraints of the kinds FMAR's shapes use (cardinality, datatype,
  sh:in, pattern, length, ranges, lessThan(OrEquals), hasValue, nodeKind) on
  predicate paths are translated one query per constraint;
* SHACL-SPARQL constraints (`sh:sparql`) run as written, with `$this` free.

Any node shape that uses something else is validated by pyshacl instead, so an
unsupported feature never goes unchecked (tests/test_rules.py and tests/test_api.py run
a category with a complex property path through this fallback: `pytest -k FLY`). pyshacl is the reference engine:
tests/test_rules.py checks that both give the same results on the rule corpus.
Every violation carries the rule ID (`fmar:ruleId`) of its shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import pyoxigraph as ox
import pyshacl
from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.term import IdentifiedNode, Node

from common.vocab import FMAR, SH, XSD
from node.ntriples import term_value

# Focus nodes are instances of the target class. Records hold no rdfs:subClassOf
# triples (their predicates are asset fields only), so rdf:type alone finds them.
TYPE_PATH = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
RDF_TYPE = ox.NamedNode(TYPE_PATH[1:-1])
CASTABLE = {f"{XSD}{name}" for name in ("decimal", "integer", "date", "dateTime", "boolean",
                                          "double", "float")}
NODE_SHAPE_KEYS = {SH.property, SH.sparql, SH.targetClass, SH.name, SH.description,
                   SH.message, RDF.type, FMAR.ruleId, SH.severity}
PROPERTY_KEYS = {SH.path, SH.minCount, SH.maxCount, SH.datatype, SH["in"], SH.pattern,
                 SH.flags, SH.minLength, SH.maxLength, SH.minInclusive, SH.minExclusive,
                 SH.maxInclusive, SH.maxExclusive, SH.lessThan, SH.lessThanOrEquals,
                 SH.hasValue, SH.nodeKind, SH.name, SH.description, SH.message, RDF.type,
                 FMAR.ruleId, SH.severity, SH.order, SH.group}


@dataclass(frozen=True)
class Violation:
    """One broken rule, from the validator (or the input and policy checks before it) to
    the API. A violation without a focus node (unreadable input, policy) is reported
    as its rule, message and details only."""

    rule: str
    message: str
    focus: str | None = None
    path: str | None = None
    value: str | None = None
    allowed: tuple[str, ...] | None = None  # the codes of a code-list rule
    details: Any = None

    def as_dict(self) -> dict[str, Any]:
        if self.focus is None:
            brief: dict[str, Any] = {"rule": self.rule, "message": self.message}
            if self.details is not None:
                brief["details"] = self.details
            return brief
        found: dict[str, Any] = {
            "rule": self.rule,
            "focus": self.focus,
            "path": self.path,
            "value": self.value,
            "message": self.message,
        }
        if self.allowed is not None:
            found["allowed"] = list(self.allowed)
        return found


@dataclass(frozen=True)
class CompiledRule:
    """One SPARQL query returning ?this (and ?value, ?path) for each violation, of the
    instances of `target`."""

    rule: str
    query: str
    message: str
    target: str
    path: str | None = None


@dataclass(frozen=True)
class ValueCheck:
    """A condition on each value of a path; true means a violation."""

    rule: str
    message: str
    target: str
    path: str
    condition: str
    datatype: str | None = None  # set for an sh:datatype check
    members: tuple[str, ...] | None = None  # set for an sh:in check


@dataclass(frozen=True)
class CountCheck:
    rule: str
    message: str
    target: str
    path: str
    minimum: int | None
    maximum: int | None


class ShapeError(Exception):
    """A shape is malformed (an invalid regular expression, a non-integer count...)."""


class Unsupported(Exception):
    """A shape uses a feature the compiler does not translate (pyshacl handles it)."""


def _nt(term: Node) -> str:
    return term.n3()


def _select(store: ox.Store, query: str) -> ox.QuerySolutions:
    """The solutions of a SELECT query."""
    solutions = store.query(query)
    assert isinstance(solutions, ox.QuerySolutions)
    return solutions


def _int(term: Node) -> int:
    """An integer literal's value (int() of its lexical form, as of any str)."""
    return int(str(term))


def _rule_of(shapes: Graph, *owners: Node | None) -> str:
    for owner in owners:
        if owner is not None:
            rule = shapes.value(owner, FMAR.ruleId)
            if rule is not None:
                return str(rule)
    return "SHACL"


Compiled = CompiledRule | ValueCheck | CountCheck


def _compile_property(shapes: Graph, target: URIRef, prop: Node, node_shape: Node) -> list[Compiled]:
    keys = set(shapes.predicates(prop))
    if not keys <= PROPERTY_KEYS:
        raise Unsupported(f"property shape uses {sorted(map(str, keys - PROPERTY_KEYS))}")
    severity = shapes.value(prop, SH.severity)
    if severity is not None and severity != SH.Violation:
        raise Unsupported("non-violation severity")
    path = shapes.value(prop, SH.path)
    if not isinstance(path, URIRef):
        raise Unsupported("complex property path")
    if shapes.value(prop, SH.flags) is not None and shapes.value(prop, SH.pattern) is None:
        raise Unsupported("sh:flags without sh:pattern")
    rule = _rule_of(shapes, prop, node_shape)
    message = str(shapes.value(prop, SH.message) or f"Value of <{path}> does not conform.")
    focus = f"?this {TYPE_PATH} {_nt(target)} ."
    p = _nt(path)
    checks: list[Compiled] = []

    def per_value(condition: str, **kind: Any) -> None:
        checks.append(ValueCheck(rule, message, str(target), str(path), condition, **kind))

    minimum = shapes.value(prop, SH.minCount)
    maximum = shapes.value(prop, SH.maxCount)
    if minimum is not None or maximum is not None:
        checks.append(CountCheck(rule, message, str(target), str(path),
                                 _int(minimum) if minimum is not None else None,
                                 _int(maximum) if maximum is not None else None))
    for key, value in shapes.predicate_objects(prop):
        if key == SH.datatype:
            check = f"!isLiteral(?value) || DATATYPE(?value) != {_nt(value)}"
            if str(value) in CASTABLE:
                check += f" || !COALESCE({_nt(value)}(?value) = {_nt(value)}(?value), false)"
            per_value(check, datatype=str(value))
        elif key == SH["in"]:
            members = list(Collection(shapes, value))
            if members and all(isinstance(m, URIRef) for m in members):
                # IN compares IRIs as sameTerm does, and parses in half the time
                condition = "!(?value IN (" + ", ".join(_nt(m) for m in members) + "))"
            else:
                condition = ("!(" + " || ".join(f"sameTerm(?value, {_nt(m)})" for m in members)
                             + ")" if members else "true")
            per_value(condition, members=tuple(str(m) for m in members))
        elif key == SH.pattern:
            flags = shapes.value(prop, SH.flags)
            flag_arg = f", {json.dumps(str(flags))}" if flags else ""
            _check_pattern(str(value), str(flags) if flags else "")
            per_value(f"isBlank(?value) || !REGEX(STR(?value), {json.dumps(str(value))}{flag_arg})")
        elif key == SH.minLength:
            per_value(f"isBlank(?value) || STRLEN(STR(?value)) < {_int(value)}")
        elif key == SH.maxLength:
            per_value(f"isBlank(?value) || STRLEN(STR(?value)) > {_int(value)}")
        elif key in (SH.minInclusive, SH.minExclusive, SH.maxInclusive, SH.maxExclusive):
            ops: dict[Node, str] = {SH.minInclusive: ">=", SH.minExclusive: ">",
                                    SH.maxInclusive: "<=", SH.maxExclusive: "<"}
            op = ops[key]
            per_value(f"COALESCE(!(?value {op} {_nt(value)}), true)")
        elif key == SH.nodeKind:
            kinds: dict[Node, str] = {SH.IRI: "!isIRI(?value)", SH.Literal: "!isLiteral(?value)",
                                      SH.BlankNode: "!isBlank(?value)",
                                      SH.BlankNodeOrIRI: "isLiteral(?value)",
                                      SH.IRIOrLiteral: "isBlank(?value)",
                                      SH.BlankNodeOrLiteral: "isIRI(?value)"}
            per_value(kinds[value])
        elif key in (SH.lessThan, SH.lessThanOrEquals):
            op = "<" if key == SH.lessThan else "<="
            # Incomparable pairs are not reported, as in pyshacl (the reference).
            checks.append(CompiledRule(
                rule, f"SELECT ?this ?value WHERE {{ {focus} ?this {p} ?value . "
                      f"?this {_nt(value)} ?other . FILTER (!(?value {op} ?other)) }}",
                message, str(target), str(path)))
        elif key == SH.hasValue:
            checks.append(CompiledRule(
                rule, f"SELECT ?this WHERE {{ {focus} FILTER NOT EXISTS {{ ?this {p} {_nt(value)} }} }}",
                message, str(target), str(path)))
    return checks


def _check_pattern(pattern: str, flags: str) -> None:
    """A pattern Oxigraph's REGEX cannot run (lookahead, backreferences...) would pass
    every value silently: refuse it when the shape is compiled."""
    re.compile(pattern)
    flag_arg = f", {json.dumps(flags)}" if flags else ""
    [row] = list(_select(ox.Store(), f'SELECT (REGEX("", {json.dumps(pattern)}{flag_arg}) AS ?ok) {{}}'))
    if row["ok"] is None:
        raise ShapeError(f"sh:pattern {pattern!r} is not a SPARQL (XPath) regular expression")


def _value_query(target: str, path: str, checks: list[ValueCheck]) -> str:
    """One query per target and path: each value with a flag per failed condition."""
    binds = " ".join(f"BIND (COALESCE({c.condition}, false) AS ?c{i})" for i, c in enumerate(checks))
    any_failed = " || ".join(f"?c{i}" for i in range(len(checks)))
    return (f"SELECT * WHERE {{ ?this {TYPE_PATH} <{target}> . ?this <{path}> ?value . "
            f"{binds} FILTER ({any_failed}) }}")


def _count_queries(target: str, checks: list[CountCheck]) -> list[str]:
    """Queries for the (focus, path) pairs whose number of values is out of range:
    cheap ones for the common minCount 1 / maxCount 1, a GROUP BY for other bounds."""
    focus = f"?this {TYPE_PATH} <{target}> ."

    def values(paths: set[str]) -> str:
        return f"VALUES ?p {{ {' '.join(f'<{p}>' for p in sorted(paths))} }}"

    required = {c.path for c in checks if c.minimum == 1}
    single = {c.path for c in checks if c.maximum == 1}
    other = [c for c in checks if c.minimum not in (None, 0, 1) or c.maximum not in (None, 1)]
    queries = []
    if required:
        queries.append(f"SELECT ?this ?p (0 AS ?n) WHERE {{ {focus} {values(required)} "
                       f"FILTER NOT EXISTS {{ ?this ?p ?v }} }}")
    if single:
        queries.append(f"SELECT DISTINCT ?this ?p (2 AS ?n) WHERE {{ {focus} {values(single)} "
                       f"?this ?p ?v1 , ?v2 . FILTER (!sameTerm(?v1, ?v2)) }}")
    if other:
        paths = {c.path for c in other}
        queries.append(f"SELECT ?this ?p (COUNT(DISTINCT ?v) AS ?n) WHERE {{ {focus} {values(paths)} "
                       f"OPTIONAL {{ ?this ?p ?v }} }} GROUP BY ?this ?p")
    return queries


def _prefix_block(shapes: Graph, constraint: Node) -> str:
    lines = []
    for owner in shapes.objects(constraint, SH.prefixes):
        for decl in shapes.objects(owner, SH.declare):
            lines.append(f"PREFIX {shapes.value(decl, SH.prefix)}: <{shapes.value(decl, SH.namespace)}>")
    return "\n".join(lines)


def _compile_sparql(shapes: Graph, target: URIRef, shape: Node, constraint: Node) -> CompiledRule:
    select = str(shapes.value(constraint, SH.select))
    if "$PATH" in select or "$currentShape" in select or "$shapesGraph" in select:
        raise Unsupported("SPARQL constraint uses pre-bound variables other than $this")
    # Focus nodes are the targets of the shape: join the constraint with them.
    query = (f"{_prefix_block(shapes, constraint)}\nSELECT * WHERE {{ {{ "
             f"{select.replace('$this', '?this')} }} ?this {TYPE_PATH} {_nt(target)} . }}")
    return CompiledRule(
        _rule_of(shapes, constraint, shape), query,
        str(shapes.value(constraint, SH.message) or shapes.value(shape, SH.message) or ""),
        str(target),
    )


class ShapeSet:
    """Shapes compiled once into SPARQL rules, with a pyshacl fallback graph if needed."""

    def __init__(self, shapes: Graph, target_class: URIRef | None = None):
        self.full = shapes
        self.rules: list[CompiledRule] = []
        self.value_checks: dict[tuple[str, str], list[ValueCheck]] = {}
        self.count_checks: dict[str, list[CountCheck]] = {}
        self.fallback: Graph | None = None
        handled: list[IdentifiedNode] = []
        # Subjects are IRIs or blank nodes (rdflib types them as any Node).
        node_shapes = cast("Iterable[IdentifiedNode]", shapes.subjects(RDF.type, SH.NodeShape))
        for shape in sorted(set(node_shapes)):
            if (shape, SH.deactivated, Literal(True)) in shapes:
                continue
            try:
                compiled = self._compile_node_shape(shapes, shape)
            except Unsupported:
                self.fallback = self.fallback or Graph()
                continue
            except (re.error, ValueError, TypeError, SyntaxError) as exc:
                raise ShapeError(f"shape {shape}: {exc}") from exc
            handled.append(shape)
            for item in compiled:
                if isinstance(item, ValueCheck):
                    self.value_checks.setdefault((item.target, item.path), []).append(item)
                elif isinstance(item, CountCheck):
                    self.count_checks.setdefault(item.target, []).append(item)
                else:
                    self.rules.append(item)
        if self.fallback is not None:
            for triple in shapes:
                self.fallback.add(triple)
            for shape in handled:
                self.fallback.add((shape, SH.deactivated, Literal(True)))

    @staticmethod
    def _compile_node_shape(shapes: Graph, shape: Node) -> list[Compiled]:
        keys = set(shapes.predicates(shape))
        if not keys <= NODE_SHAPE_KEYS:
            raise Unsupported(f"node shape uses {sorted(map(str, keys - NODE_SHAPE_KEYS))}")
        targets = list(shapes.objects(shape, SH.targetClass))
        if len(targets) != 1 or not isinstance(targets[0], URIRef):
            raise Unsupported("node shape needs exactly one sh:targetClass")
        target = targets[0]
        rules: list[Compiled] = []
        for prop in shapes.objects(shape, SH.property):
            rules.extend(_compile_property(shapes, target, prop, shape))
        for constraint in shapes.objects(shape, SH.sparql):
            rules.append(_compile_sparql(shapes, target, shape, constraint))
        return rules


_PLACEHOLDER = re.compile(r"\{\?([A-Za-z_][A-Za-z0-9_]*)\}")


def _local_name(iri: str | None) -> str:
    return re.split(r"[#/]", iri)[-1] if iri else ""


def _text(term: object) -> str | None:
    return None if term is None or isinstance(term, ox.BlankNode) else term_value(term)


def _rdflib_text(term: Node | None) -> str | None:
    return None if term is None or isinstance(term, BNode) else str(term)


NUMERIC = {f"{XSD}{name}" for name in ("decimal", "integer", "double", "float")}
_DECIMAL_LEXICAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_DATE_LEXICAL = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _is_date(text: str) -> bool:
    if not _DATE_LEXICAL.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _binding(solution: Any, name: str) -> str | None:
    try:
        return _text(solution[name])
    except (KeyError, IndexError):
        return None


class Validator:
    """Validates a batch of records, given as N-Triples, against a compiled shape set.

    `labels` names each path as users know it (Elexon's column names); `inactive` holds
    the IRIs of codes that exist in a code list but are not active, so a message can
    say so. Each violation is reported once: a value that is not of the datatype at all
    is reported as such, not also as out of range or too long.
    """

    def __init__(self, labels: dict[str, str] | None = None, inactive: Iterable[str] = ()):
        self.labels = dict(labels or {})
        self.inactive = frozenset(inactive)

    def _label(self, path: str | None) -> str:
        return self.labels.get(path or "") or _local_name(path)

    def _value_violation(self, check: ValueCheck, this: str, value: str | None) -> Violation:
        """A failed per-value check, with a message that says what is wrong with the value."""
        label, shown = self._label(check.path), json.dumps(value)
        message = check.message
        allowed = None
        if check.datatype is not None and value is not None:
            if check.datatype in NUMERIC and not _DECIMAL_LEXICAL.match(value):
                message = f"[{check.rule}] {label} {shown} is not a number (a decimal, e.g. 12.5)."
            elif check.datatype == f"{XSD}date" and not _is_date(value):
                message = f"[{check.rule}] {label} {shown} is not a valid date (YYYY-MM-DD)."
            elif check.datatype == f"{XSD}boolean" and value not in ("true", "false", "1", "0"):
                message = f"[{check.rule}] {label} {shown} is not true or false."
        elif check.members is not None:
            allowed = tuple(_local_name(m) for m in check.members)
            code = _local_name(value) if value else ""
            listed = ", ".join(allowed)
            if value in self.inactive:
                scheme = _local_name(value.rsplit("/", 1)[0]) if value else ""
                message = (f"[{check.rule}] {label} {code} exists in the {scheme} code list but "
                           f"is inactive. Allowed codes: {listed}.")
            else:
                message = f"[{check.rule}] {label} {code} is not an allowed code. Allowed codes: {listed}."
        return Violation(check.rule, message, this, check.path, value, allowed)

    def validate(self, ntriples: str, shape_set: ShapeSet, focus_nodes: Iterable[str],
                 every_check: bool = False) -> list[Violation]:
        """The violations of the focus nodes. A check finds instances of its target class
        only, and a per-value check values of its path only: the checks of classes the
        batch holds no instance of (a record is of one category, of ~11) and of paths it
        holds no value of are not run, unless `every_check` (a shape's queries tried
        once). Parsing a query costs more than running it over one record."""
        focus = set(focus_nodes)
        store = ox.Store()
        store.load(ntriples.encode(), format=ox.RdfFormat.N_TRIPLES)
        present: set[str] = set()
        for quad in store:
            present.add(quad.predicate.value)
            if quad.predicate == RDF_TYPE and isinstance(quad.object, ox.NamedNode):
                present.add(quad.object.value)
        if every_check:
            present |= {name for pair in shape_set.value_checks for name in pair}
            present |= set(shape_set.count_checks) | {r.target for r in shape_set.rules}
        found: list[Violation] = []

        def add(rule: str, this: str, path: str | None, value: str | None, template: str,
                solution: Any = None) -> None:
            def fill(m: re.Match[str]) -> str:
                name = m.group(1)
                if name == "path":
                    return self._label(path)
                if name == "value" or solution is None:
                    return value or ""
                return _binding(solution, name) or ""

            found.append(Violation(rule, _PLACEHOLDER.sub(fill, template), this, path, value))

        for target, count_checks in shape_set.count_checks.items():
            if target not in present:
                continue
            reported: set[tuple[str, str, str]] = set()
            for query in _count_queries(target, count_checks):
                for solution in _select(store, query):
                    counted = _text(solution["this"]) or ""
                    if counted not in focus:
                        continue
                    counted_path = _text(solution["p"]) or ""
                    n = int(_text(solution["n"]) or 0)
                    for count_check in count_checks:
                        if (counted, counted_path, count_check.rule) in reported:
                            continue
                        if count_check.path == counted_path and (
                            (count_check.minimum is not None and n < count_check.minimum)
                            or (count_check.maximum is not None and n > count_check.maximum)
                        ):
                            reported.add((counted, counted_path, count_check.rule))
                            add(count_check.rule, counted, counted_path, None, count_check.message)
        for (target, path), checks in shape_set.value_checks.items():
            if target not in present or path not in present:
                continue
            for solution in _select(store, _value_query(target, path, checks)):
                this = _text(solution["this"])
                if this is None or this not in focus:
                    continue
                value = _text(solution["value"])
                failed: dict[str, ValueCheck] = {}
                for i, check in enumerate(checks):
                    if _text(solution[f"c{i}"]) == "true":
                        # One violation per rule and value: the datatype or code-list check
                        # if it failed (range or length checks of an ill-typed value add nothing).
                        kept = failed.get(check.rule)
                        if kept is None or (kept.datatype is None and kept.members is None):
                            failed[check.rule] = check
                for check in failed.values():
                    found.append(self._value_violation(check, this, value))
        for rule in shape_set.rules:
            if rule.target not in present:
                continue
            for solution in _select(store, rule.query):
                this = _text(solution["this"])
                if this is None or this not in focus:
                    continue
                add(rule.rule, this, _binding(solution, "path") or rule.path,
                    _binding(solution, "value"), rule.message, solution)
        if shape_set.fallback is not None:
            found.extend(self._pyshacl(ntriples, shape_set, focus))
        return _once(found)

    @staticmethod
    def _pyshacl(ntriples: str, shape_set: ShapeSet, focus: set[str]) -> list[Violation]:
        data = Graph().parse(data=ntriples, format="nt")
        conforms, report, _ = pyshacl.validate(data, shacl_graph=shape_set.fallback,
                                               inference="none", advanced=True)
        if conforms:
            return []
        assert isinstance(report, Graph)
        found = []
        for result in report.subjects(RDF.type, SH.ValidationResult):
            node = str(report.value(result, SH.focusNode))
            if node not in focus:
                continue
            found.append(Violation(
                _rule_of(shape_set.full, report.value(result, SH.sourceConstraint),
                         report.value(result, SH.sourceShape)),
                str(report.value(result, SH.resultMessage) or ""),
                node,
                _rdflib_text(report.value(result, SH.resultPath)),
                _rdflib_text(report.value(result, SH.value)),
            ))
        return found



def _once(violations: list[Violation]) -> list[Violation]:
    """Each (rule, focus, path, value) once: a required value with sh:hasValue, missing,
    fails both constraints with the same message."""
    seen: set[tuple[str, str | None, str | None, str | None]] = set()
    kept = []
    for v in violations:
        key = (v.rule, v.focus, v.path, v.value)
        if key not in seen:
            seen.add(key)
            kept.append(v)
    return kept
