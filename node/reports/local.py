"""A report's tables computed from asset rows in memory (Elexon column names, as
`GET /assets` or a CSV gives them): exact, no disclosure control. Used for the committed
example charts and, in tests, as the union-store oracle."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from node.asset_fields import FIELDS
from node.query.aggregates import present_dimension
from node.reports.model import Definition, Table

COLUMN = {"category": "AssetCategory", "gsp_group": "GSPGroup", "dno": "DNOConnection",
          "connection_type": "ConnectionType", "connection_status": "ConnectionStatus",
          "validation_status": "ValidationStatus", "registration_status": "RegistrationStatus",
          "organisation": "OrganisationId"}
MONTH = {"created_month": "Created", "modified_month": "Modified",
         "effective_month": "EffectiveDate"}
MEASURE = {"rated": "RatedCapacity", "import": "DemandCapacity", "export": "GenCapacity",
           "installed": "InstalledCapacity", "storage": "StorageCapacity"}
PRESENT = {present_dimension(f.iri): f.name for f in FIELDS}
FILTER = {"category": "AssetCategory", "dno": "DNOConnection",
          "connection_type": "ConnectionType", "gsp_group": "GSPGroup",
          "registration_status": "RegistrationStatus", "validation_status": "ValidationStatus",
          "connection_status": "ConnectionStatus"}


def _given(value: Any) -> bool:
    return value not in (None, "")


def group_value(row: dict[str, Any], dim: str, source: str = "assets") -> str | None:
    if source != "assets":
        value = row.get(RECORD_COLUMN[dim])
        return _code(value) if _given(value) else None
    if dim in PRESENT:
        return "true" if _given(row.get(PRESENT[dim])) else "false"
    if dim in MONTH:
        value = row.get(MONTH[dim])
        return str(value)[:7] if _given(value) else None
    value = row.get(COLUMN[dim])
    return None if not _given(value) else str(value)


# a record source's rows (as its listing gives them): the ID field that marks them, the
# column of each dimension and measure (None: each row counts 1)
SOURCE_ID = {"connection-limits": "LimitId", "qualifications": "QualificationId",
             "qualification-applications": "ApplicationId", "revalidation": "Finding"}
RECORD_COLUMN = {"dno": "DNOConnection", "organisation": "OrganisationId",
                 "product": "Product", "state": "State", "operator": "SetBy", "rule": "Rule"}
RECORD_MEASURE: dict[str, str | None] = {
    "export_limit": "ExportLimit", "import_limit": "ImportLimit", "records": None,
    "qualified_up": "QualifiedUpKW", "qualified_down": "QualifiedDownKW",
    "claimed_up": "ClaimedUpKW", "claimed_down": "ClaimedDownKW"}


def _code(value: Any) -> str:
    return str(value).rstrip("/").rsplit("/", 1)[-1]


def _record_matches(row: dict[str, Any], table: Table) -> bool:
    if not _given(row.get(SOURCE_ID[table.source])):
        return False
    column = RECORD_MEASURE[table.measure]
    if column is not None and not _given(row.get(column)):
        return False
    return all(_code(row.get(RECORD_COLUMN[name])) in allowed.split(",")
               for name, allowed in table.filter.items() if allowed)


def _measured(row: dict[str, Any], table: Table) -> float:
    if table.source == "assets":
        return float(row[MEASURE[table.measure]])
    column = RECORD_MEASURE[table.measure]
    return 1.0 if column is None else float(row[column])


def matches(row: dict[str, Any], table: Table) -> bool:
    """A row counts in the table: an asset row (with a rated capacity) in an asset table,
    a record of the table's source (as its listing gives it) in a record table."""
    if table.source != "assets":
        return _record_matches(row, table)
    for name, allowed in table.filter.items():
        if str(row.get(FILTER[name])) not in allowed.split(","):
            return False
    return _given(row.get("RatedCapacity")) and _given(row.get(MEASURE[table.measure]))


def table_from_rows(rows: list[dict[str, Any]], table: Table) -> dict[str, Any]:
    cells: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"count": 0, "sum": 0.0})
    for row in rows:
        if not matches(row, table):
            continue
        key = tuple(group_value(row, d, table.source) for d in table.group_by)
        cells[key]["count"] += 1
        cells[key]["sum"] += _measured(row, table)
    return {"group_by": list(table.group_by), "measure": table.measure, "unit": "kW",
            "cells": [{"group": dict(zip(table.group_by, key)), "count": cell["count"],
                       "sum": round(cell["sum"], 6), "complete": True}
                      for key, cell in sorted(cells.items(), key=lambda kv: [str(v) for v in
                                                                              kv[0]])]}


def answer_from_rows(definition: Definition, rows: list[dict[str, Any]],
                     node: str = "local") -> dict[str, Any]:
    """What `Engine.report` would answer for these rows on one node with full rights."""
    newest = max((str(r["Modified"]) for r in rows if _given(r.get("Modified"))), default=None)
    return {"partial": False, "nodes": [{"node": node, "status": "answered", "ms": 0.0}],
            "tables": {t.name: table_from_rows(rows, t) for t in definition.tables},
            "about": {node: {"newest_modified": newest[:16] if newest else None,
                             "kinds": ["assets"]}}}
