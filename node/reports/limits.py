"""Report tables over connection limits (held on the DNOs' nodes): counts and the sum of
the export or import limit by DNO area or organisation, computed at each node over the
limits the caller may aggregate, in the same shape as the asset aggregates, so the same
exact result (`node_result`) or disclosure control (`controlled_result`) applies."""

from __future__ import annotations

from common.vocab import FMAR
from node import policy
from node.kinds.connection_limits import LIMIT_BASE
from node.query.aggregates import DIMENSIONS
from node.query.filters import scope_patterns

# measure (node/reports/model.py LIMIT_MEASURES) -> predicate summed
LIMIT_MEASURES = {"export_limit": "exportLimit", "import_limit": "importLimit"}


def _grouped(group_by: tuple[str, ...], measure: str, scope: policy.ReadScope) -> tuple[str, str]:
    patterns = [*scope_patterns(scope), f"?asset a <{FMAR.ConnectionLimit}> .",
                f"?asset <{FMAR[LIMIT_MEASURES[measure]]}> ?capacity ."]
    patterns += [f"OPTIONAL {{ ?asset <{FMAR[DIMENSIONS[d]]}> ?d_{d} }}" for d in group_by]
    return " ".join(f"?d_{d}" for d in group_by), "\n    ".join(patterns)


def _query(select: str, group_by: tuple[str, ...], measure: str,
           scope: policy.ReadScope) -> str:
    groups, body = _grouped(group_by, measure, scope)
    return (f"SELECT {groups} {select} WHERE {{\n  GRAPH ?asset {{\n    {body}\n  }}\n"
            f'  FILTER (STRSTARTS(STR(?asset), "{LIMIT_BASE}"))\n}}'
            + (f" GROUP BY {groups}" if groups else ""))


def exact_query(group_by: tuple[str, ...], measure: str, scope: policy.ReadScope) -> str:
    return _query("(COUNT(?asset) AS ?count) (SUM(?capacity) AS ?sum) "
                  "(MIN(?capacity) AS ?min) (MAX(?capacity) AS ?max)", group_by, measure, scope)


def controlled_query(group_by: tuple[str, ...], measure: str,
                     scope: policy.ReadScope) -> str:
    return _query('(GROUP_CONCAT(STR(?capacity); SEPARATOR=" ") AS ?capacities)', group_by,
                  measure, scope)
