"""Asset categories: catalogue entries with their SHACL shapes, managed at run time.

Each category is one record (named graph `https://id.fmar.uk/category/{code}`)
holding its SKOS concept and its node shape. The compiled shape set used for
asset validation is the core asset shape plus every category's shape; it is
rebuilt whenever a category changes, so a new category can be used at once.
Categories are the second record kind (`CATEGORY`); they are public, held on every node,
and written through the one write path (node/records/unit.py). Moved from node/categories.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyoxigraph as ox
from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.namespace import SKOS, XSD
from rdflib.term import Node

from common.errors import Conflict, Invalid, NotFound, Stale
from common.vocab import CATEGORY_BASE, FMAR, SH, SHAPES_DIR, code_iri
from node import policy
from node.identity import Caller
from node.kinds.asset_records import VALIDATOR, rdflib_graph
from node.records.kind import Facts, RecordKind
from node.records.status import Action
from node.records.unit import SYSTEM, UnitOfWork
from node.store import GraphWrite
from node.validation import ShapeSet

CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    definition: str
    applies_to: str
    deprecated: bool
    version: int
    graph: Graph

    @property
    def record_iri(self) -> str:
        return CATEGORY_BASE + self.code

    def as_json(self) -> dict[str, object]:
        return {
            "Code": self.code,
            "Label": self.label,
            "Definition": self.definition,
            "AppliesTo": self.applies_to,
            "Deprecated": self.deprecated,
            "Version": self.version,
            "id": str(code_iri("AssetCategory", self.code)),
            "shape": self.shape_turtle(),
        }

    def shape_turtle(self) -> str:
        return self.graph.serialize(format="turtle")


def load_core_shapes() -> Graph:
    return Graph().parse(SHAPES_DIR / "asset.ttl")


def category_from_graph(graph: Graph, version: int = 1) -> Category:
    """Read a category definition; raise `Invalid` (CAT-DEF-*) when malformed."""
    concepts = [
        s for s in graph.subjects(RDF.type, FMAR.AssetCategory) if isinstance(s, URIRef)
    ]
    if len(concepts) != 1:
        raise Invalid("CAT-DEF-001", "A category definition holds exactly one fmar:AssetCategory.")
    concept = concepts[0]
    code = str(graph.value(concept, SKOS.notation) or "")
    if not CODE_PATTERN.match(code) or concept != code_iri("AssetCategory", code):
        raise Invalid(
            "CAT-DEF-002",
            "The category code (skos:notation) is 1-40 capitals, digits or _, and the concept "
            "IRI is https://id.fmar.uk/def/code/AssetCategory/{code}.",
            {"code": code, "concept": str(concept)},
        )
    shape = graph.value(concept, FMAR.categoryShape)
    if shape is None or (shape, SH.targetClass, concept) not in graph:
        raise Invalid(
            "CAT-DEF-003",
            "The category names its node shape with fmar:categoryShape, and that shape "
            "targets the category (sh:targetClass <category IRI>).",
        )
    for prop in graph.objects(shape, SH.property):
        if graph.value(prop, FMAR.ruleId) is None:
            raise Invalid(
                "CAT-DEF-004",
                "Every property shape of a category carries a stable rule ID (fmar:ruleId).",
                {"shape": str(prop)},
            )
    _check_only_own_triples(graph, concept, shape)
    label = str(graph.value(concept, SKOS.prefLabel) or code)
    return Category(
        code=code,
        label=label,
        definition=str(graph.value(concept, SKOS.definition) or ""),
        applies_to=str(graph.value(concept, FMAR.appliesTo) or "All"),
        deprecated=bool((concept, FMAR.deprecated, Literal(True)) in graph),
        version=version,
        graph=graph,
    )


def _check_only_own_triples(graph: Graph, concept: URIRef, shape: Node) -> None:
    """CAT-DEF-006: a definition speaks only of its concept, its shape and the blank
    nodes they use, so it cannot change the core shape or another category."""
    own = {concept, shape}
    pending = [concept, shape]
    while pending:
        for obj in graph.objects(pending.pop()):
            if isinstance(obj, BNode) and obj not in own:
                own.add(obj)
                pending.append(obj)
    strangers = sorted({str(s) for s in graph.subjects() if s not in own})
    if strangers:
        raise Invalid(
            "CAT-DEF-006",
            "A category definition holds only its concept, its node shape and their parts.",
            {"other_subjects": strangers[:10]},
        )


def set_deprecated(category: Category, deprecated: bool) -> Graph:
    graph = Graph()
    for triple in category.graph:
        graph.add(triple)
    concept = code_iri("AssetCategory", category.code)
    graph.remove((concept, FMAR.deprecated, None))
    graph.add((concept, FMAR.deprecated, Literal(deprecated, datatype=XSD.boolean)))
    return graph


def seed_categories() -> list[Category]:
    """The categories a new node starts with (Elexon's catalogue)."""
    return [
        category_from_graph(Graph().parse(path))
        for path in sorted((SHAPES_DIR / "categories").glob("*.ttl"))
    ]


class Catalogue:
    """The node's categories and the shape set compiled from them."""

    def __init__(self, core: Graph):
        self._core = core
        self._lock = threading.Lock()
        self._categories: dict[str, Category] = {}
        self.shapes = ShapeSet(core, FMAR.Asset)

    def replace_all(self, categories: list[Category]) -> None:
        with self._lock:
            self._categories = {c.code: c for c in categories}
            self._compile()

    def put(self, category: Category) -> None:
        with self._lock:
            self._categories[category.code] = category
            self._compile()

    def _compile(self) -> None:
        combined = Graph()
        for triple in self._core:
            combined.add(triple)
        for category in self._categories.values():
            for triple in category.graph:
                combined.add(triple)
        self.shapes = ShapeSet(combined, FMAR.Asset)

    def get(self, code: str) -> Category | None:
        return self._categories.get(code)

    def all(self) -> list[Category]:
        return sorted(self._categories.values(), key=lambda c: c.code)

    def shapes_turtle(self) -> str:
        return self.shapes.full.serialize(format="turtle")


def _read(iri: str, triples: Iterable[ox.Triple]) -> Category:
    graph = rdflib_graph(triples)
    stored_version = graph.value(URIRef(iri), FMAR.version)
    graph.remove((URIRef(iri), None, None))  # the node's bookkeeping, not the definition
    version = int(str(stored_version)) if stored_version is not None else 1
    return category_from_graph(graph, version)


CATEGORY = RecordKind(
    name="category", label="category", code="CAT", iri_base=CATEGORY_BASE,
    rdf_class=FMAR.AssetCategory, table=None,  # a category is sent as Turtle (SKOS + SHACL)
    shapes=tuple(sorted((SHAPES_DIR / "categories").glob("*.ttl"))),
    rules=("CAT-DEF-001", "CAT-DEF-002", "CAT-DEF-003", "CAT-DEF-004", "CAT-DEF-005",
           "CAT-DEF-006", "CAT-DEF-090", "CAT-DEF-091", "CAT-404", "CAT-409"),
    held_by="every node (the market facilitator's catalogue)",
    reader=_read, facts=lambda _: Facts(public=True),
)


def etag_of(category: Category) -> str:
    return f'"{category.code}.v{category.version}"'


def rule_ids_of(graph: Graph) -> set[str]:
    return {str(o) for o in graph.objects(None, FMAR.ruleId)}


def _write(category: Category) -> GraphWrite:
    lines = [f"{s.n3()} {p.n3()} {o.n3()} ." for s, p, o in category.graph]
    lines.append(f"<{category.record_iri}> {FMAR.version.n3()} {Literal(category.version).n3()} .")
    return GraphWrite(category.record_iri, "\n".join(lines), replace=True)


class Categories:
    """The node's category records and the catalogue compiled from them."""

    def __init__(self, unit: UnitOfWork, on_change: Callable[[], None]) -> None:
        self.unit = unit
        self.catalogue = Catalogue(load_core_shapes())
        self._on_change = on_change  # the compiled shapes changed
        store = unit.store
        names = [
            s["g"].value
            for s in store.select(
                f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?c a <{FMAR.AssetCategory}> }} "
                f'FILTER STRSTARTS(STR(?g), "{CATEGORY_BASE}") }}'
            )
        ]
        if names:
            self.catalogue.replace_all([_read(name, store.triples(name)) for name in names])
        else:
            seeded = seed_categories()
            unit.write(SYSTEM, Action.CREATE_CATEGORY, [_write(c) for c in seeded],
                       [(c.record_iri, 1) for c in seeded])
            self.catalogue.replace_all(seeded)

    def states(self) -> dict[str, bool]:
        """code -> deprecated, for ARM-VAL-029/030."""
        return {c.code: c.deprecated for c in self.catalogue.all()}

    def _checked(self, graph: Graph, caller: Caller, expected_code: str | None) -> Category:
        action = Action.CREATE_CATEGORY if expected_code is None else Action.UPDATE_CATEGORY
        policy.authorise(caller, "category", action)
        category = category_from_graph(graph)
        if expected_code is not None and category.code != expected_code:
            raise Invalid("CAT-DEF-002", "The category code in the body differs from the URL.",
                          {"url": expected_code, "body": category.code})
        self._check_shape_compiles(category)
        return category

    def check(self, graph: Graph, caller: Caller, code: str) -> dict[str, object]:
        """CAT-DEF-090: a candidate definition of `code` passes every check a save makes
        (CAT-DEF-001..006, the caller's right to save it); nothing is stored."""
        category = self._checked(graph, caller, code)
        existing = self.catalogue.get(code)
        return {"valid": True, "code": category.code, "rule": "CAT-DEF-090",
                "exists": existing is not None,
                "version": existing.version if existing else None,
                "rules": sorted(rule_ids_of(category.graph))}

    def save(self, graph: Graph, caller: Caller, *, expected_code: str | None,
             if_match: str | None = None) -> Category:
        action = Action.CREATE_CATEGORY if expected_code is None else Action.UPDATE_CATEGORY
        category = self._checked(graph, caller, expected_code)
        with self.unit.lock:
            existing = self.catalogue.get(category.code)
            if if_match and existing is not None and if_match.strip() not in (
                    etag_of(existing), "*"):
                raise Stale("CAT-DEF-091", f"Category {category.code} changed since you read "
                            "it: read it again and reapply your change.",
                            {"current": etag_of(existing), "given": if_match})
            if expected_code is None and existing is not None:
                raise Conflict("CAT-409", f"Category {category.code} exists; use PUT to change it.")
            if expected_code is not None and existing is None:
                raise NotFound("CAT-404", f"No category {expected_code}.")
            version = existing.version + 1 if existing else 1
            category = category_from_graph(graph, version)
            self._store(category, caller, action)
        return category

    def deprecate(self, code: str, caller: Caller) -> Category:
        policy.authorise(caller, "category", Action.DEPRECATE_CATEGORY)
        with self.unit.lock:
            existing = self.catalogue.get(code)
            if existing is None:
                raise NotFound("CAT-404", f"No category {code}.")
            category = category_from_graph(set_deprecated(existing, True), existing.version + 1)
            self._store(category, caller, Action.DEPRECATE_CATEGORY)
        return category

    def _store(self, category: Category, caller: Caller, action: str) -> None:
        self.unit.write(caller, action, [_write(category)],
                        [(category.record_iri, category.version)])
        self.catalogue.put(category)
        self._on_change()

    def _check_shape_compiles(self, category: Category) -> None:
        """CAT-DEF-005: compiling and running every rule once on no data surfaces
        malformed shapes."""
        try:
            candidate = Graph()
            for triple in self.catalogue.shapes.full:
                candidate.add(triple)
            for triple in category.graph:
                candidate.add(triple)
            VALIDATOR.validate("", ShapeSet(candidate), [], every_check=True)
        except Exception as exc:  # noqa: BLE001 - whatever pyshacl raises: not valid SHACL
            raise Invalid("CAT-DEF-005", "The category shape is not valid SHACL.",
                          {"error": str(exc)[:500]}) from None
