"""DSI conformance of the directory (IB1 directory/1.0) and of the node catalogues
(data-catalog-records/1.0, role-based-access-control/1.0, machine-readable-data-licenses/1.0).

A real trust service and a real node, each its own process over TLS on loopback; every test
fetches the served document and compares terms (rdflib), as docs/dsi-conformance.md lists
them by requirement ID."""

from __future__ import annotations

import io
import secrets
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rdflib import RDF, RDFS, BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS
from rdflib.query import Result

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common.dsi import (
    DATASET_ASSURANCE,
    IB1,
    NODE_API_STANDARD,
    ORG_ASSURANCE,
    SCHEMA,
    SCHEME,
    SENSITIVITY,
    SPARQL_PROTOCOL,
)
from common.roles import ROLE_SCHEME
from tests.harness.directory import org_body
from tests.harness.federation import LocalFederation, Member, NodeProc
from tests.harness.processes import RATE_LIMITS_OFF

ROLE = ROLE_SCHEME
FORMATS = {"text/turtle": "turtle", "application/ld+json": "json-ld",
           "application/rdf+xml": "xml"}
MANDATORY = (DCTERMS.title, DCTERMS.publisher, DCTERMS.license, IB1.trustFramework,
             IB1.scheme, IB1.datasetAssurance, IB1.sensitivityClass)
DCAT_CLASSES = (DCAT.Catalog, DCAT.Dataset, DCAT.DataService, DCAT.Distribution)


class Dsi:
    def __init__(self, local: LocalFederation, dno: Member, fsp: Member, regulator: Member,
                 node: NodeProc):
        self.local, self.dno, self.fsp, self.regulator, self.node = local, dno, fsp, regulator, node

    @property
    def issuer(self) -> str:
        return self.local.issuer

    def trust(self, path: str, **kw: Any) -> httpx.Response:
        with self.local.client() as c:  # no certificate, no token: the directory is public
            return c.get(path, **kw)

    def http(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=self.local.ca_bundle),
                            timeout=30)

    def graph(self, url: str, accept: str = "text/turtle") -> Graph:
        with self.http() as c:
            resp = c.get(url, headers={"Accept": accept})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith(accept)
        return Graph().parse(data=resp.text, format=FORMATS[accept])

    def catalogue(self, accept: str = "text/turtle") -> Graph:
        return self.graph(f"{self.node.url}/catalogue", accept)


@pytest.fixture(scope="module")
def dsi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dsi]:
    local = LocalFederation(tmp_path_factory.mktemp("dsi"), node_env=RATE_LIMITS_OFF,
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        dno = local.trust.register_member(
            "Gridco", ["DNO"], folder=local.base / "members" / "Gridco",
            dno_areas=["UKPN_EPN"], country="GB", county="Berkshire",
            website="https://gridco.example/")
        fsp = local.register_member("Flexco", ["FSP"])
        regulator = local.register_member("Ofgem", ["Regulator"])
        node = local.add_node("dno", dno, ["Asset", "ConnectionLimit"])
        local.start_nodes()
        yield Dsi(local, dno, fsp, regulator, node)
    finally:
        local.stop()


# directory/1.0 ------------------------------------------------------------------

def _member(dsi: Dsi, accept: str = "text/turtle") -> tuple[Graph, URIRef]:
    url = f"{dsi.issuer}/m/{dsi.dno.org_id}"
    return dsi.graph(url, accept), URIRef(url)


@pytest.mark.parametrize("accept", sorted(FORMATS))
def test_DSI_DIR_001_member_is_a_schema_organization_in_every_format(dsi, accept):
    g, m = _member(dsi, accept)
    assert (m, RDF.type, SCHEMA.Organization) in g
    assert (m, SCHEMA.legalName, Literal("Gridco Ltd")) in g
    # the FMAR-only vocabulary it replaced is gone
    old = URIRef("http://www.w3.org/ns/org#Organization")
    assert (m, RDF.type, old) not in g
    assert not list(g.triples((m, URIRef("https://id.fmar.uk/def/fmar#organisationRole"),
                               None)))


def test_DSI_DIR_003_legal_address_is_a_postal_address(dsi):
    g, m = _member(dsi)
    address = g.value(m, SCHEMA.legalAddress)
    assert isinstance(address, BNode)
    assert (address, RDF.type, SCHEMA.PostalAddress) in g
    assert g.value(address, SCHEMA.streetAddress) == Literal("1 High Street")
    assert g.value(address, SCHEMA.addressCountry) == Literal("GB")
    assert g.value(address, SCHEMA.addressRegion) == Literal("Berkshire")
    assert g.value(address, SCHEMA.addressLocality) == Literal("Reading")
    assert g.value(address, SCHEMA.postalCode) == Literal("RG1 1AA")
    assert g.value(m, SCHEMA.address) == address  # the spec's example names it so


def test_DSI_DIR_004_email_and_DSI_DIR_005_company_registration(dsi):
    g, m = _member(dsi)
    assert g.value(m, SCHEMA.email) == Literal("info@gridco.example")
    registration = g.value(m, SCHEMA.companyRegistration)
    assert (registration, RDF.type, SCHEMA.Certification) in g
    number = g.value(registration, SCHEMA.certificationIdentification)
    assert number is not None and len(str(number)) == 8
    assert isinstance(g.value(registration, SCHEMA.issuedBy), URIRef)


def test_DSI_DIR_006_roles_and_DSI_DIR_007_assurance_level_are_urls(dsi):
    g, m = _member(dsi)
    assert set(g.objects(m, IB1.role)) == {URIRef(ROLE + "DNO")}
    assert g.value(m, IB1.assuranceLevel) == ORG_ASSURANCE.Level1


def test_DSI_DIR_011_application_is_an_ib1_application(dsi):
    app = URIRef(f"{dsi.issuer}/a/{dsi.dno.app_id}")
    for accept in FORMATS:
        g = dsi.graph(str(app), accept)
        assert (app, RDF.type, IB1.Application) in g
        assert g.value(app, DCTERMS.publisher) == URIRef(f"{dsi.issuer}/m/{dsi.dno.org_id}")
        assert g.value(app, DCTERMS.title) == Literal("Gridco app")
        assert g.value(app, DCTERMS.description) is not None
        assert g.value(app, IB1.scheme) == SCHEME
        assert set(g.objects(app, IB1.role)) == {URIRef(ROLE + "DNO")}
        assert g.value(app, IB1.homePageURL) == URIRef("https://gridco.example/")
        assert g.value(app, IB1.supportURL) == URIRef("mailto:info@gridco.example")


def test_DSI_DIR_017_directory_is_public_and_DSI_DIR_018_sparql_sees_spec_terms(dsi):
    query = f"""PREFIX ib1: <{IB1}> PREFIX schema: <{SCHEMA}>
        SELECT ?m ?name WHERE {{ ?m a schema:Organization ; schema:legalName ?name ;
                                    ib1:role <{ROLE}DNO> }}"""
    for accept, parse in (("application/sparql-results+json", "json"),
                          ("application/sparql-results+xml", "xml")):
        resp = dsi.trust("/sparql", params={"query": query}, headers={"Accept": accept})
        assert resp.status_code == 200, resp.text
        result = Result.parse(io.StringIO(resp.text), format=parse)
        rows = {(str(r["m"]), str(r["name"])) for r in result}  # type: ignore[index]
        assert (f"{dsi.issuer}/m/{dsi.dno.org_id}", "Gridco Ltd") in rows
        assert all(m != f"{dsi.issuer}/m/{dsi.fsp.org_id}" for m, _ in rows)


def test_DSI_DIR_019_nodes_are_data_services_in_the_directory(dsi):
    g = dsi.graph(f"{dsi.issuer}/n/{dsi.node.node_id}")
    s = URIRef(f"{dsi.issuer}/n/{dsi.node.node_id}")
    assert (s, RDF.type, DCAT.DataService) in g
    assert g.value(s, DCAT.endpointURL) == URIRef(dsi.node.url)
    assert g.value(s, DCTERMS.publisher) == URIRef(f"{dsi.issuer}/m/{dsi.dno.org_id}")
    assert {NODE_API_STANDARD, SPARQL_PROTOCOL} <= set(g.objects(s, DCTERMS.conformsTo))
    assert (s, DCAT.servesDataset, URIRef(f"{dsi.node.url}/catalogue#dataset-Asset")) in g
    # the mandatory catalogue fields, the same as the node's own catalogue gives its SPARQL
    # service
    catalogue = dsi.catalogue()
    sparql = URIRef(f"{dsi.node.url}/catalogue#service-sparql")
    for term in MANDATORY[2:]:
        assert set(g.objects(s, term)) == set(catalogue.objects(sparql, term)), term
    assert set(g.objects(s, IB1.roleRequiredToAccess)) == set(
        catalogue.objects(sparql, IB1.roleRequiredToAccess))


def test_DSI_DIR_020_members_with_role(dsi):
    resp = dsi.trust("/query/members-with-role", params={"role": f"{ROLE}DNO"})
    assert resp.status_code == 200, resp.text
    members = resp.json()["members"]
    by_id = {m["id"]: m for m in members}
    assert f"{dsi.issuer}/m/{dsi.fsp.org_id}" not in by_id
    gridco = by_id[f"{dsi.issuer}/m/{dsi.dno.org_id}"]
    assert gridco["legalName"] == "Gridco Ltd"
    assert gridco["email"] == "info@gridco.example"
    assert gridco["legalAddress"] == {"country": "GB", "postalCode": "RG1 1AA",
                                      "region": "Berkshire", "locality": "Reading",
                                      "streetAddress": "1 High Street"}
    assert set(gridco["companyRegistration"]) == {"identifier", "issuedBy"}
    assert gridco["roles"] == [f"{ROLE}DNO"]
    assert gridco["assuranceLevel"] == str(ORG_ASSURANCE.Level1)
    # the JSON says what the RDF says
    g, m = _member(dsi)
    assert gridco["companyRegistration"]["identifier"] == str(
        g.value(g.value(m, SCHEMA.companyRegistration), SCHEMA.certificationIdentification))
    # a role of another scheme has no members here; a role name works too
    for other in ("https://registry.example/scheme/x/role/y", f"{ROLE}Wizard", "urn:x"):
        resp_other = dsi.trust("/query/members-with-role", params={"role": other})
        assert resp_other.status_code == 200 and resp_other.json() == {"members": []}
    by_name = dsi.trust("/query/members-with-role", params={"role": "DNO"}).json()
    assert by_name == resp.json()



LOGO, PRIVACY = "https://flexco.example/logo.png", "https://flexco.example/privacy"


@pytest.mark.parametrize("accept", sorted(FORMATS))
def test_DSI_DIR_008_logo_and_DSI_DIR_009_privacy_policy_in_every_format(dsi, accept):
    with dsi.fsp.api() as c:  # the member's admin sets them through the update API
        resp = c.patch(f"/api/orgs/{dsi.fsp.org_id}",
                       json={"logo": LOGO, "privacy_policy": PRIVACY})
    assert resp.status_code == 200, resp.text
    url = f"{dsi.issuer}/m/{dsi.fsp.org_id}"
    g = dsi.graph(url, accept)
    assert list(g.objects(URIRef(url), SCHEMA.logo)) == [URIRef(LOGO)]
    assert list(g.objects(URIRef(url), IB1.privacyPolicy)) == [URIRef(PRIVACY)]
    members = dsi.trust("/query/members-with-role", params={"role": f"{ROLE}FSP"}).json()
    flexco = {m["id"]: m for m in members["members"]}[url]
    assert (flexco["logo"], flexco["privacyPolicy"]) == (LOGO, PRIVACY)
    # a member without them has neither
    gridco, m = _member(dsi, accept)
    assert gridco.value(m, SCHEMA.logo) is None and gridco.value(m, IB1.privacyPolicy) is None


@pytest.mark.parametrize("bad", ["http://flexco.example/logo.png", "javascript:alert(1)",
                                 "https:///nohost", "https://flexco.example/a b",
                                 "ftp://flexco.example/x", "https://u:p@flexco.example/x",
                                 "https://flexco.example/" + "x" * 2100, "logo.png"])
def test_DSI_DIR_040_logo_and_privacy_policy_must_be_https_urls(dsi, bad):
    token = dsi.fsp.token()
    for field in ("logo", "privacy_policy"):
        with dsi.local.client(token=token) as c:
            before = c.get(f"/api/orgs/{dsi.fsp.org_id}").json()
            resp = c.patch(f"/api/orgs/{dsi.fsp.org_id}", json={field: bad})
            after = c.get(f"/api/orgs/{dsi.fsp.org_id}").json()
        assert resp.status_code == 422 and "Traceback" not in resp.text
        assert resp.json()["code"] == "DSI-DIR-040"
        assert resp.json()["details"]["field"] == field
        assert after[field] == before[field]  # nothing stored
    # at registration too: refused, nothing stored (the same number registers afterwards)
    email = f"a{secrets.token_hex(4)}@logoco.example"
    body = org_body("Logoco", ["FSP"], email, "logoco-password-1", privacy_policy=bad)
    with dsi.local.client() as c:
        refused = c.post("/api/orgs", json=body)
        assert refused.status_code == 422 and refused.json()["code"] == "DSI-DIR-040"
        accepted = c.post("/api/orgs", json={**body, "privacy_policy": PRIVACY})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["privacy_policy"] == PRIVACY


@pytest.mark.parametrize("params", [{}, {"role": ""}, {"role": "Wizard"},
                                    {"role": "x" * 5000}])
def test_DSI_DIR_020_members_with_role_refuses_no_or_unknown_role(dsi, params):
    resp = dsi.trust("/query/members-with-role", params=params)
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "DSI-DIR-020" and "Traceback" not in resp.text
    if params.get("role"):  # it says which roles there are
        assert f"{ROLE}DNO" in body["details"]["roles"]


def test_DSI_DIR_020_a_pending_member_is_not_listed(dsi):
    with dsi.local.client() as c:  # applied, not approved
        resp = c.post("/api/orgs", json=org_body("Pendingco", ["DNO"], "a@pendingco.example",
                                                   "pending-password-1"))
    assert resp.status_code == 201, resp.text
    members = dsi.trust("/query/members-with-role", params={"role": f"{ROLE}DNO"}).json()
    assert resp.json()["url"] not in {m["id"] for m in members["members"]}
    assert dsi.trust(f"/m/{resp.json()['id']}").status_code == 404


def test_DSI_DIR_021_data_catalog_apis_by_conforms_to(dsi):
    resp = dsi.trust("/query/data-catalog/api",
                     params=[("conformsTo", str(SPARQL_PROTOCOL)),
                             ("conformsTo", "https://registry.example/standard/none")])
    assert resp.status_code == 200, resp.text
    apis = resp.json()["apis"]
    ours = [a for a in apis if a["endpointURL"] == dsi.node.url]
    assert len(ours) == 1
    assert ours[0]["publisher"] == f"{dsi.issuer}/m/{dsi.dno.org_id}"
    assert ours[0]["conformsTo"] == str(SPARQL_PROTOCOL)
    assert ours[0]["title"]
    # what it lists is what the node's own catalogue says it conforms to
    g = dsi.catalogue()
    sparql = URIRef(f"{dsi.node.url}/catalogue#service-sparql")
    assert (sparql, DCTERMS.conformsTo, SPARQL_PROTOCOL) in g
    none = dsi.trust("/query/data-catalog/api",
                     params={"conformsTo": "https://registry.example/standard/none"})
    assert none.json() == {"apis": []}


@pytest.mark.parametrize("params", [{}, {"conformsTo": ""}])
def test_DSI_DIR_021_data_catalog_apis_needs_a_standard(dsi, params):
    resp = dsi.trust("/query/data-catalog/api", params=params)
    assert resp.status_code == 422
    assert resp.json()["code"] == "DSI-DIR-021"
    assert str(SPARQL_PROTOCOL) in resp.json()["details"]["standards"]


@pytest.mark.parametrize("value", ["not a url <>", "\"x\" } UNION { ?s ?p ?o", "%00"])
def test_DSI_DIR_021_hostile_standards_match_nothing(dsi, value):
    resp = dsi.trust("/query/data-catalog/api", params={"conformsTo": value})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"apis": []}


# data-catalog-records/1.0 -----------------------------------------------------------

def _dcat_objects(g: Graph) -> set[URIRef]:
    return {s for c in DCAT_CLASSES for s in g.subjects(RDF.type, c) if isinstance(s, URIRef)}


@pytest.mark.parametrize("accept", sorted(FORMATS))
def test_DSI_CAT_001_catalogue_in_every_format_and_DSI_CAT_002_stable_ids(dsi, accept):
    g = dsi.catalogue(accept)
    objects = _dcat_objects(g)
    assert URIRef(f"{dsi.node.url}/catalogue") in objects
    assert objects == _dcat_objects(dsi.catalogue())  # the same identifiers each time


def test_DSI_CAT_003_every_dcat_object_has_the_mandatory_fields(dsi):
    g = dsi.catalogue()
    objects = _dcat_objects(g)
    assert {c for s in objects for c in g.objects(s, RDF.type)} >= set(DCAT_CLASSES)
    publisher = URIRef(f"{dsi.issuer}/m/{dsi.dno.org_id}")
    for s in objects:
        for term in MANDATORY:
            assert g.value(s, term) is not None, (s, term)
        assert g.value(s, DCTERMS.publisher) == publisher  # DSI-CAT-004
        assert g.value(s, IB1.trustFramework) == URIRef(dsi.issuer)  # DSI-CAT-006
        assert g.value(s, IB1.scheme) == SCHEME  # DSI-CAT-007
        assert g.value(s, IB1.datasetAssurance) == DATASET_ASSURANCE.Level1  # DSI-CAT-008
        assert str(g.value(s, IB1.sensitivityClass)).startswith(str(SENSITIVITY))
        assert g.value(s, DCTERMS.license) == URIRef(f"{dsi.node.url}/catalogue/licence")


def test_DSI_CAT_009_sensitivity_classes_are_generic_classes(dsi):
    g = dsi.catalogue()
    generic = {SENSITIVITY[c] for c in ("IB1-O", "IB1-SA", "IB1-SB", "IB1-SP")}
    classes = {g.value(s, IB1.sensitivityClass) for s in _dcat_objects(g)}
    assert classes <= generic
    asset = URIRef(f"{dsi.node.url}/catalogue#dataset-Asset")
    assert g.value(asset, IB1.sensitivityClass) == SENSITIVITY["IB1-SB"]
    # no class here asks for end-user permission, so no OAuth issuer (DSI-CAT-013)
    assert not list(g.triples((None, IB1.oauthIssuer, None)))


def test_DSI_CAT_011_each_data_service_has_an_openapi_endpoint_description(dsi):
    g = dsi.catalogue()
    services = set(g.subjects(RDF.type, DCAT.DataService))
    assert len(services) == 4
    with dsi.http() as c:
        for svc in services:
            endpoint = str(g.value(svc, DCAT.endpointURL))  # DSI-CAT-012
            assert endpoint.startswith(dsi.node.url)
            description = c.get(str(g.value(svc, DCAT.endpointDescription)))
            assert description.status_code == 200
            doc = description.json()
            assert doc["openapi"].startswith("3.")
            path = endpoint.removeprefix(dsi.node.url) or "/"
            assert path == "/" or any(p == path or p.startswith(path + "/")
                                      for p in doc["paths"]), (path, svc)


def test_DSI_CAT_015_datasets_have_a_description_and_DSI_CAT_016_a_distribution(dsi):
    g = dsi.catalogue()
    datasets = set(g.subjects(RDF.type, DCAT.Dataset))
    assert {URIRef(f"{dsi.node.url}/catalogue#dataset-{k}")
            for k in ("Asset", "ConnectionLimit")} == datasets
    for ds in datasets:
        description = g.value(ds, DCTERMS.description)
        assert isinstance(description, Literal) and len(str(description)) > 40
        media = set()
        for dist in g.objects(ds, DCAT.distribution):
            assert (dist, RDF.type, DCAT.Distribution) in g
            media.add(str(g.value(dist, DCAT.mediaType)))
            url = g.value(dist, DCAT.downloadURL)
            assert isinstance(url, URIRef) and str(url).startswith(dsi.node.url)
            with dsi.http() as c:
                # liveness as the spec tests it, a HEAD: without a token refused, not gone
                assert c.head(str(url)).status_code in (401, 405)
        assert "application/json" in media
    asset = URIRef(f"{dsi.node.url}/catalogue#dataset-Asset")
    assert {"application/json", "text/csv", "text/turtle"} == {
        str(g.value(d, DCAT.mediaType)) for d in g.objects(asset, DCAT.distribution)}


def test_DSI_CAT_016_a_distribution_downloads_as_its_media_type(dsi):
    g = dsi.catalogue()
    asset = URIRef(f"{dsi.node.url}/catalogue#dataset-Asset")
    token = dsi.local.access_token(dsi.dno, dsi.node.url)
    with dsi.local.client(dsi.dno.cert, dsi.dno.key, token=token) as c:
        for dist in g.objects(asset, DCAT.distribution):
            resp = c.get(str(g.value(dist, DCAT.downloadURL)))
            assert resp.status_code == 200, resp.text
            assert resp.headers["content-type"].startswith(str(g.value(dist, DCAT.mediaType)))


# role-based-access-control/1.0 -----------------------------------------------------

def test_DSI_RBAC_001_entries_name_roles_required_to_access(dsi):
    g = dsi.catalogue()
    for s in _dcat_objects(g) - {URIRef(f"{dsi.node.url}/catalogue")}:
        if (s, RDF.type, DCAT.Distribution) in g:
            continue
        roles = set(g.objects(s, IB1.roleRequiredToAccess))
        assert roles, s  # DSI-RBAC-002: none of these classes allows anonymous access
        assert all(str(r).startswith(ROLE) for r in roles)
    # no free-text access rights beside them
    assert not list(g.triples((None, DCTERMS.accessRights, None)))


def test_DSI_RBAC_003_a_listed_role_gets_access_and_an_unlisted_one_does_not(dsi):
    g = dsi.catalogue()
    asset = URIRef(f"{dsi.node.url}/catalogue#dataset-Asset")
    roles = set(g.objects(asset, IB1.roleRequiredToAccess))
    assert URIRef(ROLE + "FSP") in roles and URIRef(ROLE + "Regulator") not in roles
    download = str(g.value(g.value(asset, DCAT.distribution), DCAT.downloadURL))
    fsp = dsi.local.access_token(dsi.fsp, dsi.node.url)
    with dsi.local.client(dsi.fsp.cert, dsi.fsp.key, token=fsp) as c:
        assert c.get(download).status_code == 200
    refused = dsi.local.trust.client_credentials(
        dsi.regulator.app_id, dsi.regulator.cert, dsi.regulator.key, dsi.node.url,
        scope="assets:read")
    assert refused.status_code == 400  # the trust framework does not grant the scope
    assert refused.json()["error"] == "invalid_scope"


# machine-readable-data-licenses/1.0 -------------------------------------------------

def test_DSI_LIC_001_licence_is_an_ib1_license_with_its_terms(dsi):
    url = URIRef(f"{dsi.node.url}/catalogue/licence")
    for accept in FORMATS:
        g = dsi.graph(str(url), accept)
        assert (url, RDF.type, IB1.License) in g
        assert g.value(url, RDFS.label) == Literal("fmar-federation-licence")  # DSI-LIC-002
        assert g.value(url, RDFS.comment) is not None  # DSI-LIC-003
        terms = g.value(url, IB1.licenseTerms)  # DSI-LIC-004
        assert isinstance(terms, URIRef)
        assert g.value(url, IB1.permittedUse) is not None  # DSI-LIC-005
        assert g.value(url, IB1.additionalCondition) is not None
        # the ODRL policy stays beside it
        assert (url, RDF.type, URIRef("http://www.w3.org/ns/odrl/2/Set")) in g
    with dsi.http() as c:
        text = c.get(str(terms))
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    # the legal text refers to the RDF terms it relies on
    assert "ib1:permittedUse" in text.text and "ib1:additionalCondition" in text.text


def test_DSI_CAT_004_a_node_without_a_trust_framework_still_fills_every_field():
    """A development node (static tokens, no FMAR_PUBLISHER) names itself as publisher and
    FMAR's default trust framework, so its catalogue stays complete."""
    from node.config import NodeSettings
    from node.federation.catalogue import STANDALONE_FRAMEWORK, catalogue_graph

    settings = NodeSettings(node_url="https://node.example", dataset_types=("Asset", "Odd"))
    g = catalogue_graph(settings, "dev")
    objects = _dcat_objects(g)
    assert URIRef("https://node.example/catalogue#dataset-Odd") in objects
    for s in objects:
        for term in MANDATORY:
            assert g.value(s, term) is not None, (s, term)
        assert g.value(s, DCTERMS.publisher) == URIRef("https://node.example/")
        assert g.value(s, IB1.trustFramework) == URIRef(STANDALONE_FRAMEWORK)
    # a dataset type without a collection is downloaded through SPARQL
    odd = g.value(URIRef("https://node.example/catalogue#dataset-Odd"), DCAT.distribution)
    assert g.value(odd, DCAT.downloadURL) == URIRef("https://node.example/sparql")
