"""Asset categories: catalogue entries with their SHACL shapes, managed at run time.

Each category is one record (named graph `https://id.fmar.uk/category/{code}`)
holding its SKOS concept and its node shape. The compiled shape set used for
asset validation is the core asset shape plus every category's shape; it is
rebuilt whenever a category changes, so a new category can be used at once.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.namespace import SKOS, XSD
from rdflib.term import Node

from common.http_errors import ApiError
from common.vocab import CATEGORY_BASE, FMAR, SH, SHAPES_DIR, code_iri
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
    """Read a category definition; raise `ApiError` (CAT-DEF-*) when malformed."""
    concepts = [
        s for s in graph.subjects(RDF.type, FMAR.AssetCategory) if isinstance(s, URIRef)
    ]
    if len(concepts) != 1:
        raise ApiError(
            422, "CAT-DEF-001", "A category definition holds exactly one fmar:AssetCategory."
        )
    concept = concepts[0]
    code = str(graph.value(concept, SKOS.notation) or "")
    if not CODE_PATTERN.match(code) or concept != code_iri("AssetCategory", code):
        raise ApiError(
            422,
            "CAT-DEF-002",
            "The category code (skos:notation) is 1-40 capitals, digits or _, and the concept "
            "IRI is https://id.fmar.uk/def/code/AssetCategory/{code}.",
            {"code": code, "concept": str(concept)},
        )
    shape = graph.value(concept, FMAR.categoryShape)
    if shape is None or (shape, SH.targetClass, concept) not in graph:
        raise ApiError(
            422,
            "CAT-DEF-003",
            "The category names its node shape with fmar:categoryShape, and that shape "
            "targets the category (sh:targetClass <category IRI>).",
        )
    for prop in graph.objects(shape, SH.property):
        if graph.value(prop, FMAR.ruleId) is None:
            raise ApiError(
                422,
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
        raise ApiError(
            422,
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
