"""POL-011 as a graph list (before) against the policy inside the query (node/query/rewrite.py).

Part 1, a node's own SPARQL endpoint: one embedded store of `--assets` asset records of
ten organisations (plus a history version for one record in ten and the categories),
queried through the node's query workers (node/query/execute.py) as NESO (everything),
a DNO (three licence areas) and an FSP (one organisation in ten). "list" is today's form:
the readable graph names listed (node/query/dataset.py, timed with the query) and passed
as the dataset; "rewrite" is the rewritten query over an empty default graph.

Part 2, the join stage of a gather query: the fragments of `--nodes` nodes ×
`--per-node` assets merged in memory (as node/federation/engine.py does) and the
federation tests' 12 oracle queries evaluated as NESO over the graph list against the
union default graph (execute.Dataset.whole_store). The fan-out and the nodes' fragment
queries are not in these figures.

    .venv/bin/python -m tests.bench.bench_query_rewrite --assets 100000 --nodes 10 --per-node 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common.http_errors import ApiError
from common.vocab import VERSION_BASE
from node import policy
from node.query import rewrite
from node.query.dataset import list_allowed
from node.query.execute import Dataset, Executor, Limits
from node.store import GraphWrite, open_store
from node.store.base import trig_text
from tests.bench.bench_federation import ORGS, fill
from tests.federation.test_federation import QUERIES

F = "https://id.fmar.uk/def/fmar#"
NODE_QUERIES = {
    "count": f"SELECT (COUNT(?a) AS ?n) WHERE {{ ?a a <{F}Asset> }}",
    "capacity>1MW": f"SELECT ?a ?c WHERE {{ ?a <{F}ratedCapacity> ?c FILTER(?c > 1000) }}",
    "by-category": f"SELECT ?k (COUNT(?a) AS ?n) WHERE {{ ?a <{F}assetCategory> ?k }} "
                   "GROUP BY ?k",
    "one-name": f'SELECT ?a WHERE {{ ?a <{F}assetName> "Bess 77" }}',
    # two patterns joined, and a NOT EXISTS: each restricted apart, for a DNO or an FSP
    "join>1MW": f"SELECT ?a ?c WHERE {{ ?a a <{F}Asset> ; <{F}ratedCapacity> ?c "
                "FILTER(?c > 1000) }",
    "no-limit": f"SELECT ?a WHERE {{ ?a a <{F}Asset> FILTER NOT EXISTS {{ "
                f"?l <{F}limitsAsset> ?a }} }}",
    "exists>1MW": f"SELECT ?a WHERE {{ ?a a <{F}Asset> FILTER EXISTS {{ "
                  f"?a <{F}ratedCapacity> ?c FILTER(?c > 1000) }} }}",
}
SCOPES = {
    "NESO": policy.ReadScope(True, frozenset(), frozenset()),
    "DNO (3 areas)": policy.ReadScope(False, frozenset(),
                                      frozenset({"UKPN_EPN", "UKPN_LPN", "UKPN_SPN"})),
    "FSP (1/10)": policy.ReadScope(False, frozenset({ORGS[0]}), frozenset()),
}


def ms(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def stopped_or_ms(fn, reps: int, timeout: float) -> str:  # type: ignore[no-untyped-def]
    """p50 of `reps` runs, or "stopped" when the first run reached the time limit."""
    try:
        first = ms(fn, 1)
    except ApiError as refused:
        if refused.code != "SPARQL-005":
            raise
        return f">{timeout:.0f} s"
    return f"{statistics.median([first] + [ms(fn, 1) for _ in range(reps - 1)]):.1f}"


def add_history(data_dir: Path, every: int) -> None:
    """A history version (`urn:fmar:version:…`) of one record in `every`, as the node keeps."""
    store = open_store(data_dir)
    asset = ox.NamedNode(f"{F}Asset")
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    spool = data_dir.parent / "history.trig"
    with spool.open("w") as out:
        for i, quad in enumerate(store.select(f"SELECT ?a WHERE {{ GRAPH ?a {{ ?a <{rdf_type.value}>"
                                              f" <{asset.value}> }} }}")):
            if i % every:
                continue
            iri = quad["a"].value
            version = f"{VERSION_BASE}{iri.rsplit('/', 1)[1]}:1"
            lines = "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in store.triples(iri))
            out.write(trig_text([GraphWrite(version, lines, replace=False)]))
    store.load_file(spool, transactional=False)
    store.close()
    spool.unlink()


def part1(size: int, reps: int, timeout: float) -> None:
    print(f"\n== Part 1: node endpoint, {size} assets, query workers, p50 of {reps} (ms)")
    base = Path(tempfile.mkdtemp(prefix="fmar-bench-rewrite-"))
    started = time.perf_counter()
    fill(base, size, ORGS, 1)
    add_history(base, 10)
    print(f"loaded in {time.perf_counter() - started:.1f} s")
    store = open_store(base)
    executor = Executor(Limits(timeout=timeout, max_rows=1_000_000, concurrent=1,
                               memory_mb=4096))
    print(f"{'scope':<15}{'query':<14}{'graphs':>8}{'list ms':>10}{'rewrite ms':>12}"
          f"{'rows equal':>12}")
    try:
        for label, scope in SCOPES.items():
            for name, query in NODE_QUERIES.items():
                text = rewrite.restricted_query(query, scope)
                answers: dict[str, bytes] = {}

                def old(q: str = query, s: policy.ReadScope = scope,
                        answers: dict[str, bytes] = answers) -> None:
                    answers["old"] = executor.run(store, q, Dataset.listed(
                        list_allowed(store, s)), "json", "").body

                def new(t: str = text, answers: dict[str, bytes] = answers) -> None:
                    answers["new"] = executor.run(store, t, Dataset.restricted(), "json",
                                                  "").body

                executor.run(store, "ASK {}", None, "json", "")  # the worker, its checkpoint
                t_old, t_new = stopped_or_ms(old, reps, timeout), stopped_or_ms(new, reps, timeout)
                graphs = len(list_allowed(store, scope))
                same = ("-" if "old" not in answers or "new" not in answers
                        else str(_rows(answers["old"]) == _rows(answers["new"])))
                print(f"{label:<15}{name:<14}{graphs:>8}{t_old:>10}{t_new:>12}"
                      f"{same:>12}", flush=True)
    finally:
        executor.close()
        store.close()


def _rows(body: bytes) -> list[str]:
    import json

    data = json.loads(body)
    return sorted(json.dumps(b, sort_keys=True) for b in data["results"]["bindings"])


def part2(nodes: int, per_node: int, reps: int) -> None:
    print(f"\n== Part 2: join stage, {nodes} nodes x {per_node} assets merged in memory, "
          f"NESO, p50 of {reps} (ms)")
    merged = ox.Store()
    for k in range(nodes):
        base = Path(tempfile.mkdtemp(prefix="fmar-bench-join-"))
        fill(base, per_node, [f"FSP-{k:02d}"], 100 + k)
        store = open_store(base)
        merged.extend(q for q in store.select("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g "
                                              "{ ?s ?p ?o } }") for q in [ox.Quad(
                                                  q["s"], q["p"], q["o"], q["g"])])
        store.close()
    graphs = sorted(g.value for g in merged.named_graphs() if isinstance(g, ox.NamedNode))
    print(f"{len(merged)} quads in {len(graphs)} graphs")
    executor = Executor(Limits(timeout=120, max_rows=1_000_000, concurrent=1,
                               memory_mb=4096))
    print(f"{'query':<22}{'list ms':>10}{'union ms':>10}{'under 1 s':>11}")
    try:
        for name, query in sorted(QUERIES.items()):
            if name == "service-predicate":
                continue  # refused before any evaluation
            def run(dataset: Dataset, q: str = query) -> None:
                executor.run(merged, q, dataset, "json", "")

            figures = []
            for dataset in (Dataset.listed(graphs), Dataset.whole_store()):
                try:
                    figures.append(ms(lambda d=dataset: run(d), reps))
                except ApiError as failed:  # past the time limit
                    figures.append(failed.code)
            under = isinstance(figures[1], float) and figures[1] < 1000
            print(f"{name:<22}" + "".join(f"{f:>10.1f}" if isinstance(f, float) else f"{f:>10}"
                                          for f in figures) + f"{under!s:>11}", flush=True)
    finally:
        executor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, default=20_000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--per-node", type=int, default=2_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="a query's time limit in part 1 (s): the list form may reach it")
    parser.add_argument("--part", choices=["1", "2", "both"], default="both")
    args = parser.parse_args()
    if args.part in ("1", "both"):
        part1(args.assets, args.reps, args.timeout)
    if args.part in ("2", "both"):
        part2(args.nodes, args.per_node, args.reps)


if __name__ == "__main__":
    main()
