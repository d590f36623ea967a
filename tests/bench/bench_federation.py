"""Benchmark: the SPARQL dataset restriction at scale, and federated query latency.

    .venv/bin/python -m tests.bench.bench_federation                  # defaults below
    .venv/bin/python -m tests.bench.bench_federation --quick          # small smoke run
    .venv/bin/python -m tests.bench.bench_federation --restriction 100000 --per-node 10000

Part 1 (in this process): an embedded store with N asset records (the node's own
record layout, written straight to the store) and, per caller scope (NESO = all,
an FSP = 1/10 of the assets, a DNO = 3 of 14 areas):
  - time to list the allowed graph names (node.query.dataset);
  - a selective query and a full count, over the restricted dataset
    (`default_graph`/`named_graphs` = the allowed list) beside the same query
    unrestricted (the baseline: no policy at all);
  - the same question as a generated query with the policy inside the query
    (what the REST form and aggregates use);
  - the fork overhead of the isolated executor (`SELECT ... LIMIT 1`).

Part 2 (real processes): K nodes (`fmar serve`, static tokens, plain HTTP on
loopback) each holding --per-node assets, and "all-in-one" nodes holding K x
--per-node assets. For K in 1, 2, 5, 10: p50/p99 of the federated filter query and
of the federated report (counts and capacity by category x DNO area) and of the capacity
report of issue 15 (`capacity`: three tables of five dimensions), beside the
slowest single node's p50, a sequential fan-out and one node holding all the data.

Part 3 (real processes, the timings the tests assert only as behaviour): a federated
query with a node paused (SIGSTOP) against its deadline, and /health latency on a
node while it runs a query that is stopped at its time limit.

Part 4 (real processes, a trust framework, mTLS): where a federated question's time goes
(token, TLS, node, merge), with fresh connections and tokens beside a kept-alive client
with cached tokens, and through a node's /federation endpoint.
Every figure is measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))




from common.vocab import ASSET_BASE
from examples.generate import assets
from node import policy
from node.federation import joins
from node.federation.engine import Engine, NodeTarget
from node.identity import StaticTokenAuthenticator
from node.inputs import properties_from_json
from node.kinds.asset_records import record_ntriples
from node.query import filters
from node.query.aggregates import AggregateSpec
from node.query.dataset import list_allowed
from node.query.execute import Executor, Limits
from node.query.filters import AssetFilter
from node.reports.builtin import BUILTIN
from node.reports.run import request_body
from node.store import GraphWrite, open_store
from node.store.base import trig_text
from tests.harness.processes import ServedNode

ORGS = [f"FSP-{i:02d}" for i in range(10)]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def fill_id(seed: int, n: int) -> str:
    """The ID `fill` gives its `n`-th asset: a UUID in form (`GET /assets/{id}` reads it)."""
    return f"{seed:04d}{n // 10_000:04d}-{n % 10_000:04d}-4000-8000-000000000000"


def fill_records(count: int, orgs: list[str], seed: int) -> Iterator[GraphWrite]:
    """The asset records `fill` writes, one graph each in the node's layout (version 1, as
    registered; IDs by `fill_id`), split evenly between `orgs`."""
    now = "2026-11-26T00:00:00Z"
    per_org = max(1, count // len(orgs))
    n = 0
    for k, org in enumerate(orgs):
        for row in assets(min(per_org, count - n), org, seed=seed + k, start=n):
            iri = ASSET_BASE + fill_id(seed, n)
            n += 1
            yield GraphWrite(iri, record_ntriples(
                iri, properties_from_json(row), version=1, created=now, modified=now),
                replace=False)


def fill(data_dir: Path, count: int, orgs: list[str], seed: int) -> None:
    """Asset records in the node's layout, written straight to the store (no validation:
    this benchmark is about reading)."""
    store = open_store(data_dir)
    spool = data_dir.parent / f"{data_dir.name}.trig"
    with spool.open("w") as out:  # set-up, not measured: one streamed bulk load
        for write in fill_records(count, orgs, seed):
            out.write(trig_text([write]))
    store.load_file(spool, transactional=False)
    spool.unlink()
    store.close()
    del store
    gc.collect()


def timed(fn, reps: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


# ------------------------------------------------------------------ part 1

def part1(size: int) -> None:
    print(f"\n== Part 1: dataset restriction, {size} assets in one embedded store")
    base = Path(tempfile.mkdtemp(prefix="fmar-bench-"))
    started = time.perf_counter()
    fill(base, size, ORGS, 1)
    print(f"loaded in {time.perf_counter() - started:.1f} s")
    store = open_store(base)
    raw = store._store
    scopes = {
        "NESO (all)": policy.ReadScope(True, frozenset(), frozenset()),
        "FSP (1/10)": policy.ReadScope(False, frozenset({ORGS[0]}), frozenset()),
        "DNO (3 areas)": policy.ReadScope(False, frozenset(),
                                          frozenset({"UKPN_EPN", "UKPN_LPN", "UKPN_SPN"})),
    }
    fmar = "https://id.fmar.uk/def/fmar#"
    selective = (f"SELECT ?a WHERE {{ ?a <{fmar}assetName> \"Bess 77\" }}")
    count = f"SELECT (COUNT(?a) AS ?n) WHERE {{ ?a <{fmar}ratedCapacity> ?c }}"
    print(f"{'scope':<15}{'graphs':>8}{'list ms':>9}{'sel. restricted':>17}{'sel. none':>11}"
          f"{'count restr.':>14}{'count none':>12}{'policy-in-query':>17}")
    for label, scope in scopes.items():
        listing = timed(lambda s=scope: list_allowed(store, s), 3)
        names = list_allowed(store, scope)
        graphs = [ox.NamedNode(g) for g in names]

        def restricted(q: str, g: list = graphs) -> None:  # type: ignore[type-arg]
            list(raw.query(q, default_graph=g, named_graphs=g))

        sel_r = timed(lambda: restricted(selective), 3)
        sel_n = timed(lambda: list(raw.query(selective.replace("WHERE { ?a", "WHERE { GRAPH ?g "
                                                                "{ ?a").replace("}", "} }", 1))),
                      3)
        cnt_r = timed(lambda: restricted(count), 2)
        cnt_n = timed(lambda: list(raw.query(count.replace("{ ?a", "{ GRAPH ?g { ?a")
                                             .replace("?c }", "?c } }"))), 2)
        generated = filters.select_query(AssetFilter.parse({"category": "BESS",
                                                            "dno": "UKPN_EPN",
                                                            "min_capacity": 1000,
                                                            "limit": 1000}), scope)
        gen = timed(lambda q=generated: list(raw.query(q)), 3)
        print(f"{label:<15}{len(names):>8}{statistics.median(listing):>9.1f}"
              f"{statistics.median(sel_r):>17.1f}{statistics.median(sel_n):>11.2f}"
              f"{statistics.median(cnt_r):>14.1f}{statistics.median(cnt_n):>12.1f}"
              f"{statistics.median(gen):>17.1f}")
    ex = Executor(Limits(timeout=10, max_rows=10, concurrent=1))
    names = list_allowed(store, scopes["FSP (1/10)"])
    q = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1"
    ex.run(store, q, names, "json", "")  # starts the worker and makes the checkpoint
    worker = timed(lambda: ex.run(store, q, names, "json", ""), 10)
    graphs = [ox.NamedNode(g) for g in names]
    direct = timed(lambda: list(raw.query(q, default_graph=graphs, named_graphs=graphs)), 10)
    print(f"executor, FSP scope, LIMIT 1: query worker p50 {statistics.median(worker):.1f} ms, "
          f"in-process p50 {statistics.median(direct):.1f} ms")
    ex.close()
    store.close()


# ------------------------------------------------------------------ part 2

async def measure(urls: list[str], token: str, reps: int, what: str) -> dict[str, float]:
    from node.federation.tokens import StaticTokens

    spec_f = AssetFilter.parse({"category": "BESS", "dno": "UKPN_EPN", "min_capacity": 1000,
                                "limit": 100000})
    spec_a = AggregateSpec.parse({"group_by": "category,dno"})
    capacity = BUILTIN["capacity"]
    capacity_tables = {t.name: t.spec() for t in capacity.tables}
    capacity_body = request_body(capacity)
    targets = [NodeTarget(u) for u in urls]
    async with httpx.AsyncClient(timeout=60) as http:
        engine = Engine(http, StaticTokens(default=token), deadline=30)

        async def one(nodes: list[NodeTarget], warm_up: bool = False) -> None:
            if what == "capacity":  # the capacity report (issue 15): three 5-way tables
                answer = await engine.report(nodes, capacity_tables, capacity_body)
            else:
                answer = await (engine.assets(nodes, spec_f) if what == "filter"
                                else engine.aggregate(nodes, spec_a))
            assert warm_up or not answer["partial"], answer["nodes"]

        for _ in range(2):  # (a node's first answers may read a cold store: not measured)
            await one(targets, warm_up=True)
        par, seq = [], []
        singles: dict[str, list[float]] = {u: [] for u in urls}
        slowest_node, merge = [], []
        for _ in range(reps):
            started = time.perf_counter()
            await one(targets)
            par.append((time.perf_counter() - started) * 1000)
            slowest_node.append(max(engine.timing.node.values()))
            merge.append(engine.timing.merge)
            started = time.perf_counter()
            for t in targets:
                s0 = time.perf_counter()
                await one([t])
                singles[t.url].append((time.perf_counter() - s0) * 1000)
            seq.append((time.perf_counter() - started) * 1000)
    slowest = max(statistics.median(v) for v in singles.values())
    return {"p50": statistics.median(par), "p99": pct(par, 0.99), "seq_p50":
            statistics.median(seq), "slowest_single_p50": slowest,
            # inside the parallel fan-out: the slowest node's answer, and the merge
            "in_fanout_p50": statistics.median(slowest_node), "merge_p50": statistics.median(merge)}


REGULATOR_TOKEN = "bench-regulator"
DNO_TOKEN = "bench-dno"
DNO_AREAS = ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]


def _neso_token_file(tokens: Path, token: str) -> None:
    """A static-token file in which `token` is NESO's, with read and query scopes, and
    REGULATOR_TOKEN the regulator's (aggregates only, under disclosure control) and
    DNO_TOKEN a DNO's of three licence areas (its rights are a restriction in the query)."""
    tokens.write_text(json.dumps([{
        "token_sha256": StaticTokenAuthenticator.hash_token(token), "subject": "bench",
        "organisation_id": "NESO", "roles": ["NESO"],
        "scopes": ["assets:read", "sparql:query", "federation:query"]}, {
        "token_sha256": StaticTokenAuthenticator.hash_token(REGULATOR_TOKEN),
        "subject": "bench-regulator", "organisation_id": "OFGEM", "roles": ["Regulator"],
        "scopes": ["sparql:query", "federation:query"]}, {
        "token_sha256": StaticTokenAuthenticator.hash_token(DNO_TOKEN),
        "subject": "bench-dno", "organisation_id": "DNO-UKPN", "roles": ["DNO"],
        "dno_areas": DNO_AREAS,
        "scopes": ["assets:read", "sparql:query", "federation:query"]}]))


QUESTIONS = ("filter", "report", "capacity", "cap-reg", "oracle", "oracle-dno")


async def measure_oracle(urls: list[str], token: str, reps: int,
                         only: tuple[str, ...] = ()) -> None:
    """Issue 8 item 2: the federation tests' 12 oracle queries as NESO (or a DNO) through the real
    fan-out, each in both modes: `gather` (fragments shipped, joined over their union)
    and `distribute` (each node's own endpoint, answers concatenated). Per query and mode:
    p50/p99 of the federated answer, the slowest node asked alone (p50), the outcome
    (rows, or the refusal's code) and, for gather, the quads shipped and the join's p50.
    `only`: these of the queries (all when empty)."""
    from node.federation.tokens import StaticTokens
    from tests.federation.test_federation import PUSHED, QUERIES

    targets = [NodeTarget(u) for u in urls]
    print(f"{'oracle query':<22}{'mode':<11}{'fed p50':>9}{'fed p99':>9}{'slowest 1':>11}"
          f"{'outcome':>16}{'quads':>9}{'join p50':>10}")
    async with httpx.AsyncClient(timeout=120) as http:
        engine = Engine(http, StaticTokens(default=token), deadline=30)

        async def ask(nodes: list[NodeTarget], query: str, mode: str) -> dict:
            if mode != "unpushed":
                return await engine.sparql(nodes, query, mode=mode)
            pushed = joins._pushed  # the baseline: gather with no filter pushed
            joins._pushed = lambda found, whole: {}
            try:
                return await engine.sparql(nodes, query, mode="gather")
            finally:
                joins._pushed = pushed

        for name, query in {**QUERIES, **PUSHED}.items():
            if (only and name not in only) or (not only and name in PUSHED):
                continue
            pushed = bool(joins.plan(query).filtered)
            for mode in ("gather", "unpushed", "distribute") if pushed else ("gather",
                                                                            "distribute"):
                answer = await ask(targets, query, mode)  # warm-up, not measured
                times, joins_ms = [], []
                # a query refused or stopped at its deadline is measured once, not `reps` times
                failed = "error" in answer or answer.get("partial")
                for _ in range(1 if failed else reps):
                    started = time.perf_counter()
                    answer = await ask(targets, query, mode)
                    times.append((time.perf_counter() - started) * 1000)
                    joins_ms.append(answer.get("join_ms", float("nan")))
                singles = []
                for t in targets:
                    started = time.perf_counter()
                    await ask([t], query, mode)
                    singles.append((time.perf_counter() - started) * 1000)
                if "error" in answer:
                    outcome = answer["error"]["code"]
                elif "boolean" in answer:
                    outcome = str(answer["boolean"])
                elif "graph" in answer:
                    outcome = f"{answer['graph'].count(chr(10))} triples"
                else:
                    outcome = f"{len(answer['results']['bindings'])} rows"
                if answer.get("partial") and "error" not in answer:
                    outcome += " partial"
                quads = answer.get("fragment", {}).get("quads", "")
                print(f"{name:<22}{mode:<11}{statistics.median(times):>9.1f}"
                      f"{pct(times, 0.99):>9.1f}{max(singles):>11.1f}{outcome:>16}"
                      f"{quads!s:>9}{statistics.median(joins_ms):>10.1f}")
    print("slowest 1: the slowest node asked alone (one repetition each, after the "
          "federated runs); join p50: the gather stage's join over the shipped quads; "
          "unpushed: gather with no filter pushed into the fragments (the baseline)")


def part2(per_node: int, ks: list[int], reps: int, one_node: bool = True,
          data: Path | None = None, load_only: bool = False,
          questions: tuple[str, ...] = QUESTIONS, oracle_queries: tuple[str, ...] = ()
          ) -> None:
    """`data`: a directory kept between runs (nodes already filled there, with their
    index built, are reused); `load_only`: fill and start the nodes once, then stop."""
    print(f"\n== Part 2: federated latency, {per_node} assets per node, {reps} repetitions")
    base = data or Path(tempfile.mkdtemp(prefix="fmar-bench-fed-"))
    base.mkdir(parents=True, exist_ok=True)
    token, tokens = "bench-token", base / "tokens.json"
    _neso_token_file(tokens, token)
    kmax = max(ks)
    started = time.perf_counter()
    loaded = 0
    wanted = [(f"n{i}", per_node, [ORGS[i % len(ORGS)]], 100 + i) for i in range(kmax)] + [
        (f"all{k}", per_node * k, [ORGS[i % len(ORGS)] for i in range(k)], 100)
        for k in (ks if one_node else [])]
    for name, count, orgs, seed in wanted:
        done = base / f"{name}.filled-{count}"
        if not done.exists():
            fill(base / name, count, orgs, seed)
            done.touch()
            loaded += count
    print(f"loaded {loaded} assets in {time.perf_counter() - started:.0f} s")
    served: list[ServedNode] = []
    try:
        nodes = []
        started = time.perf_counter()  # each node builds its listing index at first start
        for i in range(kmax):
            served.append(ServedNode(base / f"n{i}", tokens, timeout=3600))
            nodes.append(served[-1].url)
        alls = {}
        for k in (ks if one_node else []):
            served.append(ServedNode(base / f"all{k}", tokens, timeout=3600))
            alls[k] = served[-1].url
        print(f"started {len(served)} nodes (listing index built from the store at a first "
              f"start) in {time.perf_counter() - started:.0f} s")
        if load_only:
            return
        print(f"{'query':<8}{'K':>3}{'assets':>9}{'fed p50':>9}{'fed p99':>9}"
              f"{'slowest 1':>11}{'ratio':>7}{'sequential':>12}{'one node all':>14}"
              f"{'node in fan-out':>17}{'merge':>7}")
        for label in questions:
            if label in ("oracle", "oracle-dno"):
                caller = "NESO" if label == "oracle" else f"a DNO of {', '.join(DNO_AREAS)}"
                for k in ks:
                    print(f"-- oracle set, K={k}, {per_node * k} assets, as {caller}")
                    asyncio.run(measure_oracle(nodes[:k], token if label == "oracle"
                                               else DNO_TOKEN, reps, oracle_queries))
                continue
            what, who = (("capacity", REGULATOR_TOKEN) if label == "cap-reg"
                         else (label, token))
            for k in ks:
                r = asyncio.run(measure(nodes[:k], who, reps, what))
                one = (asyncio.run(measure([alls[k]], who, reps, what)) if one_node
                       else {"p50": float("nan")})
                print(f"{label:<8}{k:>3}{per_node * k:>9}{r['p50']:>9.1f}{r['p99']:>9.1f}"
                      f"{r['slowest_single_p50']:>11.1f}"
                      f"{r['p50'] / r['slowest_single_p50']:>7.2f}{r['seq_p50']:>12.1f}"
                      f"{one['p50']:>14.1f}{r['in_fanout_p50']:>17.1f}{r['merge_p50']:>7.1f}")
        print("node in fan-out: p50 of the slowest node's answer within the parallel fan-out "
              "(vs 'slowest 1', the same node asked alone: the difference is the nodes "
              f"competing for this machine's {os.cpu_count()} cores); merge: p50 after the "
              "fan-out; cap-reg: the capacity report as the regulator (disclosure control at "
              "each node)")
    finally:
        for node in served:
            node.stop(signal.SIGTERM)


# ------------------------------------------------------------------ part 3

def part3(per_node: int, reps: int) -> None:
    """Wall-clock figures behind tests/federation/test_federation.py's behaviour checks."""
    import threading

    from node.federation.tokens import StaticTokens

    print(f"\n== Part 3: deadlines and a stopped query, {per_node} assets per node")
    base = Path(tempfile.mkdtemp(prefix="fmar-bench-deadline-"))
    token, tokens = "bench-token", base / "tokens.json"
    _neso_token_file(tokens, token)
    for i in range(2):
        fill(base / f"d{i}", per_node, [ORGS[i]], 300 + i)
    served: list[ServedNode] = []
    try:
        for i in range(2):
            served.append(ServedNode(base / f"d{i}", tokens))
        urls = [node.url for node in served]
        served[1].process.send_signal(signal.SIGSTOP)
        deadline = 2.0

        async def partial() -> float:
            async with httpx.AsyncClient(timeout=60) as http:
                engine = Engine(http, StaticTokens(default=token), deadline=deadline)
                started = time.perf_counter()
                answer = await engine.assets([NodeTarget(u) for u in urls],
                                             AssetFilter.parse({"limit": 1000}))
                assert answer["partial"], answer["nodes"]
                return time.perf_counter() - started

        elapsed = [asyncio.run(partial()) for _ in range(reps)]
        print(f"partial answer, one node paused, deadline {deadline:.1f} s: "
              f"p50 {statistics.median(elapsed):.2f} s, max {max(elapsed):.2f} s")
        served[1].process.send_signal(signal.SIGCONT)
        heavy = ("SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z . "
                 "FILTER (STR(?x) < STR(?y) && STR(?y) < STR(?z)) }")
        health: list[float] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                started = time.perf_counter()
                httpx.get(f"{urls[0]}/health", timeout=30)
                health.append(time.perf_counter() - started)
                time.sleep(0.1)

        prober = threading.Thread(target=probe)
        prober.start()
        started = time.perf_counter()
        try:
            r = httpx.get(f"{urls[0]}/sparql", params={"query": heavy}, timeout=60,
                          headers={"authorization": f"Bearer {token}"})
            outcome = f"answered {r.status_code} {r.json().get('code')}"
        except httpx.ReadTimeout:
            outcome = "NOT stopped"
        stopped = time.perf_counter() - started
        done.set()
        prober.join()
        print(f"heavy query {outcome} after {stopped:.2f} s (FMAR_SPARQL_TIMEOUT default 10 s); "
              f"/health meanwhile: {len(health)} answers, p50 "
              f"{statistics.median(health) * 1000:.0f} ms, max {max(health) * 1000:.0f} ms")
    finally:
        for node in served:
            node.stop(signal.SIGTERM)  # a paused one is resumed first


# ------------------------------------------------------------------ part 4

def part4(per_node: int, reps: int) -> None:
    """Federation overhead with a trust framework: mTLS nodes, tokens from the issuer.
    Where a federated question's time goes (token, TLS, node, merge), for a client that
    opens fresh connections and asks fresh tokens every time (`fmar query`, and the client
    library before it kept them) beside one that keeps both (FederationClient now), and
    through a node's /federation endpoint (token exchange, cached by the node)."""
    from common import http_client as trust_http
    from examples.generate import assets as generate
    from node.federation.client import FederationClient
    from tests.harness.federation import LocalFederation

    print(f"\n== Part 4: federation overhead over mTLS with a trust framework, 2 nodes x "
          f"{per_node} assets, {reps} repetitions")
    off = {f"FMAR_RATE_{k}_{b}": "off" for k in ("TOKEN", "API") for b in ("SOURCE", "CLIENT")}
    local = LocalFederation(Path(tempfile.mkdtemp(prefix="fmar-bench-tls-")), node_env=off,
                            trust_env=off)
    try:
        local.start_trust()
        fsps = [local.register_member(f"Flex{i}", ["FSP"]) for i in range(2)]
        neso = local.register_member("Neso", ["NESO"])
        nodes = [local.add_node(f"n{i}", m) for i, m in enumerate(fsps)]
        for node, member in zip(nodes, fsps):
            local.load_assets(node, list(generate(per_node, member.org_id, seed=7)))
        local.start_nodes()
        urls = [n.url for n in nodes]

        def client() -> FederationClient:
            return FederationClient(local.issuer, ca_bundle=local.ca_bundle,
                                    client_id=neso.app_id, cert=neso.cert, key=neso.key,
                                    nodes=urls, deadline=30)

        def ask(fed: FederationClient) -> dict:
            answer = fed.assets(category="BESS", limit=1000)
            assert not answer["partial"], answer["nodes"]
            return answer

        rows: dict[str, dict[str, list[float]]] = {"fresh": {}, "kept": {}}

        def record(kind: str, fed: FederationClient, total: float) -> None:
            timing = fed.last_engine.timing if fed.last_engine else None
            assert timing is not None
            for name, value in (("total", total), ("token", max(timing.token.values())),
                                ("node", max(timing.node.values())), ("merge", timing.merge)):
                rows[kind].setdefault(name, []).append(value)

        for _ in range(reps):  # a new client each time: new TLS connections, new tokens
            with client() as fed:
                started = time.perf_counter()
                ask(fed)
                record("fresh", fed, (time.perf_counter() - started) * 1000)
        with client() as fed:
            ask(fed)  # warm: connections open, tokens held
            for _ in range(reps):
                started = time.perf_counter()
                ask(fed)
                record("kept", fed, (time.perf_counter() - started) * 1000)
            relay = fed.via(urls[0])
            started = time.perf_counter()
            relay.assets(category="BESS", limit=1000)
            first_relay = (time.perf_counter() - started) * 1000
            relayed = []
            for _ in range(reps):
                started = time.perf_counter()
                relay.assets(category="BESS", limit=1000)
                relayed.append((time.perf_counter() - started) * 1000)

        # TLS: a request on a new connection (TCP + TLS 1.3 with client certificate) beside
        # the same request on a kept-alive one, to one node's /health
        def health(http: httpx.Client) -> float:
            started = time.perf_counter()
            http.get(f"{urls[0]}/health").raise_for_status()
            return (time.perf_counter() - started) * 1000

        new_connection = []
        for _ in range(reps):
            with trust_http.client(ca_bundle=local.ca_bundle, cert=neso.cert,
                                   key=neso.key) as http:
                new_connection.append(health(http))
        with trust_http.client(ca_bundle=local.ca_bundle, cert=neso.cert, key=neso.key) as http:
            health(http)
            kept_connection = [health(http) for _ in range(reps)]

        med = statistics.median
        print(f"{'client':<34}{'total p50':>10}{'token':>8}{'node':>8}{'merge':>8}  (ms; token "
              "and node: the slowest node's, within the parallel fan-out)")
        for kind, label in (("fresh", "fresh connections and tokens"),
                            ("kept", "kept-alive client, cached tokens")):
            r = rows[kind]
            print(f"{label:<34}{med(r['total']):>10.1f}{med(r['token']):>8.1f}"
                  f"{med(r['node']):>8.1f}{med(r['merge']):>8.1f}")
        print(f"TLS: /health on a new connection p50 {med(new_connection):.1f} ms, on a "
              f"kept-alive one {med(kept_connection):.1f} ms")
        print(f"through a node's /federation (token exchange): first call {first_relay:.1f} "
              f"ms, then p50 {med(relayed):.1f} ms (exchanged tokens and connections kept "
              "by the node)")
    finally:
        local.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--restriction", type=int, default=100_000)
    parser.add_argument("--per-node", type=int, default=10_000)
    parser.add_argument("--nodes", default="1,2,5,10")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-part4", action="store_true",
                        help="skip the federation with a trust framework (TLS, tokens)")
    parser.add_argument("--no-one-node", action="store_true",
                        help="skip the baseline node holding all the data (for 1,000,000 assets)")
    parser.add_argument("--data", type=Path, default=None,
                        help="part 2's node directories, kept and reused between runs")
    parser.add_argument("--load-only", action="store_true",
                        help="part 2: fill the nodes and build their indexes, then stop")
    parser.add_argument("--skip-part3", action="store_true")
    parser.add_argument("--questions", default=",".join(QUESTIONS),
                        help="part 2's questions, of: " + ", ".join(QUESTIONS))
    parser.add_argument("--oracle-queries", default="",
                        help="oracle, oracle-dno: only these of the 12 queries (names of "
                        "tests/federation/test_federation.py QUERIES, comma-separated)")
    args = parser.parse_args()
    if args.quick:
        args.restriction, args.per_node, args.nodes, args.reps = 5000, 1000, "1,2", 5
    print(f"bench_federation: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"pyoxigraph {ox.__version__}")
    if not args.skip_part1:
        part1(args.restriction)
    part2(args.per_node, [int(k) for k in args.nodes.split(",")], args.reps,
          one_node=not args.no_one_node, data=args.data, load_only=args.load_only,
          questions=tuple(args.questions.split(",")),
          oracle_queries=tuple(q for q in args.oracle_queries.split(",") if q))
    if args.load_only:
        return
    if not args.skip_part3:
        part3(args.per_node, args.reps)
    if not args.skip_part4:
        part4(min(args.per_node, 2000), args.reps)


if __name__ == "__main__":
    main()
