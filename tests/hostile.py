"""A real node process (`python -m node serve`, tests.harness.processes.ServedNode) for
hostile-query tests and benchmarks: started with chosen SPARQL limits, loaded with
generated assets, and read from /proc (its process tree, RSS)."""

from __future__ import annotations

import csv
import io
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from examples.generate import COLUMNS, assets
from tests.harness import HarnessError
from tests.harness.processes import RATE_LIMITS_OFF, ServedNode, dev_token

ORG = "FSP-ACME"

# The queries of issue 9, exactly.
ORDER_BY_CROSS = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c LIMIT 1"
COUNT_CROSS4 = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
PATH_COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?a (<urn:x:p>|!<urn:x:p>)* ?b }"
# Forms the rewrite now writes out (POL-011) rather than running over the graph list: a
# path of steps through shared objects (organisations, codes), and a DESCRIBE of a cross
# product; each grows without end as the 4-way COUNT does.
SEQUENCE_COUNT = ("SELECT (COUNT(*) AS ?n) WHERE { ?a (!<urn:x:p>)/^(!<urn:x:p>)/(!<urn:x:p>)/"
                  "^(!<urn:x:p>)/(!<urn:x:p>) ?b }")
DESCRIBE_CROSS = "DESCRIBE ?a WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
# A plain bounded query: the baseline.
PLAIN = ("PREFIX fmar: <https://id.fmar.uk/def/fmar#> SELECT ?a ?c WHERE "
         "{ ?a a fmar:Asset ; fmar:ratedCapacity ?c } LIMIT 10")


def csv_body(count: int, start: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for asset in assets(count, ORG, seed=start + 1, start=start):
        writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v)
                         for k, v in asset.items()})
    return out.getvalue().encode()


def status_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def rss_mib(pid: int) -> float:
    """Resident set size of one process (MiB), 0 if it is gone."""
    try:
        return int(status_of(pid)["VmRSS"].split()[0]) / 1024
    except (FileNotFoundError, ProcessLookupError, KeyError):
        return 0.0


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(status_of(int(entry))["PPid"])
            except (FileNotFoundError, ProcessLookupError, KeyError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            if status_of(pid)["State"][0] != "Z":
                out.add(pid)
        except (FileNotFoundError, ProcessLookupError, KeyError):
            pass
    return out


@dataclass
class Watch:
    """Samples, while a request runs: the RSS of the node process and of its whole tree,
    and whether /health answers."""

    peak_node_mib: float = 0.0
    peak_tree_mib: float = 0.0
    health: list[int] = field(default_factory=list)


class NodeProcess(ServedNode):
    """A node holding ORG's assets, its rate limits off, `env` added (SPARQL limits)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None):
        data_dir.mkdir(parents=True, exist_ok=True)
        tokens = data_dir / "tokens.json"
        self.token = dev_token(tokens, ORG, "FSP")
        super().__init__(data_dir / "node", tokens, log=data_dir / "node.log",
                         env={**RATE_LIMITS_OFF, **(env or {})})

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 300),
                            headers={"Authorization": f"Bearer {self.token}"}, **kw)

    def load(self, count: int, start: int = 0) -> None:
        with self.client() as c:
            r = c.post("/assets/bulk", params={"mode": "all-or-nothing"},
                       content=csv_body(count, start), headers={"content-type": "text/csv"})
        if r.status_code != 200 or r.json()["stored"] != count:
            raise HarnessError(f"loading {count} assets failed: {r.text[:500]}")

    def sparql(self, query: str, watch: Watch | None = None) -> httpx.Response:
        """Run `query`; with `watch`, sample RSS and /health every 0.2 s meanwhile."""
        done = threading.Event()

        def sample(into: Watch) -> None:
            # at least one sample, even of a query refused at once (SPARQL-008)
            with httpx.Client(timeout=30) as c:
                while True:
                    tree = descendants(self.pid)
                    node = rss_mib(self.pid)
                    into.peak_node_mib = max(into.peak_node_mib, node)
                    into.peak_tree_mib = max(into.peak_tree_mib,
                                             node + sum(rss_mib(p) for p in tree))
                    into.health.append(c.get(f"{self.url}/health").status_code)
                    if done.wait(0.2):
                        return

        sampler = threading.Thread(target=sample, args=(watch,)) if watch else None
        if sampler:
            sampler.start()
        try:
            with self.client() as c:
                return c.post("/sparql", content=query.encode(),
                              headers={"content-type": "application/sparql-query"})
        finally:
            done.set()
            if sampler:
                sampler.join()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        super().stop(sig)
