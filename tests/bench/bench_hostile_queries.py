"""Benchmark: the hostile queries of issue 9 against a real node of 100,000 assets.

    .venv/bin/python -m tests.bench.bench_hostile_queries                   # 100,000 assets
    .venv/bin/python -m tests.bench.bench_hostile_queries --assets 5000     # smoke run

Starts `fmar serve` (default limits unless given: FMAR_SPARQL_TIMEOUT 10 s,
FMAR_SPARQL_MEMORY_MB 1024, 2 query workers), loads generated assets by bulk CSV, then
runs each query once while sampling, every 0.2 s, the RSS of the node process and of its
whole process tree (/proc) and GET /health. Prints per query: status and code, wall time,
peak RSS, /health answers and the slowest of them, beside the baselines (a plain bounded
SELECT and a plain COUNT). Then two ORDER BY cross products at once, a full CSV export
read slowly while other requests run, and the time from SIGTERM to exit while a query
runs. Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.hostile import (
    COUNT_CROSS4,
    ORDER_BY_CROSS,
    PATH_COUNT,
    PLAIN,
    NodeProcess,
    Watch,
    descendants,
    rss_mib,
)

PLAIN_COUNT = ("PREFIX fmar: <https://id.fmar.uk/def/fmar#> "
               "SELECT (COUNT(?a) AS ?n) WHERE { ?a a fmar:Asset }")
ONE_PATTERN = ("PREFIX fmar: <https://id.fmar.uk/def/fmar#> "
               "SELECT ?a WHERE { ?a a fmar:Asset } LIMIT 10")




def health_latency(url: str, done: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=60) as c:
        while not done.is_set():
            started = time.perf_counter()
            c.get(f"{url}/health")
            out.append(time.perf_counter() - started)
            done.wait(0.2)


def run(node: NodeProcess, label: str, query: str) -> None:
    watch = Watch()
    latencies: list[float] = []
    done = threading.Event()
    prober = threading.Thread(target=health_latency, args=(node.url, done, latencies))
    prober.start()
    started = time.perf_counter()
    r = node.sparql(query, watch)
    wall = time.perf_counter() - started
    done.set()
    prober.join()
    code = r.json().get("code", "") if r.headers.get("content-type", "").startswith(
        "application/json") else ""
    print(f"{label:<34}{r.status_code:>5} {code:<11}{wall:>8.2f}{watch.peak_node_mib:>10.0f}"
          f"{watch.peak_tree_mib:>10.0f}{watch.health.count(200):>5}/{len(watch.health):<4}"
          f"{max(latencies) * 1000:>9.0f}", flush=True)


def concurrent_order_by(node: NodeProcess) -> None:
    answers: list[httpx.Response] = []
    other = threading.Thread(target=lambda: answers.append(node.sparql(ORDER_BY_CROSS)))
    watch = Watch()
    started = time.perf_counter()
    other.start()
    answers.append(node.sparql(ORDER_BY_CROSS, watch))
    other.join()
    wall = time.perf_counter() - started
    codes = " ".join(f"{r.status_code}/{r.json().get('code')}" for r in answers)
    print(f"{'2 x ORDER BY cross product':<34}{codes:<17}{wall:>8.2f}"
          f"{watch.peak_node_mib:>10.0f}{watch.peak_tree_mib:>10.0f}"
          f"{watch.health.count(200):>5}/{len(watch.health):<4}", flush=True)


def slow_export(node: NodeProcess) -> None:
    stop = threading.Event()
    others: list[int] = []

    with node.client() as c:
        ids = [a["AssetId"] for a in c.get("/assets", params={"limit": 50}).json()["items"]]

    def hammer() -> None:
        with node.client() as c:
            while not stop.is_set():
                for asset_id in ids:
                    others.append(c.get(f"/assets/{asset_id}").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    lines, started = 0, time.perf_counter()
    peak = 0.0
    with node.client() as c, c.stream("GET", "/assets/export", params={"format": "csv"}) as r:
        for chunk in r.iter_raw(65536):
            time.sleep(0.002)
            lines += chunk.count(b"\n")
            peak = max(peak, rss_mib(node.pid))
    stop.set()
    for t in threads:
        t.join()
    print(f"export (CSV, slow reader): {lines - 1} assets in {time.perf_counter() - started:.1f} s"
          f", node RSS peak {peak:.0f} MiB, {others.count(200)}/{len(others)} other requests "
          f"answered 200, node alive: {node.process.poll() is None}", flush=True)


def sigterm_while_querying(node: NodeProcess) -> None:
    threading.Thread(target=lambda: _quiet(node.sparql, PATH_COUNT), daemon=True).start()
    time.sleep(2)
    tree = descendants(node.pid)
    started = time.perf_counter()
    node.process.send_signal(signal.SIGTERM)
    node.process.wait(timeout=120)
    stopped = time.perf_counter() - started
    time.sleep(1)
    left = {p for p in tree if Path(f"/proc/{p}").exists()}
    print(f"SIGTERM during a query: node exited after {stopped:.1f} s; "
          f"{len(tree)} child processes before, {len(left)} left after", flush=True)


def _quiet(call, *args) -> None:
    try:
        call(*args)
    except httpx.TransportError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--timeout", default="10")
    parser.add_argument("--memory-mb", default="1024")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fmar-hostile-") as tmp:
        node = NodeProcess(Path(tmp), {"FMAR_SPARQL_TIMEOUT": args.timeout,
                                       "FMAR_SPARQL_MEMORY_MB": args.memory_mb})
        try:
            started = time.perf_counter()
            for start in range(0, args.assets, args.chunk):
                node.load(min(args.chunk, args.assets - start), start=start)
            print(f"loaded {args.assets} assets in {time.perf_counter() - started:.0f} s; "
                  f"limits: {args.timeout} s, {args.memory_mb} MB, 2 query workers; "
                  f"idle node RSS {rss_mib(node.pid):.0f} MiB", flush=True)
            print(f"{'query':<34}{'HTTP':>5} {'code':<11}{'wall s':>8}{'node MiB':>10}"
                  f"{'tree MiB':>10}{'health':>10}{'max ms':>9}")
            run(node, "baseline: 1 pattern LIMIT 10", ONE_PATTERN)
            run(node, "baseline: 1 pattern (again)", ONE_PATTERN)
            run(node, "baseline: 2 patterns LIMIT 10", PLAIN)
            run(node, "baseline: plain COUNT of assets", PLAIN_COUNT)
            run(node, "ORDER BY cross product LIMIT 1", ORDER_BY_CROSS)
            run(node, "COUNT 4-way cross product", COUNT_CROSS4)
            run(node, "property-path COUNT", PATH_COUNT)
            concurrent_order_by(node)
            slow_export(node)
            sigterm_while_querying(node)
        finally:
            node.stop()
        in_process(Path(tmp) / "node" / "store")


def in_process(path: Path) -> None:
    """The baselines evaluated directly in this process (no worker, no limits), over
    the same dataset as the node gives the caller (every record graph of its assets)."""
    import pyoxigraph as ox

    from node import policy
    from node.query.dataset import list_allowed
    from node.store.embedded import EmbeddedStore
    from tests.hostile import ORG

    store = EmbeddedStore(path)
    started = time.perf_counter()
    names = list_allowed(store, policy.ReadScope(False, frozenset({ORG}), frozenset()))
    listing = time.perf_counter() - started
    graphs = [ox.NamedNode(g) for g in names]
    print(f"in-process, no worker: dataset list of {len(names)} graphs {listing:.2f} s", end="")
    for label, query in (("1 pattern", ONE_PATTERN), ("2 patterns", PLAIN),
                         ("COUNT", PLAIN_COUNT)):
        started = time.perf_counter()
        list(store._store.query(query, default_graph=graphs, named_graphs=graphs))
        print(f"; {label} {time.perf_counter() - started:.2f} s", end="")
    print(flush=True)
    store.close()


if __name__ == "__main__":
    main()
