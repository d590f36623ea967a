"""Two versions of the POL-011 rewrite (node/query/rewrite.py) side by side, in one process
over one in-memory store: the baseline a file of another commit's rewrite module, the
other this tree's. Each query is rewritten by both for a caller of several scopes (a DNO
of 3 and of 14 licence areas, an FSP of 2 organisations and of 1), evaluated over an
empty default graph (the rewritten query's dataset), timed (best of `--reps`), and the
answers compared: a difference is reported and fails the run. Where the baseline does not
rewrite a query (`Unsupported`: DESCRIBE and paths of steps before `52dcd30`/`523463a`), its
form is the graph list (node/query/dataset.py), timed with the listing of the caller's
graphs.

    git show <rev>:node/query/rewrite.py > /tmp/rewrite_baseline.py
    .venv/bin/python -m tests.bench.bench_rewrite_forms --baseline /tmp/rewrite_baseline.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pyoxigraph as ox

from examples.generate import DISTRIBUTOR_IDS
from node import policy
from node.query import rewrite
from node.query.dataset import list_allowed
from node.store.base import trig_text
from tests.bench.bench_federation import fill_records
from tests.federation.test_federation import PREFIX, QUERIES

# every oracle query the rewrite covers (paths of more than one step go as a graph list)
COVERED = [name for name in QUERIES if not name.endswith("-path")]
EXTRA = {"exists-big": PREFIX + "SELECT ?a WHERE { ?a a fmar:Asset FILTER EXISTS { "
         "?a fmar:ratedCapacity ?c FILTER(?c > 1000) } }",
         "describe-one": "DESCRIBE <{asset}>",
         "describe-big": PREFIX + "DESCRIBE ?a WHERE { ?a fmar:ratedCapacity ?c "
         "FILTER(?c > 9000) } ORDER BY ?a LIMIT 20",
         "sequence-owner": PREFIX + "SELECT (COUNT(*) AS ?n) WHERE { <{asset}> "
         "fmar:organisation/^fmar:organisation ?b }"}


class Listing:
    """The store as list_allowed reads it."""

    def __init__(self, store: ox.Store):
        self.store = store

    def graph_names(self) -> Iterator[str]:
        return (g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode))

    def select(self, query: str) -> Any:
        return self.store.query(query)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("rewrite_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(store: ox.Store, text: str, scope: policy.ReadScope | None = None
             ) -> tuple[float, list[str]]:
    """The rewritten `text` over an empty default graph; with `scope`, `text` as the caller
    wrote it over the graphs it may read, listed (and the listing timed)."""
    started = time.perf_counter()
    if scope is None:
        result = store.query(text, default_graph=ox.NamedNode(rewrite.EMPTY_GRAPH))
    else:
        names = [ox.NamedNode(g) for g in list_allowed(Listing(store), scope)]  # type: ignore[arg-type]
        result = store.query(text, default_graph=names, named_graphs=names)
    if isinstance(result, ox.QuerySolutions):
        names = [v.value for v in result.variables]
        rows = sorted(repr([str(s[n]) for n in names]) for s in result)
    elif isinstance(result, ox.QueryTriples):
        rows = sorted(str(t) for t in result)
    else:
        rows = [str(result)]
    return (time.perf_counter() - started) * 1000, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="another commit's node/query/rewrite.py")
    parser.add_argument("--assets", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args(argv)
    baseline = load(args.baseline)
    orgs = [f"FSP-{i}" for i in range(10)]
    store = ox.Store()
    store.load(trig_text(list(fill_records(args.assets, orgs, 3))).encode(),
               format=ox.RdfFormat.TRIG)
    areas = sorted(DISTRIBUTOR_IDS)
    scopes = {"DNO, 3 areas": policy.ReadScope(False, frozenset(), frozenset(areas[:3])),
              "DNO, 14 areas": policy.ReadScope(False, frozenset(), frozenset(areas)),
              "FSP, 2 orgs": policy.ReadScope(False, frozenset(orgs[:2]), frozenset()),
              "FSP, 1 org": policy.ReadScope(False, frozenset(orgs[:1]), frozenset())}
    asset = next(iter(fill_records(1, orgs, 3))).graph
    queries = {**{name: QUERIES[name] for name in COVERED},
               **{name: text.replace("{asset}", asset) for name, text in EXTRA.items()}}
    print(f"bench_rewrite_forms: {args.assets:,} assets of 10 organisations, {len(store):,} "
          f"quads; baseline {args.baseline}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'scope':14} {'query':20} {'baseline ms':>12} {'chars':>7} {'this ms':>9} "
          f"{'chars':>7} {'rows':>6}")
    differences = 0
    for scope_name, scope in scopes.items():
        for name, query in queries.items():
            figures = []
            for module in (baseline, rewrite):
                try:
                    text, listed = module.restricted_query(query, scope), None
                except module.Unsupported:  # the graph-list form
                    text, listed = query, scope
                runs = [evaluate(store, text, listed) for _ in range(args.reps)]
                figures.append((min(ms for ms, _ in runs),
                                "list" if listed else len(text), runs[0][1]))
            (old_ms, old_chars, old_rows), (new_ms, new_chars, new_rows) = figures
            same = old_rows == new_rows
            differences += not same
            print(f"{scope_name:14} {name:20} {old_ms:12.0f} {old_chars:7} {new_ms:9.0f} "
                  f"{new_chars:7} {len(new_rows):6}{'' if same else '  DIFFERENT ANSWERS'}",
                  flush=True)
    print(f"load average after {os.getloadavg()[0]:.1f}; {differences} answers differ")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
