"""Answers as the query worker writes them (node/query/workers.py `evaluate`): by
Oxigraph, in every format, with the row limit (SPARQL-006) exact at its edge."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest

from node.query.workers import QueryFailed, evaluate

EX = "https://example.org/"
ODD = ["plain", "tab\tnew\nline \"quoted\" \\ é 😀", "\x01\x7f\u2028"]


@pytest.fixture(scope="module")
def store() -> ox.Store:
    s = ox.Store()
    for i in range(30):
        subject = ox.NamedNode(f"{EX}s{i}") if i % 5 else ox.BlankNode(f"b{i}")
        graph = ox.NamedNode(f"{EX}g{i % 3}")
        s.add(ox.Quad(subject, ox.NamedNode(EX + "n"),
                      ox.Literal(str(i), datatype=ox.NamedNode(
                          "http://www.w3.org/2001/XMLSchema#integer")), graph))
        s.add(ox.Quad(subject, ox.NamedNode(EX + "text"),
                      ox.Literal(ODD[i % 3], language="en" if i % 2 else None), graph))
    return s


SELECT = f"SELECT ?s ?o ?missing WHERE {{ GRAPH ?g {{ ?s <{EX}text> ?o }} }}"
UNION = {"default": "union", "named": None}


def solutions(store: ox.Store) -> list[dict[str, ox.Term]]:
    return [{v: s[v] for v in ("s", "o") if s[v] is not None}
            for s in store.query(SELECT, use_default_graph_as_union=True)]


def key(rows: list[dict[str, ox.Term]]) -> list[str]:
    return sorted(repr(sorted((k, str(v)) for k, v in row.items())) for row in rows)


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_every_results_format_holds_the_stores_solutions(store: ox.Store, fmt: str) -> None:
    body, rows, form = evaluate(store, SELECT, UNION, fmt, max_rows=1000)
    assert (rows, form) == (30, "SELECT")
    if fmt == "csv":  # plain values only (SPARQL 1.1 CSV)
        lines = body.decode().split("\r\n")
        assert lines[0] == "s,o,missing" and len([x for x in lines[1:] if x]) == 30
        return
    parsed = ox.parse_query_results(body, format={
        "json": ox.QueryResultsFormat.JSON, "xml": ox.QueryResultsFormat.XML,
        "tsv": ox.QueryResultsFormat.TSV}[fmt])
    assert isinstance(parsed, ox.QuerySolutions)
    assert [v.value for v in parsed.variables] == ["s", "o", "missing"]
    got = [{v: s[v] for v in ("s", "o") if s[v] is not None} for s in parsed]
    assert key(got) == key(solutions(store))
    if fmt == "json":
        assert all("missing" not in b for b in json.loads(body)["results"]["bindings"])


def test_the_row_limit_is_exact_at_its_edge(store: ox.Store) -> None:
    assert evaluate(store, SELECT, UNION, "json", max_rows=30)[1] == 30
    with pytest.raises(QueryFailed) as refused:
        evaluate(store, SELECT, UNION, "json", max_rows=29)
    assert refused.value.code == "SPARQL-006"
    # a solution binding no variable is a row too (an empty TSV line)
    assert evaluate(store, "SELECT * WHERE {}", UNION, "json", max_rows=1)[1] == 1
    assert evaluate(store, "SELECT ?x WHERE { FILTER(false) }", UNION, "tsv", 0)[:2] == \
        (b"?x\n", 0)


def test_a_limited_cross_product_is_stopped_without_being_written(store: ox.Store) -> None:
    """30^4 solutions: refused past 100 rows, long before they could all be written."""
    cross = "SELECT * WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z . ?d ?t ?w }"
    with pytest.raises(QueryFailed) as refused:
        evaluate(store, cross, UNION, "json", max_rows=100)
    assert refused.value.code == "SPARQL-006" and "100" in refused.value.message


@pytest.mark.parametrize("media", ["application/n-triples", "text/turtle",
                                   "application/ld+json", "application/rdf+xml"])
def test_graph_answers_in_every_format_and_their_limit(store: ox.Store, media: str) -> None:
    construct = f"CONSTRUCT {{ ?s <{EX}text> ?o }} WHERE {{ ?s <{EX}text> ?o }}"
    body, rows, form = evaluate(store, construct, UNION, media, max_rows=30)
    assert (rows, form) == (30, "CONSTRUCT")
    fmt = ox.RdfFormat.from_media_type(media)
    assert fmt is not None
    triples = {(str(t.subject) if isinstance(t.subject, ox.NamedNode) else "_",
                str(t.object)) for t in ox.parse(body, format=fmt)}
    expected = {(str(s["s"]) if isinstance(s["s"], ox.NamedNode) else "_", str(s["o"]))
                for s in solutions(store)}
    assert triples == expected
    with pytest.raises(QueryFailed) as refused:
        evaluate(store, construct, UNION, media, max_rows=29)
    assert refused.value.code == "SPARQL-006"
