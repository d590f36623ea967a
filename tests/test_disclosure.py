"""Statistical disclosure control of aggregate-only answers (SDC-001..005), on the node's
own function `controlled_result` fed with SPARQL JSON results as the store returns them.
Over the network, with the attacker: tests/federation/test_disclosure.py."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from decimal import Decimal

import pytest

from node.policy import DisclosureControl
from node.query.aggregates import (
    TOTAL,
    AggregateSpec,
    _lines,
    _random_round,
    controlled_result,
)

CODE = "https://id.fmar.uk/def/code/"
KEY = b"k" * 32
CONTROL = DisclosureControl()


def body(rows: list[tuple[float, str, str]]) -> bytes:
    """SPARQL JSON results of `controlled_query` for (capacity, category, dno) rows: per
    group, its capacities joined by spaces."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cap, cat, dno in rows:
        groups[(cat, dno)].append(f"{cap:.2f}")
    return json.dumps({"head": {"vars": ["d_category", "d_dno", "capacities"]}, "results": {
        "bindings": [{"capacities": {"type": "literal", "value": " ".join(caps)},
                      "d_category": {"type": "uri", "value": f"{CODE}AssetCategory/{cat}"},
                      "d_dno": {"type": "uri", "value": f"{CODE}DNOCode/{dno}"}}
                     for (cat, dno), caps in groups.items()]}}).encode()


def table(rows, group_by=("category", "dno"), key=KEY) -> dict:
    spec = AggregateSpec.parse({"group_by": ",".join(group_by)})
    return controlled_result(spec, body(rows), CONTROL, key)


def cells_by_group(answer: dict) -> dict[tuple, dict]:
    dims = answer["group_by"]
    return {tuple(c["group"][d] for d in dims): c for c in answer["cells"] + answer["margins"]}


def spread(n: int, cat: str, dno: str, seed: int) -> list[tuple[float, str, str]]:
    rng = random.Random(seed)
    return [(round(rng.uniform(100, 900), 2), cat, dno) for _ in range(n)]


def test_SDC_001_a_cell_of_fewer_than_five_assets_is_suppressed():
    rows = (spread(3, "BESS", "ENWL", 1) + spread(6, "BESS", "NPG_NE", 2)
            + spread(7, "HVAC", "ENWL", 3) + spread(8, "HVAC", "NPG_NE", 4))
    cells = cells_by_group(table(rows))
    assert cells[("BESS", "ENWL")] == {"group": {"category": "BESS", "dno": "ENWL"},
                                       "suppressed": True}
    published = [c for c in cells.values() if not c.get("suppressed")]
    assert published  # control: cells of five or more are published
    assert all(c["count"] >= 5 for c in published)


def test_SDC_002_a_cell_dominated_by_one_asset_is_suppressed():
    dominated = [(20000.0, "CHP", "ENWL")] + [(10.0, "CHP", "ENWL")] * 7
    rows = dominated + spread(8, "HVAC", "ENWL", 5) + spread(12, "BESS", "ENWL", 6)
    cells = cells_by_group(table(rows, group_by=("category",)))
    assert cells[("CHP",)].get("suppressed") is True  # 8 assets, yet one is ~97 % of it
    # the total is not dominated and is published, so a second cell hides with CHP (SDC-003)
    assert cells[(TOTAL,)]["count"] in (25, 30)
    assert cells[("HVAC",)].get("suppressed") is True
    assert cells[("BESS",)]["count"] in (10, 15)  # control: no dominance, published


def test_SDC_003_no_line_of_the_table_or_its_margins_has_exactly_one_hidden_cell():
    rng = random.Random(7)
    rows = []
    for cat in ("BESS", "HVAC", "CHP", "SOLAR_PV"):
        for dno in ("ENWL", "NPG_NE", "UKPN_EPN"):
            rows += spread(rng.choice([1, 2, 6, 9, 12]), cat, dno, rng.randrange(1000))
    answer = table(rows)
    cells = cells_by_group(answer)
    hidden = {k for k, c in cells.items() if c.get("suppressed")}
    primary = {k for k in cells if sum(1 for r in rows if (r[1], r[2]) == k) in range(1, 5)}
    assert primary and primary <= hidden
    lines = _lines(list(cells))
    # without secondary suppression some line would give its hidden cell away
    assert any(sum(k in primary for k in [*m, t]) == 1 for (_, t), m in lines.items())
    for (_, total), members in lines.items():
        assert sum(k in hidden for k in [*members, total]) != 1, (total, members)


def test_SDC_004_counts_and_sums_are_randomly_rounded_consistently():
    rows = [r for i, cat in enumerate(("BESS", "HVAC", "CHP"))
            for dno in ("ENWL", "NPG_NE") for r in spread(7 + i, cat, dno, hash((cat, dno)) % 99)]
    fine = table(rows)
    assert table(rows) == fine  # the same question gets the same answer, noise included
    for cell in fine["cells"] + fine["margins"]:
        assert cell["count"] % CONTROL.count_base == 0
        assert cell["sum"] % CONTROL.sum_base_kw == 0
    # the same assets reached by another table get the same published values
    coarse = cells_by_group(table(rows, group_by=("category",)))
    margins = cells_by_group(fine)
    for cat in ("BESS", "HVAC", "CHP"):
        assert coarse[(cat,)] == {**margins[(cat, TOTAL)], "group": {"category": cat}}
    # unbiased: 1250 kW rounds up to 2000 about a quarter of the time, down otherwise
    ups = sum(_random_round(Decimal(1250), 1000, KEY, f"sum|{i}") == 2000 for i in range(4000))
    assert 800 < ups < 1200
    assert _random_round(Decimal(3000), 1000, KEY, "exact") == 3000


@pytest.mark.parametrize("group_by", [("category",), ("category", "dno"), ()])
def test_SDC_005_no_minimum_or_maximum_in_any_cell(group_by):
    rows = spread(12, "BESS", "ENWL", 8) + spread(9, "HVAC", "NPG_NE", 9)
    answer = table(rows, group_by=group_by or ("category",))
    if not group_by:
        spec = AggregateSpec(group_by=())
        answer = controlled_result(spec, json.dumps({"head": {"vars": ["capacities"]},
                                   "results": {"bindings": [{"capacities": {
                                       "type": "literal",
                                       "value": " ".join(str(c) for c, _, _ in rows)}}]}}
                                   ).encode(), CONTROL, KEY)
        assert len(answer["cells"]) == 1 and answer["margins"] == []
    capacities = {c for c, _, _ in rows}
    for cell in answer["cells"] + answer["margins"]:
        assert not {"min", "max", "avg"} & set(cell)
        assert cell.get("sum") not in capacities


def test_SDC_003_margins_are_totals_of_the_interior_cells():
    rows = spread(6, "BESS", "ENWL", 1) + spread(6, "BESS", "NPG_NE", 2)
    answer = table(rows)
    exact = defaultdict(int)
    for _, cat, dno in rows:
        for key in ((cat, dno), (cat, TOTAL), (TOTAL, dno), (TOTAL, TOTAL)):
            exact[key] += 1
    published = cells_by_group(answer)
    assert set(published) == set(exact)
    for key, n in exact.items():
        assert abs(published[key]["count"] - n) < CONTROL.count_base


def test_SDC_001_no_assets_gives_no_cells_not_a_suppressed_one():
    empty = json.dumps({"head": {"vars": ["capacities"]}, "results": {"bindings": [
        {"capacities": {"type": "literal", "value": ""}}]}}).encode()
    answer = controlled_result(AggregateSpec(group_by=()), empty, CONTROL, KEY)
    assert answer["cells"] == [] and answer["margins"] == []
    one = json.dumps({"head": {"vars": ["capacities"]}, "results": {"bindings": [
        {"capacities": {"type": "literal", "value": "12.5"}}]}}).encode()
    assert controlled_result(AggregateSpec(group_by=()), one, CONTROL, KEY)["cells"] == [
        {"group": {}, "suppressed": True}]


def test_SDC_003_the_same_assets_hide_the_same_cells_whatever_order_the_rows_come_in():
    """Secondary suppression walks the table's lines in the order of the groups' codes,
    not of the engine's rows: the store, the index's rows and its capacity cells give
    their groups in different orders, and two suppression patterns of the same table
    could be differenced."""
    rng = random.Random(0)
    rows = []
    for cat in ("BESS", "HVAC", "CHP", "SOLAR_PV", "EV", "WIND"):
        for dno in ("ENWL", "NPG_NE", "UKPN_EPN", "SSEN_SEPD", "NGED_WMID"):
            rows += spread(rng.choice([0, 1, 2, 3, 5, 6, 7, 9, 20]), cat, dno,
                           rng.randrange(1000))
    first = table(rows)
    assert any(c.get("suppressed") for c in first["cells"] + first["margins"])
    for _ in range(15):
        rng.shuffle(rows)  # the groups reach disclosure control in another order
        assert table(rows) == first
