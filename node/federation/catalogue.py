"""A node's DCAT catalogue: what it serves, where, and under which licence.

Follows DCAT 3 (dcat:Catalog, dcat:DataService with dcat:endpointURL and
dcat:endpointDescription, dcat:Dataset) and, where it applies, Icebreaker One's
data-catalog-records (a licence per service, the publishing member's directory URL).
The licence is a small machine-readable ODRL policy served by the node itself.
"""

from __future__ import annotations

from datetime import date

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

from common.vocab import FMAR
from node.config import NodeSettings

ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
SPARQL_PROTOCOL = URIRef("https://www.w3.org/TR/sparql11-protocol/")


def catalogue_graph(settings: NodeSettings, node_name: str) -> Graph:
    base = settings.node_url
    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dcterms", DCTERMS)
    g.bind("fmar", FMAR)
    g.bind("odrl", ODRL)
    catalogue = URIRef(f"{base}/catalogue")
    licence = URIRef(f"{base}/catalogue/licence")
    publisher = URIRef(settings.publisher) if settings.publisher else None
    g.add((catalogue, RDF.type, DCAT.Catalog))
    g.add((catalogue, DCTERMS.title, Literal(f"FMAR node {node_name}", lang="en")))
    g.add((catalogue, DCTERMS.license, licence))
    if publisher:
        g.add((catalogue, DCTERMS.publisher, publisher))

    datasets = []
    for kind in settings.dataset_types:
        ds = URIRef(f"{base}/catalogue#dataset-{kind}")
        datasets.append(ds)
        g.add((catalogue, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.title, Literal(f"{kind} records held on {node_name}", lang="en")))
        g.add((ds, DCTERMS.type, Literal(kind)))
        g.add((ds, DCTERMS.conformsTo, URIRef(str(FMAR)[:-1])))
        g.add((ds, DCTERMS.license, licence))
        if publisher:
            g.add((ds, DCTERMS.publisher, publisher))

    services = [
        ("sparql", "SPARQL 1.1 endpoint (caller's records only)", "/sparql",
         SPARQL_PROTOCOL),
        ("api", "Asset register REST API", "", URIRef(f"{base}/openapi.json")),
        ("query", "Filter form and aggregates", "/query", URIRef(f"{base}/openapi.json")),
        ("federation", "Federated query on behalf of the caller", "/federation",
         URIRef(f"{base}/openapi.json")),
    ]
    for key, title, path, description in services:
        svc = URIRef(f"{base}/catalogue#service-{key}")
        g.add((catalogue, DCAT.service, svc))
        g.add((svc, RDF.type, DCAT.DataService))
        g.add((svc, DCTERMS.title, Literal(title, lang="en")))
        g.add((svc, DCAT.endpointURL, URIRef(f"{base}{path}" if path else f"{base}/")))
        g.add((svc, DCAT.endpointDescription, description))
        g.add((svc, DCTERMS.license, licence))
        g.add((svc, DCTERMS.accessRights, Literal(
            "Bearer access token from the FMAR trust framework (audience: this node)",
            lang="en")))
        if key == "sparql":
            g.add((svc, DCTERMS.conformsTo, SPARQL_PROTOCOL))
        for ds in datasets:
            g.add((svc, DCAT.servesDataset, ds))
    g.add((catalogue, DCTERMS.modified, Literal(date.today().isoformat(), datatype=XSD.date)))
    return g


def licence_graph(settings: NodeSettings) -> Graph:
    """ODRL: federation members may use the data, within their access rights, for GB
    flexibility market operation; no redistribution outside the federation."""
    base = settings.node_url
    g = Graph()
    g.bind("odrl", ODRL)
    g.bind("dcterms", DCTERMS)
    policy = URIRef(f"{base}/catalogue/licence")
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
