"""The POL-011 graph condition for a caller who reads every record (NESO), in its
forms: the one-`REGEX` filter the rewrite uses, the two `STRSTARTS(STR(?g), ...)` it
used before (the name decoded twice), a marker graph listing the readable graphs
(joined, or checked with EXISTS), and the same pattern with no condition as the
baseline; also over every quad, grouped by predicate. Oxigraph in one process, on disk (as a node) and in memory.

    .venv/bin/python -m tests.bench.bench_graph_condition --graphs 20000 --reps 5

Records are shaped as the bench federation's (a type, a capacity and 20 other
properties per asset graph), plus 500 `urn:fmar:` graphs the condition must leave out.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

import pyoxigraph as ox

from common.vocab import FMAR, XSD
from node import policy

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
MARKER_GRAPH = "urn:fmar:readable"
READABLE = f"{FMAR}readable"


def records(graphs: int) -> list[ox.Quad]:
    rng = random.Random(1)
    decimal, boolean = ox.NamedNode(f"{XSD}decimal"), ox.NamedNode(f"{XSD}boolean")
    capacity, marker = ox.NamedNode(str(FMAR.ratedCapacity)), ox.NamedNode(MARKER_GRAPH)
    quads = []
    for i in range(graphs):
        asset = ox.NamedNode(f"https://id.fmar.uk/asset/{i:08d}")
        quads += [ox.Quad(asset, RDF_TYPE, ox.NamedNode(str(FMAR.Asset)), asset),
                  ox.Quad(asset, capacity, ox.Literal(str(rng.randint(1, 5000)),
                                                      datatype=decimal), asset),
                  ox.Quad(asset, ox.NamedNode(READABLE), ox.Literal("true", datatype=boolean),
                          marker)]
        quads += [ox.Quad(asset, ox.NamedNode(f"{FMAR}p{k}"), ox.Literal(f"v{k}-{i}"), asset)
                  for k in range(20)]
    for i in range(500):
        other = ox.NamedNode(f"urn:fmar:event:{i}")
        quads.append(ox.Quad(other, capacity, ox.Literal("1", datatype=decimal), other))
    return quads


def two_strstarts(g: str) -> str:
    """The condition as the rewrite wrote it before `043e05e`: the name decoded twice."""
    private = "".join(f' && !STRSTARTS(STR({g}), "{p}")'
                      for p in policy.PRIVATE_RECORD_PREFIXES)
    return f'FILTER(STRSTARTS(STR({g}), "{policy.RECORD_GRAPH_PREFIX}"){private})'


def queries() -> dict[str, str]:
    pattern = f"GRAPH ?g {{ ?s <{FMAR.ratedCapacity}> ?o }}"
    marker = f"GRAPH <{MARKER_GRAPH}> {{ ?g <{READABLE}> true }}"
    every = "SELECT ?p (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } %s } GROUP BY ?p"
    return {
        "no condition (baseline; wrong, urn:fmar: graphs too)": f"SELECT * {{ {pattern} }}",
        "two STRSTARTS (the rewrite before 043e05e)":
            f"SELECT * {{ {pattern} {two_strstarts('?g')} }}",
        "one REGEX (the rewrite, POL-011)":
            f"SELECT * {{ {pattern} {policy.record_graph_filter('?g')} }}",
        "marker graph first": f"SELECT * {{ {marker} {pattern} }}",
        "marker graph after": f"SELECT * {{ {pattern} {marker} }}",
        "marker graph in EXISTS": f"SELECT * {{ {pattern} FILTER EXISTS {{ {marker} }} }}",
        "every quad by predicate, no condition (baseline)": every % "",
        "every quad by predicate, two STRSTARTS": every % two_strstarts("?g"),
        "every quad by predicate, one REGEX": every % policy.record_graph_filter("?g"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    quads = records(args.graphs)
    with tempfile.TemporaryDirectory() as directory:
        for where, store in (("on disk", ox.Store(directory)), ("in memory", ox.Store())):
            store.bulk_extend(quads)
            print(f"\n{where}: {args.graphs:,} record graphs, {len(quads):,} quads; "
                  f"p50 of {args.reps}, the forms taken in turn (ms), rows")
            times: dict[str, list[float]] = {name: [] for name in queries()}
            rows: dict[str, int] = {}
            for _ in range(args.reps):
                for name, query in queries().items():
                    started = time.perf_counter()
                    rows[name] = sum(1 for _ in store.query(query))
                    times[name].append((time.perf_counter() - started) * 1000)
            for name in queries():
                print(f"  {name:<55} {statistics.median(times[name]):8.1f}  {rows[name]:,}")
            del store


if __name__ == "__main__":
    main()
