"""The ontology, its generated docs and the code lists of the shapes stay in step."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SKOS

from common.vocab import CODE, FMAR, ONTOLOGY_FILE, ROOT, SH, SHAPES_DIR
from node.asset_fields import FIELDS
from node.ontology_docs import render

REFERENCE = ROOT.parent / "shared" / "reference" / "elexon-fmar-code-catalogue.csv"


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(ONTOLOGY_FILE)


def test_generated_reference_is_current():
    assert (ROOT / "docs" / "ontology.md").read_text() == render(), (
        "docs/ontology.md is stale: run `fmar docs ontology`"
    )


def test_every_asset_field_is_defined_with_its_elexon_name(ontology):
    for field in FIELDS:
        if str(field.predicate).startswith(str(FMAR)):
            assert (field.predicate, FMAR.elexonName, Literal(field.name)) in ontology, field.name


@pytest.mark.skipif(not REFERENCE.exists(), reason="Elexon reference CSV not present")
def test_code_lists_match_elexon_catalogue(ontology):
    for row in csv.DictReader(REFERENCE.open(encoding="utf-8")):
        concept = URIRef(f"{CODE}{row['Catalogue']}/{row['Code']}")
        assert (concept, SKOS.prefLabel, Literal(row["Label"], lang="en")) in ontology
        active = ontology.value(concept, FMAR.active)
        assert active is not None and active.toPython() == (row["Active"] == "True"), row["Code"]


def _active_codes(ontology: Graph, scheme: str) -> set[URIRef]:
    return {
        c for c in ontology.subjects(SKOS.inScheme, URIRef(CODE + scheme))
        if ontology.value(c, FMAR.active).toPython()
    }


@pytest.mark.parametrize(
    "shape, scheme",
    [("EnergySource", "EnergySource"), ("DemandTechType", "DemandTechType"),
     ("ConnectionStatus", "ConnectionStatus"), ("ConnectionType", "ConnectionType"),
     ("DnoConnection", "DNOCode"), ("GspGroup", "GSPGroup")],
)
def test_closed_code_lists_in_shapes_are_the_active_codes(ontology, shape, scheme):
    shapes = Graph().parse(SHAPES_DIR / "asset.ttl")
    node = URIRef(f"https://id.fmar.uk/def/shapes#{shape}")
    listed = set(Collection(shapes, shapes.value(node, SH["in"])))
    assert listed == _active_codes(ontology, scheme)


def test_seed_categories_are_the_elexon_asset_categories(ontology):
    files = {p.stem for p in (SHAPES_DIR / "categories").glob("*.ttl")}
    assert files == {str(ontology.value(c, SKOS.notation))
                     for c in _active_codes(ontology, "AssetCategory")}


def test_ontology_aligns_with_established_vocabularies(ontology):
    from rdflib import RDFS

    assert (FMAR.Asset, RDFS.subClassOf, URIRef("https://saref.etsi.org/core/Device")) in ontology
    assert (FMAR.Organisation, RDFS.subClassOf, URIRef("http://www.w3.org/ns/org#Organization")) in ontology
    assert (FMAR.ratedCapacity, URIRef("http://qudt.org/schema/qudt/unit"),
            URIRef("http://qudt.org/vocab/unit/KiloW")) in ontology
    assert (FMAR.AuditEntry, RDFS.subClassOf, URIRef("http://www.w3.org/ns/prov#Activity")) in ontology
    assert Path(ONTOLOGY_FILE).exists() and (FMAR.Asset, RDF.type, None) in ontology


def test_licence_areas_are_the_same_everywhere(ontology):
    from common.mpan import DISTRIBUTOR_IDS, GSP_GROUPS
    from common.roles import DNO_AREAS

    active = {str(ontology.value(c, SKOS.notation)) for c in _active_codes(ontology, "DNOCode")}
    assert set(DNO_AREAS) == set(DISTRIBUTOR_IDS) == set(GSP_GROUPS) == active
