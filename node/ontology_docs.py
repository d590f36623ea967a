"""Render the ontology reference (docs/ontology.md) from ontology/fmar.ttl."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rdflib import OWL, RDF, RDFS, Graph, Literal, URIRef
from rdflib.namespace import SKOS
from rdflib.term import Node

from common.vocab import FMAR, ONTOLOGY_FILE


def _short(graph: Graph, term: Node) -> str:
    try:
        return graph.namespace_manager.normalizeUri(str(term))
    except Exception:  # noqa: BLE001 - any term rdflib cannot shorten is written in full
        return f"<{term}>"


def _cell(text: object) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def _sorted(terms: Iterable[Node]) -> list[Node]:
    return sorted(terms, key=str)


def render(path: str | Path = ONTOLOGY_FILE) -> str:
    graph = Graph().parse(path)
    short = lambda t: _short(graph, t)
    lines = [
        "# FMAR ontology reference",
        "",
        ("Generated from `ontology/fmar.ttl` by `fmar docs ontology`; do not edit by hand "
         "(tests/test_ontology.py fails when this page is stale)."),
        "",
        "## Classes",
        "",
        "| Class | Label | Subclass of / aligned with | Description |",
        "|---|---|---|---|",
    ]
    for cls in _sorted(graph.subjects(RDF.type, OWL.Class)):
        parents = [short(p) for p in graph.objects(cls, RDFS.subClassOf)]
        parents += [f"≡ {short(m)}" for m in graph.objects(cls, SKOS.exactMatch)]
        lines.append(
            f"| `{short(cls)}` | {_cell(graph.value(cls, RDFS.label))} | "
            f"{', '.join(f'`{p}`' for p in sorted(parents))} | {_cell(graph.value(cls, RDFS.comment))} |"
        )
    lines += [
        "",
        "## Properties",
        "",
        "| Property | Elexon name | Kind | Domain → range | Unit / code list | Description |",
        "|---|---|---|---|---|---|",
    ]
    kinds = {OWL.ObjectProperty: "object", OWL.DatatypeProperty: "datatype",
             OWL.AnnotationProperty: "annotation"}
    props: list[tuple[Node, str]] = []
    for kind_class, label in kinds.items():
        props += [(p, label) for p in graph.subjects(RDF.type, kind_class)]
    for prop, kind in sorted(props, key=lambda p: (str(p[0]), p[1])):
        domain = graph.value(prop, RDFS.domain)
        rng = graph.value(prop, RDFS.range)
        extra = graph.value(prop, URIRef("http://qudt.org/schema/qudt/unit")) or graph.value(
            prop, FMAR.codeList
        )
        lines.append(
            f"| `{short(prop)}` | {_cell(graph.value(prop, FMAR.elexonName))} | {kind} | "
            f"{short(domain) if domain else ''} → {short(rng) if rng else ''} | "
            f"{short(extra) if extra else ''} | {_cell(graph.value(prop, RDFS.comment))} |"
        )
    lines += ["", "## Code lists", ""]
    for scheme in _sorted(graph.subjects(RDF.type, SKOS.ConceptScheme)):
        lines += [
            f"### {graph.value(scheme, SKOS.prefLabel)} (`{short(scheme)}`)",
            "",
            "| Code | Label | Active | Applies to | Definition |",
            "|---|---|---|---|---|",
        ]
        concepts = sorted(
            graph.subjects(SKOS.inScheme, scheme), key=lambda c: str(graph.value(c, SKOS.notation))
        )
        for concept in concepts:
            active = graph.value(concept, FMAR.active)
            lines.append(
                f"| `{graph.value(concept, SKOS.notation)}` | "
                f"{_cell(graph.value(concept, SKOS.prefLabel))} | "
                f"{'yes' if isinstance(active, Literal) and active.toPython() else 'no'} | "
                f"{_cell(graph.value(concept, FMAR.appliesTo))} | "
                f"{_cell(graph.value(concept, SKOS.definition))} |"
            )
        lines.append("")
    return "\n".join(lines)
