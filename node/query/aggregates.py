"""Aggregates: computed at each node over what the caller may read, merged by the
federation engine, so a report never moves raw rows.

A node answers, per group, COUNT, SUM, MIN and MAX of the rated capacity (kW); the
engine adds counts and sums, takes min of mins and max of maxes, and derives AVG as
SUM/COUNT — exact, unlike averaging averages.

A caller with aggregate-only access (the regulator, POL-013) gets a table under
statistical disclosure control instead (`controlled_result`, docs/disclosure.md): the
threshold rule (SDC-001), the p% dominance rule (SDC-002), secondary suppression over every
line of the table including its margins (SDC-003), keyed random rounding of counts and sums
(SDC-004), no minimum or maximum (SDC-005), capacity filters on published bands only
(SDC-006). Each node applies it to its own answer, because whoever fans the query out (the
regulator's own client, or any relaying node) sees every node's answer; the merge then
only adds published values and checks them again.
"""

from __future__ import annotations

import hmac
import itertools
import json
import math
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from common.http_errors import ApiError
from common.vocab import FMAR
from node import policy
from node.query.filters import (
    AssetFilter,
    asset_graph_filter,
    restriction_patterns,
    scope_patterns,
)
from node.query.results import parse_select_json

# dimension -> predicate of the asset
DIMENSIONS: dict[str, str] = {
    "category": "assetCategory",
    "dno": "dnoConnection",
    "connection_type": "connectionType",
    "connection_status": "connectionStatus",
    "gsp_group": "gspGroup",
    "registration_status": "registrationStatus",
    "validation_status": "validationStatus",
    "organisation": "organisation",
}
MEASURES = ("count", "sum", "min", "max", "avg")
# Reports (node/reports) also group by dimensions derived from a value, and sum another
# capacity than the rated one. dimension -> (predicate IRI, how: "month" = the value's
# YYYY-MM, "present" = whether the asset has the value at all).
DCTERMS = "http://purl.org/dc/terms/"
DERIVED: dict[str, tuple[str, str]] = {
    "created_month": (DCTERMS + "created", "month"),
    "modified_month": (DCTERMS + "modified", "month"),
    "effective_month": (str(FMAR.effectiveDate), "month"),
}
# capacity measure -> predicate summed (SUM / COUNT count only assets that carry it)
CAPACITY_MEASURES: dict[str, str] = {
    "rated": "ratedCapacity", "import": "demandCapacity", "export": "genCapacity",
    "installed": "installedCapacity", "storage": "storageCapacity",
}


def present_dimension(predicate: str) -> str:
    """The name of the dimension "has a value of this predicate" (data quality)."""
    return "has_" + predicate.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


@dataclass(frozen=True)
class AggregateSpec:
    group_by: tuple[str, ...] = ("category", "dno")
    filter: AssetFilter = field(default_factory=AssetFilter)
    measure: str = "rated"  # CAPACITY_MEASURES; reports only, /query/aggregate sums rated
    present: tuple[tuple[str, str], ...] = ()  # (dimension, predicate IRI): reports only

    @classmethod
    def parse(cls, params: dict[str, Any]) -> AggregateSpec:
        raw = params.get("group_by") or "category,dno"
        dims = raw if isinstance(raw, list) else [d.strip() for d in str(raw).split(",")]
        unknown = [d for d in dims if d not in DIMENSIONS]
        if unknown or len(dims) > 4 or len(set(dims)) != len(dims):
            raise ApiError(400, "FED-IN-005", "group_by takes up to 4 distinct dimensions of: "
                           + ", ".join(DIMENSIONS), {"value": str(raw)[:100]})
        rest = {k: v for k, v in params.items() if k != "group_by"}
        rest.setdefault("limit", 1)
        return cls(tuple(dims), AssetFilter.parse(rest))

    def as_params(self) -> dict[str, Any]:
        params = self.filter.as_params()
        params.pop("limit", None)
        params["group_by"] = ",".join(self.group_by)
        return params


def _grouped(spec: AggregateSpec, scope: policy.ReadScope) -> tuple[str, str]:
    """The group variables and the patterns (the caller's scope, the filter, the capacity
    and each dimension) of an aggregate query."""
    rated = spec.measure == "rated"  # else the filter's capacity is ?rated, the sum another
    patterns = scope_patterns(scope) + restriction_patterns(spec.filter,
                                                            "?capacity" if rated else "?rated")
    if not any("?capacity" in p for p in patterns):
        patterns.append(f"?asset <{FMAR[CAPACITY_MEASURES[spec.measure]]}> ?capacity .")
    # (no `a fmar:Asset`: a rated capacity in GRAPH ?asset { ?asset … } under the asset
    # namespace is an asset record; the type pattern cost ~30 % here)
    present = dict(spec.present)
    for dim in spec.group_by:
        if dim in present:
            patterns.append(f"OPTIONAL {{ ?asset <{present[dim]}> ?t_{dim} }} "
                            f"BIND (BOUND(?t_{dim}) AS ?d_{dim})")
        elif dim in DERIVED:
            patterns.append(f"OPTIONAL {{ ?asset <{DERIVED[dim][0]}> ?t_{dim} }} "
                            f"BIND (SUBSTR(STR(?t_{dim}), 1, 7) AS ?d_{dim})")
        else:
            patterns.append(f"OPTIONAL {{ ?asset <{FMAR[DIMENSIONS[dim]]}> ?d_{dim} }}")
    return " ".join(f"?d_{d}" for d in spec.group_by), "\n    ".join(patterns)


def node_query(spec: AggregateSpec, scope: policy.ReadScope) -> str:
    groups, body = _grouped(spec, scope)
    return (f"SELECT {groups} (COUNT(?asset) AS ?count) (SUM(?capacity) AS ?sum) "
            f"(MIN(?capacity) AS ?min) (MAX(?capacity) AS ?max) WHERE {{\n  GRAPH ?asset {{\n"
            f"    {body}\n  }}\n  {asset_graph_filter()}\n}}"
            + (f" GROUP BY {groups}" if groups else ""))


def _code(term: Any) -> str | None:
    if term is None:
        return None
    return term.value.rstrip("/").rsplit("/", 1)[-1]


def _number(term: Any) -> float | None:
    return None if term is None else float(term.value)


def node_result(spec: AggregateSpec, body: bytes) -> dict[str, Any]:
    """A node's exact partial aggregate as JSON cells (callers who may read the rows)."""
    variables, rows = parse_select_json(json.loads(body))
    index = {v: i for i, v in enumerate(variables)}
    return exact_table(spec, (
        (tuple(_code(row[index[f"d_{d}"]]) for d in spec.group_by),
         int(row[index["count"]].value), _number(row[index["sum"]]),
         _number(row[index["min"]]), _number(row[index["max"]])) for row in rows))


def exact_table(spec: AggregateSpec, groups: Iterable[tuple[tuple[str | None, ...], int,
                                                             float | None, float | None,
                                                             float | None]]) -> dict[str, Any]:
    """The exact table from (group codes, count, sum, min, max) per group, whichever engine
    computed them (the SPARQL store, or the listing index: node/index/)."""
    cells: list[dict[str, Any]] = []
    for codes, count, total, low, high in groups:
        if count == 0:
            continue
        cells.append({"group": dict(zip(spec.group_by, codes)), "count": count, "sum": total,
                      "min": low, "max": high})
    cells.sort(key=lambda c: [str(c["group"][d]) for d in spec.group_by])
    return {"group_by": list(spec.group_by), "unit": "kW", "cells": cells,
            "suppressed_below": None, "rule": None}


# ---------------------------------------------------------------- disclosure control

TOTAL = "*"  # a margin: the total over every value of that dimension (codes never hold *)


def controlled_query(spec: AggregateSpec, scope: policy.ReadScope) -> str:
    """Per finest group, the capacities of its assets (GROUP_CONCAT: one row per group, not
    per asset, so no row limit is reached). The margins and the protection are computed
    from these at the node; no value leaves the node unprotected."""
    groups, body = _grouped(spec, scope)
    return (f"SELECT {groups} (GROUP_CONCAT(STR(?capacity); SEPARATOR=\" \") AS ?capacities) "
            f"WHERE {{\n  GRAPH ?asset {{\n    {body}\n  }}\n  {asset_graph_filter()}\n}}"
            + (f" GROUP BY {groups}" if groups else ""))


@dataclass
class Cell:
    count: int = 0
    total: Decimal = Decimal(0)  # exact, so the same assets always give the same key
    top: tuple[float, float] = (0.0, 0.0)  # the two largest capacities
    low: float = math.inf  # the smallest (exact tables only; never published under SDC-005)

    def add(self, capacity: Decimal) -> None:
        self.count += 1
        self.total += capacity
        value = float(capacity)
        first, second = self.top
        self.top = (value, first) if value >= first else (first, max(second, value))
        self.low = min(self.low, value)

    def remove(self, capacity: Decimal) -> bool:
        """Take one asset out; True when it was the smallest or one of the two largest,
        which are then unknown (the caller sums the group again)."""
        self.count -= 1
        self.total -= capacity
        value = float(capacity)
        return value >= self.top[1] or value <= self.low

    def merge(self, other: Cell) -> None:
        """Add another cell's assets: the same count, exact total and two largest values
        as adding them one by one (Decimal addition is exact here; the top two of a union
        are the top two of the parts' top twos)."""
        self.count += other.count
        self.total += other.total
        (a1, a2), (b1, b2) = self.top, other.top
        self.top = (a1, max(a2, b1)) if a1 >= b1 else (b1, max(a1, b2))
        self.low = min(self.low, other.low)


def _sensitive(cell: Cell, control: policy.DisclosureControl) -> bool:
    """SDC-001 threshold rule; SDC-002 p% rule: the sum less its two largest contributions
    must be at least p% of the largest, else the second largest contributor could estimate
    the largest to within p%."""
    if cell.count < control.threshold:
        return True
    first, second = cell.top
    return float(cell.total) - first - second < control.dominance_p / 100 * first


def _lines(keys: list[tuple]) -> dict[tuple, list[tuple]]:
    """Every line of the table with its margins: for each dimension i and each combination
    of the other dimensions (values or totals), the cells along i and their total."""
    lines: dict[tuple, list[tuple]] = defaultdict(list)
    for key in keys:
        for i, value in enumerate(key):
            if value != TOTAL:
                lines[(i, key[:i] + (TOTAL,) + key[i + 1:])].append(key)
    return lines


def _secondary(cells: dict[tuple, Cell], hidden: set[tuple]) -> None:
    """SDC-003: no line may have exactly one hidden cell (it would be its total less its
    visible cells). Hide the smallest visible cell of such a line (or its total, if none is
    left), and repeat until every line has none or at least two hidden."""
    lines = _lines(list(cells))
    changed = True
    while changed:
        changed = False
        for (_, total), members in lines.items():
            line = [*members, total]
            if sum(k in hidden for k in line) != 1:
                continue
            visible = sorted((k for k in members if k not in hidden),
                             key=lambda k: (cells[k].count, cells[k].total, [str(v) for v in k]))
            hidden.add(visible[0] if visible else total)
            changed = True


def _random_round(value: Decimal, base: float, key: bytes, label: str) -> float:
    """SDC-004: unbiased random rounding to a multiple of `base` (up with probability equal
    to the remainder's share of the base). The draw is keyed by the node's secret and the
    cell's exact contents (as in the ONS cell key method), so the same assets always give
    the same published value: asking again does not average the noise away."""
    low = math.floor(float(value) / base) * base
    share = (float(value) - low) / base
    if share <= 0:
        return float(low)
    digest = hmac.digest(key, label.encode(), "sha256")
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return float(low + base if draw < share else low)


def controlled_result(spec: AggregateSpec, body: bytes, control: policy.DisclosureControl,
                      key: bytes) -> dict[str, Any]:
    """A node's table under disclosure control: interior cells and margins, each either
    suppressed (its group only) or with a rounded count and capacity sum; never min/max."""
    variables, rows = parse_select_json(json.loads(body))
    index = {v: i for i, v in enumerate(variables)}
    return controlled_table(spec, ((tuple(_code(row[index[f"d_{d}"]]) for d in spec.group_by),
                                    [Decimal(v) for v in row[index["capacities"]].value.split()])
                                   for row in rows), control, key)


def controlled_table(spec: AggregateSpec,
                     groups: Iterable[tuple[tuple[str | None, ...], Iterable[Decimal]]],
                     control: policy.DisclosureControl, key: bytes) -> dict[str, Any]:
    """`controlled_result` from (group codes, exact capacities) per finest group, whichever
    engine found them (the SPARQL store, or the listing index: node/index/)."""
    finest: dict[tuple, Cell] = {}
    for codes, capacities in groups:
        part = Cell()
        for capacity in capacities:
            part.add(capacity)
        if not part.count:  # the one row of an ungrouped query over no assets
            continue
        finest.setdefault(codes, Cell()).merge(part)
    return controlled_cells(spec, finest, control, key)


def _projection(mask: tuple[bool, ...], n: int) -> Callable[[tuple], tuple]:
    """The cell a finest group adds to under `mask` (True: that dimension's total)."""
    positions = [n if total else i for i, total in enumerate(mask)]
    if len(positions) == 1:
        return lambda codes: (codes[positions[0]],)
    if not positions:
        return lambda codes: ()
    return operator.itemgetter(*positions)


def controlled_cells(spec: AggregateSpec, finest: dict[tuple, Cell],
                     control: policy.DisclosureControl, key: bytes) -> dict[str, Any]:
    """`controlled_table` from the finest groups' cells (count, exact sum, two largest),
    e.g. as the listing index keeps them (node/index/cells.py)."""
    dims = spec.group_by
    # each cell of the table and its margins, as an item getter over (codes..., TOTAL)
    projections = [_projection(mask, len(dims))
                   for mask in itertools.product((False, True), repeat=len(dims))]
    cells: dict[tuple, Cell] = {}
    # in the order of the groups' codes, not of the engine's rows: secondary suppression
    # walks the lines in this order, so the same assets always hide the same cells
    for codes, part in sorted(finest.items(), key=lambda item: tuple(map(str, item[0]))):
        extended = (*codes, TOTAL)
        for project in projections:
            cell_key = project(extended)
            cell = cells.get(cell_key)
            if cell is None:
                cells[cell_key] = Cell(part.count, part.total, part.top, part.low)
            else:
                cell.merge(part)
    hidden = {k for k, cell in cells.items() if _sensitive(cell, control)}
    _secondary(cells, hidden)
    interior: list[dict[str, Any]] = []
    margins: list[dict[str, Any]] = []
    for cell_key in sorted(cells, key=lambda k: [str(v) for v in k]):
        cell = cells[cell_key]
        out: dict[str, Any] = {"group": dict(zip(dims, cell_key))}
        if cell_key in hidden:
            out["suppressed"] = True
        else:
            # the exact sum, however written ("2.00" or "2"): the same assets, the same key
            contents = f"{cell.count}|{cell.total.normalize()}"
            out["count"] = int(_random_round(Decimal(cell.count), control.count_base, key,
                                             f"count|{contents}"))
            out["sum"] = _random_round(cell.total, control.sum_base_kw, key, f"sum|{contents}")
        (margins if TOTAL in cell_key and dims else interior).append(out)
    return {"group_by": list(dims), "unit": "kW", "cells": interior, "margins": margins,
            "suppressed_below": control.threshold, "rule": "POL-013",
            "disclosure_control": control.as_json()}


def merge(spec: AggregateSpec, partials: list[dict[str, Any]],
          key: str = "cells") -> list[dict[str, Any]]:
    """Merge nodes' cells (or margins); a cell with a suppressed part is marked incomplete.
    Under disclosure control (any partial carries `disclosure_control`) the merge adds
    only published values, gives no min/max, and checks the merged cell again: a merged
    cell with no published part stays suppressed (over-suppression, never a release)."""
    controls = [p["disclosure_control"] for p in partials if p.get("disclosure_control")]
    controlled = bool(controls)
    threshold = max((c["threshold"] for c in controls), default=0)
    merged: dict[tuple, dict[str, Any]] = {}
    dims = spec.group_by
    for partial in partials:
        for cell in partial.get(key, []):
            group_key = tuple(map(cell["group"].get, dims))
            out = merged.get(group_key)
            if out is None:
                out = merged[group_key] = {"group": dict(zip(dims, group_key)), "count": 0,
                                           "sum": 0.0, "min": None, "max": None,
                                           "suppressed_parts": 0}
            if cell.get("suppressed"):
                out["suppressed_parts"] += 1
                continue
            out["count"] += cell["count"]
            out["sum"] += cell["sum"] or 0.0
            if controlled:
                continue
            for name, pick in (("min", min), ("max", max)):
                value = cell.get(name)
                if value is not None:
                    out[name] = value if out[name] is None else pick(out[name], value)
    cells: list[dict[str, Any]] = []
    for group_key in sorted(merged, key=lambda k: [str(x) for x in k]):
        cell = merged[group_key]
        if cell["count"] == 0 or (controlled and cell["count"] < threshold):
            cells.append({"group": cell["group"], "suppressed": True,
                          "suppressed_parts": cell["suppressed_parts"]})
            continue
        if controlled:
            del cell["min"], cell["max"]
        cell["sum"] = round(cell["sum"], 6)
        cell["avg"] = round(cell["sum"] / cell["count"], 6)
        cell["complete"] = cell["suppressed_parts"] == 0
        cells.append(cell)
    return cells
