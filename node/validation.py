"""The one validator: SHACL shapes applied to records parsed from submitted data.

Shapes are compiled once. SHACL Core constraints run in pyshacl, the reference
engine. SHACL-SPARQL constraints (`sh:sparql`) are taken out of the pyshacl run
and evaluated with Oxigraph's SPARQL engine over the whole batch at once, with
`$this` left free and the results restricted to the batch's focus nodes; pyshacl
evaluates them ~100x slower (tests/test_rules.py checks both give the same
results). Every violation carries the rule ID (`fmar:ruleId`) of its shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyoxigraph as ox
import pyshacl
from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from node.vocab import FMAR, SH

VIOLATION_SEVERITY = str(SH.Violation)


@dataclass(frozen=True)
class Violation:
    rule: str
    focus: str
    path: str | None
    value: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "rule": self.rule,
            "focus": self.focus,
            "path": self.path,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class SparqlRule:
    rule: str
    shape: URIRef
    query: str
    message: str


def _term_text(term: Node | None) -> str | None:
    if term is None or isinstance(term, BNode):
        return None
    return str(term)


def _rule_of(shapes: Graph, shape: Node) -> str:
    rule = shapes.value(shape, FMAR.ruleId)
    return str(rule) if rule is not None else "SHACL"


def _prefix_block(shapes: Graph, constraint: Node) -> str:
    lines = []
    for decl_owner in shapes.objects(constraint, SH.prefixes):
        for decl in shapes.objects(decl_owner, SH.declare):
            prefix = shapes.value(decl, SH.prefix)
            namespace = shapes.value(decl, SH.namespace)
            lines.append(f"PREFIX {prefix}: <{namespace}>")
    return "\n".join(lines)


class ShapeSet:
    """Shapes compiled once: a Core-only graph for pyshacl plus SPARQL rules."""

    def __init__(self, shapes: Graph, target_class: URIRef):
        self.target_class = target_class
        self.full = shapes
        self.core = Graph()
        for triple in shapes:
            if triple[1] == SH.sparql:
                continue
            self.core.add(triple)
        self.sparql_rules: list[SparqlRule] = []
        for shape, constraint in shapes.subject_objects(SH.sparql):
            select = str(shapes.value(constraint, SH.select))
            query = _prefix_block(shapes, constraint) + "\n" + select.replace("$this", "?this")
            self.sparql_rules.append(
                SparqlRule(
                    rule=_rule_of(shapes, constraint),
                    shape=shape,
                    query=query,
                    message=str(shapes.value(constraint, SH.message) or ""),
                )
            )


_PLACEHOLDER = re.compile(r"\{\?([A-Za-z_][A-Za-z0-9_]*)\}")


def _sparql_message(template: str, row: dict[str, str | None]) -> str:
    return _PLACEHOLDER.sub(lambda m: row.get(m.group(1)) or "", template)


def _to_ox(term: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    assert isinstance(term, Literal)
    if term.language:
        return ox.Literal(str(term), language=term.language)
    if term.datatype:
        return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
    return ox.Literal(str(term))


def _ox_text(term: object) -> str | None:
    if term is None or isinstance(term, ox.BlankNode):
        return None
    return term.value  # type: ignore[attr-defined]


class Validator:
    """Validates records against one or more compiled shape sets."""

    def validate(
        self,
        data: Graph,
        shape_sets: Sequence[ShapeSet],
        focus_nodes: Iterable[URIRef],
    ) -> list[Violation]:
        focus = {str(node) for node in focus_nodes}
        violations: list[Violation] = []
        for shape_set in shape_sets:
            violations.extend(self._core(data, shape_set, focus))
        rules = [rule for shape_set in shape_sets for rule in shape_set.sparql_rules]
        if rules:
            violations.extend(self._sparql(data, rules, focus))
        return violations

    @staticmethod
    def _core(data: Graph, shape_set: ShapeSet, focus: set[str]) -> list[Violation]:
        conforms, report, _ = pyshacl.validate(
            data, shacl_graph=shape_set.core, inference="none", allow_warnings=True
        )
        if conforms:
            return []
        assert isinstance(report, Graph)
        found = []
        for result in report.subjects(RDF.type, SH.ValidationResult):
            node = report.value(result, SH.focusNode)
            if str(node) not in focus:
                continue
            shape = report.value(result, SH.sourceShape)
            found.append(
                Violation(
                    rule=_rule_of(shape_set.full, shape),
                    focus=str(node),
                    path=_term_text(report.value(result, SH.resultPath)),
                    value=_term_text(report.value(result, SH.value)),
                    message=str(report.value(result, SH.resultMessage) or ""),
                )
            )
        return found

    @staticmethod
    def _sparql(data: Graph, rules: list[SparqlRule], focus: set[str]) -> list[Violation]:
        store = ox.Store()
        store.bulk_extend(
            ox.Quad(_to_ox(s), _to_ox(p), _to_ox(o), ox.DefaultGraph())  # type: ignore[arg-type]
            for s, p, o in data
        )
        found = []
        for rule in rules:
            for solution in store.query(rule.query):  # type: ignore[union-attr]
                this = _ox_text(solution["this"])
                if this not in focus:
                    continue
                row = {
                    "this": this,
                    "path": _ox_text(solution["path"]),
                    "value": _ox_text(solution["value"]),
                }
                found.append(
                    Violation(
                        rule=rule.rule,
                        focus=this,
                        path=row["path"],
                        value=row["value"],
                        message=_sparql_message(rule.message, row),
                    )
                )
        return found
