"""A node's DCAT catalogue: what it serves, where, and under which licence.

Follows DCAT 3 (dcat:Catalog, dcat:DataService with dcat:endpointURL and an OpenAPI
dcat:endpointDescription, dcat:Dataset with a dcat:Distribution) and Icebreaker One's
data-catalog-records and role-based-access-control: every DCAT object carries the
mandatory fields (title, publisher, licence, trust framework, scheme, dataset assurance,
sensitivity class) and the roles whose members may access it. The licence is an
`ib1:License` served by the node, with its legal text and an ODRL summary beside it.
"""

from __future__ import annotations

from datetime import date

from rdflib import RDFS, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

from common import dsi
from common.dsi import DATASET_ASSURANCE, IB1, SENSITIVITY
from common.vocab import FMAR
from node.config import NodeSettings

ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
SPARQL_PROTOCOL = dsi.SPARQL_PROTOCOL
# The trust framework of a node that runs without one (static tokens).
STANDALONE_FRAMEWORK = "https://id.fmar.uk/trust-framework"

# Dataset type -> (collection a member downloads it from, description). A type without
# a collection is downloaded through SPARQL.
DATASETS: dict[str, tuple[str, str]] = {
    "Asset": ("/assets", ("Flexible assets registered in GB flexibility markets (batteries, "
              "EV chargers, heat pumps, generators, controllable demand): category, "
              "capacity, connection, DNO licence area, GSP group and validation status.")),
    "ConnectionLimit": ("/connection-limits", ("Connection limits a DNO or IDNO sets on "
                        "flexible assets and connection points: import and export limits, "
                        "time profiles, ANM schemes and curtailment order.")),
    "AssetCategory": ("/categories", ("The asset categories of the register and the rules "
                      "an asset of each category meets.")),
    "Product": ("/products", "Flexibility products and their versioned terms."),
    "MarketUnit": ("/market-units", "Market units grouping flexible assets."),
}
# Whole-file exports beside the paged JSON collection: (path, media type).
EXPORTS: dict[str, list[tuple[str, str]]] = {
    "Asset": [("/assets/export?format=csv", "text/csv"),
              ("/assets/export?format=turtle", "text/turtle")]}
# Reference data every member may read under the standard terms (IB1-SA); records of
# organisations' assets are shared by role under the federation's licence (IB1-SB).
SHARED_A = {"AssetCategory", "Product"}
JSON = "application/json"


def sensitivity(kind: str) -> URIRef:
    return SENSITIVITY["IB1-SA" if kind in SHARED_A else "IB1-SB"]


def _mandatory(g: Graph, s: URIRef, title: str, settings: NodeSettings, publisher: URIRef,
               licence: URIRef, klass: URIRef) -> None:
    """The fields data-catalog-records requires on every DCAT object."""
    g.add((s, DCTERMS.title, Literal(title, lang="en")))
    g.add((s, DCTERMS.publisher, publisher))
    g.add((s, DCTERMS.license, licence))
    g.add((s, IB1.trustFramework, URIRef(settings.trust_issuer or STANDALONE_FRAMEWORK)))
    g.add((s, IB1.scheme, dsi.SCHEME))
    g.add((s, IB1.datasetAssurance, DATASET_ASSURANCE.Level1))
    g.add((s, IB1.sensitivityClass, klass))


def _roles(g: Graph, s: URIRef, scope: str) -> None:
    """role-based-access-control: the roles whose tokens may hold `scope`."""
    for role in dsi.roles_holding(scope):
        g.add((s, IB1.roleRequiredToAccess, dsi.role_url(role)))


def catalogue_graph(settings: NodeSettings, node_name: str) -> Graph:
    base = settings.node_url
    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dcterms", DCTERMS)
    g.bind("fmar", FMAR)
    g.bind("odrl", ODRL)
    g.bind("ib1", IB1)
    catalogue = URIRef(f"{base}/catalogue")
    licence = URIRef(f"{base}/catalogue/licence")
    # the member's directory URL; a node without a trust framework names itself
    publisher = URIRef(settings.publisher or f"{base}/")
    openapi = URIRef(f"{base}/openapi.json")
    shared_b = SENSITIVITY["IB1-SB"]
    g.add((catalogue, RDF.type, DCAT.Catalog))
    _mandatory(g, catalogue, f"FMAR node {node_name}", settings, publisher, licence, shared_b)

    datasets = []
    for kind in settings.dataset_types:
        ds = URIRef(f"{base}/catalogue#dataset-{kind}")
        datasets.append(ds)
        path, about = DATASETS.get(kind, ("", f"FMAR {kind} records."))
        g.add((catalogue, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        _mandatory(g, ds, f"{kind} records held on {node_name}", settings, publisher,
                   licence, sensitivity(kind))
        g.add((ds, DCTERMS.description, Literal(about, lang="en")))
        g.add((ds, DCTERMS.type, Literal(kind)))
        g.add((ds, DCTERMS.conformsTo, URIRef(str(FMAR)[:-1])))
        g.add((ds, DCAT.keyword, Literal("flexibility", lang="en")))
        _roles(g, ds, "assets:read")
        forms = [(path, JSON)] if path else [("/sparql", "application/sparql-results+json")]
        forms += EXPORTS.get(kind, [])
        for at, media in forms:
            name = media.rsplit("/", 1)[-1]
            dist = URIRef(f"{base}/catalogue#distribution-{kind}-{name}")
            g.add((ds, DCAT.distribution, dist))
            g.add((dist, RDF.type, DCAT.Distribution))
            _mandatory(g, dist, f"{kind} records as {name}", settings, publisher, licence,
                       sensitivity(kind))
            g.add((dist, DCAT.downloadURL, URIRef(f"{base}{at}")))
            g.add((dist, DCAT.mediaType, Literal(media)))
            g.add((dist, IB1.dataSchema, openapi))

    services = [
        ("sparql", "SPARQL 1.1 endpoint (caller's records only)", "/sparql", "sparql:query",
         (dsi.NODE_API_STANDARD, SPARQL_PROTOCOL)),
        ("api", "Asset register REST API", "", "assets:read", (dsi.NODE_API_STANDARD,)),
        ("query", "Filter form and aggregates", "/query", "sparql:query",
         (dsi.NODE_API_STANDARD,)),
        ("federation", "Federated query on behalf of the caller", "/federation",
         "federation:query", (dsi.NODE_API_STANDARD,)),
    ]
    for key, title, path, scope, standards in services:
        svc = URIRef(f"{base}/catalogue#service-{key}")
        g.add((catalogue, DCAT.service, svc))
        g.add((svc, RDF.type, DCAT.DataService))
        _mandatory(g, svc, title, settings, publisher, licence, shared_b)
        g.add((svc, DCTERMS.description, Literal(
            f"{title}. Bearer access token from the trust framework, bound to the "
            "caller's certificate, audience this node.", lang="en")))
        g.add((svc, DCAT.endpointURL, URIRef(f"{base}{path}" if path else f"{base}/")))
        g.add((svc, DCAT.endpointDescription, openapi))
        _roles(g, svc, scope)
        for standard in standards:
            g.add((svc, DCTERMS.conformsTo, standard))
        for ds in datasets:
            g.add((svc, DCAT.servesDataset, ds))
    g.add((catalogue, DCTERMS.modified, Literal(date.today().isoformat(), datatype=XSD.date)))
    return g


LICENCE_TERMS = """FMAR federation data licence

1. Licensed data: the records a node of the FMAR federation serves, and what is derived
   from them.
2. Licensee: a member of the FMAR trust framework whose application holds a role in
   ib1:roleRequiredToAccess of the catalogue entry through which the data was obtained.
3. Permitted use (ib1:permittedUse): the operation of GB flexibility markets, within the
   access rights the trust framework's tokens carry.
4. Conditions (ib1:additionalCondition): the licensee does not distribute the data outside
   the federation's members, and keeps the provenance of any figure it publishes.
5. The licence ends when the licensee stops being an active member of the trust framework.
"""


def licence_graph(settings: NodeSettings) -> Graph:
    """The licence as machine-readable-data-licenses describes one (ib1:License, its legal
    text at ib1:licenseTerms) and, beside it, the same as an ODRL policy: federation members
    may use the data, within their access rights, for GB flexibility market operation; no
    redistribution outside the federation."""
    base = settings.node_url
    g = Graph()
    g.bind("odrl", ODRL)
    g.bind("dcterms", DCTERMS)
    g.bind("ib1", IB1)
    policy = URIRef(f"{base}/catalogue/licence")
    g.add((policy, RDF.type, IB1.License))
    g.add((policy, RDFS.label, Literal("fmar-federation-licence")))
    g.add((policy, RDFS.comment, Literal("FMAR federation data licence", lang="en")))
    g.add((policy, IB1.licenseTerms, URIRef(f"{base}/catalogue/licence/terms")))
    g.add((policy, IB1.permittedUse, Literal("GB flexibility market operation", lang="en")))
    g.add((policy, IB1.additionalCondition, Literal(
        "No distribution outside the members of the federation", lang="en")))
    g.add((policy, RDF.type, ODRL.Set))
    g.add((policy, DCTERMS.title, Literal("FMAR federation data licence", lang="en")))
    g.add((policy, ODRL.uid, policy))
    permission = BNode()
    g.add((policy, ODRL.permission, permission))
    g.add((permission, ODRL.action, ODRL.use))
    g.add((permission, ODRL.target, URIRef(f"{base}/catalogue")))
    constraint = BNode()
    g.add((permission, ODRL.constraint, constraint))
    g.add((constraint, ODRL.leftOperand, ODRL.purpose))
    g.add((constraint, ODRL.operator, ODRL.eq))
    g.add((constraint, ODRL.rightOperand, Literal("GB flexibility market operation")))
    prohibition = BNode()
    g.add((policy, ODRL.prohibition, prohibition))
    g.add((prohibition, ODRL.action, ODRL.distribute))
    g.add((prohibition, ODRL.target, URIRef(f"{base}/catalogue")))
    return g
