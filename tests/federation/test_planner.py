"""The gather planner (node/federation/joins.py) on its own: what each query shape makes
the nodes send. The federation tests check the answers against the union oracle."""

from __future__ import annotations

import pytest

from common.http_errors import ApiError
from node.federation import joins
from node.query import lexer

F = "PREFIX f: <https://id.fmar.uk/def/fmar#> "


@pytest.mark.parametrize("query,predicates,graph_names,everything", [
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c }",
     ["https://id.fmar.uk/def/fmar#ratedCapacity"], False, None),
    ("SELECT ?g WHERE { GRAPH ?g { } }", [], True, None),
    ("ASK { GRAPH <https://id.fmar.uk/asset/1> { } }", [], True, None),
    (F + "SELECT * WHERE { ?x f:limitsAsset? ?y }", None, False, "a zero-length property path (?)"),
    (F + "SELECT * WHERE { ?x f:limitsAsset* ?y }", None, False, "a zero-length property path (*)"),
    (F + "SELECT * WHERE { ?x f:limitsAsset+ ?y }",
     ["https://id.fmar.uk/def/fmar#limitsAsset"], False, None),
    ("SELECT * WHERE { ?s ?p ?o }", None, False, "a variable predicate"),
    (F + "SELECT * WHERE { ?s !f:x ?o }", None, False, "a negated property path"),
    ("DESCRIBE <https://id.fmar.uk/asset/1>", [], False, None),
    ("DESCRIBE ?a WHERE { ?a a <https://id.fmar.uk/def/fmar#Asset> }", None, False, "DESCRIBE"),
    ("DESCRIBE <https://id.fmar.uk/asset/1> FROM <https://id.fmar.uk/asset/1>", None, False,
     "DESCRIBE"),
])
def test_plan_of_each_shape(query, predicates, graph_names, everything):
    plan = joins.plan(query)
    assert (plan.predicates, plan.graph_names, plan.everything) == \
        (predicates, graph_names, everything)


def test_a_variable_predicate_with_a_constant_becomes_a_pattern():
    plan = joins.plan('SELECT * WHERE { <https://id.fmar.uk/asset/1> ?p ?o . ?s ?q "x" }')
    assert plan.everything is None and plan.predicates == []
    assert set(plan.patterns) == {("<https://id.fmar.uk/asset/1>", None, None),
                                  (None, None, '"x"')}


def test_a_describe_of_named_resources_fetches_only_their_quads():
    plan = joins.plan("DESCRIBE <https://id.fmar.uk/asset/2> <https://id.fmar.uk/asset/1>")
    assert set(plan.patterns) == {("<https://id.fmar.uk/asset/1>", None, None),
                                  ("<https://id.fmar.uk/asset/2>", None, None)}


def test_a_constant_iri_subject_or_object_fetches_only_its_quads():
    """`?l a fmar:ConnectionLimit` needs the type quads of limits, not every record's; a
    predicate the query also uses with both ends variable is fetched whole; a literal
    object is not a pattern (rdflib may write its lexical form otherwise: `01` as `1`)."""
    rdf_type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    plan = joins.plan(F + "SELECT * WHERE { ?l a f:ConnectionLimit ; f:limitsAsset ?a . "
                      "?a f:ratedCapacity 01 . <https://id.fmar.uk/asset/1> f:name ?n }")
    assert plan.everything is None
    assert plan.predicates == ["https://id.fmar.uk/def/fmar#limitsAsset",
                               "https://id.fmar.uk/def/fmar#ratedCapacity"]
    assert set(plan.patterns) == {
        (None, rdf_type, "<https://id.fmar.uk/def/fmar#ConnectionLimit>"),
        ("<https://id.fmar.uk/asset/1>", "<https://id.fmar.uk/def/fmar#name>", None)}
    both = joins.plan(F + "SELECT * WHERE { ?l a f:ConnectionLimit . ?x a ?t }")
    assert both.predicates == [rdf_type[1:-1]] and both.patterns == ()


@pytest.mark.parametrize("query", ["SELECT * WHERE { ?s ?p }", "SELECT WHERE", "ASK { ( }"])
def test_invalid_sparql_is_SPARQL_002(query):
    with pytest.raises(ApiError) as refused:
        joins.plan(query)
    assert refused.value.code == "SPARQL-002"


def test_service_is_SPARQL_004_and_the_service_predicate_is_not():
    with pytest.raises(ApiError) as refused:
        joins.plan("SELECT * WHERE { ?s ?p ?o SERVICE <https://x.example/> { ?s ?p ?o } }")
    assert refused.value.code == "SPARQL-004"
    for query in (F + "SELECT * WHERE { ?a f:service ?x }",
                  "PREFIX : <https://id.fmar.uk/def/fmar#> SELECT * WHERE { ?a :service ?x }",
                  'SELECT ?service WHERE { ?service ?p "SERVICE" } # SERVICE'):
        assert not lexer.uses_service(query)
        assert joins.plan(query).everything in (None, "a variable predicate")
    assert lexer.uses_service("SELECT * { service <https://x.example/> { ?s ?p ?o } }")


_SERVICE = "SERVICE <http://127.0.0.1:9/> { ?s ?p ?o }"
_NESTED = f"NOT EXISTS {{ ?s ?p ?o FILTER NOT EXISTS {{ {_SERVICE} }} }}"


@pytest.mark.parametrize("query", [
    f"SELECT * WHERE {{ ?s ?p ?o BIND(IF(EXISTS {{ {_SERVICE} }}, 1, 2) AS ?b) }}",
    f"SELECT ({_NESTED} AS ?x) WHERE {{ ?s ?p ?o }}",
    f"SELECT * WHERE {{ ?s ?p ?o }} ORDER BY ({_NESTED})",
    f"SELECT ?s (COUNT(*) AS ?n) WHERE {{ ?s ?p ?o }} GROUP BY ?s HAVING ({_NESTED})",
    f"SELECT * WHERE {{ {{ SELECT ?s WHERE {{ ?s ?p ?o FILTER({_NESTED}) }} }} }}",
    f"SELECT * WHERE {{ ?s ?p ?o MINUS {{ ?s ?p ?o FILTER({_NESTED}) }} }}",
    f"SELECT * WHERE {{ GRAPH ?g {{ ?s ?p ?o FILTER({_NESTED}) }} }}",
    f"SELECT * WHERE {{ ?s ?p ?o FILTER(?o IN ({_NESTED}, 1)) }}",
    f"ASK {{ ?s ?p ?o FILTER({_NESTED}) }}",
    f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o FILTER({_NESTED}) }}",
    f"DESCRIBE ?s WHERE {{ ?s ?p ?o FILTER({_NESTED}) }}",
    (f"SELECT * WHERE {{ ?s ?p ?o FILTER NOT EXISTS {{ ?s ?p ?o MINUS {{ ?s ?p ?o "
     f"FILTER NOT EXISTS {{ {_SERVICE} }} }} }} }}"),
])
def test_SPARQL_004_a_service_is_found_in_every_place_a_pattern_can_hide(query):
    """The keyword refuses it (fail closed) and the parsed query finds it too."""
    assert lexer.uses_service(query)
    assert joins.has_service(joins.parse(query))


def test_SPARQL_004_a_language_tag_named_service_is_no_service():
    query = 'SELECT * WHERE { ?s ?p "x"@service }'
    assert not lexer.uses_service(query) and joins.plan(query).everything is None


def test_SPARQL_004_a_service_inside_a_nested_exists_is_found():
    query = ("SELECT * WHERE { ?s ?p ?o FILTER NOT EXISTS { ?s ?p ?o FILTER NOT EXISTS { "
             "SERVICE <https://x.example/> { ?s ?p ?o } } } }")
    assert lexer.uses_service(query)
    with pytest.raises(ApiError) as refused:
        joins.plan(query)
    assert refused.value.code == "SPARQL-004"


def test_the_predicates_of_a_nested_exists_are_fetched():
    plan = joins.plan(F + "SELECT * WHERE { ?a f:x ?b FILTER NOT EXISTS { ?a f:y ?c "
                      "FILTER NOT EXISTS { ?a f:z ?d } } }")
    assert plan.predicates == [f"https://id.fmar.uk/def/fmar#{p}" for p in "xyz"]


def test_widened_only_where_rows_stay_the_same():
    wide = joins.widened(F + "SELECT ?l ?lim WHERE { ?l f:limitsAsset ?a ; f:exportLimit ?lim }"
                         " ORDER BY ?a LIMIT 3")
    assert wide is not None and wide[1] == ["l", "lim"] and "SELECT * WHERE" in wide[0]
    for query in (F + "SELECT DISTINCT ?l WHERE { ?l f:limitsAsset ?a }",
                  F + "SELECT ?l (COUNT(?a) AS ?n) WHERE { ?l f:limitsAsset ?a } GROUP BY ?l",
                  F + "SELECT ?l (STR(?a) AS ?s) WHERE { ?l f:limitsAsset ?a }",
                  F + "SELECT * WHERE { ?l f:limitsAsset ?a }",
                  F + "ASK { ?l f:limitsAsset ?a }"):
        assert joins.widened(query) is None, query


def test_a_query_too_large_for_rdflib_is_planned_without_analysis():
    patterns = " ".join(f"?a f:p{i} ?b{i} ." for i in range(150))
    plan = joins.plan(F + f"SELECT * WHERE {{ {patterns} }}")
    assert plan.predicates is None and plan.everything == "a query too large for the planner"
    with pytest.raises(ApiError) as refused:
        joins.plan(F + f"SELECT * WHERE {{ {patterns} SERVICE <https://x.example/> {{ }} }}")
    assert refused.value.code == "SPARQL-004"


CAP = "https://id.fmar.uk/def/fmar#ratedCapacity"


@pytest.mark.parametrize("query,filtered", [
    # a number compared with the object of the predicate's only pattern: pushed
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (?c > 1000) }",
     ((CAP, '?o > "1000"^^<http://www.w3.org/2001/XMLSchema#integer>'),)),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (5 <= ?c && ?c < 9.5) }",
     ((CAP, ('?o < "9.5"^^<http://www.w3.org/2001/XMLSchema#decimal> && '
             '?o >= "5"^^<http://www.w3.org/2001/XMLSchema#integer>')),)),
    (F + "SELECT ?a WHERE { ?a f:assetCategory ?k FILTER (?k IN (f:A, f:B)) }",
     (("https://id.fmar.uk/def/fmar#assetCategory",
       "?o IN (<https://id.fmar.uk/def/fmar#A>, <https://id.fmar.uk/def/fmar#B>)"),)),
    # inside MINUS the FILTER still stands over its own patterns
    (F + "SELECT ?a WHERE { ?a a f:Asset MINUS { ?a f:ratedCapacity ?c FILTER (?c > 1) } }",
     ((CAP, '?o > "1"^^<http://www.w3.org/2001/XMLSchema#integer>'),)),
    # not pushed: the group of an EXISTS, which rdflib leaves unparsed
    (F + "SELECT ?a WHERE { ?a a f:Asset FILTER NOT EXISTS { ?a f:ratedCapacity ?c "
     "FILTER (?c > 1) } }", ()),
    # not pushed: the predicate is named twice, in a path, with a constant subject
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (?c > 1) OPTIONAL { ?b "
     "f:ratedCapacity ?x } }", ()),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (?c > 1) . ?a f:x/f:ratedCapacity ?d }",
     ()),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c . <https://id.fmar.uk/asset/1> "
     "f:ratedCapacity ?d FILTER (?c > 1) }", ()),
    # not pushed: the FILTER is not directly over the pattern's group
    (F + "SELECT ?a WHERE { ?a f:x ?y OPTIONAL { ?a f:ratedCapacity ?c } FILTER (?c > 1) }", ()),
    (F + "SELECT ?a WHERE { ?a f:x ?y OPTIONAL { ?a f:ratedCapacity ?c FILTER (?c > 1) } }", ()),
    (F + "SELECT ?a WHERE { { ?a f:ratedCapacity ?c } UNION { ?a f:x ?c } FILTER (?c > 1) }",
     ()),
    # not pushed: a condition that is not a number or IRI comparison
    (F + 'SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (?c > "1") }', ()),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (?c != 1) }", ()),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (!BOUND(?c) || ?c > 1) }", ()),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c ; f:gen ?g FILTER (?c > ?g) }", ()),
    (F + 'SELECT ?a WHERE { ?a f:commissioned ?d FILTER (?d > "2020-01-01"^^'
     '<http://www.w3.org/2001/XMLSchema#date>) }', ()),
    (F + "SELECT ?a WHERE { ?a f:ratedCapacity ?c FILTER (?a = <https://id.fmar.uk/asset/1>) }",
     ()),
])
def test_a_filter_is_pushed_into_a_fragment_only_where_it_cannot_change_the_answer(
        query, filtered):
    plan = joins.plan(query)
    assert plan.filtered == filtered
    pushed = {p for p, _ in filtered}
    assert not pushed & set(plan.predicates or [])  # a filtered predicate is not also sent whole
    fragment = joins.fragment_query(plan)
    for predicate, condition in filtered:
        assert f"FILTER({condition})" in fragment and f"?s <{predicate}> ?o" in fragment
