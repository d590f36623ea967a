"""Benchmark: one node on Virtuoso Open Source beside one on the embedded store, same run.

    .venv/bin/python -m tests.bench.bench_virtuoso                    # 20,000 assets
    .venv/bin/python -m tests.bench.bench_virtuoso --count 1000000    # the issue's size

For each backend it starts a real node (`fmar serve`, a separate process; for Virtuoso
with FMAR_SPARQL_URL pointing at a fresh `virtuoso-t` started by tests/virtuoso.py) and:

1. loads --count assets through POST /assets/bulk (CSV, all-or-nothing, full SHACL
   validation) in uploads of --chunk assets: assets/s over the client wall time;
2. reads --reads random assets (GET /assets/{id}): p50 and p99 of the client round trip;
3. lists a page of 100 (GET /assets?limit=100), first page and a filtered one: p50;
4. a COUNT of assets on the node's own SPARQL endpoint, as the FSP (p50 of 5; a refusal,
   such as SPARQL-005 past the node's time limit, is reported as the answer);
5. reports the store's size on disk.

Nothing is hard-coded: every figure printed is measured in this run. The machine may be
shared; the output gives the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.bench.bench_register import (
    ORG,
    ROOT,
    assets,
    csv_text,
    fmar_command,
    node_pythonpath,
    percentile,
)
from tests.harness.processes import free_port

COUNT = ("PREFIX fmar: <https://id.fmar.uk/def/fmar#> "
         "SELECT (COUNT(?a) AS ?n) WHERE { ?a a fmar:Asset }")


class BenchNode:
    """`fmar serve` on a temporary data dir, with an FSP dev token."""

    def __init__(self, workdir: Path, workers: int, sparql_url: str | None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        tokens = workdir / "tokens.json"
        env = {**os.environ, "PYTHONPATH": node_pythonpath()}
        self.token = subprocess.run(
            [*fmar_command(), "dev-token", "add", str(tokens), "--organisation", ORG,
             "--role", "FSP"], check=True, capture_output=True, text=True, cwd=ROOT, env=env,
        ).stdout.strip().splitlines()[-1]
        if sparql_url:
            env = {**env, "FMAR_SPARQL_URL": sparql_url}
        self.log = (workdir / "node.log").open("w")
        self.proc = subprocess.Popen(
            [*fmar_command(), "serve", "--data-dir", str(workdir / "data"), "--port",
             str(self.port), "--tokens-file", str(tokens), "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=None,
                                   headers={"Authorization": f"Bearer {self.token}"})
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited; see {workdir / 'node.log'}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("node did not answer /health within 180 s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def timed(call) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    response = call()
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url} -> {response.status_code}: "
                           f"{response.text[:500]}")
    return (time.perf_counter() - t0) * 1000


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(label: str, node: BenchNode, count: int, chunk: int, reads: int,
            store_dir: Path) -> dict[str, Any]:
    ids: list[str] = []
    t0 = time.perf_counter()
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        body = csv_text(list(assets(size, ORG, seed=start + 1, start=start))).encode()
        response = node.client.post("/assets/bulk", params={"mode": "all-or-nothing"},
                                    content=body, headers={"Content-Type": "text/csv"})
        if response.status_code != 200 or response.json()["stored"] != size:
            raise RuntimeError(f"{label}: bulk at {start} -> {response.status_code}: "
                               f"{response.text[:500]}")
        ids += [a["AssetId"] for a in response.json()["assets"]]
        done = start + size
        print(f"  {label}: {done:,} loaded, {done / (time.perf_counter() - t0):,.0f}/s",
              flush=True)
    load_s = time.perf_counter() - t0
    sample = random.Random(7).sample(ids, min(reads, len(ids)))
    read_ms = [timed(lambda i=i: node.client.get(f"/assets/{i}")) for i in sample]
    page_ms = [timed(lambda: node.client.get("/assets", params={"limit": 100}))
               for _ in range(5)]
    filtered_ms = [timed(lambda: node.client.get("/assets", params={
        "limit": 100, "category": "BESS"})) for _ in range(5)]
    count_ms, counted = [], "n/a"
    for _ in range(5):
        t0 = time.perf_counter()
        answer = node.client.get("/sparql", params={"query": COUNT},
                                 headers={"accept": "application/sparql-results+json"})
        count_ms.append((time.perf_counter() - t0) * 1000)
        if answer.status_code != 200:  # a finding, not a crash: say what the caller got
            counted = f"{answer.status_code} {answer.json().get('code')}"
            break
        counted = f"n={int(answer.json()['results']['bindings'][0]['n']['value']):,}"
    return {"load_rate": count / load_s, "load_s": load_s,
            "read_p50": percentile(read_ms, 0.5), "read_p99": percentile(read_ms, 0.99),
            "page_p50": percentile(page_ms, 0.5), "filtered_p50": percentile(filtered_ms, 0.5),
            "count_p50": percentile(count_ms, 0.5), "counted": counted,
            "disk_mb": dir_size(store_dir) / 1e6}


def main(argv: list[str] | None = None) -> int:
    from tests.virtuoso import VirtuosoUnavailable, start_virtuoso

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="assets per node")
    parser.add_argument("--chunk", type=int, default=10_000, help="assets per bulk upload")
    parser.add_argument("--reads", type=int, default=300, help="random single reads")
    parser.add_argument("--workers", type=int, default=2, help="node validation workers")
    parser.add_argument("--buffers", type=int, default=100_000,
                        help="Virtuoso NumberOfBuffers (8 KB pages; 100000 is ~800 MB)")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="fmar-bench-virtuoso-"))
    print(f"fmar bench_virtuoso: {args.count:,} assets per node, uploads of {args.chunk:,}; "
          f"load average before {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results: dict[str, dict[str, Any]] = {}
    try:
        node = BenchNode(base / "embedded", args.workers, None)
        try:
            results["embedded"] = measure("embedded", node, args.count, args.chunk, args.reads,
                                          base / "embedded" / "data" / "store")
        finally:
            node.stop()
        try:
            server = start_virtuoso(base / "virtuoso-db", buffers=args.buffers)
        except VirtuosoUnavailable as reason:
            print(f"Virtuoso unavailable, skipped: {reason}")
        else:
            try:
                node = BenchNode(base / "on-virtuoso", args.workers, server.url)
                try:
                    results["virtuoso"] = measure("virtuoso", node, args.count, args.chunk,
                                                  args.reads, base / "virtuoso-db")
                finally:
                    node.stop()
            finally:
                server.stop()
    except Exception:
        print(f"failed; logs kept in {base}")
        raise
    shutil.rmtree(base, ignore_errors=True)
    print(f"\nload average after {os.getloadavg()[0]:.1f}\n")
    print(f"| {args.count:,} assets | load (assets/s) | read p50 / p99 (ms) | page of 100 p50 "
          "(ms) | page, category=BESS p50 (ms) | COUNT on /sparql p50 (ms) | store on disk |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['load_rate']:,.0f} ({r['load_s']:.0f} s) | {r['read_p50']:.1f} / "
              f"{r['read_p99']:.1f} | {r['page_p50']:.0f} | {r['filtered_p50']:.0f} | "
              f"{r['count_p50']:.0f} ({r['counted']}) | {r['disk_mb']:,.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
