"""Benchmark: asset registration with full SHACL validation, through a real node.

    .venv/bin/python -m tests.bench.bench_register                 # 10,000 and 100,000
    .venv/bin/python -m tests.bench.bench_register --sizes 10000   # chosen sizes
    .venv/bin/python -m tests.bench.bench_register --quick         # small smoke run

What it does, all in one run:

1. starts a real node (`fmar serve`) as a separate process on a free loopback
   port, with a temporary data directory and a token from `fmar dev-token add`;
2. single-asset POST /assets (JSON), sequentially, on a nearly empty store:
   p50/p99 of the server-side time (`Server-Timing: app;dur=`) and of the client
   round trip;
3. bulk POST /assets/bulk?mode=all-or-nothing (CSV) of each size, full SHACL
   validation, stored in one transaction: assets/s over the client wall time;
4. single-asset POSTs again, now on the populated store;
5. peak RSS (VmHWM) of the node process, of its validation workers, and of
   this process;
6. the baseline, in this process after the node has stopped (so it has the
   cores to itself): pyshacl.validate over the whole submitted data graph of
   the same assets, built as `node.kinds.asset_records.check_rows` builds it, with the full
   shapes (shapes/asset.ttl + shapes/categories/*.ttl) and advanced=True. When
   the estimated time exceeds --baseline-budget seconds, it is measured on a
   sample and extrapolated linearly; the output says so;
7. a cProfile of one 500-asset validation chunk through node.kinds.asset_records.check_rows
   in this process, and the time of each compiled rule query, to show where
   validation time goes.

Nothing here is hard-coded: every figure printed is measured in this run.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.generate import COLUMNS, assets
from tests.harness.processes import ServedNode, dev_token

ORG = "FSP-ACME"
TARGET_BULK_RATE = 5000.0  # assets/s, bulk with full validation
TARGET_SINGLE_P50_MS = 10.0  # server-side
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- helpers


def fmar_command() -> list[str]:
    script = Path(sys.executable).with_name("fmar")
    if script.exists():
        return [str(script)]
    found = shutil.which("fmar")
    if found:
        return [found]
    return [sys.executable, "-c", "from node.cli import app; app()"]


def source_description() -> str:
    """Which code is being measured: the checkout's commit and whether node/ has local edits."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "node", "shapes"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return f"{ROOT} at commit {commit}" + (" with uncommitted changes in node/ or shapes/"
                                               if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        marker = ROOT / "COMMIT"
        extra = f" (export of commit {marker.read_text().strip()})" if marker.exists() else ""
        return f"{ROOT}{extra}"


def node_pythonpath() -> str:
    """The node runs the code next to this file, whatever an editable install points at."""
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def proc_status(pid: int | str, key: str) -> int | None:
    """A kB figure from /proc/<pid>/status (VmHWM, VmRSS), or None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def server_ms(response: httpx.Response) -> float:
    header = response.headers.get("server-timing", "")
    for part in header.split(";"):
        if part.strip().startswith("dur="):
            return float(part.strip()[4:])
    raise RuntimeError(f"no Server-Timing duration in {header!r}")


def csv_text(items: list[dict[str, Any]]) -> str:
    """The same CSV as `python -m examples.generate --format csv`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for asset in items:
        writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in asset.items()})
    return out.getvalue()


def csv_rows(text: str) -> Iterator[dict[str, str]]:
    """The rows as the node reads them (node.inputs.rows_from_csv: empty cells dropped)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    for cells in reader:
        yield {h: c for h, c in zip(header, cells) if c.strip()}


def kb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1024:,.0f} MiB"


# ---------------------------------------------------------------- the node


class Node:
    def __init__(self, workdir: Path, workers: int, listing_index: bool = True):
        self.workdir = workdir
        tokens = workdir / "tokens.json"
        self.token = dev_token(tokens, ORG)
        started = time.perf_counter()
        self.served = ServedNode(workdir / "data", tokens, log=workdir / "node.log",
                                 workers=workers, command=fmar_command(), timeout=120,
                                 env={"PYTHONPATH": node_pythonpath(),
                                      "FMAR_LISTING_INDEX": str(listing_index).lower()})
        self.startup_s = time.perf_counter() - started
        self.proc, self.url = self.served.process, self.served.url
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=None
        )

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def cpu(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in self.pids()}

    def stop(self) -> None:
        self.client.close()
        self.served.stop()


# ---------------------------------------------------------------- measurements


@dataclass
class Singles:
    label: str
    server: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)


@dataclass
class Bulk:
    size: int
    wall_s: float
    server_s: float
    stored: int
    node_cpu_s: float  # node main process
    workers_cpu_s: float  # validation worker processes
    other_cpu_s: float  # the rest of the machine (other work on the shared cores)
    start: int = 0  # generator offset of the first asset (the baseline regenerates them)

    @property
    def rate(self) -> float:
        return self.size / self.wall_s


@dataclass
class Baseline:
    size: int
    measured_on: int
    build_s: float
    validate_s: float  # for `measured_on` assets
    conforms: bool
    results: int

    @property
    def extrapolated(self) -> bool:
        return self.measured_on != self.size

    @property
    def rate(self) -> float:
        return self.measured_on / self.validate_s

    @property
    def estimated_s(self) -> float:
        return self.validate_s * self.size / self.measured_on


def single_posts(node: Node, label: str, count: int, start: int) -> Singles:
    out = Singles(label)
    for asset in assets(count, ORG, seed=start, start=start):
        t0 = time.perf_counter()
        response = node.client.post("/assets", json=asset)
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 201:
            raise RuntimeError(f"POST /assets -> {response.status_code}: {response.text[:1000]}")
        out.client.append(elapsed)
        out.server.append(server_ms(response))
    return out


def bulk_post(node: Node, size: int, start: int) -> Bulk:
    body = csv_text(list(assets(size, ORG, seed=start, start=start))).encode()
    cpu_before, busy_before = node.cpu(), machine_busy_seconds()[0]
    bench_before = cpu_seconds(os.getpid())
    t0 = time.perf_counter()
    response = node.client.post(
        "/assets/bulk", params={"mode": "all-or-nothing"}, content=body,
        headers={"Content-Type": "text/csv"},
    )
    wall = time.perf_counter() - t0
    cpu_after, busy_after = node.cpu(), machine_busy_seconds()[0]
    bench_cpu = cpu_seconds(os.getpid()) - bench_before
    if response.status_code != 200:
        raise RuntimeError(f"bulk {size} -> {response.status_code}: {response.text[:2000]}")
    report = response.json()
    if report["stored"] != size or report["rejected"]:
        raise RuntimeError(f"bulk {size}: stored {report['stored']}, rejected {report['rejected']}")
    main_pid = node.proc.pid
    node_cpu = cpu_after.get(main_pid, 0) - cpu_before.get(main_pid, 0)
    workers_cpu = sum(cpu_after[p] - cpu_before.get(p, 0.0) for p in cpu_after if p != main_pid)
    other = (busy_after - busy_before) - node_cpu - workers_cpu - bench_cpu
    return Bulk(size, wall, server_ms(response) / 1000, report["stored"], node_cpu, workers_cpu,
                max(other, 0.0), start)


# ---------------------------------------------------------------- the baseline


def full_shapes():
    from rdflib import Graph

    shapes = Graph()
    shapes.parse(ROOT / "shapes" / "asset.ttl")
    for path in sorted((ROOT / "shapes" / "categories").glob("*.ttl")):
        shapes.parse(path)
    return shapes


def data_graph(rows: list[dict[str, str]]):
    """The submitted data graph as rdflib terms: what node.kinds.asset_records.check_rows validates
    (each asset typed fmar:Asset and with its category class, values converted by
    node.asset_fields.to_term, the node's own CSV-value-to-RDF conversion)."""
    from rdflib import RDF, Graph, URIRef

    from common.vocab import FMAR, code_iri
    from node.asset_fields import FIELD_BY_NAME, to_term
    from node.kinds.asset_records import new_asset_iri

    data = Graph()
    for fields in rows:
        subject = URIRef(new_asset_iri())
        data.add((subject, RDF.type, FMAR.Asset))
        data.add((subject, RDF.type, code_iri("AssetCategory", fields["AssetCategory"])))
        for name, value in fields.items():
            field_ = FIELD_BY_NAME[name]
            data.add((subject, field_.predicate, to_term(field_, value)))
    return data


def pyshacl_run(rows: list[dict[str, str]], shapes) -> tuple[float, float, bool, int]:
    import pyshacl
    from rdflib import RDF, Graph

    from common.vocab import SH

    t0 = time.perf_counter()
    data = data_graph(rows)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    conforms, report, _ = pyshacl.validate(data, shacl_graph=shapes, advanced=True)
    validate = time.perf_counter() - t0
    assert isinstance(report, Graph)
    results = len(list(report.subjects(RDF.type, SH.ValidationResult)))
    return build, validate, bool(conforms), results


def baselines_for(bulks: list[Bulk], shapes, budget_s: float, samples: list[int],
                  log: Any) -> list[Baseline]:
    """Samples are measured once (growing until one would blow the budget for the largest
    size); each size is then measured in full if its estimate fits the budget, else
    extrapolated linearly from the largest sample."""
    first = bulks[0]
    all_rows = list(csv_rows(csv_text(list(assets(max(b.size for b in bulks), ORG,
                                                  seed=first.start, start=first.start)))))
    measured: list[Baseline] = []
    for sample in samples:
        if sample >= len(all_rows):
            break
        build, validate, conforms, results = pyshacl_run(all_rows[:sample], shapes)
        measured.append(Baseline(sample, sample, build, validate, conforms, results))
        print(f"    baseline sample {sample:,}: validate {validate:.1f} s "
              f"({sample / validate:,.2f} assets/s), graph build {build:.2f} s, "
              f"conforms={conforms}", file=log, flush=True)
        if validate * 2 > budget_s:  # the next (doubled) sample would not fit
            break
    out = []
    for bulk in bulks:
        rows = list(csv_rows(csv_text(list(assets(bulk.size, ORG, seed=bulk.start,
                                                  start=bulk.start)))))
        best = measured[-1] if measured else None
        if best is None or best.validate_s * bulk.size / best.measured_on <= budget_s:
            build, validate, conforms, results = pyshacl_run(rows, shapes)
            out.append(Baseline(bulk.size, bulk.size, build, validate, conforms, results))
        else:
            out.append(Baseline(bulk.size, best.measured_on, best.build_s, best.validate_s,
                                best.conforms, best.results))
    return out


# ---------------------------------------------------------------- where the time goes


def chunk_profile(chunk_size: int) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]],
                                             bool]:
    """One bulk chunk through node.kinds.asset_records.check_rows in this process, under cProfile.

    Returns (total ms, time by phase, slowest compiled rules, pyshacl fallback used)."""
    import cProfile
    import pstats

    import pyoxigraph as ox

    from common.vocab import FMAR
    from node.identity import Caller
    from node.inputs import Row
    from node.kinds.asset_records import check_rows, new_asset_iri
    from node.validation import ShapeSet

    # The node's compiled shape set: core shape plus every category's graph (the same
    # triples as shapes/asset.ttl + shapes/categories/*.ttl, see node.kinds.categories.Catalogue).
    shapes = ShapeSet(full_shapes(), FMAR.Asset)
    states = {p.stem: False for p in (ROOT / "shapes" / "categories").glob("*.ttl")}
    caller = Caller(subject="bench", organisation_id=ORG, roles=frozenset({"FSP"}),
                    scopes=frozenset({"assets:write"}))
    rows = list(csv_rows(csv_text(list(assets(chunk_size, ORG, seed=7, start=9_000_000)))))
    submitted = [(Row(i, fields=r), new_asset_iri()) for i, r in enumerate(rows, start=1)]
    check_rows(submitted[:10], shapes, states, caller)  # warm caches
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    checked = check_rows(submitted, shapes, states, caller)
    profiler.disable()
    total = (time.perf_counter() - t0) * 1000
    if not all(c.ok for c in checked):
        raise RuntimeError(f"valid chunk reported violations: {[c.violations for c in checked][:3]}")
    stats = pstats.Stats(profiler)
    phases: dict[str, float] = {}
    wanted = {
        "read CSV fields → terms (properties_from_json)": ("inputs.py", "properties_from_json", True),
        "load batch into Oxigraph (Store.load)": ("~", "<method 'load' of 'pyoxigraph.Store'", False),
        "run compiled rule queries (Store.query)": ("~", "<method 'query' of 'pyoxigraph.Store'", False),
        "iterate query solutions": ("~", "<method '__next__' of 'pyoxigraph.QuerySolutions'", False),
        "pyshacl fallback (pyshacl.validate)": ("pyshacl", "validate", True),
    }
    for (filename, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        for label, (file_part, func, cumulative) in wanted.items():
            if (file_part == "~" and filename == "~" and name.startswith(func)) or (
                    file_part != "~" and file_part in filename and name == func
                    and (file_part != "pyshacl"
                         or filename.endswith(("pyshacl/validate.py", "pyshacl/entrypoints.py")))):
                phases[label] = phases.get(label, 0.0) + (cumtime if cumulative else tottime) * 1000
    rule_times: list[tuple[str, float]] = []
    rules = getattr(shapes, "rules", None)
    if rules:
        lines = []
        for (row, iri), c in zip(submitted, checked):
            lines.append(f"<{iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{FMAR.Asset}> .")
            lines.append(f"<{iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                         f"<https://id.fmar.uk/def/code/AssetCategory/{row.fields['AssetCategory']}> .")
            lines.extend(f"<{iri}> <{p}> {o} ." for p, o in (c.properties or []))
        try:
            store = ox.Store()
            store.load("\n".join(lines).encode(), format=ox.RdfFormat.N_TRIPLES)
            for rule in rules:
                t0 = time.perf_counter()
                list(store.query(rule.query))
                rule_times.append((rule.rule, (time.perf_counter() - t0) * 1000))
            rule_times.sort(key=lambda x: -x[1])
        except Exception as exc:  # noqa: BLE001 (internals moved on; the profile still holds)
            print(f"    per-rule timing unavailable: {exc!r}", flush=True)
            rule_times = []
    return total, sorted(phases.items(), key=lambda x: -x[1]), rule_times, \
        getattr(shapes, "fallback", None) is not None


# ---------------------------------------------------------------- report


def met(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FMAR registration benchmark")
    parser.add_argument("--sizes", default="10000,100000", help="bulk sizes, comma-separated")
    parser.add_argument("--quick", action="store_true",
                        help="small run: sizes 1000,5000, 50 single POSTs, small baseline")
    parser.add_argument("--posts", type=int, default=300, help="single POSTs per phase")
    parser.add_argument("--workers", type=int, default=2, help="node validation workers")
    parser.add_argument("--baseline-budget", type=float, default=600.0,
                        help="seconds; a baseline estimated to take longer is sampled and "
                        "extrapolated")
    parser.add_argument("--baseline-samples", default="250,500,1000",
                        help="sample sizes tried for an extrapolated baseline")
    parser.add_argument("--no-listing-index", action="store_true",
                        help="the node without its listing index (node/index/), as before it")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the in-process profile of one chunk")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    posts = args.posts
    samples = [int(s) for s in args.baseline_samples.split(",")]
    if args.quick:
        sizes, posts, samples = [1000, 5000], 50, [50, 100]
        args.baseline_budget = min(args.baseline_budget, 60.0)
    log = sys.stdout

    print(f"FMAR registration benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
    with open("/proc/meminfo") as f:
        mem_total = int(f.readline().split()[1])
    print(f"machine: {os.cpu_count()} CPUs, {mem_total / 1024 / 1024:.1f} GiB RAM, "
          f"Python {sys.version.split()[0]}, load average at start "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"code measured: {source_description()}", flush=True)
    print(f"sizes {sizes}, {posts} single POSTs per phase, node workers {args.workers}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="fmar-bench-"))
    next_start = 1_000_000  # distinct assets for every request
    bulks: list[Bulk] = []
    try:
        node = Node(workdir, args.workers, not args.no_listing_index)
        print(f"node up on {node.url} in {node.startup_s:.1f} s (pid {node.proc.pid})", flush=True)
        try:
            single_posts(node, "warm-up", 10, start=next_start)
            next_start += 10
            empty = single_posts(node, "store nearly empty", posts, start=next_start)
            next_start += posts
            print(f"single POSTs on an empty store: server p50 {percentile(empty.server, .5):.1f} ms",
                  flush=True)
            t0 = time.perf_counter()
            warm = bulk_post(node, 1000, start=next_start)
            next_start += 1000
            print(f"bulk warm-up 1,000 (starts the validation worker processes): "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            for size in sizes:
                bulk = bulk_post(node, size, start=next_start)
                next_start += size
                bulks.append(bulk)
                print(f"bulk {size:,}: {bulk.wall_s:.1f} s, {bulk.rate:,.0f} assets/s "
                      f"(node CPU {bulk.node_cpu_s:.0f} s, workers CPU {bulk.workers_cpu_s:.0f} s, "
                      f"other work on the machine {bulk.other_cpu_s:.0f} CPU-s)", flush=True)
            stored_total = 10 + posts + 1000 + sum(sizes)
            full = single_posts(node, f"store with ~{stored_total:,} assets", posts, start=next_start)
            next_start += posts
            node_hwm = proc_status(node.proc.pid, "VmHWM")
            worker_hwm = {pid: proc_status(pid, "VmHWM") for pid in descendants(node.proc.pid)}
        finally:
            node.stop()
        del warm

        print("baseline: pyshacl.validate(whole data graph, full shapes, advanced=True) ...",
              flush=True)
        shapes = full_shapes()
        baselines = baselines_for(bulks, shapes, args.baseline_budget, samples, log)
        for b in baselines:
            how = (f"measured on {b.measured_on:,}, extrapolated linearly" if b.extrapolated
                   else "measured in full")
            print(f"    baseline {b.size:,}: {b.rate:,.2f} assets/s ({how}); "
                  f"conforms={b.conforms}, results={b.results}", flush=True)
        profile = None if args.no_breakdown else chunk_profile(500)
        bench_hwm = proc_status("self", "VmHWM")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # ------------------------------------------------------------ the table
    line = "-" * 96
    print("\n" + line)
    print("Bulk registration, CSV, mode=all-or-nothing, full SHACL validation, over HTTP")
    print(line)
    print(f"{'assets':>9} {'node wall s':>12} {'node /s':>10} {'baseline /s':>12} "
          f"{'baseline':>34} {'ratio':>8}")
    for bulk, b in zip(bulks, baselines):
        how = (f"sample {b.measured_on:,}, extrapolated: {b.estimated_s:,.0f} s" if b.extrapolated
               else f"full run: {b.validate_s:,.0f} s")
        print(f"{bulk.size:>9,} {bulk.wall_s:>12.1f} {bulk.rate:>10,.0f} {b.rate:>12,.1f} "
              f"{how:>34} {bulk.rate / b.rate:>7.1f}x")
    print("  ratio = node assets/s ÷ baseline assets/s (baseline: validation only, graph build "
          "excluded; node: parse + validate + store + HTTP)")
    for bulk in bulks:
        print(f"  {bulk.size:,}: node main CPU {bulk.node_cpu_s:.0f} s, workers CPU "
              f"{bulk.workers_cpu_s:.0f} s over {bulk.wall_s:.0f} s wall "
              f"({(bulk.node_cpu_s + bulk.workers_cpu_s) / bulk.wall_s:.2f} cores busy); "
              f"other work on the machine meanwhile: {bulk.other_cpu_s:.0f} CPU-s")
    print(line)
    print(f"Single-asset POST /assets (JSON), {posts} sequential distinct assets, ms")
    print(line)
    print(f"{'store':<28} {'server p50':>11} {'server p99':>11} {'client p50':>11} "
          f"{'client p99':>11} {'server mean':>12}")
    for s in (empty, full):
        print(f"{s.label:<28} {percentile(s.server, .5):>11.1f} {percentile(s.server, .99):>11.1f} "
              f"{percentile(s.client, .5):>11.1f} {percentile(s.client, .99):>11.1f} "
              f"{statistics.fmean(s.server):>12.1f}")
    print(line)
    print("Peak RSS (VmHWM)")
    print(line)
    print(f"  node process (pid {node.proc.pid}): {kb(node_hwm)}")
    for pid, hwm in worker_hwm.items():
        print(f"  node child pid {pid} (validation worker / resource tracker): {kb(hwm)}")
    print(f"  benchmark process (client + baseline graphs): {kb(bench_hwm)} "
          f"(ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB)")
    if profile:
        total, phases, rule_times, fallback = profile
        print(line)
        print(f"Where validation time goes: one 500-asset chunk through check_rows in one process, "
              f"cProfile: {total:.0f} ms ({500 / total * 1000:,.0f} assets/s per core)")
        print(line)
        for label, ms in phases:
            print(f"  {label:<50} {ms:>8.0f} ms  {ms / total:>5.0%}")
        rest = total - sum(ms for _, ms in phases)
        print(f"  {'everything else in check_rows (Python)':<50} {rest:>8.0f} ms  {rest / total:>5.0%}")
        print(f"  pyshacl fallback graph in use: {fallback}")
        if rule_times:
            print(f"  compiled rule queries: {len(rule_times)}, "
                  f"{sum(t for _, t in rule_times):.0f} ms in all (no profiler); slowest:")
            for rule, ms in rule_times[:8]:
                print(f"    {rule:<18} {ms:>8.1f} ms")
    print(line)
    print("Targets")
    print(line)
    for bulk in bulks:
        print(f"  bulk {bulk.size:,} ≥ {TARGET_BULK_RATE:,.0f} assets/s with full validation: "
              f"{bulk.rate:,.0f} assets/s — {met(bulk.rate >= TARGET_BULK_RATE)}")
    for s in (empty, full):
        p50 = percentile(s.server, .5)
        print(f"  single POST p50 ≤ {TARGET_SINGLE_P50_MS:.0f} ms server-side ({s.label}): "
              f"{p50:.1f} ms — {met(p50 <= TARGET_SINGLE_P50_MS)}")
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
