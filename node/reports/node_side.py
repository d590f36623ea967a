"""A node's part of a report: every table of the request computed by the node's own
aggregate function (`QueryService.aggregate`: POL-012 exact over what the caller may
read, or POL-013 disclosure control for the regulator), and how fresh the node's data
is. Nothing but aggregates leaves the node."""

from __future__ import annotations

import json
from typing import Any

from common.vocab import FMAR
from node import policy
from node.identity import Caller
from node.query import aggregates
from node.query.aggregates import CAPACITY_MEASURES, DCTERMS
from node.query.filters import CODE_FILTERS, asset_graph_filter, scope_patterns
from node.query.service import QueryService
from node.reports import sources
from node.reports.model import (
    MAX_DIMENSIONS,
    MAX_TABLES,
    NAME_RE,
    Table,
    all_dimensions,
    check_table,
    invalid,
)


def parse_request(body: Any) -> list[Table]:
    """REP-IN-001: {"tables": {name: {"group_by", "measure", "filter"}, ...}} (at most 40
    tables); each table checked as in a definition (REP-VAL-005/006, FED-IN-*)."""
    if not isinstance(body, dict) or not isinstance(body.get("tables"), dict) \
            or len(body["tables"]) > MAX_TABLES:
        raise invalid("REP-IN-001", f"Send {{\"tables\": {{name: table}}}} with at most "
                      f"{MAX_TABLES} tables of group_by, measure and filter.")
    tables = []
    known = set(all_dimensions())
    for name, raw in body["tables"].items():
        if not _table_shape(raw):
            raise invalid("REP-IN-001", "Each table has group_by (a list of dimensions), and "
                          "optionally measure and filter (codes as strings, capacities as "
                          "numbers); nothing else.", table=str(name)[:60])
        table = Table(str(name), tuple(raw["group_by"]), raw.get("measure", "rated"),
                      {k: str(v) for k, v in (raw.get("filter") or {}).items()},
                      raw.get("source", "assets"))
        check_table(table, known)
        tables.append(table)
    return tables


CAPACITY_FILTERS = ("min_capacity", "max_capacity")
FILTER_NAMES = frozenset({*CODE_FILTERS, "organisation", *CAPACITY_FILTERS})


def _table_shape(raw: Any) -> bool:
    """The table is of the request schema's shape (values are checked afterwards)."""
    if not isinstance(raw, dict) or not set(raw) <= {"group_by", "measure", "filter", "source"}:
        return False
    if not isinstance(raw.get("source", ""), str):
        return False
    group_by, measure, filters = raw.get("group_by"), raw.get("measure", ""), raw.get("filter")
    if not isinstance(group_by, list) or not all(isinstance(d, str) for d in group_by) \
            or not isinstance(measure, str):
        return False
    if filters is None:
        return "filter" not in raw
    source = sources.SOURCES.get(raw.get("source", "assets"))
    if source is not None:  # another record source: codes on the dimensions it allows
        return isinstance(filters, dict) and set(filters) <= set(source.filters) and all(
            isinstance(v, str) for v in filters.values())
    return isinstance(filters, dict) and set(filters) <= FILTER_NAMES and all(
        (isinstance(v, int | float) and not isinstance(v, bool)) if k in CAPACITY_FILTERS
        else isinstance(v, str) for k, v in filters.items())


def request_schema() -> dict[str, Any]:
    """The JSON schema of a report part's request (OpenAPI): a table of assets, or of
    another record source (node/reports/sources.py, e.g. `"source": "qualifications"`)."""
    code = r"[A-Za-z0-9_.\-]{1,64}"
    codes = {"type": "string", "pattern": rf"^({code}(,{code})*)?$"}  # empty: no filter
    assets = {"type": "object", "required": ["group_by"], "additionalProperties": False,
              "properties": {
                  "group_by": {"type": "array", "maxItems": MAX_DIMENSIONS,
                               "uniqueItems": True, "items": {"enum": all_dimensions()}},
                  "measure": {"enum": list(CAPACITY_MEASURES)},
                  "source": {"enum": ["assets"]},
                  "filter": {"type": "object", "additionalProperties": False, "properties": {
                      **{name: codes for name in CODE_FILTERS},
                      "organisation": {"type": "string", "pattern": f"^({code})?$"},
                      **{name: {"type": "number"} for name in CAPACITY_FILTERS}}}}}
    others = [{"type": "object", "required": ["group_by", "measure", "source"],
               "additionalProperties": False, "properties": {
                   "group_by": {"type": "array", "uniqueItems": True,
                                "items": {"enum": list(source.dimensions)}},
                   "measure": {"enum": list(source.measures)},
                   "source": {"enum": [source.name]},
                   "filter": {"type": "object", "additionalProperties": False,
                              "properties": {name: codes for name in source.filters}}}}
              for source in sources.SOURCES.values()]
    return {"type": "object", "required": ["tables"], "properties": {"tables": {
        "type": "object", "maxProperties": MAX_TABLES,
        "propertyNames": {"pattern": NAME_RE.pattern},
        "additionalProperties": {"oneOf": [assets, *others]}}}}


def freshness_query(scope: policy.ReadScope) -> str:
    patterns = " ".join([*scope_patterns(scope),
                         f"?asset <{FMAR.ratedCapacity}> ?capacity .",
                         f"?asset <{DCTERMS}modified> ?modified ."])
    return (f"SELECT (MAX(STR(?modified)) AS ?newest) WHERE {{ GRAPH ?asset {{ {patterns} }} "
            f"{asset_graph_filter()} }}")


def record_table(service: QueryService, caller: Caller, access: policy.AggregateScope,
                 table: Table) -> dict[str, Any]:
    """A table of other records (connection limits, qualifications, applications): exact
    over the records of the kind the caller may read (the kind's own read rule), or under
    disclosure control over all of them for the regulator (POL-012, POL-013)."""
    source, spec = sources.SOURCES[table.source], table.spec()
    if access.disclosure is None:
        scope = policy.read_scope(caller, source.kind)
        body = service.run_generated(sources.exact_query(
            source, table.group_by, table.measure, table.filter, scope)).body
        return aggregates.node_result(spec, body)
    body = service.run_generated(sources.controlled_query(
        source, table.group_by, table.measure, table.filter, access.scope)).body
    return aggregates.controlled_result(spec, body, access.disclosure, service.disclosure_key)


def compute(service: QueryService, caller: Caller, tables: list[Table],
            kinds: list[str]) -> dict[str, Any]:
    """The node's answer: each table as /query/aggregate gives it, and `node`: the newest
    change to an asset record the caller's aggregates cover (to the minute; a date alone
    says nothing about one asset's attributes) and the record kinds the node serves."""
    access = policy.aggregate_read_scope(caller)
    answer = {t.name: (service.aggregate(caller, t.spec()) if t.source == "assets"
                       else record_table(service, caller, access, t)) for t in tables}
    if service.index is not None:
        newest = service.index.newest_modified(access.scope)
    else:
        body = json.loads(service.run_generated(freshness_query(access.scope)).body)
        bindings = body["results"]["bindings"]
        newest = bindings[0].get("newest", {}).get("value") if bindings else None
    return {"tables": answer,
            "node": {"newest_modified": newest[:16] if newest else None, "kinds": kinds}}
