"""The public directory as RDF: members, applications and nodes; SPARQL over it."""

from __future__ import annotations

from rdflib import OWL, RDF, XSD, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, ORG
from rdflib.plugins.sparql import prepareQuery
from rdflib.query import Result
from sqlmodel import Session, select

from common.roles import ROLE_SCHEME
from common.vocab import FMAR, ORG_BASE, code_iri
from common.web import media_ranges
from trust.server.config import TrustSettings
from trust.server.models import Application, Node, Organisation, OrgStatus

TF = Namespace("https://id.fmar.uk/def/trust#")
ROLE = Namespace(ROLE_SCHEME)

# Column → term of the Elexon organisation attributes (lower camel case).
ORG_TERMS = {
    "legal_name": "organisationLegalName", "trading_name": "organisationTradingName",
    "registration_number": "organisationRegistrationNumber",
    "organisation_type": "organisationType", "status": "organisationStatus",
    "non_uk_business_type": "nonUkCompanyBusinessType", "non_uk_company_name": "nonUkCompanyName",
    "address_line1": "registeredAddressLine1", "address_line2": "registeredAddressLine2",
    "city": "registeredCity", "county": "registeredCountyOrState",
    "postcode": "registeredPostcodeOrZip", "country": "registeredCountry",
    "country_of_incorporation": "countryOfIncorporation", "website": "organisationWebsite",
    "vat_number": "vatRegistrationNumber", "email": "organisationEmail",
    "year_of_registration": "yearOfRegistration",
}
# Contacts are published only as role and organisation e-mail: no personal data.
PUBLIC_CONTACT_FIELDS = ("role",)


def add_organisation(g: Graph, settings: TrustSettings, org: Organisation) -> URIRef:
    s = URIRef(settings.member_url(org.id))
    g.add((s, RDF.type, ORG.Organization))
    g.add((s, RDF.type, FMAR.Organisation))
    g.add((s, FMAR.fmarOrganisationId, Literal(org.id)))
    g.add((s, OWL.sameAs, URIRef(ORG_BASE + org.id)))  # as node records name it
    g.add((s, FOAF.name, Literal(org.trading_name or org.legal_name)))
    for column, term in ORG_TERMS.items():
        value = getattr(org, column)
        if value is not None:
            dtype = XSD.integer if isinstance(value, int) else None
            g.add((s, FMAR[term], Literal(value, datatype=dtype)))
    for role in org.roles:
        g.add((s, FMAR.organisationRole, ROLE[role]))
    for area in org.dno_areas:
        g.add((s, FMAR.licenceArea, code_iri("DNOCode", area)))
    return s


def add_application(g: Graph, settings: TrustSettings, app: Application) -> URIRef:
    s = URIRef(settings.application_url(app.id))
    g.add((s, RDF.type, TF.Application))
    g.add((s, DCTERMS.identifier, Literal(app.id)))
    g.add((s, DCTERMS.title, Literal(app.name)))
    g.add((s, TF.member, URIRef(settings.member_url(app.org_id))))
    g.add((s, TF.status, Literal(app.status)))
    for role in app.roles:
        g.add((s, FMAR.organisationRole, ROLE[role]))
    return s


def add_node(g: Graph, settings: TrustSettings, node: Node) -> URIRef:
    s = URIRef(settings.node_url(node.id))
    g.add((s, RDF.type, DCAT.DataService))
    g.add((s, DCTERMS.identifier, Literal(node.id)))
    g.add((s, DCAT.endpointURL, URIRef(node.url)))
    g.add((s, DCTERMS.publisher, URIRef(settings.member_url(node.org_id))))
    g.add((s, TF.status, Literal(node.status)))
    for dataset_type in node.dataset_types:
        g.add((s, TF.servesDatasetType, Literal(dataset_type)))
    return s


def _graph() -> Graph:
    g = Graph()
    g.bind("fmar", FMAR)
    g.bind("tf", TF)
    g.bind("role", ROLE)
    g.bind("org", ORG)
    g.bind("dcat", DCAT)
    g.bind("dcterms", DCTERMS)
    g.bind("foaf", FOAF)
    return g


def member_graph(settings: TrustSettings, org: Organisation, apps: list[Application],
                 nodes: list[Node]) -> Graph:
    g = _graph()
    s = add_organisation(g, settings, org)
    for app in apps:
        g.add((s, TF.application, add_application(g, settings, app)))
    for node in nodes:
        g.add((s, TF.node, add_node(g, settings, node)))
    return g


def application_graph(settings: TrustSettings, app: Application) -> Graph:
    g = _graph()
    add_application(g, settings, app)
    return g


def node_graph(settings: TrustSettings, node: Node) -> Graph:
    g = _graph()
    add_node(g, settings, node)
    return g


def directory_graph(session: Session, settings: TrustSettings) -> Graph:
    """All public directory data: organisations that are not Pending Approval."""
    g = _graph()
    orgs = session.exec(select(Organisation).where(Organisation.status != OrgStatus.PENDING))
    public = set()
    for org in orgs:
        add_organisation(g, settings, org)
        public.add(org.id)
    for app in session.exec(select(Application)):
        if app.org_id in public:
            add_application(g, settings, app)
    for node in session.exec(select(Node)):
        if node.org_id in public:
            add_node(g, settings, node)
    return g


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
