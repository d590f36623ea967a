"""One node at scale (issue #8 item 5): start-up, memory at rest, reads, pages and export.

    nice -n 10 .venv/bin/python -m tests.bench.bench_one_node --assets 20000

What it does, all in one run, each figure measured here (nothing hard-coded):

1. writes `--assets` asset records of ten organisations straight to a new node's store
   (`tests.bench.bench_federation.fill`: one streamed bulk load, no validation, no audit
   entries: the fastest honest way to get a large store; registration has its own
   benchmark, bench_register.py);
2. starts `fmar serve` on it (one process, loopback): the first start builds the listing
   index from the store (IDX-002); then stops it and starts it again: "start-up" is the
   second start, from the command to `/health` answering 200, with the index on disk;
3. RSS of the node process at rest (VmRSS after start-up, and again after the reads and
   pages below, a few seconds idle);
4. `GET /assets/{id}` of random assets as NESO: p50/p99 of the client round trip and of
   the server's own time (`Server-Timing: app;dur=`);
5. `GET /assets?limit=100` pages as NESO: the first page and a page from the middle (a
   cursor), unfiltered and with `category=BESS`;
6. `GET /assets/export?format=csv` as the first organisation (its own assets, a tenth of
   the store), streamed and counted line by line: assets/s, and the peak RSS of the node
   during the export (VmRSS sampled every 20 ms, and VmHWM);
7. the baseline: the same node started again with `FMAR_LISTING_INDEX=false` (every
   listing and export on the record store, as before the index), the same reads, pages
   (fewer repetitions: each is slow) and export.

Targets (issue #8 item 5, at 1,000,000 assets): start-up <= 10 s, RSS at rest <= 1 GB,
read p50 <= 5 ms, page p50 <= 50 ms, export >= 20,000 assets/s in constant memory.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from node.index.listing import INDEX_FILE
from tests.bench.bench_federation import ORGS, fill, fill_id, pct
from tests.bench.bench_register import proc_status
from tests.harness.processes import RATE_LIMITS_OFF, ServedNode, dev_token

TARGETS = {"start-up (s)": "<= 10", "RSS at rest (MB)": "<= 1024", "read p50 (ms)": "<= 5",
           "page p50 (ms)": "<= 50", "export (assets/s)": ">= 20000"}


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    return (proc_status(pid, key) or 0) / 1024  # type: ignore[arg-type]


def timed_gets(client: httpx.Client, urls: list[str]) -> tuple[list[float], list[float]]:
    """Client round trips and server times (ms) of each GET, which must answer 200."""
    client.get(urls[0])  # warm-up
    rounds, server = [], []
    for url in urls:
        started = time.perf_counter()
        r = client.get(url)
        rounds.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        timing = r.headers.get("server-timing", "")
        if "dur=" in timing:
            server.append(float(timing.split("dur=")[1].split(",")[0]))
    return rounds, server


class Peak:
    """The highest VmRSS of a process while the `with` runs (sampled every 20 ms)."""

    def __init__(self, pid: int):
        self.pid, self.mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.mb = max(self.mb, rss_mb(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(node: ServedNode, neso: str, fsp: str, ids: list[str], reads: int,
            page_reps: int) -> dict[str, Any]:
    """Every figure of one started node (see the module's docstring, 3-6)."""
    out: dict[str, Any] = {"RSS after start-up (MB)": rss_mb(node.pid)}
    with httpx.Client(base_url=node.url, timeout=600,
                      headers={"Authorization": f"Bearer {neso}"}) as client:
        sample = random.Random(7).sample(ids, min(reads, len(ids)))
        rounds, server = timed_gets(client, [f"/assets/{i}" for i in sample])
        out["read p50 (ms)"] = statistics.median(rounds)
        out["read p99 (ms)"] = pct(rounds, 0.99)
        out["read p50, server (ms)"] = statistics.median(server) if server else None
        for label, query in (("", ""), (", BESS", "&category=BESS")):
            first = client.get(f"/assets?limit=1000{query}").json()
            middle = first["items"][len(first["items"]) // 2]["AssetId"]
            for where, after in (("first", ""), ("cursor", f"&after={middle}")):
                rounds, server = timed_gets(
                    client, [f"/assets?limit=100{query}{after}"] * page_reps)
                out[f"page p50{label} {where} (ms)"] = statistics.median(rounds)
                out[f"page p50{label} {where}, server (ms)"] = (
                    statistics.median(server) if server else None)
    time.sleep(3)
    out["RSS at rest (MB)"] = rss_mb(node.pid)
    with httpx.Client(base_url=node.url, timeout=600,
                      headers={"Authorization": f"Bearer {fsp}"}) as client, \
            Peak(node.pid) as peak:
        started = time.perf_counter()
        lines = 0
        with client.stream("GET", "/assets/export", params={"format": "csv"}) as r:
            assert r.status_code == 200, r.read()[:300]
            for _ in r.iter_lines():
                lines += 1
        seconds = time.perf_counter() - started
    out["export (assets)"] = lines - 1  # the header line
    out["export (assets/s)"] = (lines - 1) / seconds
    out["export peak RSS (MB)"] = peak.mb
    out["VmHWM after export (MB)"] = rss_mb(node.pid, "VmHWM")
    return out


def start(data: Path, tokens: Path, env: dict[str, str]) -> tuple[ServedNode, float]:
    started = time.perf_counter()
    node = ServedNode(data, tokens, env={**RATE_LIMITS_OFF, **env}, timeout=7200)
    return node, time.perf_counter() - started


def started_twice(data: Path, tokens: Path, env: dict[str, str],
                  keep_index: bool = False) -> tuple[ServedNode, float, float]:
    """The node started on its store without a listing index (the first start builds it,
    IDX-002; `keep_index`: with the one in place), stopped, and started again: (the
    running node, first start s, start-up s)."""
    for name in () if keep_index else (INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm"):
        (data / name).unlink(missing_ok=True)
    node, first = start(data, tokens, env)
    print(f"first start{'' if keep_index else ' (listing index built from the store)'}: "
          f"{first:.1f} s", flush=True)
    node.stop()
    node, again = start(data, tokens, env)
    return node, first, again


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=300, help="single reads timed")
    parser.add_argument("--page-reps", type=int, default=30)
    parser.add_argument("--baseline-page-reps", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run with FMAR_LISTING_INDEX=false")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fmar-bench-one-node-"))
    data, tokens = work / "node", work / "tokens.json"
    try:
        started = time.perf_counter()
        fill(data, args.assets, ORGS, 1)
        print(f"{args.assets} assets written straight to the store in "
              f"{time.perf_counter() - started:.1f} s (set-up, not measured)", flush=True)
        per_org = max(1, args.assets // len(ORGS))
        ids = [fill_id(1, n) for n in range(args.assets)]
        neso = dev_token(tokens, "NESO", "NESO")
        fsp = dev_token(tokens, ORGS[0], "FSP")

        results: dict[str, dict[str, Any]] = {}
        node, _, again = started_twice(data, tokens, {})
        try:
            results["index"] = {"start-up (s)": again,
                                **measure(node, neso, fsp, ids, args.reads, args.page_reps)}
        finally:
            node.stop()
        if not args.no_baseline:
            node, plain = start(data, tokens, {"FMAR_LISTING_INDEX": "false"})
            try:
                results["no index"] = {"start-up (s)": plain, **measure(
                    node, neso, fsp, ids, args.reads, args.baseline_page_reps)}
            finally:
                node.stop()
        report(results, args.assets, per_org)
    finally:
        if args.keep:
            print(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results: dict[str, dict[str, Any]], assets: int, exported: int) -> None:
    columns = list(results)
    line = "-" * (44 + 14 * (len(columns) + 1))
    print(f"\n{line}\nOne node, {assets} assets (export: one organisation's, {exported})\n{line}")
    print(f"{'':<44}" + "".join(f"{c:>14}" for c in columns) + f"{'target (1M)':>14}")
    for key in dict.fromkeys(k for c in columns for k in results[c]):  # each key once, in order
        cells = []
        for c in columns:
            value = results[c].get(key)
            cells.append(f"{value:>14.1f}" if isinstance(value, float) else f"{value!s:>14}")
        print(f"{key:<44}{''.join(cells)}{TARGETS.get(_target_key(key), ''):>14}")
    print(line)
    print(json.dumps(results, indent=1, default=str))


def _target_key(key: str) -> str:
    if key.startswith("page p50") and "server" not in key:
        return "page p50 (ms)"
    return key


if __name__ == "__main__":
    sys.exit(main())
