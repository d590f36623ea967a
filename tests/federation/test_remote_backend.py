"""The SPARQL endpoint and query forms on a node backed by an external SPARQL server
(`oxigraph serve` as a real process): the caller's dataset travels as
default-graph-uri / named-graph-uri protocol parameters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from examples.generate import assets
from node.api.app import create_app
from node.config import NodeSettings
from node.federation.localfed import free_port
from node.identity import Caller, StaticTokenAuthenticator
from node.inputs import Row
from node.query.execute import Limits
from node.query.service import QueryService
from tests.conftest import start_oxigraph_server

SCOPES = frozenset({"assets:read", "assets:write", "sparql:query", "federation:query"})
CALLERS = {
    "a": Caller("a", "FSP-A", frozenset({"FSP"}), SCOPES),
    "b": Caller("b", "FSP-B", frozenset({"FSP"}), SCOPES),
    "neso": Caller("n", "NESO", frozenset({"NESO"}), SCOPES),
}


@pytest.fixture(scope="module")
def remote_node(tmp_path_factory) -> Iterator[str]:
    sparql_url, server = start_oxigraph_server(tmp_path_factory.mktemp("oxigraph"))
    auth = StaticTokenAuthenticator({StaticTokenAuthenticator.hash_token(f"t-{k}"): c
                                     for k, c in CALLERS.items()})
    app = create_app(NodeSettings(sparql_url=sparql_url, workers=1), auth)
    # Small limits, to see them hold on the node's side (the server has none of its own).
    app.state.query_service = QueryService(app.state.register.store,
                                           Limits(timeout=3, memory_mb=1))
    for key, org in (("a", "FSP-A"), ("b", "FSP-B")):
        rows = (Row(i, fields=r) for i, r in enumerate(assets(15, org, seed=len(org) + ord(key)),
                                                        start=1))
        report = app.state.register.register_bulk(rows, CALLERS[key], all_or_nothing=True)
        assert report.stored == 15, report.errors[:2]
    node_port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=node_port,
                                       log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{node_port}"
    uv.should_exit = True
    thread.join(10)
    server.terminate()
    server.wait(10)


def get(url: str, who: str, path: str, **params) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, headers={"authorization": f"Bearer t-{who}"},
                     timeout=30)


def test_remote_dataset_is_the_callers_records_only(remote_node):
    q = ("SELECT DISTINCT ?org WHERE { ?a <https://id.fmar.uk/def/fmar#organisation> ?org }")
    orgs = {b["org"]["value"] for b in get(remote_node, "a", "/sparql", query=q)
            .json()["results"]["bindings"]}
    assert orgs == {"https://id.fmar.uk/org/FSP-A"}
    everything = {b["org"]["value"] for b in get(remote_node, "neso", "/sparql", query=q)
                  .json()["results"]["bindings"]}
    assert everything == {"https://id.fmar.uk/org/FSP-A", "https://id.fmar.uk/org/FSP-B"}
    leak = get(remote_node, "neso", "/sparql", query="SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } "
               "FILTER STRSTARTS(STR(?g), 'urn:') }")
    assert leak.status_code == 200 and leak.json()["results"]["bindings"] == []


def test_remote_rest_form_and_aggregate(remote_node):
    rows = get(remote_node, "b", "/query/assets", limit=100).json()["results"]["bindings"]
    assert len(rows) == 15
    assert {r["organisation"]["value"] for r in rows} == {"https://id.fmar.uk/org/FSP-B"}
    report = get(remote_node, "neso", "/query/aggregate", group_by="organisation").json()
    assert sorted(c["count"] for c in report["cells"]) == [15, 15]


def test_remote_query_past_the_time_limit_is_stopped(remote_node):
    slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
    r = get(remote_node, "neso", "/sparql", query=slow)
    assert r.status_code == 504 and r.json()["code"] == "SPARQL-005", r.text
    assert get(remote_node, "neso", "/sparql", query="ASK { ?s ?p ?o }").json()["boolean"]


def test_remote_answer_over_the_memory_limit_is_refused(remote_node):
    big = "CONSTRUCT { ?a ?b ?f } WHERE { ?a ?b ?c . ?d ?e ?f }"  # ~50 MB of N-Triples
    r = get(remote_node, "a", "/sparql", query=big, format="nt")
    assert r.status_code == 422 and r.json()["code"] == "SPARQL-020", r.text
    small = "CONSTRUCT { ?a ?b ?c } WHERE { ?a ?b ?c } LIMIT 10"
    ok = get(remote_node, "a", "/sparql", query=small, format="nt")
    assert ok.status_code == 200 and ok.text.count("\n") == 10
