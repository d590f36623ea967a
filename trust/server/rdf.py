"""The public directory as RDF: members, applications and nodes; SPARQL over it."""

from __future__ import annotations

from typing import Any

from rdflib import OWL, RDF, XSD, BNode, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS
from rdflib.plugins.sparql import prepareQuery
from rdflib.query import Result
from rdflib.term import Node as RdfNode
from sqlmodel import Session, select

from common.dsi import (
    COMPANIES_HOUSE,
    DATASET_ASSURANCE,
    IB1,
    NODE_API_STANDARD,
    ORG_ASSURANCE,
    ROLE,
    SCHEMA,
    SCHEME,
    SENSITIVITY,
    SPARQL_PROTOCOL,
    role_url,
    roles_holding,
)
from common.vocab import FMAR, ORG_BASE, code_iri
from common.web import media_ranges
from trust.server.config import TrustSettings
from trust.server.models import Application, Node, Organisation, OrgStatus

TF = Namespace("https://id.fmar.uk/def/trust#")  # FMAR's own: status, licence areas

# Columns with no term in the IB1 directory spec, published as FMAR terms (the Elexon
# organisation attributes, lower camel case).
ORG_TERMS = {
    "organisation_type": "organisationType", "status": "organisationStatus",
    "non_uk_business_type": "nonUkCompanyBusinessType", "non_uk_company_name": "nonUkCompanyName",
    "country_of_incorporation": "countryOfIncorporation",
    "year_of_registration": "yearOfRegistration",
}
# Column -> schema.org term of the postal address (schema:PostalAddress).
ADDRESS_TERMS = {
    "country": "addressCountry", "postcode": "postalCode", "county": "addressRegion",
    "city": "addressLocality",
}
# Contacts are published only as role and organisation e-mail: no personal data.
PUBLIC_CONTACT_FIELDS = ("role",)


def assurance_level(org: Organisation) -> URIRef | None:
    """Organisation assurance (IB1 generic levels): the operator's approval checks the
    legal registration and the agreement to the trust framework (Level 1, O1.4/O1.6); FMAR
    records no higher level. Only an active member holds one."""
    return ORG_ASSURANCE.Level1 if org.status == OrgStatus.ACTIVE else None


def add_address(g: Graph, s: URIRef, org: Organisation) -> None:
    """schema:legalAddress (the spec's term) and schema:address (its example): one node."""
    street = ", ".join(p for p in (org.address_line1, org.address_line2) if p)
    values = {term: getattr(org, column) for column, term in ADDRESS_TERMS.items()}
    if not street and not any(values.values()):
        return
    address = BNode()
    g.add((address, RDF.type, SCHEMA.PostalAddress))
    if street:
        g.add((address, SCHEMA.streetAddress, Literal(street)))
    for term, value in values.items():
        if value:
            g.add((address, SCHEMA[term], Literal(value)))
    g.add((s, SCHEMA.legalAddress, address))
    g.add((s, SCHEMA.address, address))


def add_organisation(g: Graph, settings: TrustSettings, org: Organisation) -> URIRef:
    """A member as the IB1 directory spec describes one (schema:Organization)."""
    s = URIRef(settings.member_url(org.id))
    g.add((s, RDF.type, SCHEMA.Organization))
    g.add((s, DCTERMS.identifier, Literal(org.id)))
    g.add((s, OWL.sameAs, URIRef(ORG_BASE + org.id)))  # as node records name it
    g.add((s, SCHEMA.legalName, Literal(org.legal_name)))
    if org.trading_name:
        g.add((s, SCHEMA.alternateName, Literal(org.trading_name)))
    if org.email:
        g.add((s, SCHEMA.email, Literal(org.email)))
    if org.website:
        g.add((s, SCHEMA.url, URIRef(org.website)))
    if org.logo:
        g.add((s, SCHEMA.logo, URIRef(org.logo)))
    if org.privacy_policy:
        g.add((s, IB1.privacyPolicy, URIRef(org.privacy_policy)))
    if org.vat_number:
        g.add((s, SCHEMA.vatID, Literal(org.vat_number)))
    add_address(g, s, org)
    if org.registration_number:
        registration = BNode()
        g.add((registration, RDF.type, SCHEMA.Certification))
        g.add((registration, SCHEMA.certificationIdentification,
               Literal(org.registration_number)))
        if org.organisation_type != "Non-UK Company":
            g.add((registration, SCHEMA.issuedBy, COMPANIES_HOUSE))
        g.add((s, SCHEMA.companyRegistration, registration))
    for role in org.roles:
        g.add((s, IB1.role, role_url(role)))
    level = assurance_level(org)
    if level is not None:
        g.add((s, IB1.assuranceLevel, level))
    for column, term in ORG_TERMS.items():
        value = getattr(org, column)
        if value is not None:
            dtype = XSD.integer if isinstance(value, int) else None
            g.add((s, FMAR[term], Literal(value, datatype=dtype)))
    for area in org.dno_areas:
        g.add((s, FMAR.licenceArea, code_iri("DNOCode", area)))
    return s


def add_application(g: Graph, settings: TrustSettings, app: Application,
                    org: Organisation) -> URIRef:
    """An application as the IB1 directory spec describes one (ib1:Application). FMAR keeps
    no home page or support address per application: those of its member stand in."""
    s = URIRef(settings.application_url(app.id))
    member = URIRef(settings.member_url(app.org_id))
    g.add((s, RDF.type, IB1.Application))
    g.add((s, DCTERMS.identifier, Literal(app.id)))
    g.add((s, DCTERMS.title, Literal(app.name)))
    g.add((s, DCTERMS.description, Literal(
        f"{'Machine' if app.kind == 'machine' else 'Public'} client of {org.legal_name} in "
        "the FMAR trust framework")))
    g.add((s, DCTERMS.publisher, member))
    g.add((s, IB1.scheme, SCHEME))
    g.add((s, TF.status, Literal(app.status)))
    for role in app.roles:
        g.add((s, IB1.role, role_url(role)))
    g.add((s, IB1.homePageURL, URIRef(org.website) if org.website else member))
    g.add((s, IB1.supportURL, URIRef(f"mailto:{org.email}") if org.email else member))
    return s


def add_node(g: Graph, settings: TrustSettings, node: Node,
             org: Organisation | None = None) -> URIRef:
    """A node as a data catalogue entry (dcat:DataService): the APIs every FMAR node
    offers, described in detail by the node's own /catalogue."""
    s = URIRef(settings.node_url(node.id))
    g.add((s, RDF.type, DCAT.DataService))
    g.add((s, DCTERMS.identifier, Literal(node.id)))
    owner = f" of {org.legal_name}" if org is not None else ""
    g.add((s, DCTERMS.title, Literal(f"FMAR node {node.id}{owner}")))
    g.add((s, DCAT.endpointURL, URIRef(node.url)))
    g.add((s, DCAT.endpointDescription, URIRef(f"{node.url}/openapi.json")))
    g.add((s, DCTERMS.conformsTo, NODE_API_STANDARD))
    g.add((s, DCTERMS.conformsTo, SPARQL_PROTOCOL))
    g.add((s, DCTERMS.publisher, URIRef(settings.member_url(node.org_id))))
    # the fields data-catalog-records asks of every DCAT object, as the node's catalogue
    # gives them for its services
    g.add((s, DCTERMS.license, URIRef(f"{node.url}/catalogue/licence")))
    g.add((s, IB1.trustFramework, URIRef(settings.issuer)))
    g.add((s, IB1.scheme, SCHEME))
    g.add((s, IB1.datasetAssurance, DATASET_ASSURANCE.Level1))
    g.add((s, IB1.sensitivityClass, SENSITIVITY["IB1-SB"]))
    for role in roles_holding("sparql:query"):
        g.add((s, IB1.roleRequiredToAccess, role_url(role)))
    g.add((s, DCAT.landingPage, URIRef(f"{node.url}/catalogue")))
    g.add((s, TF.status, Literal(node.status)))
    for dataset_type in node.dataset_types:
        g.add((s, DCAT.servesDataset, URIRef(f"{node.url}/catalogue#dataset-{dataset_type}")))
    return s


def _graph() -> Graph:
    g = Graph()
    g.bind("schema", SCHEMA, override=True, replace=True)
    g.bind("ib1", IB1)
    g.bind("fmar", FMAR)
    g.bind("tf", TF)
    g.bind("role", ROLE)
    g.bind("dcat", DCAT)
    g.bind("dcterms", DCTERMS)
    return g


def member_graph(settings: TrustSettings, org: Organisation, apps: list[Application],
                 nodes: list[Node]) -> Graph:
    """A member with its applications and nodes (each names it as dcterms:publisher)."""
    g = _graph()
    add_organisation(g, settings, org)
    for app in apps:
        add_application(g, settings, app, org)
    for node in nodes:
        add_node(g, settings, node, org)
    return g


def application_graph(settings: TrustSettings, app: Application, org: Organisation) -> Graph:
    g = _graph()
    add_application(g, settings, app, org)
    return g


def node_graph(settings: TrustSettings, node: Node, org: Organisation) -> Graph:
    g = _graph()
    add_node(g, settings, node, org)
    return g


def directory_graph(session: Session, settings: TrustSettings) -> Graph:
    """All public directory data: organisations that are not Pending Approval."""
    g = _graph()
    orgs = session.exec(select(Organisation).where(Organisation.status != OrgStatus.PENDING))
    public = {}
    for org in orgs:
        add_organisation(g, settings, org)
        public[org.id] = org
    for app in session.exec(select(Application)):
        if app.org_id in public:
            add_application(g, settings, app, public[app.org_id])
    for node in session.exec(select(Node)):
        if node.org_id in public:
            add_node(g, settings, node, public[node.org_id])
    return g


# JSON queries of the directory spec, read back from the RDF so that both say the same.

def _one(g: Graph, s: RdfNode | None, p: URIRef) -> str | None:
    value = g.value(s, p)
    return None if value is None else str(value)


def member_json(settings: TrustSettings, org: Organisation) -> dict[str, Any]:
    """A member as /query/members-with-role lists it."""
    g = _graph()
    s = add_organisation(g, settings, org)
    out: dict[str, Any] = {"id": str(s), "legalName": _one(g, s, SCHEMA.legalName)}
    address = g.value(s, SCHEMA.legalAddress)
    if address is not None:
        out["legalAddress"] = {key: value for key, term in (
            ("country", SCHEMA.addressCountry), ("postalCode", SCHEMA.postalCode),
            ("region", SCHEMA.addressRegion), ("locality", SCHEMA.addressLocality),
            ("streetAddress", SCHEMA.streetAddress)) if (value := _one(g, address, term))}
        out["address"] = out["legalAddress"]  # the spec's example names it so
    if email := _one(g, s, SCHEMA.email):
        out["email"] = email
    registration = g.value(s, SCHEMA.companyRegistration)
    if registration is not None:
        out["companyRegistration"] = {
            "identifier": _one(g, registration, SCHEMA.certificationIdentification),
            **({"issuedBy": issuer} if (issuer := _one(g, registration, SCHEMA.issuedBy))
               else {})}
    out["roles"] = sorted(str(r) for r in g.objects(s, IB1.role))
    if level := _one(g, s, IB1.assuranceLevel):
        out["assuranceLevel"] = level
    for key, term in (("logo", SCHEMA.logo), ("privacyPolicy", IB1.privacyPolicy)):
        if value := _one(g, s, term):
            out[key] = value
    return out


def catalogue_apis(settings: TrustSettings, nodes: list[tuple[Node, Organisation]],
                   conforms_to: list[str]) -> list[dict[str, Any]]:
    """The data services (nodes) that conform to any of `conforms_to`, one entry per
    standard matched, as /query/data-catalog/api lists them."""
    g = _graph()
    for node, org in nodes:
        add_node(g, settings, node, org)
    wanted = [URIRef(c) for c in conforms_to]
    out = []
    for s in sorted(g.subjects(RDF.type, DCAT.DataService), key=str):
        for standard in wanted:
            if (s, DCTERMS.conformsTo, standard) not in g:
                continue
            entry = {"title": _one(g, s, DCTERMS.title),
                     "publisher": _one(g, s, DCTERMS.publisher),
                     "conformsTo": str(standard),
                     "endpointURL": _one(g, s, DCAT.endpointURL)}
            if issuer := _one(g, s, IB1.oauthIssuer):
                entry["oauthIssuer"] = issuer
            out.append(entry)
    return out


FORMATS = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when nothing acceptable (406)."""
    if not accept or accept.strip() in ("*/*", ""):
        return "text/turtle"
    for media, _ in media_ranges(accept):
        if media in FORMATS:
            return media
        if media in ("*/*", "text/*", "application/*"):
            return "text/turtle" if media != "application/*" else "application/ld+json"
        if media == "application/json":
            return "application/ld+json"
    return None


def _walk(node: object) -> bool:
    """True when the query algebra contains a SERVICE call."""
    name = getattr(node, "name", None)
    if name == "ServiceGraphPattern":
        return True
    if isinstance(node, dict):
        return any(_walk(v) for v in node.values())
    if isinstance(node, list | tuple):
        return any(_walk(v) for v in node)
    return False


def safe_query(graph: Graph, text: str) -> Result:
    """Run a query over `graph` only: no FROM / FROM NAMED loading, no SERVICE (no SSRF).

    The query sees a dataset whose default graph is `graph` and which has no named
    graphs, so `GRAPH ?g { … }` is valid and matches nothing."""
    query = prepareQuery(text)
    if query.algebra.get("datasetClause") or _walk(query.algebra):
        raise ValueError("FROM, FROM NAMED and SERVICE are not allowed")
    dataset = Dataset()
    dataset.namespace_manager = graph.namespace_manager
    for triple in graph:
        dataset.add(triple)
    return dataset.query(query)
