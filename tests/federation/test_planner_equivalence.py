"""The gather plan, attacked: for generated queries over a generated dataset, the answer
over the fragment the plan fetches (predicates, patterns, pushed filters, graph names)
equals the answer over the whole dataset. One process, Oxigraph on both sides: what the
federation tests check over real nodes, here over many more query shapes."""

from __future__ import annotations

import random
from collections import Counter

import pyoxigraph as ox
import pytest

from node.federation import joins

F = "https://id.fmar.uk/def/fmar#"
PREDICATES = ["cap", "lim", "cat", "org"]
XSD = "http://www.w3.org/2001/XMLSchema#"


def dataset(rng: random.Random) -> list[ox.Quad]:
    values = [ox.Literal(str(rng.randint(0, 20)), datatype=ox.NamedNode(XSD + "integer"))
              for _ in range(8)]
    values += [ox.Literal(f"{rng.randint(0, 20)}.5", datatype=ox.NamedNode(XSD + "decimal")),
               ox.Literal("7.0e0", datatype=ox.NamedNode(XSD + "double")),
               ox.Literal("12"), ox.Literal("3", language="en"),
               ox.Literal("x", datatype=ox.NamedNode(XSD + "integer")),  # ill-typed
               ox.NamedNode(F + "A"), ox.NamedNode(F + "B")]
    subjects = [ox.NamedNode(f"https://id.fmar.uk/asset/{n}") for n in range(12)]
    quads = []
    for subject in subjects:
        graph = subject if rng.random() < 0.8 else ox.NamedNode("https://id.fmar.uk/asset/g")
        for predicate in PREDICATES:
            for _ in range(rng.choice([0, 1, 1, 2])):
                obj = rng.choice(values + subjects[:3])
                quads.append(ox.Quad(subject, ox.NamedNode(F + predicate), obj, graph))
        if rng.random() < 0.7:
            quads.append(ox.Quad(subject, ox.NamedNode(
                "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), ox.NamedNode(F + "Asset"),
                graph))
    return quads


def condition(rng: random.Random, var: str) -> str:
    op = rng.choice(["<", "<=", ">", ">=", "=", "!="])
    constant = rng.choice(["5", "10.5", "1e1", '"12"', "f:A", "-1"])
    if rng.random() < 0.15:
        return f"{var} IN (f:A, f:B)"
    if rng.random() < 0.1:
        return f"!BOUND({var}) || {var} > 3"
    return f"{constant} {op} {var}" if rng.random() < 0.3 else f"{var} {op} {constant}"


def group(rng: random.Random, depth: int, fresh: list[int]) -> str:
    def var() -> str:
        fresh[0] += 1
        return f"?v{fresh[0]}"

    subject = rng.choice(["?a", "?b"])
    triples, filters = [], []
    for _ in range(rng.randint(1, 2)):
        obj = var() if rng.random() < 0.8 else rng.choice(["?a", "?b", "f:A"])
        triples.append(f"{subject} f:{rng.choice(PREDICATES)} {obj} .")
        if obj.startswith("?v") and rng.random() < 0.7:
            filters.append(condition(rng, obj))
    if rng.random() < 0.3:
        triples.append(f"{subject} a f:Asset .")
    body = " ".join(triples)
    if filters:
        body += " FILTER (" + " && ".join(f"({c})" for c in filters) + ")"
    if depth > 0 and rng.random() < 0.6:
        inner = group(rng, depth - 1, fresh)
        body += rng.choice([f" OPTIONAL {{ {inner} }}", f" MINUS {{ {inner} }}",
                            f" FILTER NOT EXISTS {{ {inner} }}", f" {{ {inner} }} UNION {{ {body} }}",
                            f" GRAPH ?g {{ {inner} }}", f" {{ {inner} }}"])
    return body


def query(rng: random.Random) -> str:
    body = group(rng, 2, [0])
    if rng.random() < 0.2:
        return f"PREFIX f: <{F}> SELECT (COUNT(*) AS ?n) WHERE {{ {body} }}"
    return f"PREFIX f: <{F}> SELECT * WHERE {{ {body} }}"


def answer(store: ox.Store, text: str) -> Counter:
    solutions = store.query(text, use_default_graph_as_union=True)
    names = [v.value for v in solutions.variables]
    return Counter(tuple(str(row[n]) if row[n] is not None else None for n in names)
                   for row in solutions)


def fragment(store: ox.Store, plan: joins.Plan) -> ox.Store:
    part = ox.Store()
    for row in store.query(joins.fragment_query(plan)):
        if row["p"] is None:
            part.add_graph(row["g"])
        else:
            part.add(ox.Quad(row["s"], row["p"], row["o"], row["g"]))
    return part


@pytest.mark.parametrize("seed", range(8))
def test_the_answer_over_the_planned_fragment_is_the_answer_over_everything(seed):
    rng = random.Random(seed)
    store = ox.Store()
    store.extend(dataset(rng))
    pushed = 0
    for _ in range(60):
        text = query(rng)
        plan = joins.plan(text)
        pushed += bool(plan.filtered)
        part = store if plan.everything else fragment(store, plan)
        assert answer(part, text) == answer(store, text), (text, plan)
    assert pushed >= 5  # the generator reaches the pushed shapes
