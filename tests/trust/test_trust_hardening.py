"""Smaller hardening items of the trust service, over TLS: SPARQL `GRAPH` queries, the
RFC 8414 metadata of revocation and introspection, and server certificate names (CA-004)."""

from __future__ import annotations

import pytest
from test_trust_refusals import assert_refused

from trust.client.credentials import make_key_and_csr

ROLE_QUERY = """PREFIX schema: <http://schema.org/>
                PREFIX dcterms: <http://purl.org/dc/terms/>
                SELECT ?id WHERE { %s }"""
PATTERN = "?m a schema:Organization ; dcterms:identifier ?id"


def test_DIR_012_sparql_with_graph_answers_instead_of_failing(federation, members):
    with federation.client() as c:
        graph = c.get("/sparql", params={"query": ROLE_QUERY % f"GRAPH ?g {{ {PATTERN} }}"})
        named = c.get("/sparql", params={"query": "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"})
        plain = c.get("/sparql", params={"query": ROLE_QUERY % PATTERN})  # control
        broken = c.get("/sparql", params={"query": "SELECT ?g WHERE { GRAPH ?g { ?s "})
    # the directory is one default graph and no named graphs: GRAPH matches nothing
    assert graph.status_code == 200, graph.text
    assert graph.json()["results"]["bindings"] == []
    assert named.status_code == 200 and named.json()["results"]["bindings"] == []
    assert plain.status_code == 200
    assert members.fsp.org_id in {b["id"]["value"] for b in plain.json()["results"]["bindings"]}
    assert_refused(broken, 400, "DIR-012")


def test_metadata_names_the_client_authentication_of_revocation_and_introspection(federation):
    with federation.client() as c:
        meta = c.get("/.well-known/oauth-authorization-server").json()
    assert meta["revocation_endpoint_auth_methods_supported"] == [
        "tls_client_auth", "private_key_jwt", "none"]
    assert meta["introspection_endpoint_auth_methods_supported"] == ["tls_client_auth"]
    # what the metadata says is what the endpoints do: a public client cannot introspect
    with federation.client() as c:
        public = c.post("/introspect", data={"token": "x",
                                             "client_id": federation.state["cli_client_id"]})
    assert_refused(public, 403, "AUTH-062")


@pytest.mark.parametrize("host", ["odd.example.", "host%2e", "-bad.example", "a..example",
                                  "under_score.example", "*.example", "1.2.3.999",
                                  "x" * 64 + ".example"])
def test_CA_004_server_certificates_only_for_valid_host_names(federation, members, host):
    fsp = members.fsp
    node_id = fsp.register_node(f"https://{host}:8443")  # the directory takes the URL as given
    with fsp.api() as c:  # (and the operator approved the node)
        _, csr = make_key_and_csr()
        resp = c.post(f"/api/nodes/{node_id}/certificates",
                      json={"csr_pem": csr.decode(), "kind": "server"})
    assert_refused(resp, 422, "CA-004")
    assert "pem" not in resp.json()


@pytest.mark.parametrize("host", ["node-1.flex.example", "127.0.0.9", "[::1]"])
def test_CA_004_control_valid_names_and_addresses_get_a_certificate(federation, members, host):
    fsp = members.fsp
    node_id = fsp.register_node(f"https://{host}:8443")
    with fsp.api() as c:
        _, csr = make_key_and_csr()
        resp = c.post(f"/api/nodes/{node_id}/certificates",
                      json={"csr_pem": csr.decode(), "kind": "server"})
    assert resp.status_code == 201, resp.text
