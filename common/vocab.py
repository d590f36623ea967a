"""IRIs of the FMAR vocabulary and of records."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
from rdflib import Namespace, URIRef

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_FILE = ROOT / "ontology" / "fmar.ttl"
SHAPES_DIR = ROOT / "shapes"

_TERMS: dict[tuple[str, str], URIRef] = {}


class CachedNamespace(Namespace):
    """An rdflib Namespace whose terms are made once (they are used on hot paths)."""

    def __getattr__(self, name: str) -> URIRef:
        if name.startswith("__"):
            raise AttributeError(name)
        key = (str(self), name)
        term = _TERMS.get(key)
        if term is None:
            term = _TERMS[key] = URIRef(str(self) + name)
        return term


FMAR = CachedNamespace("https://id.fmar.uk/def/fmar#")
CODE = "https://id.fmar.uk/def/code/"
SH = CachedNamespace("http://www.w3.org/ns/shacl#")
PROV = CachedNamespace("http://www.w3.org/ns/prov#")
DCTERMS = CachedNamespace("http://purl.org/dc/terms/")
XSD = CachedNamespace("http://www.w3.org/2001/XMLSchema#")
SKOS = CachedNamespace("http://www.w3.org/2004/02/skos/core#")

ID_BASE = "https://id.fmar.uk/"
ASSET_BASE = ID_BASE + "asset/"
ORG_BASE = ID_BASE + "org/"
CATEGORY_BASE = ID_BASE + "category/"
PRODUCT_VERSION_BASE = ID_BASE + "product-version/"
EQUIVALENCE_BASE = ID_BASE + "product-equivalence/"
VERSION_BASE = "urn:fmar:version:"
AUDIT_BASE = "urn:fmar:audit:"


def code_iri(scheme: str, code: str) -> URIRef:
    return URIRef(f"{CODE}{scheme}/{code}")


def asset_iri(asset_id: str) -> URIRef:
    return URIRef(ASSET_BASE + asset_id)


def term_value(term: ox.NamedNode | ox.Literal | ox.BlankNode | None) -> str | None:
    """The text of a pyoxigraph term: an IRI or a literal's lexical form; None for a blank
    node or no term."""
    if term is None or isinstance(term, ox.BlankNode):
        return None
    return term.value
