"""Report tables over records other than assets: connection limits (on the DNOs' nodes),
qualification outcomes (on the system operators' nodes) and qualification applications
(on the FSPs' nodes). Each is a `RecordSource`: the kind (its read rule), the dimensions
and measures a table may use, and the dimensions it may filter on. A node computes such a
table over the records the caller may aggregate, in the same shape as the asset
aggregates, so the same exact result (`node_result`) or disclosure control
(`controlled_result`) applies and the engine merges it the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rdflib import URIRef

from common.vocab import FMAR
from node import policy
from node.kinds.connection_limits import LIMIT_BASE
from node.kinds.qualifications import APPLICATION_BASE, QUALIFICATION_BASE
from node.kinds.revalidation import FINDING_BASE
from node.query.filters import check_code
from node.records import scope as record_scope
from node.records.kind import KINDS


@dataclass(frozen=True)
class RecordSource:
    name: str  # a table's `source`
    kind: str  # the record kind: its read rule and where its scope patterns look
    iri_base: str
    rdf_class: URIRef
    dimensions: Mapping[str, URIRef]  # dimension -> predicate of the record
    measures: Mapping[str, URIRef | None]  # measure -> predicate summed; None: each counts 1
    filters: tuple[str, ...] = ()  # dimensions a table may filter on (codes)


_COUNT = {"records": None}
SOURCES: dict[str, RecordSource] = {s.name: s for s in (
    RecordSource("connection-limits", "connection-limit", LIMIT_BASE, FMAR.ConnectionLimit,
                 {"dno": FMAR.dnoConnection, "organisation": FMAR.organisation},
                 {"export_limit": FMAR.exportLimit, "import_limit": FMAR.importLimit}),
    # outcomes: the operator is the organisation that recorded the outcome (setBy)
    RecordSource("qualifications", "qualification", QUALIFICATION_BASE, FMAR.Qualification,
                 {"product": FMAR.forProduct, "state": FMAR.qualificationState,
                  "operator": FMAR.setBy, "organisation": FMAR.organisation},
                 {**_COUNT, "qualified_up": FMAR.qualifiedUpCapacity,
                  "qualified_down": FMAR.qualifiedDownCapacity}, ("state", "product")),
    RecordSource("qualification-applications", "qualification-application", APPLICATION_BASE,
                 FMAR.QualificationApplication,
                 {"product": FMAR.forProduct, "state": FMAR.qualificationState,
                  "organisation": FMAR.organisation},
                 {**_COUNT, "claimed_up": FMAR.claimedUpCapacity,
                  "claimed_down": FMAR.claimedDownCapacity}, ("state", "product")),
    # findings of the node's last re-validation (node/kinds/revalidation.py), read under
    # the asset read rule: a finding carries its record's organisation and DNO area
    RecordSource("revalidation", "asset", FINDING_BASE, FMAR.RevalidationFinding,
                 {"rule": FMAR.violatesRule, "dno": FMAR.dnoConnection,
                  "organisation": FMAR.organisation}, _COUNT),
)}


def _grouped(source: RecordSource, group_by: tuple[str, ...], measure: str,
             filters: Mapping[str, str], scope: policy.ReadScope) -> tuple[str, str]:
    kind = KINDS[source.kind]
    patterns = [*record_scope.scope_patterns(scope, "asset", kind.organisation_predicate,
                                             kind.area_predicate),
                f"?asset a <{source.rdf_class}> ."]
    summed = source.measures[measure]
    patterns.append(f"?asset <{summed}> ?capacity ." if summed is not None
                    else "BIND (1 AS ?capacity)")
    for dim, wanted in filters.items():
        values = [check_code(dim, v) for v in wanted.split(",") if v]
        if not values:  # empty: no filter
            continue
        patterns.append(f"?asset <{source.dimensions[dim]}> ?f_{dim} . FILTER (REPLACE(STR("
                        f"?f_{dim}), \"^.*/\", \"\") IN ({', '.join(map(repr, values))}))")
    patterns += [f"OPTIONAL {{ ?asset <{source.dimensions[d]}> ?d_{d} }}" for d in group_by]
    return " ".join(f"?d_{d}" for d in group_by), "\n    ".join(patterns)


def _query(select: str, source: RecordSource, group_by: tuple[str, ...], measure: str,
           filters: Mapping[str, str], scope: policy.ReadScope) -> str:
    groups, body = _grouped(source, group_by, measure, filters, scope)
    return (f"SELECT {groups} {select} WHERE {{\n  GRAPH ?asset {{\n    {body}\n  }}\n"
            f'  FILTER (STRSTARTS(STR(?asset), "{source.iri_base}"))\n}}'
            + (f" GROUP BY {groups}" if groups else ""))


def exact_query(source: RecordSource, group_by: tuple[str, ...], measure: str,
                filters: Mapping[str, str], scope: policy.ReadScope) -> str:
    return _query("(COUNT(?asset) AS ?count) (SUM(?capacity) AS ?sum) "
                  "(MIN(?capacity) AS ?min) (MAX(?capacity) AS ?max)", source, group_by,
                  measure, filters, scope)


def controlled_query(source: RecordSource, group_by: tuple[str, ...], measure: str,
                     filters: Mapping[str, str], scope: policy.ReadScope) -> str:
    return _query('(GROUP_CONCAT(STR(?capacity); SEPARATOR=" ") AS ?capacities)', source,
                  group_by, measure, filters, scope)
