"""A report definition: tables (dimensions, a capacity measure, filters) and the charts
drawn from them. Checked by `check` (REP-VAL-001..007) before anything is asked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from common.http_errors import ApiError
from node.asset_fields import FIELDS
from node.query.aggregates import (
    CAPACITY_MEASURES,
    DERIVED,
    DIMENSIONS,
    AggregateSpec,
    present_dimension,
)
from node.query.filters import AssetFilter
from node.reports.sources import SOURCES as RECORD_SOURCES

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
MAX_TABLES = 40
MAX_DIMENSIONS = 5
CHART_KINDS = ("bars", "lines", "tiles")
SOURCES = ("assets", "federation", "market")  # where a report's numbers come from
# dimension "has_<predicate>" -> predicate IRI, one per Elexon attribute (data quality)
PRESENT: dict[str, str] = {present_dimension(f.iri): f.iri for f in FIELDS}


def all_dimensions() -> list[str]:
    return [*DIMENSIONS, *DERIVED, *PRESENT]


def invalid(rule: str, message: str, **details: Any) -> ApiError:
    return ApiError(400, rule, message, details or None)


@dataclass(frozen=True)
class Table:
    """One aggregate table: counts and a capacity sum by group."""

    name: str
    group_by: tuple[str, ...]
    measure: str = "rated"
    filter: dict[str, str] = field(default_factory=dict)
    source: str = "assets"  # or a record source (node/reports/sources.py SOURCES)

    def spec(self) -> AggregateSpec:
        if self.source != "assets":  # the merge needs only the dimensions
            return AggregateSpec(self.group_by)
        present = tuple((d, PRESENT[d]) for d in self.group_by if d in PRESENT)
        return AggregateSpec(self.group_by, AssetFilter.parse({**self.filter, "limit": 1}),
                             self.measure, present)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.request()}

    def request(self) -> dict[str, Any]:
        """The table as a node's report part takes it (under its name)."""
        if self.source != "assets":  # a table of other records: codes only
            return {"group_by": list(self.group_by), "measure": self.measure,
                    "source": self.source, **({"filter": dict(self.filter)}
                                              if self.filter else {})}
        return {"group_by": list(self.group_by), "measure": self.measure,
                "filter": {k: float(v) if k in ("min_capacity", "max_capacity") else v
                           for k, v in self.filter.items()}}


@dataclass(frozen=True)
class Chart:
    """`bars`: value by `x` (a table's margin over x); `lines`: value by month `x`;
    `tiles`: value per GSP group on a tile map. `value`: count or sum (MW)."""

    name: str
    kind: str
    table: str
    x: str
    value: str = "sum"
    title: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "table": self.table, "x": self.x,
                "value": self.value, "title": self.title}


@dataclass(frozen=True)
class Definition:
    name: str
    version: int
    title: str
    description: str
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    source: str = "assets"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "title": self.title,
                "description": self.description, "source": self.source,
                "tables": [t.as_json() for t in self.tables],
                "charts": [c.as_json() for c in self.charts]}

    @classmethod
    def from_json(cls, data: Any) -> Definition:
        """A definition from JSON (a saved one, or one sent to run), checked."""
        if not isinstance(data, dict):
            raise invalid("REP-VAL-001", "A report definition is a JSON object.")
        try:
            tables = tuple(Table(str(t["name"]), tuple(t["group_by"]),
                                 str(t.get("measure", "rated")),
                                 {str(k): str(v) for k, v in (t.get("filter") or {}).items()},
                                 str(t.get("source", "assets")))
                           for t in data.get("tables", []))
            charts = tuple(Chart(str(c["name"]), str(c["kind"]), str(c["table"]), str(c["x"]),
                                 str(c.get("value", "sum")), str(c.get("title", "")))
                           for c in data.get("charts", []))
            definition = cls(str(data["name"]), int(data["version"]), str(data["title"]),
                             str(data.get("description", "")), tables, charts,
                             str(data.get("source", "assets")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise invalid("REP-VAL-001", "A report definition needs name, version, title, "
                          "and tables/charts of the documented form.", error=str(exc)) from None
        return check(definition)


def check(definition: Definition) -> Definition:
    """REP-VAL-001..007: the definition is well formed; every error names its rule."""
    if not NAME_RE.match(definition.name):
        raise invalid("REP-VAL-001", "A report's name is lower-case letters, digits, _ or - "
                      "(at most 48).", value=definition.name[:60])
    if definition.version < 1:
        raise invalid("REP-VAL-002", "A report's version is a whole number from 1.",
                      value=definition.version)
    if definition.source not in SOURCES:
        raise invalid("REP-VAL-003", "A report's source is one of " + ", ".join(SOURCES) + ".",
                      value=definition.source)
    if len(definition.tables) > MAX_TABLES or len({t.name for t in definition.tables}) != len(
            definition.tables):
        raise invalid("REP-VAL-004", f"A report has at most {MAX_TABLES} tables, each with its "
                      "own name.")
    known = set(all_dimensions())
    for table in definition.tables:
        check_table(table, known)
    tables = {t.name: t for t in definition.tables}
    for chart in definition.charts:
        if (chart.kind not in CHART_KINDS or chart.table not in tables
                or chart.x not in tables[chart.table].group_by
                or chart.value not in ("count", "sum") or not NAME_RE.match(chart.name)):
            raise invalid("REP-VAL-007", "A chart is bars, lines or tiles of one of the "
                          "report's tables, along one of its dimensions, of count or sum.",
                          chart=chart.name)
    return definition


def check_table(table: Table, known: set[str]) -> None:
    if table.source in RECORD_SOURCES:
        check_record_table(table)
        return
    if table.source != "assets":
        raise invalid("REP-VAL-005", "A table's source is assets or one of "
                      + ", ".join(RECORD_SOURCES) + ".", table=table.name[:60],
                      source=table.source[:60])
    dims = table.group_by
    if (not NAME_RE.match(table.name) or len(dims) > MAX_DIMENSIONS
            or len(set(dims)) != len(dims) or any(d not in known for d in dims)):
        raise invalid("REP-VAL-005", f"A table has a name and groups by up to "
                      f"{MAX_DIMENSIONS} distinct dimensions of: " + ", ".join(sorted(known)),
                      table=table.name[:60], group_by=list(dims)[:10])
    if table.measure not in CAPACITY_MEASURES:
        raise invalid("REP-VAL-006", "A table's measure is one of "
                      + ", ".join(CAPACITY_MEASURES) + ".", table=table.name,
                      value=table.measure[:60])
    AssetFilter.parse({**table.filter, "limit": 1})  # FED-IN-001..004


def check_record_table(table: Table) -> None:
    """A table of other records (connection limits, qualifications, applications): by
    the source's dimensions, of one of its measures, filtered only on the dimensions it
    allows, by codes (REP-VAL-005, REP-VAL-006)."""
    source = RECORD_SOURCES[table.source]
    dims = table.group_by
    if (not NAME_RE.match(table.name) or len(set(dims)) != len(dims)
            or any(d not in source.dimensions for d in dims)
            or any(k not in source.filters or not _codes(v) for k, v in table.filter.items())):
        raise invalid("REP-VAL-005", f"A table of {source.name} groups by "
                      + " and/or ".join(source.dimensions) + ", filtered "
                      + (f"on {', '.join(source.filters)} by codes" if source.filters
                         else "on nothing") + ".", table=table.name[:60],
                      group_by=list(dims)[:10])
    if table.measure not in source.measures:
        raise invalid("REP-VAL-006", f"A table of {source.name} measures "
                      + " or ".join(source.measures) + ".", table=table.name,
                      value=table.measure[:60])


def _codes(value: str) -> bool:
    """Codes separated by commas; empty is no filter (as in an asset table)."""
    return value == "" or all(CODE_RE.match(v) for v in value.split(","))


CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
