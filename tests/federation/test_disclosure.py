"""The regulator as an attacker (issue 7, item 6), over real TLS against the federation's
real processes: it tries minimum/maximum, differencing of two aggregates whose capacity
filter differs slightly, differencing across published bands, and complements (a
suppressed cell = its total less its visible cells, within one table and across a coarse
and a fine table), on the merged answers and on each node's own answer. The test fails if
any estimate equals one asset's rated capacity (to the 0.01 kW the data carry).

Control: the same attacks on tables built the old way (exact sums, min/max, only cells
under five hidden) recover assets, so the attacks are real."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import pairwise
from typing import Any

import pytest

from node.policy import CAPACITY_BANDS_KW
from node.query.aggregates import TOTAL

TOLERANCE = 0.005  # kW; capacities carry two decimals
TABLES = ["category", "dno", "connection_type", "category,dno", "category,connection_type",
          "dno,connection_type", "organisation", "organisation,category"]
COLUMN = {"category": "category", "dno": "dno", "connection_type": "connectionType",
          "organisation": "organisation"}

Asset = dict[str, Any]


def _code(binding: dict[str, Any], column: str) -> str | None:
    term = binding.get(column)
    return term["value"].rstrip("/").rsplit("/", 1)[-1] if term else None


@pytest.fixture(scope="module")
def truth(fed) -> list[Asset]:
    """Every asset with its groups and capacity, read by NESO (who may read them all)."""
    answer = fed.client("Neso").assets()
    assert not answer["partial"]
    return [{"capacity": float(b["capacity"]["value"]), "node": b["_node"]["value"],
             **{dim: _code(b, col) for dim, col in COLUMN.items()}}
            for b in answer["results"]["bindings"]]


def members(assets: Iterable[Asset], dims: list[str], key: tuple,
            low: float | None = None) -> list[Asset]:
    return [a for a in assets
            if all(v == TOTAL or a[d] == v for d, v in zip(dims, key))
            and (low is None or a["capacity"] >= low)]


class Attack:
    """Collects every estimate the attacker makes, and the assets it is about."""

    def __init__(self) -> None:
        self.recovered: list[tuple[str, float]] = []
        self.estimates = 0

    def estimate(self, how: str, value: float | None, about: list[Asset]) -> None:
        if value is None or not about:
            return
        self.estimates += 1
        for asset in about:
            if abs(asset["capacity"] - value) < TOLERANCE:
                self.recovered.append((how, asset["capacity"]))


def by_group(answer: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    dims = answer["group_by"]
    return {tuple(c["group"].get(d) for d in dims): c
            for c in answer.get("cells", []) + answer.get("margins", [])}


def published(cell: dict[str, Any] | None) -> bool:
    return bool(cell) and not cell.get("suppressed") and cell.get("complete", True)


def attack_extremes(attack: Attack, answer: dict[str, Any], assets: list[Asset]) -> None:
    dims = answer["group_by"]
    for key, cell in by_group(answer).items():
        for name in ("min", "max"):
            attack.estimate(f"{name} {key}", cell.get(name), members(assets, dims, key))


def attack_complements(attack: Attack, answer: dict[str, Any], assets: list[Asset],
                       coarse: dict[str, dict[str, Any]]) -> None:
    """Total less its visible cells, along every line of the table, with the totals taken
    from the table's margins or from a coarser table's cells."""
    dims = answer["group_by"]
    table = by_group(answer)
    for i in range(len(dims)):
        lines: dict[tuple, list[tuple]] = defaultdict(list)
        for key in table:
            if key[i] != TOTAL:
                lines[key[:i] + (TOTAL,) + key[i + 1:]].append(key)
        for total_key, keys in lines.items():
            totals = [table.get(total_key)]
            rest = [d for j, d in enumerate(dims) if total_key[j] != TOTAL]
            other = coarse.get(",".join(rest))
            if other is not None:  # the same total asked as its own, coarser question
                totals.append(by_group(other).get(tuple(v for v in total_key if v != TOTAL)))
            hidden = [k for k in keys if not published(table[k])]
            if not hidden:
                continue
            seen = sum(table[k]["sum"] for k in keys if published(table[k]))
            for total in totals:
                if published(total):
                    for k in hidden:
                        attack.estimate(f"complement {k}", total["sum"] - seen,
                                        members(assets, dims, k))


def attack_bands(attack: Attack, ask: Callable[..., dict[str, Any]], group_by: str,
                 assets: list[Asset]) -> None:
    """Differencing of two published band filters: the assets between two band edges."""
    dims = group_by.split(",")
    answers = {edge: by_group(ask(group_by, min_capacity=edge)) for edge in CAPACITY_BANDS_KW}
    for low, high in pairwise(CAPACITY_BANDS_KW):
        for key, cell in answers[low].items():
            upper = answers[high].get(key)
            if published(cell) and published(upper):
                between = [a for a in members(assets, dims, key, low) if a["capacity"] < high]
                attack.estimate(f"bands {low}-{high} {key}", cell["sum"] - upper["sum"], between)


def naive(group_by: str, assets: list[Asset], low: float | None = None) -> dict[str, Any]:
    """A table the old way: exact count, sum, min and max; cells under five suppressed."""
    dims = group_by.split(",")
    groups: dict[tuple, list[float]] = defaultdict(list)
    for a in assets:
        if low is None or a["capacity"] >= low:
            codes = tuple(a[d] for d in dims)
            for mask in range(2 ** len(dims)):
                key = tuple(TOTAL if mask >> j & 1 else c for j, c in enumerate(codes))
                groups[key].append(a["capacity"])
    cells = [{"group": dict(zip(dims, k)), "suppressed": True} if len(v) < 5 else
             {"group": dict(zip(dims, k)), "count": len(v), "sum": round(sum(v), 2),
              "min": min(v), "max": max(v)} for k, v in groups.items()]
    return {"group_by": dims, "cells": [c for c in cells if TOTAL not in c["group"].values()],
            "margins": [c for c in cells if TOTAL in c["group"].values()]}


def run_attacks(ask: Callable[..., dict[str, Any]], assets: list[Asset]) -> Attack:
    attack = Attack()
    answers = {g: ask(g) for g in TABLES}
    for group_by, answer in answers.items():
        attack_extremes(attack, answer, assets)
        attack_complements(attack, answer, assets, answers)
    for group_by in ("category", "dno"):
        attack_bands(attack, ask, group_by, assets)
    return attack


def test_SDC_the_regulator_recovers_no_single_assets_capacity(fed, truth):
    regulator = fed.client("Ofgem")

    def ask(group_by: str, **filters: Any) -> dict[str, Any]:
        answer = regulator.aggregate(group_by=group_by, **filters)
        assert not answer["partial"], answer["nodes"]
        return answer

    attack = run_attacks(ask, truth)
    assert attack.estimates > 50  # the attacker had plenty to work with
    assert attack.recovered == []

    # control: the same attacks on tables made the old way recover single assets
    old = run_attacks(lambda g, min_capacity=None: naive(g, truth, min_capacity), truth)
    assert {how.split()[0] for how, _ in old.recovered} >= {"min", "max", "complement",
                                                              "bands"}


def test_SDC_each_nodes_own_answer_gives_no_single_asset_away(fed, truth):
    """Whoever fans the query out sees every node's answer: each must hold on its own."""
    for name in ("fsp_a", "fsp_b"):
        url = fed.local.nodes[name].url
        token = fed.token("Ofgem", name)

        def ask(group_by: str, url: str = url, token: str = token, **filters: Any) -> dict:
            with fed.http("Ofgem") as c:
                r = c.get(f"{url}/query/aggregate", params={"group_by": group_by, **filters},
                          headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            return r.json()

        mine = [a for a in truth if a["node"] == url]
        attack = run_attacks(ask, mine)
        assert attack.estimates > 20 and attack.recovered == []


def test_SDC_006_capacity_filters_take_published_band_edges_only(fed, truth):
    regulator = fed.client("Ofgem")
    for filters in ({"min_capacity": 1000.001}, {"max_capacity": 4999.5},
                    {"min_capacity": sorted(a["capacity"] for a in truth)[100]}):
        refused = regulator.aggregate(group_by="category", **filters)
        assert refused["cells"] == [] and refused["partial"]
        codes = {n.get("code") for n in refused["nodes"] if n["status"] != "answered"}
        assert codes == {"SDC-006"}, refused["nodes"]
    # control: a band edge is answered
    banded = regulator.aggregate(group_by="category", min_capacity=1000, max_capacity=5000)
    assert not banded["partial"] and banded["cells"]
    # a caller who may read the rows filters freely (no disclosure control)
    exact = fed.client("Neso").aggregate(group_by="category", min_capacity=1000.001)
    assert not exact["partial"] and "disclosure_control" not in exact


def test_SDC_002_to_004_merged_answer_is_consistent_with_the_nodes(fed):
    """The merge adds only published values: a merged cell is the sum of the nodes'
    published parts, suppressed when no part is published, never un-suppressed."""
    answer = fed.client("Ofgem").aggregate(group_by="category,dno")
    parts: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for name in ("fsp_a", "fsp_b", "dno"):
        url = fed.local.nodes[name].url
        with fed.http("Ofgem") as c:
            r = c.get(f"{url}/query/aggregate", params={"group_by": "category,dno"},
                      headers={"authorization": f"Bearer {fed.token('Ofgem', name)}"})
        for key, cell in by_group(r.json()).items():
            parts[key].append(cell)
    merged = by_group(answer)
    assert set(merged) == set(parts)
    for key, cell in merged.items():
        shown = [p for p in parts[key] if not p.get("suppressed")]
        if not shown:
            assert cell.get("suppressed") is True and set(cell) == {"group", "suppressed",
                                                                    "suppressed_parts"}
            continue
        assert cell["count"] == sum(p["count"] for p in shown)
        assert cell["sum"] == sum(p["sum"] for p in shown)
        assert cell["complete"] == (len(shown) == len(parts[key]))


def test_SDC_005_fmar_query_prints_the_regulators_table_without_extremes(fed):
    """The CLI's table output of a disclosure-controlled answer: margins, no min/max."""
    import subprocess
    import sys

    env = fed.cli_env("Ofgem")
    done = subprocess.run([sys.executable, "-m", "node", "query", "--aggregate", "category",
                           "-o", "csv"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    import csv
    import io

    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["category", "count", "sum_kW", "min_kW", "max_kW", "avg_kW", "complete"]
    total = [row for row in rows if row[0] == TOTAL]
    assert len(total) == 1 and int(total[0][1]) % 5 == 0  # the margin, rounded (SDC-004)
    for row in rows[1:]:
        assert row[3:5] == ["", ""], row  # no min/max (SDC-005)
        if row[6] == "no: suppressed":
            assert row[1:6] == ["", "", "", "", ""], row
