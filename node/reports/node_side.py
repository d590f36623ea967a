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
from node.query.aggregates import DCTERMS
from node.query.filters import asset_graph_filter, scope_patterns
from node.query.service import QueryService
from node.reports.model import MAX_TABLES, Table, all_dimensions, check_table, invalid


def parse_request(body: Any) -> list[Table]:
    """REP-IN-001: {"tables": [{"name", "group_by", "measure", "filter"}, ...]} (at most
    40 tables); each table checked as in a definition (REP-VAL-005/006, FED-IN-*)."""
    if not isinstance(body, dict) or not isinstance(body.get("tables"), list) \
            or len(body["tables"]) > MAX_TABLES:
        raise invalid("REP-IN-001", f"Send {{\"tables\": [...]}} with at most {MAX_TABLES} "
                      "tables of name, group_by, measure and filter.")
    tables = []
    known = set(all_dimensions())
    for raw in body["tables"]:
        try:
            table = Table(str(raw["name"]), tuple(str(d) for d in raw["group_by"]),
                          str(raw.get("measure", "rated")),
                          {str(k): str(v) for k, v in (raw.get("filter") or {}).items()})
        except (KeyError, TypeError, AttributeError):
            raise invalid("REP-IN-001", "Each table has name, group_by (a list), and "
                          "optionally measure and filter (an object).") from None
        check_table(table, known)
        tables.append(table)
    if len({t.name for t in tables}) != len(tables):
        raise invalid("REP-IN-001", "Each table has its own name.")
    return tables


def freshness_query(scope: policy.ReadScope) -> str:
    patterns = " ".join([*scope_patterns(scope),
                         f"?asset <{FMAR.ratedCapacity}> ?capacity .",
                         f"?asset <{DCTERMS}modified> ?modified ."])
    return (f"SELECT (MAX(STR(?modified)) AS ?newest) WHERE {{ GRAPH ?asset {{ {patterns} }} "
            f"{asset_graph_filter()} }}")


def compute(service: QueryService, caller: Caller, tables: list[Table],
            kinds: list[str]) -> dict[str, Any]:
    """The node's answer: each table as /query/aggregate gives it, and `node`: the newest
    change to an asset record the caller's aggregates cover (to the minute; a date alone
    says nothing about one asset's attributes) and the record kinds the node serves."""
    answer = {t.name: service.aggregate(caller, t.spec()) for t in tables}
    access = policy.aggregate_read_scope(caller)
    body = json.loads(service.run_generated(freshness_query(access.scope)).body)
    bindings = body["results"]["bindings"]
    newest = bindings[0].get("newest", {}).get("value") if bindings else None
    return {"tables": answer,
            "node": {"newest_modified": newest[:16] if newest else None, "kinds": kinds}}
