"""Aggregates: computed at each node over what the caller may read, merged by the
federation engine, so a report never moves raw rows.

A node answers, per group, COUNT, SUM, MIN and MAX of the rated capacity (kW); the
engine adds counts and sums, takes min of mins and max of maxes, and derives AVG as
SUM/COUNT — exact, unlike averaging averages. Small cells are suppressed at the node
under POL-013 for callers with aggregate-only access (the regulator).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from node import policy
from node.errors import ApiError
from node.federation.filters import (
    AssetFilter,
    asset_graph_filter,
    restriction_patterns,
    scope_patterns,
)
from node.federation.results import parse_select_json
from node.vocab import FMAR

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


@dataclass(frozen=True)
class AggregateSpec:
    group_by: tuple[str, ...] = ("category", "dno")
    filter: AssetFilter = field(default_factory=AssetFilter)

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


def node_query(spec: AggregateSpec, scope: policy.ReadScope) -> str:
    patterns = scope_patterns(scope) + restriction_patterns(spec.filter)
    if not any("?capacity" in p for p in patterns):
        patterns.append(f"?asset <{FMAR.ratedCapacity}> ?capacity .")
    # (no `a fmar:Asset`: a rated capacity in GRAPH ?asset { ?asset … } under the asset
    # namespace is an asset record; the type pattern cost ~30 % here)
    for dim in spec.group_by:
        patterns.append(f"OPTIONAL {{ ?asset <{FMAR[DIMENSIONS[dim]]}> ?d_{dim} }}")
    groups = " ".join(f"?d_{d}" for d in spec.group_by)
    body = "\n    ".join(patterns)
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


def node_result(spec: AggregateSpec, body: bytes, suppress_below: int) -> dict[str, Any]:
    """A node's partial aggregate as JSON cells; POL-013 applied here, at the node."""
    variables, rows = parse_select_json(json.loads(body))
    index = {v: i for i, v in enumerate(variables)}
    cells = []
    for row in rows:
        count = int(row[index["count"]].value)
        if count == 0:
            continue
        group = {d: _code(row[index[f"d_{d}"]]) for d in spec.group_by}
        if suppress_below and count < suppress_below:
            cells.append({"group": group, "suppressed": True})
            continue
        cells.append({"group": group, "count": count, "sum": _number(row[index["sum"]]),
                      "min": _number(row[index["min"]]), "max": _number(row[index["max"]])})
    cells.sort(key=lambda c: [str(c["group"][d]) for d in spec.group_by])
    return {"group_by": list(spec.group_by), "unit": "kW", "cells": cells,
            "suppressed_below": suppress_below or None,
            "rule": "POL-013" if suppress_below else None}


def merge(spec: AggregateSpec, partials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge nodes' cells; a cell with a suppressed part is marked incomplete."""
    merged: dict[tuple, dict[str, Any]] = {}
    for partial in partials:
        for cell in partial.get("cells", []):
            key = tuple(cell["group"].get(d) for d in spec.group_by)
            out = merged.setdefault(key, {"group": dict(zip(spec.group_by, key)), "count": 0,
                                          "sum": 0.0, "min": None, "max": None,
                                          "suppressed_parts": 0})
            if cell.get("suppressed"):
                out["suppressed_parts"] += 1
                continue
            out["count"] += cell["count"]
            out["sum"] += cell["sum"] or 0.0
            for name, pick in (("min", min), ("max", max)):
                value = cell.get(name)
                if value is not None:
                    out[name] = value if out[name] is None else pick(out[name], value)
    cells = []
    for key in sorted(merged, key=lambda k: [str(x) for x in k]):
        cell = merged[key]
        if cell["count"] == 0:
            cells.append({"group": cell["group"], "suppressed": True,
                          "suppressed_parts": cell["suppressed_parts"]})
            continue
        cell["sum"] = round(cell["sum"], 6)
        cell["avg"] = round(cell["sum"] / cell["count"], 6)
        cell["complete"] = cell["suppressed_parts"] == 0
        cells.append(cell)
    return cells
