"""The directory: registration, status, users, applications, public reads, de-registration."""

from __future__ import annotations

import pytest
from cryptography import x509
from rdflib import OWL, Graph, Literal, URIRef
from sqlmodel import Session
from test_trust_refusals import assert_refused, poll

from common.dsi import IB1, SCHEMA
from common.vocab import FMAR, code_iri
from tests.harness.directory import org_body
from tests.harness.processes import free_port
from trust.server.models import User
from trust.server.rdf import ROLE


def register(federation, name, **changes):
    body = org_body(name, ["FSP"], f"admin@{name.lower()}.example", "long-password-1")
    body.update(changes)
    with federation.client() as c:
        return c.post("/api/orgs", json=body)


@pytest.mark.parametrize("changes, code", [
    ({"registration_number": "12AB"}, "DIR-001"),
    ({"email": "not-an-address"}, "DIR-002"),
    ({"primary_contact": {"first_name": "A", "last_name": "B", "email": "a@b.example",
                          "mobile": "07700 900123"}}, "DIR-003"),
    ({"roles": ["Wizard"]}, "DIR-004"),
    ({"roles": ["FSP"], "dno_areas": ["UKPN_EPN"]}, "DIR-004"),
])
def test_registration_validates_input(federation, changes, code):
    assert_refused(register(federation, "Badinput", **changes), 422, code)


def test_DIR_013_one_registration_per_company_number(federation):
    first = register(federation, "Twinco", registration_number="OC300001")
    assert first.status_code == 201, first.text
    again = register(federation, "Twinco2", registration_number="oc300001")
    assert_refused(again, 409, "DIR-013")


def test_registration_issues_a_permanent_id_pending_approval(federation):
    resp = register(federation, "Newco", registration_number="sc 123456")
    assert resp.status_code == 201, resp.text
    org = resp.json()
    assert org["id"].startswith("FMAR-ORG-") and org["status"] == "Pending Approval"
    assert org["registration_number"] == "SC123456"
    assert org["contacts"]["primary"]["mobile_country_code"] == "+44"
    with federation.client() as c:
        assert c.get(f"/m/{org['id']}").status_code == 404  # not public before approval


def test_status_transitions_are_checked_and_audited(federation, members):
    org_id = register(federation, "Lifecycle").json()["id"]
    with federation.client(token=federation.operator_token()) as op:
        bad = op.post(f"/api/orgs/{org_id}/status", json={"status": "Suspended"})
        assert_refused(bad, 409, "DIR-005")
        for status in ("Active", "Suspended", "Active"):
            resp = op.post(f"/api/orgs/{org_id}/status", json={"status": status,
                                                               "reason": f"to {status}"})
            assert resp.status_code == 200, resp.text
        history = op.get(f"/api/orgs/{org_id}/history").json()
    moves = [(e["from_status"], e["to_status"]) for e in history if e["action"] == "status"]
    assert moves == [("Pending Approval", "Active"), ("Active", "Suspended"),
                     ("Suspended", "Active")]
    assert all(e["actor"].startswith("USR-") for e in history if e["action"] == "status")
    with members.fsp.api() as c:  # a member is not the operator
        refused = c.post(f"/api/orgs/{org_id}/status", json={"status": "Suspended"})
    assert_refused(refused, 403, "POL-102")


def test_user_application_node_and_certificate_changes_are_audited(members):
    fsp = members.fsp
    with fsp.api() as c:
        history = c.get(f"/api/orgs/{fsp.org_id}/history").json()
    actions = [e["action"] for e in history]
    for action in ("register", "status", "user.add", "application.create", "node.add",
                   "certificate.issue"):
        assert action in actions, actions
    issued = next(e for e in history if e["action"] == "certificate.issue")
    assert issued["actor"].startswith("USR-") and issued["reason"].split()[1] == "client"
    assert history[0]["actor"] == f"applicant:{fsp.email}"


def test_org_admin_registers_users_with_roles(federation, members):
    fsp = members.fsp
    with fsp.api() as c:
        viewer = c.post(f"/api/orgs/{fsp.org_id}/users", json={
            "email": "viewer@flexco.example", "name": "Vi", "role": "viewer",
            "password": "viewer-password-1"})
        assert viewer.status_code == 201, viewer.text
        assert "password_hash" not in viewer.json()
        dup = c.post(f"/api/orgs/{fsp.org_id}/users", json={
            "email": "Viewer@flexco.example", "name": "Vi", "role": "viewer",
            "password": "viewer-password-1"})
        assert_refused(dup, 409, "DIR-010")
    with members.dno.api() as c:  # another organisation's admin
        other = c.post(f"/api/orgs/{fsp.org_id}/users", json={
            "email": "x@flexco.example", "name": "X", "role": "admin", "password": "x-password-1"})
        assert_refused(other, 403, "POL-101")
    viewer_token = federation.user_token("viewer@flexco.example", "viewer-password-1")
    with federation.client(token=viewer_token) as c:
        denied = c.post(f"/api/orgs/{fsp.org_id}/users", json={
            "email": "y@flexco.example", "name": "Y", "role": "admin", "password": "y-password-1"})
        assert_refused(denied, 403, "POL-101")
    # a viewer's token for a node has no write scope
    resp = federation.login("viewer@flexco.example", "viewer-password-1",
                            resource=members.fsp_node.url)
    scopes = resp.json()["scope"].split()
    assert "assets:read" in scopes and "assets:write" not in scopes
    engine = federation.engine()
    with Session(engine) as session:
        stored = session.get(User, viewer.json()["id"])
        assert stored.password_hash.startswith("$argon2id$")
    engine.dispose()
    with fsp.api() as c:
        assert c.post(f"/api/users/{viewer.json()['id']}/deactivate").json()["active"] is False
    assert federation.login("viewer@flexco.example", "viewer-password-1").status_code == 401


def test_application_roles_are_a_subset_of_the_organisation_roles(members):
    with members.fsp.api() as c:
        resp = c.post(f"/api/orgs/{members.fsp.org_id}/apps", json={"name": "x",
                                                                    "roles": ["DNO"]})
    assert_refused(resp, 422, "DIR-007")


def test_member_and_application_as_rdf(federation, members):
    dno = members.dno
    url = f"{federation.issuer}/m/{dno.org_id}"
    with federation.client() as c:
        turtle = c.get(f"/m/{dno.org_id}")
        jsonld = c.get(f"/m/{dno.org_id}", headers={"Accept": "application/ld+json"})
        app = c.get(f"/a/{dno.app_id}", headers={"Accept": "text/turtle"})
        node = c.get(f"/n/{members.dno_node.node_id}")
        refused = c.get(f"/m/{dno.org_id}", headers={"Accept": "image/png"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert jsonld.headers["content-type"].startswith("application/ld+json")
    for resp, fmt in ((turtle, "turtle"), (jsonld, "json-ld")):
        g = Graph().parse(data=resp.text, format=fmt)
        assert (URIRef(url), SCHEMA.legalName, Literal("Gridco Ltd")) in g
        assert (URIRef(url), IB1.role, ROLE.DNO) in g
        assert (URIRef(url), FMAR.licenceArea, code_iri("DNOCode", "UKPN_EPN")) in g
        assert (URIRef(url), OWL.sameAs, URIRef(f"https://id.fmar.uk/org/{dno.org_id}")) in g
    assert "ada@" not in turtle.text  # contact people are not published
    g = Graph().parse(data=app.text, format="turtle")
    assert (URIRef(f"{federation.issuer}/a/{dno.app_id}"), None, URIRef(url)) in g
    assert_refused(refused, 406, "HTTP-406")
    g = Graph().parse(data=node.text, format="turtle")
    assert (None, None, URIRef(members.dno_node.url)) in g


def test_json_queries(federation, members):
    with federation.client() as c:
        dnos = c.get("/api/members", params={"role": "DNO"}).json()
        by_iri = c.get("/api/members", params={
            "role": "https://id.fmar.uk/def/code/OrganisationRole/DNO"}).json()
        nodes = c.get("/api/nodes", params={"dataset_type": "Asset"}).json()
        none = c.get("/api/nodes", params={"dataset_type": "Nothing"}).json()
    assert members.dno.org_id in {m["id"] for m in dnos}
    assert members.fsp.org_id not in {m["id"] for m in dnos}
    assert by_iri == dnos
    assert {members.fsp_node.url, members.dno_node.url} <= {n["url"] for n in nodes}
    assert none == []


def test_sparql_is_read_only_and_local(federation, members):
    query = """PREFIX ib1: <https://registry.trust.ib1.org/ns/1.0#>
               PREFIX dcterms: <http://purl.org/dc/terms/>
               PREFIX role: <https://id.fmar.uk/def/code/OrganisationRole/>
               SELECT ?id WHERE { ?m ib1:role role:DNO ; dcterms:identifier ?id }"""
    with federation.client() as c:
        resp = c.get("/sparql", params={"query": query})
        assert resp.status_code == 200, resp.text
        ids = {b["id"]["value"] for b in resp.json()["results"]["bindings"]}
        assert members.dno.org_id in ids and members.fsp.org_id not in ids
        posted = c.post("/sparql", content=query,
                        headers={"Content-Type": "application/sparql-query"})
        assert posted.status_code == 200
        update = c.post("/sparql", data={"query": "INSERT DATA { <a:a> <a:b> <a:c> }"})
        assert_refused(update, 400, "DIR-012")
        service = c.get("/sparql", params={"query": "SELECT * WHERE { SERVICE "
                                           "<http://127.0.0.1:1/> { ?s ?p ?o } }"})
        assert_refused(service, 400, "DIR-012")
        remote = c.get("/sparql", params={"query": "SELECT * FROM <http://127.0.0.1:1/x> "
                                          "WHERE { ?s ?p ?o }"})
        assert_refused(remote, 400, "DIR-012")


def test_deregistration_asks_the_nodes_first(federation, members):
    leaver = federation.register_member("Leaverco", ["FSP"])
    node = leaver.start_node(free_port())
    try:
        token = leaver.access_token(members.dno_node.url)
        node.set_active(leaver.org_id, assets=3, units=1)
        with leaver.api() as c:
            refused = c.post(f"/api/orgs/{leaver.org_id}/deregister", json={})
            assert_refused(refused, 409, "DIR-008")
            assert refused.json()["details"]["nodes"][0]["active_assets"] == 3
            node.set_active(leaver.org_id, assets=0)
            done = c.post(f"/api/orgs/{leaver.org_id}/deregister", json={"reason": "leaving"})
            assert done.status_code == 200, done.text
            assert done.json()["certificates_revoked"] >= 2  # client and node server certs
    finally:
        node.stop()
    # users can no longer log in, the client gets no token, old tokens stop working
    assert federation.login(leaver.email, leaver.password).status_code == 401
    refused = federation.client_credentials(leaver.app_id, leaver.cert, leaver.key,
                                            members.dno_node.url)
    assert refused.status_code == 401
    resp = poll(lambda: members.dno_node.call("GET", "/assets", token, leaver.cert, leaver.key),
                lambda r: r.status_code == 401)
    assert resp.json()["code"] in ("AUTH-011", "AUTH-012")
    with federation.client() as c:
        crl = x509.load_der_x509_crl(c.get("/ca/crl").content)
        member = c.get(f"/api/members/{leaver.org_id}").json()
    serial = int((leaver.cert.parent / "serial").read_text(), 16)
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert member["status"] == "Withdrawn"


def test_deregistration_refused_when_a_node_cannot_answer(federation):
    member = federation.register_member("Silentco", ["FSP"])
    member.register_node(f"https://127.0.0.1:{free_port()}")  # approved, never started
    with member.api() as c:
        resp = c.post(f"/api/orgs/{member.org_id}/deregister", json={})
    assert_refused(resp, 409, "DIR-009")


def test_DIR_014_a_host_belongs_to_one_organisation(members):
    with members.dno.api() as c:
        first = c.post(f"/api/orgs/{members.dno.org_id}/nodes",
                       json={"url": "https://node.gridco.example:9443"})
        assert first.status_code == 201, first.text
    with members.fsp.api() as c:
        grab = c.post(f"/api/orgs/{members.fsp.org_id}/nodes",
                      json={"url": "https://node.gridco.example:9444"})
        assert_refused(grab, 409, "DIR-014")
        # the same host written with DNS's trailing dot is the same host
        dotted = c.post(f"/api/orgs/{members.fsp.org_id}/nodes",
                        json={"url": "https://node.gridco.example.:9443"})
        assert_refused(dotted, 409, "DIR-014")
        plain = c.post(f"/api/orgs/{members.fsp.org_id}/nodes", json={"url": "http://x.example"})
        assert_refused(plain, 422, "DIR-004")


def test_org_admin_updates_contact_details(federation, members):
    with members.fsp2.api() as c:
        resp = c.patch(f"/api/orgs/{members.fsp2.org_id}", json={
            "website": "https://otherflex.example", "technical_contact": {
                "first_name": "T", "last_name": "C", "email": "it@otherflex.example",
                "mobile": "+447700900999"}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["contacts"]["technical"]["email"] == "it@otherflex.example"
        bad = c.patch(f"/api/orgs/{members.fsp2.org_id}", json={"roles": ["NESO"]})
        assert_refused(bad, 403, "POL-102")
    with members.dno.api() as c:  # a DNO cannot widen its own licence areas
        wider = c.patch(f"/api/orgs/{members.dno.org_id}", json={"dno_areas": ["UKPN_LPN"]})
        assert_refused(wider, 403, "POL-102")
    with members.fsp2.api() as c:
        history = c.get(f"/api/orgs/{members.fsp2.org_id}/history").json()
    assert history[-1]["action"] == "update"


def test_trust_openapi_declares_security_and_error_bodies(federation):
    with federation.client() as c:
        doc = c.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["mutualTLS"]["type"] == "mutualTLS"
    flows = schemes["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"].endswith("/token")
    assert flows["authorizationCode"]["authorizationUrl"].endswith("/authorize")
    paths = doc["paths"]
    assert paths["/api/orgs/{org_id}/users"]["post"]["security"] == [{"oauth2": []}]
    assert paths["/token"]["post"]["security"] == [{"mutualTLS": []}, {}]
    for public in ("/api/members", "/api/nodes", "/ca/chain.pem", "/m/{org_id}"):
        assert "security" not in paths[public]["get"], public
    assert set(paths["/ca/crl"]["get"]["responses"]["200"]["content"]) == {"application/pkix-crl"}
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert paths["/api/orgs/{org_id}/users"]["post"]["responses"]["403"]["content"][
        "application/json"]["schema"] == error
