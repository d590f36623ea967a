"""Benchmark: one node on Virtuoso Open Source beside one on the embedded store, same run.

    nice -n 10 .venv/bin/python -m tests.bench.bench_virtuoso                  # 20,000 assets
    .venv/bin/python -m tests.bench.bench_virtuoso --count 1000000 --data /tmp/virt1m

Two ways to load the assets (`--load`):

`bulk` (the default): the same --count asset records on both nodes, in the node's record
layout (`tests.bench.bench_federation.fill_records`: what bench_one_node loads), written
straight to each store without validation or audit entries (registration has its own
benchmarks):

- embedded: `fill` (one streamed bulk load of TriG into the node's Oxigraph store);
- Virtuoso: the records as N-Quads files under the database directory, loaded by
  Virtuoso's bulk loader (`ld_dir` + `rdf_loader_run()` in --loaders parallel `isql-vt`
  sessions), then `checkpoint`. Nothing else is needed for a node to start on them: a
  store without audit entries and without the journal's applied marker is a new store
  (node/records/journal.py, `open_journal`: the marker is set to 0, the audit head is 0).

Then for each node, bench_one_node's measures (`started_twice`, `measure`): the first start
of `fmar serve` (with FMAR_SPARQL_URL on the Virtuoso, `?layout=virtuoso`), which builds the
listing index from the store (IDX-002), and the start-up of a second start; RSS at rest;
random reads `GET /assets/{id}` (p50/p99); pages of 100, unfiltered and `category=BESS`
(first page and at a cursor); the CSV export of one organisation's assets (assets/s, peak
RSS); and here besides: `COUNT` of assets on the node's `/sparql` as the FSP (a refusal,
such as SPARQL-005 past the node's time limit, is reported as the answer),
`/query/aggregate?group_by=category` as NESO (p50), the store's size on disk, and the
RSS of `virtuoso-t` at rest.

`node`: the earlier path, each node loads through `POST /assets/bulk` (CSV, all-or-nothing,
full SHACL validation) in uploads of --chunk assets: assets/s, then reads, pages and the
COUNT (SPARQL INSERT DATA is Virtuoso's slow path: ~36 assets/s on this machine).

Nothing is hard-coded: every figure printed is measured in this run. The machine may be
shared; the output gives the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from node.index.listing import INDEX_FILE
from tests.bench.bench_federation import ORGS, fill, fill_id, fill_records
from tests.bench.bench_one_node import measure as measure_node
from tests.bench.bench_one_node import report, rss_mb, started_twice
from tests.bench.bench_register import (
    ORG,
    ROOT,
    assets,
    csv_text,
    fmar_command,
    node_pythonpath,
    percentile,
)
from tests.harness.processes import ServedNode, dev_token, free_port

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


def through_the_node(args: argparse.Namespace) -> int:
    """`--load node`: each node loads through POST /assets/bulk."""
    from tests.virtuoso import VirtuosoUnavailable, start_virtuoso

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




def spool(directory: Path, count: int, per_file: int) -> None:
    """The records of `fill` (same IDs, same content) as N-Quads files of `per_file` assets
    each (the bulk loader takes a file at a time per loader)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = None
    for n, write in enumerate(fill_records(count, ORGS, 1)):
        if n % per_file == 0:
            if out:
                out.close()
            out = (directory / f"assets-{n // per_file:05d}.nq").open("w")
        graph = f" <{write.graph}> .\n"
        out.write("".join(line.removesuffix(" .") + graph  # a record line is one triple
                          for line in write.ntriples.splitlines()))
    if out:
        out.close()


def sparql_and_aggregate(node: ServedNode, neso: str, fsp: str, reps: int) -> dict[str, Any]:
    """COUNT of assets on /sparql as the FSP, and the aggregate by category as NESO."""
    out: dict[str, Any] = {}
    count_ms, counted = [], "n/a"
    for _ in range(reps):
        t0 = time.perf_counter()
        with httpx.Client(base_url=node.url, timeout=600) as client:  # (a 500 closes it)
            answer = client.get("/sparql", params={"query": COUNT}, headers={
                "accept": "application/sparql-results+json", "Authorization": f"Bearer {fsp}"})
        count_ms.append((time.perf_counter() - t0) * 1000)
        if answer.status_code != 200:  # a finding, not a crash: say what the caller got
            body = answer.json() if "json" in answer.headers.get("content-type", "") else {}
            counted = f"{answer.status_code} {body.get('code', answer.text[:60])}"
            break
        counted = f"n={int(answer.json()['results']['bindings'][0]['n']['value'])}"
    out["COUNT on /sparql as FSP p50 (ms)"] = percentile(count_ms, 0.5)
    out["COUNT on /sparql as FSP answer"] = counted
    with httpx.Client(base_url=node.url, timeout=600) as client:
        aggregate_ms = [timed(lambda: client.get(
            "/query/aggregate", params={"group_by": "category"},
            headers={"Authorization": f"Bearer {neso}"})) for _ in range(reps + 1)][1:]
        out["aggregate by category p50 (ms)"] = percentile(aggregate_ms, 0.5)
    return out


def same_index(one: Path, other: Path) -> bool:
    """Whether two listing indexes hold the same rows (asset rows and capacity cells)."""
    def rows(path: Path, table: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path)) as db:
            return sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)

    return all(rows(one, t) == rows(other, t) for t in ("asset_rows", "capacity_cells"))


def bulk(args: argparse.Namespace) -> int:
    """`--load bulk` (the default): see the module's docstring."""
    from tests.virtuoso import start_virtuoso

    work = args.data or Path(tempfile.mkdtemp(prefix="fmar-bench-virtuoso-"))
    embedded, database, on_virtuoso = work / "embedded", work / "virtuoso-db", work / "on-virtuoso"
    print(f"fmar bench_virtuoso --load bulk: {args.count:,} assets per node in {work}; load "
          f"average before {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    setup: dict[str, float] = {}
    if not (embedded / "store").exists():
        t0 = time.perf_counter()
        fill(embedded, args.count, ORGS, 1)
        setup["embedded: fill (assets/s)"] = args.count / (time.perf_counter() - t0)
        print(f"embedded: {args.count:,} assets written in {time.perf_counter() - t0:.1f} s",
              flush=True)
    loaded = (database / "virtuoso.db").exists()
    server = start_virtuoso(database, buffers=args.buffers)
    try:
        if not loaded:
            files = database / "load"  # under the database directory: DirsAllowed
            t0 = time.perf_counter()
            spool(files, args.count, args.per_file)
            t1 = time.perf_counter()
            server.bulk_load(files, loaders=args.loaders)
            t2 = time.perf_counter()
            shutil.rmtree(files)
            setup["virtuoso: N-Quads written (s)"] = t1 - t0
            setup["virtuoso: bulk load + checkpoint (s)"] = t2 - t1
            setup["virtuoso: bulk load (assets/s)"] = args.count / (t2 - t1)
            print(f"virtuoso: N-Quads of {args.count:,} assets written in {t1 - t0:.1f} s, "
                  f"bulk-loaded and checkpointed in {t2 - t1:.1f} s", flush=True)
        if args.load_only:
            print(json.dumps(setup, indent=1))
            return 0
        tokens = work / "tokens.json"
        neso, fsp = dev_token(tokens, "NESO", "NESO"), dev_token(tokens, ORGS[0], "FSP")
        ids = [fill_id(1, n) for n in range(args.count)]
        results: dict[str, dict[str, Any]] = {}
        if args.copy_index:
            on_virtuoso.mkdir(parents=True, exist_ok=True)
        for label, data, env, stores in (
                ("embedded", embedded, {}, [embedded / "store", embedded / "journal"]),
                ("virtuoso", on_virtuoso, {"FMAR_SPARQL_URL": server.url}, [database])):
            print(f"{label}: load average {os.getloadavg()[0]:.1f}", flush=True)
            copied = args.copy_index and label == "virtuoso"
            if copied:  # the same records: the same index (checked by the runs without)
                for name in (f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm"):
                    (on_virtuoso / name).unlink(missing_ok=True)
                shutil.copyfile(embedded / INDEX_FILE, on_virtuoso / INDEX_FILE)
            node, first, again = started_twice(data, tokens, env, keep_index=copied)
            try:
                results[label] = {
                    "first start, index copied (s)" if copied else
                    "first start, index built (s)": first, "start-up (s)": again,
                    **measure_node(node, neso, fsp, ids, args.reads, args.page_reps),
                    **sparql_and_aggregate(node, neso, fsp, args.sparql_reps)}
            finally:
                node.stop()
            results[label]["store on disk (MB)"] = sum(dir_size(d) for d in stores) / 1e6
            results[label]["listing index on disk (MB)"] = sum(
                f.stat().st_size for f in data.glob(f"{INDEX_FILE}*")) / 1e6
        if not args.copy_index:
            results["virtuoso"]["same listing index as embedded"] = same_index(
                embedded / INDEX_FILE, on_virtuoso / INDEX_FILE)
        results["virtuoso"]["virtuoso-t RSS at rest (MB)"] = rss_mb(server.process.pid)
        results["virtuoso"]["virtuoso-t VmHWM (MB)"] = rss_mb(server.process.pid, "VmHWM")
    finally:
        server.stop()
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average after {os.getloadavg()[0]:.1f}")
    print("set-up (measured, this run): " + json.dumps(setup))
    report(results, args.count, max(1, args.count // len(ORGS)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="assets per node")
    parser.add_argument("--load", choices=("bulk", "node"), default="bulk",
                        help="bulk: straight to each store (Virtuoso's bulk loader); "
                             "node: through POST /assets/bulk")
    parser.add_argument("--data", type=Path, help="--load bulk: a directory kept after the "
                        "run; stores already loaded there are reused (not loaded again)")
    parser.add_argument("--load-only", action="store_true", help="--load bulk: load, then stop")
    parser.add_argument("--per-file", type=int, default=50_000,
                        help="--load bulk: assets per N-Quads file")
    parser.add_argument("--loaders", type=int, default=2,
                        help="--load bulk: parallel rdf_loader_run() sessions")
    parser.add_argument("--copy-index", action="store_true",
                        help="--load bulk: give the node on Virtuoso a copy of the embedded "
                             "node's listing index (the same records) instead of building it "
                             "from Virtuoso at its first start (runs without it check that "
                             "both are the same)")
    parser.add_argument("--page-reps", type=int, default=30, help="--load bulk: pages timed")
    parser.add_argument("--sparql-reps", type=int, default=5,
                        help="--load bulk: COUNT and aggregate repetitions")
    parser.add_argument("--chunk", type=int, default=10_000,
                        help="--load node: assets per bulk upload")
    parser.add_argument("--reads", type=int, default=300, help="random single reads")
    parser.add_argument("--workers", type=int, default=2,
                        help="--load node: node validation workers")
    parser.add_argument("--buffers", type=int, default=100_000,
                        help="Virtuoso NumberOfBuffers (8 KB pages; 100000 is ~800 MB)")
    args = parser.parse_args(argv)
    return bulk(args) if args.load == "bulk" else through_the_node(args)


if __name__ == "__main__":
    raise SystemExit(main())
