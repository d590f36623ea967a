"""The listing and aggregation index (node/index/) beside the SPARQL path, in one process.

One embedded store of `--assets` asset records of ten organisations (written straight to
the store, as bench_federation.py does), the index built from it (its rebuild is timed),
then, as NESO (everything), a DNO (three licence areas), an FSP (one organisation in ten)
and the regulator (aggregates only, under disclosure control):

- a listing page of 100 (`Assets.search`, what `GET /assets` runs): the first page, a
  page from the middle (a cursor), with `category=BESS` and with three filters;
- `/query/aggregate` by category, and by category × DNO area (`QueryService.aggregate`);
- the capacity report's node part (node/reports/node_side.py `compute`: three tables of
  five dimensions and the freshness), what each node computes for `fmar report run
  capacity`;
- the REST filter form (`QueryService.filter_assets` and its JSON with `truncated`, what
  `GET /query/assets` runs and the federation's asset filter asks each node): from the
  index (IDX-010) and from the generated SPARQL; the two answers are checked equal, and
  the very first SPARQL question of the process (the query worker opening the store) is
  shown beside the index's first (`--filters-only` times these alone, first).

Each figure is the median of `--reps` runs (after one warm-up), "index" with the index and
"sparql" with the node's SPARQL queries over the same store (the path without an index). A
listing page ends as its JSON text (what `GET /assets` sends). For listings, "before" is
the page as it was served before the index kept each record's JSON (IDX-008): the page's
IRIs from the index, then each of the 100 records read from the store one by one.
`--data DIR` keeps the filled store in DIR and reuses it in later runs.

    .venv/bin/python -m tests.bench.bench_listing_index --assets 100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common.vocab import ASSET_BASE
from node import policy
from node.api.sparql import _truncate
from node.identity import Caller
from node.index import queries, schema
from node.index.listing import INDEX_FILE, ListingIndex
from node.kinds.assets import _filter_spec
from node.query.aggregates import AggregateSpec
from node.query.execute import Limits
from node.query.filters import AssetFilter
from node.query.service import QueryService
from node.register import Register
from node.reports import node_side
from node.reports.builtin import BUILTIN
from node.store import open_store
from tests.bench.bench_federation import ORGS, fill

READ = frozenset({"assets:read", "sparql:query"})
CALLERS = {
    "NESO": Caller("n", "NESO", frozenset({"NESO"}), READ),
    "DNO (3 areas)": Caller("d", "DNO-UKPN", frozenset({"DNO"}), READ,
                            frozenset({"UKPN_EPN", "UKPN_LPN", "UKPN_SPN"})),
    "FSP (1/10)": Caller("f", ORGS[0], frozenset({"FSP"}), READ),
    "Regulator": Caller("r", "OFGEM", frozenset({"Regulator"}), frozenset({"sparql:query"})),
}
FILTERS: dict[str, dict[str, Any]] = {  # GET /query/assets parameters
    "default limit (10,000)": {},
    "limit 100": {"limit": 100},
    "BESS, UKPN_EPN, >= 1 MW": {"category": "BESS", "dno": "UKPN_EPN", "min_capacity": 1000},
    "NON_FIRM, 100.5-2000.25 kW, limit 1000": {
        "connection_type": "NON_FIRM", "min_capacity": 100.5, "max_capacity": 2000.25,
        "limit": 1000},
}
LISTINGS: dict[str, dict[str, Any]] = {
    "page": {}, "BESS": {"category": "BESS"},
    "3 filters": {"category": "BESS", "dno": "UKPN_EPN", "min_capacity": 100},
}


def median_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def both(label: str, indexed: Callable[[], Any], sparql: Callable[[], Any] | None,
         reps: int, before: Callable[[], Any] | None = None) -> None:
    a = median_ms(indexed, reps)
    was = median_ms(before, reps) if before else float("nan")
    b = median_ms(sparql, max(1, reps // 2)) if sparql else float("nan")
    print(f"  {label:<44}{a:>10.1f}{was:>10.1f}{b:>12.1f}{b / a:>9.0f}×", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--skip-sparql-reports", action="store_true",
                        help="do not time the SPARQL path of the capacity report")
    parser.add_argument("--listings-only", action="store_true",
                        help="time the listing pages only (no aggregates, no reports)")
    parser.add_argument("--filters-only", action="store_true",
                        help="time the REST filter form only (IDX-010)")
    parser.add_argument("--data", type=Path, help="keep (and reuse) the filled store here")
    args = parser.parse_args(argv)
    base = args.data or Path(tempfile.mkdtemp(prefix="fmar-bench-index-"))
    data = base / "store"
    (base / INDEX_FILE).unlink(missing_ok=True)  # the rebuild is timed each run
    if not data.exists():
        started = time.perf_counter()
        fill(data, args.assets, ORGS, 1)
        print(f"{args.assets} assets written to the store in "
              f"{time.perf_counter() - started:.1f} s")
    register = Register(open_store(data), workers=1)
    head = register.unit.audit.sequence
    started = time.perf_counter()
    index = ListingIndex(register.store, lambda: head, base / INDEX_FILE)
    index.catch_up()
    print(f"index rebuilt from the store in {time.perf_counter() - started:.1f} s "
          f"({(base / INDEX_FILE).stat().st_size / 1e6:.0f} MB)")
    service = QueryService(register.store, Limits(timeout=300, max_rows=10_000_000))
    assets = register.assets
    capacity = BUILTIN["capacity"]

    def middle(caller: Caller, filters: dict[str, Any]) -> str | None:
        """The cursor of a page in the middle of the caller's matching records."""
        assets.index = index
        with index.engine.connect() as conn:
            docs, _ = queries.page(conn, policy.asset_read_scope(caller),
                                   _filter_spec(filters), 10_000_000, "")
        return json.loads(docs[len(docs) // 2])["AssetId"] if docs else None

    def listing(caller: Caller, filters: dict[str, Any], after: str | None, on: bool) -> None:
        assets.index = index if on else None
        items, _ = assets.search(caller, filters, 100, after)
        json.dumps({"items": items, "count": len(items)})

    def listing_before(caller: Caller, filters: dict[str, Any], after: str | None) -> None:
        index.ensure_current()
        start = ASSET_BASE + after if after else ""
        c = schema.assets.c
        with index.engine.connect() as conn:
            iris = list(conn.execute(
                select(c.iri).where(c.listed, c.iri > start,
                                    queries.scope_condition(policy.asset_read_scope(caller)),
                                    queries.filter_condition(_filter_spec(filters)))
                .order_by(c.iri).limit(101)).scalars())
        records = [r for r in (assets.get_record(i) for i in iris[:100]) if r is not None]
        json.dumps({"items": [r.as_json() for r in records], "count": len(records)})

    def aggregate(caller: Caller, dims: tuple[str, ...], on: bool) -> None:
        service.index = index if on else None
        service.aggregate(caller, AggregateSpec(dims))

    def report(caller: Caller, on: bool) -> None:
        service.index = index if on else None
        node_side.compute(service, caller, list(capacity.tables), ["assets"])

    def filter_form(caller: Caller, params: dict[str, Any], on: bool) -> dict[str, Any]:
        service.index = index if on else None
        spec = AssetFilter.parse(params)
        answer = _truncate(service.filter_assets(caller, spec).body, spec.limit)
        json.dumps(answer)  # as GET /query/assets sends it
        return answer

    def filters() -> None:
        print(f"\nGET /query/assets (ms){'':<24}{'index':>10}{'first':>10}{'sparql':>12}"
              f"{'ratio':>10}")
        for who, caller in CALLERS.items():
            if who == "Regulator":
                continue
            print(who)
            for name, params in FILTERS.items():
                started = time.perf_counter()
                got = filter_form(caller, params, True)
                first_index = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                want = filter_form(caller, params, False)
                first = (time.perf_counter() - started) * 1000
                assert got == want, (who, name)  # IDX-010: the same answer
                rows = len(got["results"]["bindings"])
                print(f"  first question: index {first_index:.1f}, sparql {first:.1f}")
                both(f"{name} ({rows} rows)", lambda c=caller, p=params: filter_form(c, p, True),
                     lambda c=caller, p=params: filter_form(c, p, False), args.reps)

    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.filters_only:
        try:
            filters()
        finally:
            service.close()
            index.close()
            register.close()
        print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        return 0
    print(f"\n{'(ms, median)':<46}{'index':>10}{'before':>10}{'sparql':>12}{'ratio':>10}")
    try:
        filters()
        for who, caller in CALLERS.items():
            print(who)
            if who != "Regulator":
                for name, filters in LISTINGS.items():
                    for deep in (False, True):
                        after = middle(caller, filters) if deep else None
                        both(f"listing {name}{' (cursor)' if deep else ''}",
                             lambda c=caller, f=filters, a=after: listing(c, f, a, True),
                             lambda c=caller, f=filters, a=after: listing(c, f, a, False),
                             args.reps,
                             lambda c=caller, f=filters, a=after: listing_before(c, f, a))
            if args.listings_only:
                continue
            for dims in (("category",), ("category", "dno")):
                both(f"aggregate by {' × '.join(dims)}",
                     lambda c=caller, d=dims: aggregate(c, d, True),
                     lambda c=caller, d=dims: aggregate(c, d, False), args.reps)
            if who in ("NESO", "Regulator"):
                both("capacity report (node part, 3 tables)",
                     lambda c=caller: report(c, True),
                     (lambda c=caller: report(c, False)) if not args.skip_sparql_reports
                     else None, args.reps)  # type: ignore[arg-type]
    finally:
        service.close()
        index.close()
        register.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
