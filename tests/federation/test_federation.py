"""Federation over real processes: trust service + three nodes over TLS (see conftest).

Oracle: a federated answer equals the same query over one store holding the union of
what the caller may read on every node. The union is built here independently of the
engine: full dumps of each node (read with NESO's token) filtered by this file's own
statement of the read rule (POL-003/POL-011).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

import pyoxigraph as ox
import pytest

from common.http_errors import ApiError
from node.query.results import parse_select_json, term_json

FMAR = "https://id.fmar.uk/def/fmar#"
PREFIX = f"PREFIX fmar: <{FMAR}>\n"
DUMP = "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"

QUERIES = {
    "big-assets": PREFIX + "SELECT ?a ?cap WHERE { ?a a fmar:Asset ; fmar:ratedCapacity ?cap "
    "FILTER (?cap > 1000) }",
    "join-limits": PREFIX + "SELECT ?l ?a ?cap ?lim ?org WHERE { ?l a fmar:ConnectionLimit ; "
    "fmar:limitsAsset ?a ; fmar:exportLimit ?lim . ?a fmar:ratedCapacity ?cap ; "
    "fmar:organisation ?org }",
    "by-category": PREFIX + "SELECT ?cat (COUNT(?a) AS ?n) (SUM(?cap) AS ?total) WHERE { "
    "?a fmar:assetCategory ?cat ; fmar:ratedCapacity ?cap } GROUP BY ?cat",
    "graphs": "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
    "no-limit": PREFIX + "SELECT ?a WHERE { ?a a fmar:Asset FILTER NOT EXISTS { "
    "?l fmar:limitsAsset ?a } }",
    "over-limit": PREFIX + "SELECT ?a WHERE { GRAPH ?g1 { ?a fmar:ratedCapacity ?cap } "
    "GRAPH ?g2 { ?l fmar:limitsAsset ?a ; fmar:exportLimit ?lim } FILTER (?lim < ?cap) }",
    # shapes that once answered wrongly (issue 9): every term, every graph, every quad
    "empty-graph": "SELECT ?g WHERE { GRAPH ?g { } }",
    "zero-or-one-path": PREFIX + "SELECT ?x ?y WHERE { ?x fmar:limitsAsset? ?y }",
    "zero-or-more-path": PREFIX + "SELECT (COUNT(*) AS ?n) WHERE { ?x fmar:limitsAsset* ?y }",
    "variable-predicate": "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p",
    "service-predicate": f"PREFIX : <{FMAR}> SELECT ?a ?x WHERE {{ ?a :service ?x }}",
    "limit-not-projected": PREFIX + "SELECT ?l ?lim WHERE { ?l fmar:limitsAsset ?a ; "
    "fmar:exportLimit ?lim . ?a fmar:ratedCapacity ?cap FILTER (?lim < ?cap) }",
}
# gather queries whose filters go into the fragments (joins.py `Plan.filtered`)
PUSHED = {
    "pushed-join": PREFIX + "SELECT ?l ?a ?cap ?lim WHERE { ?l a fmar:ConnectionLimit ; "
    "fmar:limitsAsset ?a ; fmar:exportLimit ?lim . ?a fmar:ratedCapacity ?cap "
    "FILTER (?cap >= 500 && ?lim < 1e6) }",
    "pushed-in": PREFIX + "SELECT ?a ?k WHERE { ?a fmar:assetCategory ?k ; fmar:ratedCapacity "
    "?c FILTER (?k IN (<https://id.fmar.uk/def/code/AssetCategory/BESS>, "
    "<https://id.fmar.uk/def/code/AssetCategory/SOLAR_PV>) && 100 < ?c) }",
    "pushed-minus": PREFIX + "SELECT ?a WHERE { ?a a fmar:Asset MINUS { ?a fmar:ratedCapacity "
    "?c FILTER (?c < 1000) } }",
}
CALLERS = ["Neso", "Gridco", "Flexco"]


# ---------------------------------------------------------------- oracle helpers

_dumps: dict[str, list[ox.Quad]] = {}


def dump(fed, node: str) -> list[ox.Quad]:
    if node not in _dumps:
        url = fed.local.nodes[node].url
        with fed.http("Neso") as c:
            r = c.post(f"{url}/sparql", content=DUMP, headers={
                "authorization": f"Bearer {fed.token('Neso', node)}",
                "content-type": "application/sparql-query",
                "accept": "application/sparql-results+json"})
        assert r.status_code == 200, r.text
        variables, rows = parse_select_json(r.json())
        i = {v: n for n, v in enumerate(variables)}
        _dumps[node] = [ox.Quad(row[i["s"]], row[i["p"]], row[i["o"]], row[i["g"]])
                        for row in rows]
    return _dumps[node]


def may_read(member, graph: str, quads: list[ox.Quad]) -> bool:
    """The read rule, stated independently: categories are public; a record is readable
    by NESO, by its organisation, and by the DNO of its area."""
    if graph.startswith("https://id.fmar.uk/category/"):
        return True
    if "NESO" in member.roles:
        return True
    subject = [q for q in quads if q.subject.value == graph]
    org = {q.object.value for q in subject if q.predicate.value == FMAR + "organisation"}
    area = {q.object.value.rsplit("/", 1)[-1] for q in subject
            if q.predicate.value == FMAR + "dnoConnection"}
    if "FSP" in member.roles and f"https://id.fmar.uk/org/{member.org_id}" in org:
        return True
    return "DNO" in member.roles and bool(area & set(member.dno_areas))


def union_store(fed, who: str) -> tuple[ox.Store, list[ox.NamedNode]]:
    member = fed.member(who)
    store = ox.Store()
    for node in fed.local.nodes:
        by_graph: dict[str, list[ox.Quad]] = {}
        for q in dump(fed, node):
            by_graph.setdefault(q.graph_name.value, []).append(q)
        for graph, quads in by_graph.items():
            if may_read(member, graph, quads):
                store.extend(quads)
    graphs = list(store.named_graphs())
    return store, graphs


def canonical(variables: list[str], bindings: list[dict[str, Any]]) -> Counter:
    return Counter(tuple(json.dumps(b.get(v), sort_keys=True) for v in variables)
                   for b in bindings)


def oracle(fed, who: str, query: str) -> tuple[list[str], Counter]:
    store, graphs = union_store(fed, who)
    result = store.query(query, default_graph=graphs, named_graphs=graphs)
    if isinstance(result, ox.QueryBoolean):
        return [], Counter([bool(result)])
    variables = [v.value for v in result.variables]
    bindings = [{v: term_json(s[v]) for v in variables if s[v] is not None} for s in result]
    return variables, canonical(variables, bindings)


# ---------------------------------------------------------------- discovery

def test_catalogue_is_public_dcat(fed):
    node = fed.local.nodes["dno"]
    with fed.http() as c:
        turtle = c.get(f"{node.url}/catalogue")
        jsonld = c.get(f"{node.url}/catalogue", headers={"accept": "application/ld+json"})
        licence = c.get(f"{node.url}/catalogue/licence")
    assert turtle.status_code == 200 and turtle.headers["content-type"].startswith("text/turtle")
    graph = ox.Store()
    graph.load(turtle.content, format=ox.RdfFormat.TURTLE)
    ask = ("PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX dcterms: <http://purl.org/dc/terms/>"
           " SELECT ?url ?lic WHERE { ?s a dcat:DataService ; dcat:endpointURL ?url ; "
           "dcterms:license ?lic }")
    urls = {s["url"].value for s in graph.query(ask)}
    assert f"{node.url}/sparql" in urls and f"{node.url}/federation" in urls
    assert jsonld.status_code == 200 and isinstance(jsonld.json(), list)
    assert licence.status_code == 200 and "odrl" in licence.text


def test_client_finds_nodes_in_directory_and_catalogues(fed):
    found = {n.url for n in fed.client("Neso").nodes()}
    assert found == {n.url for n in fed.local.nodes.values()}


# ---------------------------------------------------------------- per-node SPARQL

def _sparql(fed, who, node, query=None, method="GET", **kw):
    url = fed.local.nodes[node].url
    headers = {"authorization": f"Bearer {fed.token(who, node)}", **kw.pop("headers", {})}
    with fed.http(who) as c:
        if method == "GET":
            return c.get(f"{url}/sparql", params={"query": query, **kw.pop("params", {})},
                         headers=headers)
        return c.post(f"{url}/sparql", headers=headers, **kw)


def test_sparql_protocol_forms_and_formats(fed):
    q = PREFIX + "SELECT ?a ?cap WHERE { ?a a fmar:Asset ; fmar:ratedCapacity ?cap } LIMIT 5"
    r = _sparql(fed, "Neso", "fsp_a", q)
    assert r.status_code == 200 and len(r.json()["results"]["bindings"]) == 5
    r = _sparql(fed, "Neso", "fsp_a", method="POST", content=q,
                headers={"content-type": "application/sparql-query", "accept": "text/csv"})
    assert r.status_code == 200 and r.text.splitlines()[0] == "a,cap"
    r = _sparql(fed, "Neso", "fsp_a", method="POST", data={"query": q},
                headers={"accept": "text/tab-separated-values"})
    assert r.status_code == 200 and r.text.startswith("?a\t?cap")
    r = _sparql(fed, "Neso", "fsp_a", q, headers={"accept": "application/sparql-results+xml"})
    assert r.status_code == 200 and "<sparql" in r.text
    c = PREFIX + "CONSTRUCT { ?a fmar:ratedCapacity ?cap } WHERE { ?a fmar:ratedCapacity ?cap }"
    for accept, fmt in (("text/turtle", ox.RdfFormat.TURTLE),
                        ("application/n-triples", ox.RdfFormat.N_TRIPLES),
                        ("application/ld+json", ox.RdfFormat.JSON_LD)):
        r = _sparql(fed, "Neso", "fsp_a", c, headers={"accept": accept})
        assert r.status_code == 200, r.text
        assert len(list(ox.parse(r.content, format=fmt))) == 120
    r = _sparql(fed, "Neso", "fsp_a", "ASK { ?s ?p ?o }")
    assert r.json()["boolean"] is True


@pytest.mark.parametrize("body,code", [
    ({"content": b"INSERT DATA { <urn:a> <urn:b> <urn:c> }",
      "headers": {"content-type": "application/sparql-update"}}, "SPARQL-003"),
    ({"data": {"update": "DROP ALL"}}, "SPARQL-003"),
    ({"content": b"DELETE WHERE { ?s ?p ?o }",
      "headers": {"content-type": "application/sparql-query"}}, "SPARQL-003"),
    ({"content": b"SELECT * WHERE { SERVICE <http://127.0.0.1:1/> { ?s ?p ?o } }",
      "headers": {"content-type": "application/sparql-query"}}, "SPARQL-004"),
    ({"content": b"SELECT * WHERE { ?s ?p }",
      "headers": {"content-type": "application/sparql-query"}}, "SPARQL-002"),
])
def test_sparql_refuses_updates_service_and_bad_syntax(fed, body, code):
    r = _sparql(fed, "Neso", "fsp_a", method="POST", **body)
    assert r.status_code == 400 and r.json()["code"] == code


def test_history_and_audit_are_never_visible(fed):
    for q in ["SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } FILTER STRSTARTS(STR(?g), 'urn:') }",
              "SELECT ?s FROM <urn:fmar:audit> WHERE { ?s ?p ?o } LIMIT 1",
              ("SELECT ?s FROM NAMED <urn:fmar:audit> WHERE { GRAPH <urn:fmar:audit> "
              "{ ?s ?p ?o } }")]:
        r = _sparql(fed, "Neso", "fsp_a", q, params={"named-graph-uri": "urn:fmar:audit"})
        assert r.status_code == 200
        assert not any("urn:fmar" in json.dumps(b) for b in r.json()["results"]["bindings"])
    r = _sparql(fed, "Neso", "fsp_a", "SELECT ?s WHERE { GRAPH ?g { ?s a <" + FMAR
                + "AuditEntry> } }")
    assert r.json()["results"]["bindings"] == []


def test_sparql_needs_a_token_and_read_rights(fed):
    url = fed.local.nodes["fsp_a"].url
    with fed.http() as c:
        assert c.get(f"{url}/sparql", params={"query": "ASK {}"}).status_code == 401
    r = _sparql(fed, "Ofgem", "fsp_a", "ASK { ?s ?p ?o }")
    assert r.status_code == 403 and r.json()["code"] == "POL-001"


def test_expensive_query_is_stopped_and_the_node_keeps_serving(fed):
    url = fed.local.nodes["fsp_b"].url
    heavy = ("SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z . "
             "FILTER (STR(?x) < STR(?y) && STR(?y) < STR(?z)) }")
    token = fed.token("Neso", "fsp_b")
    import threading

    running = threading.Event()
    done = threading.Event()
    answered_meanwhile: list[int] = []  # /health answers received while the query ran

    def probe():
        with fed.http() as c:
            running.wait(10)
            while not done.is_set():
                status = c.get(f"{url}/health").status_code
                if not done.is_set():
                    answered_meanwhile.append(status)
                time.sleep(0.1)  # a probe, not a flood (RATE-001 would answer that)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with fed.http("Neso") as c:
            running.set()
            r = c.get(f"{url}/sparql", params={"query": heavy},
                      headers={"authorization": f"Bearer {token}"})
    finally:
        done.set()
        prober.join()
    # the query was stopped, and the node answered other requests while it ran
    assert r.status_code == 504 and r.json()["code"] == "SPARQL-005", r.text
    assert answered_meanwhile and set(answered_meanwhile) == {200}
    # (the result-size limit, SPARQL-006: tests/test_hostile_queries.py, on a node whose
    # row limit is reached long before its time limit)
    assert _sparql(fed, "Neso", "fsp_b", "ASK { ?s ?p ?o }").json()["boolean"] is True


def test_protocol_dataset_narrows_but_never_widens(fed):
    mine, other = fed.assets["fsp_a"][0], fed.assets["fsp_b"][0]
    q = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    r = _sparql(fed, "Flexco", "fsp_a", q, params={"named-graph-uri": [mine, other],
                                                  "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.split() == ["g", mine]  # the other FSP's graph stays out
    r = _sparql(fed, "Flexco", "fsp_b", q, params={"named-graph-uri": other})
    assert r.json()["results"]["bindings"] == []


def test_dno_sparql_sees_only_its_licence_areas(fed):
    q = PREFIX + "SELECT DISTINCT ?d WHERE { ?a fmar:dnoConnection ?d }"
    r = _sparql(fed, "Gridco", "fsp_a", q)
    areas = {b["d"]["value"].rsplit("/", 1)[-1] for b in r.json()["results"]["bindings"]}
    assert areas and areas <= {"UKPN_EPN", "UKPN_SPN"}


# ---------------------------------------------------------------- oracle

def _answered_as_the_oracle(fed, who: str, query: str) -> tuple[list[str], Counter, dict]:
    """(variables, the oracle's rows, the federated answer), the answer complete and equal
    to the oracle's."""
    variables, expected = oracle(fed, who, query)
    answer = fed.client(who).sparql(query)
    assert answer["partial"] is False, answer["nodes"]
    assert canonical(variables, answer["results"]["bindings"]) == expected
    return variables, expected, answer


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_federated_sparql_equals_the_union_oracle(fed, who, name):
    variables, _, answer = _answered_as_the_oracle(fed, who, QUERIES[name])
    assert [v for v in answer["head"]["vars"] if v != "_nodes"] == variables
    if name == "join-limits" and who != "Flexco":
        # joined rows name both nodes they came from
        assert any(len(b["_nodes"]["value"].split()) == 2 for b in answer["results"]["bindings"])


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("name", sorted(PUSHED))
def test_a_filter_pushed_into_the_fragments_gives_the_oracle_from_fewer_quads(fed, who, name):
    variables, expected, answer = _answered_as_the_oracle(fed, who, PUSHED[name])
    assert answer["fragment"]["filtered"], answer["fragment"]
    # the control: the same filter written so that it is not pushed (a negation) sends
    # more quads for the same answer
    control = re.sub(r"FILTER \((.*)\)( \})", r"FILTER (!(!(\1)))\2", PUSHED[name])
    unfiltered = fed.client(who).sparql(control)
    assert unfiltered["fragment"]["filtered"] == []
    assert canonical(variables, unfiltered["results"]["bindings"]) == expected
    assert unfiltered["fragment"]["quads"] > answer["fragment"]["quads"]


def _triples(ntriples: str) -> set[ox.Triple]:
    return {q.triple for q in ox.parse(ntriples.encode(), format=ox.RdfFormat.N_TRIPLES)}


@pytest.mark.parametrize("who", CALLERS)
def test_a_describe_of_named_records_gathers_only_their_quads(fed, who):
    """`DESCRIBE <a> <b>` (no WHERE clause) fetches the quads whose subject is one of them,
    not every readable quad; the description equals the oracle's, for each role (an FSP
    gets nothing of the other FSP's asset). The same records named through a WHERE
    clause give the same description, in two gathers."""
    named = [fed.assets["fsp_a"][0], fed.assets["fsp_b"][0], fed.limits[0]]
    query = "DESCRIBE " + " ".join(f"<{iri}>" for iri in named)
    store, graphs = union_store(fed, who)
    expected = set(store.query(query, default_graph=graphs, named_graphs=graphs))
    answer = fed.client(who).sparql(query)
    assert answer["partial"] is False, answer["nodes"]
    assert _triples(answer["graph"]) == expected and expected
    assert answer["fragment"]["everything"] is None
    assert answer["fragment"]["quads"] == len(expected)  # one graph holds each triple
    control = fed.client(who).sparql(
        "DESCRIBE ?r WHERE { VALUES ?r { " + " ".join(f"<{iri}>" for iri in named) + " } }")
    assert control["where"]["resources"] == len(named)
    assert _triples(control["graph"]) == expected
    assert control["fragment"]["quads"] == answer["fragment"]["quads"]
    # every asset of both FSPs at once: one pattern at the nodes, however many are named
    every = fed.assets["fsp_a"] + fed.assets["fsp_b"]
    query = "DESCRIBE " + " ".join(f"<{iri}>" for iri in every)
    expected = set(store.query(query, default_graph=graphs, named_graphs=graphs))
    answer = fed.client(who).sparql(query)
    assert answer["partial"] is False, answer["nodes"]
    assert _triples(answer["graph"]) == expected and answer["fragment"]["everything"] is None


DESCRIBED = {
    "limits-and-assets": PREFIX + "DESCRIBE ?l ?a WHERE { ?l a fmar:ConnectionLimit ; "
    "fmar:limitsAsset ?a }",
    "largest-three": PREFIX + "DESCRIBE ?a WHERE { ?a fmar:ratedCapacity ?c } "
    "ORDER BY DESC(?c) ?a LIMIT 3",
    "constant-and-limit": PREFIX + "DESCRIBE fmar:Asset ?a WHERE { ?a a fmar:Asset ; "
    "fmar:ratedCapacity ?c } ORDER BY ?c ?a LIMIT 2",
    "star": PREFIX + "DESCRIBE * WHERE { ?l fmar:limitsAsset ?a ; fmar:exportLimit ?x "
    "FILTER (?x < 500) }",
}


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("name", sorted(DESCRIBED))
def test_a_describe_with_a_where_clause_gathers_its_resources_then_their_quads(fed, who, name):
    """Two gathers: the SELECT of the resources (joined across nodes), then the quads
    whose subject is one of them; the description equals the oracle's for every role,
    from fewer quads than the every-quad plan it had."""
    query = DESCRIBED[name]
    store, graphs = union_store(fed, who)
    expected = set(store.query(query, default_graph=graphs, named_graphs=graphs))
    answer = fed.client(who).sparql(query)
    assert answer["partial"] is False, answer["nodes"]
    assert _triples(answer["graph"]) == expected
    assert answer["where"]["fragment"]["everything"] is None
    if expected:
        assert answer["fragment"]["everything"] is None
        assert answer["fragment"]["quads"] == len(expected)


def test_FED_012_a_describe_naming_too_many_resources_is_refused(fed, monkeypatch):
    from node.federation import joins
    query = DESCRIBED["limits-and-assets"]
    control = fed.client("Neso").sparql(query)
    assert control["where"]["resources"] > 4 and "error" not in control
    monkeypatch.setattr(joins, "MAX_DESCRIBED", 4)
    refused = fed.client("Neso").sparql(query)
    assert refused["error"]["code"] == "FED-012" and refused["partial"] is True
    assert refused["error"]["details"] == {"resources": control["where"]["resources"],
                                           "max_resources": 4}
    assert "graph" not in refused


@pytest.mark.parametrize("who", CALLERS)
def test_rest_form_and_aggregates_equal_the_oracle(fed, who):
    client = fed.client(who)
    answer = client.assets(category="BESS,SOLAR_PV", dno="UKPN_EPN,UKPN_SPN,ENWL",
                           min_capacity=500)
    query = (PREFIX + "SELECT ?asset WHERE { ?asset a fmar:Asset ; fmar:assetCategory ?c ; "
             "fmar:dnoConnection ?d ; fmar:ratedCapacity ?cap FILTER (?cap >= 500.0 && "
             "?c IN (<https://id.fmar.uk/def/code/AssetCategory/BESS>, "
             "<https://id.fmar.uk/def/code/AssetCategory/SOLAR_PV>) && ?d IN ("
             "<https://id.fmar.uk/def/code/DNOCode/UKPN_EPN>, "
             "<https://id.fmar.uk/def/code/DNOCode/UKPN_SPN>, "
             "<https://id.fmar.uk/def/code/DNOCode/ENWL>)) }")
    _, expected = oracle(fed, who, query)
    assert not answer["partial"] and not answer["truncated"]
    assert canonical(["asset"], answer["results"]["bindings"]) == expected
    for b in answer["results"]["bindings"]:
        assert b["_node"]["value"] in {n.url for n in fed.local.nodes.values()}

    report = client.aggregate(group_by="category,dno")
    q = (PREFIX + "SELECT ?c ?d (COUNT(?a) AS ?n) (SUM(?cap) AS ?s) (MAX(?cap) AS ?mx) WHERE {"
         " ?a a fmar:Asset ; fmar:assetCategory ?c ; fmar:dnoConnection ?d ; "
         "fmar:ratedCapacity ?cap } GROUP BY ?c ?d")
    store, graphs = union_store(fed, who)
    expected_cells = {(s["c"].value.rsplit("/", 1)[-1], s["d"].value.rsplit("/", 1)[-1]):
                      (int(s["n"].value), float(s["s"].value), float(s["mx"].value))
                      for s in store.query(q, default_graph=graphs, named_graphs=graphs)}
    got = {(c["group"]["category"], c["group"]["dno"]): (c["count"], c["sum"], c["max"])
           for c in report["cells"]}
    assert got.keys() == expected_cells.keys()
    for key, (n, total, biggest) in expected_cells.items():
        assert got[key][0] == n
        assert got[key][1] == pytest.approx(total) and got[key][2] == pytest.approx(biggest)


def test_relayed_query_uses_the_callers_rights_not_the_nodes(fed):
    """Flexco asks the DNO's node; the DNO node exchanges Flexco's token, so every node
    answers with Flexco's rights (the DNO's own would show both FSPs' assets in its areas)."""
    dno_url = fed.local.nodes["dno"].url
    direct = fed.client("Flexco").assets(limit=1000)
    relayed = fed.client("Flexco").via(dno_url).assets(limit=1000)
    assert not relayed.get("partial"), relayed
    key = ["asset"]
    assert canonical(key, relayed["results"]["bindings"]) == \
        canonical(key, direct["results"]["bindings"])
    _, expected = oracle(fed, "Flexco", QUERIES["join-limits"])
    joined = fed.client("Flexco").via(dno_url).sparql(QUERIES["join-limits"])
    variables = [v for v in joined["head"]["vars"] if v != "_nodes"]
    assert canonical(variables, joined["results"]["bindings"]) == expected


# ---------------------------------------------------------------- isolation and injection

def test_a_caller_gets_none_of_anothers_records_through_any_form(fed):
    others = set(fed.assets["fsp_b"])
    other_org = fed.member("Otherflex").org_id
    client = fed.client("Flexco")
    dno_url = fed.local.nodes["dno"].url
    q_all = "SELECT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"
    answers = [
        client.assets(limit=100000),
        client.aggregate(group_by="organisation,category"),
        client.sparql(q_all),
        client.sparql(q_all, mode="distribute"),
        client.sparql("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"),
        client.via(dno_url).assets(limit=100000),
        client.via(dno_url).aggregate(group_by="organisation"),
        client.via(dno_url).sparql(q_all),
        _sparql(fed, "Flexco", "fsp_b", q_all).json(),
    ]
    for answer in answers:
        text = json.dumps(answer)
        assert other_org not in text
        assert not any(iri in text for iri in others)
    groups = {c["group"]["organisation"] for c in answers[1]["cells"]}
    assert groups == {fed.member("Flexco").org_id}


INJECTIONS = [
    {"category": "BESS> } UNION { ?asset ?p ?o"},
    {"dno": "UKPN_EPN> . ?x ?y ?z } #"},
    {"category": 'BESS" ) } ; DROP ALL ; #'},
    {"min_capacity": "0) || true || (1"},
    {"max_capacity": "nan"},
    {"organisation": "X> } UNION { GRAPH <urn:fmar:audit> { ?s ?p ?o } } #"},
    {"limit": "10 } UNION { ?s ?p ?o"},
    {"connection_type": "NON_FIRM\n} SERVICE <http://evil> {"},
    {"bogus": "1"},
]


@pytest.mark.parametrize("params", INJECTIONS)
def test_injection_through_the_rest_form_fails_safely(fed, params):
    with pytest.raises(ApiError) as refused:
        fed.client("Flexco").assets(**params)
    assert refused.value.code.startswith("FED-IN-")
    for node, path in (("dno", "/federation/assets"), ("fsp_a", "/query/assets"),
                       ("fsp_a", "/query/aggregate")):
        url = fed.local.nodes[node].url
        with fed.http("Flexco") as c:
            r = c.get(f"{url}{path}", params=params,
                      headers={"authorization": f"Bearer {fed.token('Flexco', node)}"})
        assert r.status_code == 400 and r.json()["code"].startswith("FED-IN-"), r.text
    count = fed.client("Flexco").aggregate(group_by="organisation")["cells"][0]["count"]
    assert count == len(fed.assets["fsp_a"])


# ---------------------------------------------------------------- regulator

def test_regulator_gets_suppressed_aggregates_only(fed):
    client = fed.client("Ofgem")
    report = client.aggregate(group_by="category,dno")
    assert report["suppressed_below"] == 5 and not report["partial"]
    assert report["disclosure_control"]["rules"] == [f"SDC-00{i}" for i in range(1, 7)]
    table = report["cells"] + report["margins"]
    suppressed = [c for c in table if c.get("suppressed")]
    assert suppressed and len(suppressed) < len(table)
    for cell in suppressed:  # a suppressed cell says nothing but its group
        assert set(cell) == {"group", "suppressed", "suppressed_parts"}, cell
    for cell in table:
        assert "min" not in cell and "max" not in cell
        if not cell.get("suppressed"):
            assert cell["count"] >= 5 and cell["count"] % 5 == 0 and cell["sum"] % 1000 == 0
    rows = client.assets(category="BESS")
    assert rows["partial"] and rows["results"]["bindings"] == []
    assert {s["status"] for s in rows["nodes"]} == {"refused"}


# ---------------------------------------------------------------- fmar query (CLI)

def test_fmar_query_cli_fans_out_with_one_token_per_node(fed):
    import subprocess
    import sys

    env = fed.cli_env("Gridco")

    def run(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "node", "query", *args, "-o", "json"],
                              env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    answer = run("-f", "category=BESS", "-f", "min_capacity=100")
    expected = fed.client("Gridco").assets(category="BESS", min_capacity=100)
    assert canonical(["asset"], answer["results"]["bindings"]) == \
        canonical(["asset"], expected["results"]["bindings"])
    assert {b["dno"]["value"].rsplit("/", 1)[-1] for b in answer["results"]["bindings"]} <= \
        {"UKPN_EPN", "UKPN_SPN"}
    report = run("--aggregate", "category,dno")
    assert report["cells"] and not report["partial"]
    joined = run(QUERIES["join-limits"])
    _, expected_rows = oracle(fed, "Gridco", QUERIES["join-limits"])
    variables = [v for v in joined["head"]["vars"] if v != "_nodes"]
    assert canonical(variables, joined["results"]["bindings"]) == expected_rows


# ---------------------------------------------------------------- duplicates

def test_duplicate_check_finds_the_holder_without_sending_mpans(fed):
    from node.federation.duplicates import tokens_for

    key = bytes.fromhex(fed.federation_key)
    row = next(r for r in fed.rows["fsp_a"] if r.get("SerialNumber") and r.get("ImportMPAN"))
    known = tokens_for(key, row.get("ImportMPAN"), row.get("ExportMPAN"), row["SerialNumber"])
    unknown = tokens_for(key, "1200000000005", None, "NO-SUCH-SERIAL")
    answer = fed.client("Otherflex").duplicates([*known, *unknown])
    assert not answer["partial"]
    holders = {(m["holder"], m["node"]) for m in answer["matches"]}
    assert holders == {(fed.member("Flexco").org_id, fed.local.nodes["fsp_a"].url)}
    assert {m["token"] for m in answer["matches"]} == set(known)
    text = json.dumps(answer)
    assert row["ImportMPAN"] not in text and str(row["SerialNumber"]) not in text
    # a caller that does not register assets may not probe
    refused = fed.client("Ofgem").duplicates(known)
    assert {s["status"] for s in refused["nodes"]} == {"refused"}


def test_registering_a_duplicate_anywhere_in_the_federation_is_refused(fed):
    """ARM-DUP-001: Otherflex registers, on its own node, an asset with the MPAN and serial
    number of one of Flexco's (on Flexco's node); only keyed hashes cross the network."""
    row = next(r for r in fed.rows["fsp_a"] if r.get("SerialNumber") and r.get("ImportMPAN"))
    copy = {k: v for k, v in row.items() if k != "OrganisationId"}
    node = fed.local.nodes["fsp_b"].url
    token = fed.token("Otherflex", "fsp_b")
    with fed.http("Otherflex") as c:
        refused = c.post(f"{node}/assets", json=copy,
                         headers={"authorization": f"Bearer {token}"}, timeout=20)
        fresh = {**copy, "SerialNumber": "NEW-SERIAL-0001", "AssetName": "not a duplicate"}
        probe = c.post(f"{node}/assets", json={**fresh, "RatedCapacity": -1},
                       headers={"authorization": f"Bearer {token}"}, timeout=20)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "ARM-DUP-001"
    assert body["details"] == {"holder_organisations": [fed.member("Flexco").org_id]}
    assert row["ImportMPAN"] not in refused.text
    # a different serial number is no duplicate: the request goes on to validation
    assert probe.status_code == 422 and probe.json()["code"] == "ARM-VAL"


def test_the_trust_framework_gives_the_federation_key_only_to_node_operators(fed):
    """DIR-020: over mTLS, to applications of organisations that run a node."""
    issuer = fed.local.issuer
    with fed.http("Flexco") as c:
        given = c.post(f"{issuer}/api/federation-key",
                       data={"client_id": fed.member("Flexco").app_id})
    with fed.http("Ofgem") as c:
        refused = c.post(f"{issuer}/api/federation-key",
                         data={"client_id": fed.member("Ofgem").app_id})
    with fed.http() as c:
        anonymous = c.post(f"{issuer}/api/federation-key",
                           data={"client_id": fed.member("Flexco").app_id})
    assert given.status_code == 200 and given.json()["key"] == fed.federation_key
    assert refused.status_code == 403 and refused.json()["code"] == "DIR-020"
    assert anonymous.status_code in (400, 401) and "key" not in anonymous.json()


# ---------------------------------------------------------------- exact or refused (issue 9)

def test_a_row_names_every_node_whose_records_it_joins(fed):
    """The limit (DNO node) joined with its asset (an FSP node) through ?a, which is not
    projected: `_nodes` names both nodes."""
    dno = fed.local.nodes["dno"].url
    fsps = {fed.local.nodes[n].url for n in ("fsp_a", "fsp_b")}
    for who in CALLERS:
        rows = fed.client(who).sparql(QUERIES["limit-not-projected"])["results"]["bindings"]
        assert rows, who
        for row in rows:
            nodes = set(row["_nodes"]["value"].split())
            assert len(nodes) == 2 and dno in nodes and nodes & fsps, (who, row)
        assert {k for row in rows for k in row} == {"l", "lim", "_nodes"}


@pytest.mark.parametrize("who", CALLERS)
def test_ask_for_an_empty_graph_pattern_equals_the_oracle(fed, who):
    for iri in (fed.assets["fsp_a"][0], fed.assets["fsp_b"][0], fed.limits[0],
                "https://id.fmar.uk/asset/no-such-record"):
        query = f"ASK {{ GRAPH <{iri}> {{ }} }}"
        _, expected = oracle(fed, who, query)
        answer = fed.client(who).sparql(query)
        assert not answer["partial"], answer["nodes"]
        assert Counter([answer["boolean"]]) == expected, (who, iri)
    # the control: the caller's own record is there
    own = {"Flexco": fed.assets["fsp_a"][0], "Gridco": fed.limits[0], "Neso": fed.limits[0]}
    assert fed.client(who).sparql(f"ASK {{ GRAPH <{own[who]}> {{ }} }}")["boolean"] is True


def test_invalid_sparql_SPARQL_002_fails_before_any_node_is_asked(fed):
    client = fed.client("Neso")
    with pytest.raises(ApiError) as refused:
        client.sparql("SELECT * WHERE { ?s ?p }")
    assert refused.value.code == "SPARQL-002"
    assert len(client.tokens._cache) == 0  # no token fetched: no node was asked
    with fed.http("Neso") as c:
        r = c.post(f"{fed.local.nodes['fsp_a'].url}/federation/sparql",
                   content=b"SELECT * WHERE { ?s ?p }",
                   headers={"authorization": f"Bearer {fed.token('Neso', 'fsp_a', may_act=True)}",
                            "content-type": "application/sparql-query"})
    assert r.status_code == 400 and r.json()["code"] == "SPARQL-002"
    answer = client.sparql("SELECT * WHERE { ?s a ?o } LIMIT 1")  # control
    assert not answer["partial"] and len(answer["results"]["bindings"]) == 1


def test_a_relayed_answer_says_where_its_time_went(fed):
    """Server-Timing of a node's /federation answer: the engine's spans (token, node,
    fan-out, merge), then the node's own total (common/web.py `ServerTiming`)."""
    with fed.http("Neso") as c:
        r = c.post(f"{fed.local.nodes['fsp_a'].url}/federation/sparql",
                   content=b"SELECT * WHERE { ?s a ?o } LIMIT 1",
                   headers={"authorization": f"Bearer {fed.token('Neso', 'fsp_a', may_act=True)}",
                            "content-type": "application/sparql-query"})
    assert r.status_code == 200, r.text
    spans = {name.strip(): float(duration) for name, duration in
             (part.split(";dur=") for part in r.headers["server-timing"].split(","))}
    assert list(spans) == ["token", "node", "fanout", "merge", "app"]
    assert spans["app"] >= spans["fanout"] > 0


def test_service_SPARQL_004_is_found_in_the_parsed_query_not_the_text(fed):
    client = fed.client("Neso")
    for query in ("SELECT * WHERE { SERVICE <https://127.0.0.1:1/sparql> { ?s ?p ?o } }",
                  (f"PREFIX : <{FMAR}> SELECT * WHERE {{ ?a :service ?x "
                   "OPTIONAL { SERVICE SILENT <https://127.0.0.1:1/> { ?a ?p ?o } } }")):
        with pytest.raises(ApiError) as refused:
            client.sparql(query)
        assert refused.value.code == "SPARQL-004"
    assert len(client.tokens._cache) == 0
    # controls: the predicate fmar:service, a variable ?service and the word in a string
    for query in (f"PREFIX : <{FMAR}> SELECT ?a ?x WHERE {{ ?a :service ?x }}",
                  'SELECT ?service WHERE { ?service ?p "SERVICE" } LIMIT 1'):
        assert not client.sparql(query)["partial"]
        r = _sparql(fed, "Neso", "fsp_a", query)
        assert r.status_code == 200, r.text


def test_a_fragment_over_budget_is_refused_FED_010_with_every_node_status(fed):
    client = fed.client("Neso", max_quads=1000)
    answer = client.sparql("SELECT ?s ?p ?o WHERE { ?s ?p ?o }")
    assert answer["error"]["stage"] == "gather" and answer["error"]["code"] == "FED-010"
    assert answer["error"]["status"] == 422 and answer["partial"] is True
    assert {s["status"] for s in answer["nodes"]} == {"answered"}
    assert set(answer["error"]["details"]["nodes"]) >= {fed.local.nodes[n].url
                                                         for n in ("fsp_a", "fsp_b")}
    assert "results" not in answer
    # the controls: constant predicates stay within the same budget, and so does a
    # variable predicate with a constant subject or object; both answer exactly
    _, expected = oracle(fed, "Neso", QUERIES["big-assets"])
    answer = client.sparql(QUERIES["big-assets"])
    assert "error" not in answer and not answer["partial"]
    assert canonical(["a", "cap"], answer["results"]["bindings"]) == expected
    limit, asset = fed.limits[0], fed.assets["fsp_a"][0]
    query = (f"SELECT ?p ?o ?q WHERE {{ <{limit}> ?p ?o . OPTIONAL {{ ?o ?q <{asset}> }} }}")
    _, expected = oracle(fed, "Neso", query)
    answer = client.sparql(query)
    assert "error" not in answer and answer["fragment"]["everything"] is None
    assert canonical(["p", "o", "q"], answer["results"]["bindings"]) == expected


def test_a_query_too_large_for_the_planner_falls_back_to_every_quad(fed):
    """rdflib gives up past ~100 triple patterns; the engine then fetches every readable
    quad (an exact plan, within the budget) instead of refusing a valid query."""
    patterns = " ".join(f"?a fmar:ratedCapacity ?c{i} ." for i in range(120))
    query = PREFIX + f"SELECT ?a WHERE {{ ?a a fmar:Asset . {patterns} }}"
    _, expected = oracle(fed, "Gridco", query)
    answer = fed.client("Gridco").sparql(query)
    assert answer["fragment"]["everything"] == "a query too large for the planner"
    assert not answer["partial"] and sum(expected.values()) > 0
    assert canonical(["a"], answer["results"]["bindings"]) == expected


def test_a_constant_cannot_widen_the_fragment(fed):
    """A literal built to close the fragment's pattern stays one literal."""
    query = 'SELECT ?s WHERE { ?s ?p "x\\"} } UNION { GRAPH ?g { ?s ?p ?o } } #" }'
    answer = fed.client("Neso").sparql(query)
    assert answer["fragment"]["everything"] is None and answer["fragment"]["quads"] == 0
    assert answer["results"]["bindings"] == []


@pytest.mark.parametrize("who", CALLERS)
def test_a_variable_predicate_with_a_constant_fetches_only_its_quads(fed, who):
    for iri in (fed.assets["fsp_a"][0], fed.assets["fsp_b"][0], fed.limits[0]):
        query = f"SELECT ?p ?o WHERE {{ <{iri}> ?p ?o }}"
        _, expected = oracle(fed, who, query)
        answer = fed.client(who).sparql(query)
        assert not answer["partial"] and answer["fragment"]["everything"] is None
        assert answer["fragment"]["quads"] == sum(expected.values())
        assert canonical(["p", "o"], answer["results"]["bindings"]) == expected


@pytest.mark.parametrize("who", CALLERS)
def test_a_constant_object_fetches_only_the_quads_it_matches(fed, who):
    # the limits' type quads, not every record's (the whole predicate was 10x the quads)
    query = PREFIX + "SELECT ?l ?a WHERE { ?l a fmar:ConnectionLimit ; fmar:limitsAsset ?a }"
    _, expected = oracle(fed, who, query)
    answer = fed.client(who).sparql(query)
    assert not answer["partial"] and answer["fragment"]["everything"] is None
    limits = oracle(fed, who, PREFIX + "SELECT ?l WHERE { ?l a fmar:ConnectionLimit }")[1]
    links = oracle(fed, who, PREFIX + "SELECT ?l WHERE { ?l fmar:limitsAsset ?a }")[1]
    assert answer["fragment"]["quads"] == sum(limits.values()) + sum(links.values())
    assert canonical(["l", "a"], answer["results"]["bindings"]) == expected


def test_a_join_that_fails_SPARQL_005_keeps_every_node_status(fed):
    """SPARQL-005 at the join stage: the answer still lists every node (all answered) and
    says which stage failed; relayed, the node answers 504 with the same body."""
    # 240^4 combinations, a few rows at a time and fewer than the row limit in all: it
    # can only end at the time limit (the filter ties the variables, so it cannot be
    # pushed down to one of them)
    heavy = PREFIX + ("SELECT ?a ?b ?c ?d WHERE { ?a fmar:ratedCapacity ?w . "
                      "?b fmar:ratedCapacity ?x . ?c fmar:ratedCapacity ?y . "
                      "?d fmar:ratedCapacity ?z FILTER (SUBSTR(STR(?a), 27, 1) = "
                      "SUBSTR(STR(?b), 28, 1) && SUBSTR(STR(?c), 27, 1) = SUBSTR(STR(?d), 28, 1)"
                      " && SUBSTR(STR(?a), 29, 1) = SUBSTR(STR(?c), 30, 1)) }")
    client = fed.client("Neso", deadline=2.0)
    answer = client.sparql(heavy)
    assert answer["error"]["stage"] == "join" and answer["error"]["code"] == "SPARQL-005"
    assert answer["partial"] is True and "results" not in answer
    assert {s["node"] for s in answer["nodes"]} == {n.url for n in fed.local.nodes.values()}
    assert {s["status"] for s in answer["nodes"]} == {"answered"}
    url = fed.local.nodes["fsp_a"].url
    with fed.http("Neso") as c:
        r = c.post(f"{url}/federation/sparql", content=heavy.encode(), timeout=30,
                   headers={"authorization": f"Bearer {fed.token('Neso', 'fsp_a', may_act=True)}",
                            "content-type": "application/sparql-query"})
    assert r.status_code == 504 and r.json()["error"]["code"] == "SPARQL-005", r.text[:800]
    assert {s["status"] for s in r.json()["nodes"]} == {"answered"}
    light = PREFIX + "SELECT (COUNT(*) AS ?n) WHERE { ?a fmar:ratedCapacity ?w }"
    total = len(fed.assets["fsp_a"]) + len(fed.assets["fsp_b"])
    assert client.sparql(light)["results"]["bindings"][0]["n"]["value"] == str(total)


def test_a_hung_trust_framework_is_reported_as_such_FED_009_FED_007_FED_003(fed):
    """The trust framework stops answering (SIGSTOP): every node's status says the token
    did not come (FED-009, error), not that the node timed out (FED-001); finding the
    nodes fails with FED-007. An unreachable one is FED-003. Then it answers again."""
    import signal

    from node.federation.client import FederationClient
    from tests.harness.processes import free_port

    urls = [n.url for n in fed.local.nodes.values()]
    neso = fed.member("Neso")
    fed.local.trust_proc.send_signal(signal.SIGSTOP)
    try:
        answer = fed.client("Neso", deadline=1.5, nodes=urls).assets(limit=5)
        with pytest.raises(ApiError) as no_directory:
            fed.client("Neso", deadline=1.5, dataset_type="NoSuchType").nodes()
    finally:
        fed.local.trust_proc.send_signal(signal.SIGCONT)
    assert answer["partial"] is True
    assert {(s["status"], s["code"]) for s in answer["nodes"]} == {("error", "FED-009")}
    assert no_directory.value.code == "FED-007"
    unreachable = FederationClient(f"https://127.0.0.1:{free_port()}", nodes=urls,
                                   ca_bundle=fed.local.ca_bundle, client_id=neso.app_id,
                                   cert=neso.cert, key=neso.key, deadline=1.5)
    statuses = unreachable.assets(limit=5)["nodes"]
    assert {(s["status"], s["code"]) for s in statuses} == {("error", "FED-003")}
    answer = fed.client("Neso", deadline=4.0, nodes=urls).assets(limit=5)  # the control
    assert {s["status"] for s in answer["nodes"]} == {"answered"}


# ---------------------------------------------------------------- partial answers

def test_dead_and_slow_nodes_give_a_marked_partial_answer_within_the_deadline(fed):
    nodes = fed.local.nodes
    fsp_a_url = nodes["fsp_a"].url
    relay_token = fed.token("Neso", "fsp_a", may_act=True)
    nodes["fsp_b"].kill()
    nodes["dno"].pause()
    try:
        answer = fed.client("Neso", deadline=2.0).assets(limit=1000)
        status = {s["node"]: s for s in answer["nodes"]}
        assert answer["partial"] is True
        assert status[fsp_a_url]["status"] == "answered"
        assert status[nodes["fsp_b"].url]["status"] == "error"
        assert status[nodes["fsp_b"].url]["code"] == "FED-002"  # connection refused
        assert status[nodes["dno"].url]["status"] == "timed_out"
        assert status[nodes["dno"].url]["code"] == "FED-001"
        assert {b["_node"]["value"] for b in answer["results"]["bindings"]} == {fsp_a_url}
        assert len(answer["results"]["bindings"]) == len(fed.assets["fsp_a"])
        # the same through a node's /federation endpoint (its deadline is 3 s)
        with fed.http("Neso") as c:
            r = c.get(f"{fsp_a_url}/federation/aggregate", params={"group_by": "category"},
                      headers={"authorization": f"Bearer {relay_token}"}, timeout=20)
        body = r.json()
        assert r.status_code == 200 and body["partial"] is True, body
        relayed = {s["node"]: s for s in body["nodes"]}
        assert relayed[nodes["dno"].url]["status"] == "timed_out"
        assert sum(c["count"] for c in body["cells"]) == len(fed.assets["fsp_a"])
    finally:
        nodes["dno"].resume()
        fed.local.start_nodes()  # fsp_b again, for the session's later tests

