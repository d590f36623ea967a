"""The index's answers: a listing page, an aggregate table and the newest change, each
with the caller's read rule inside the query (the same rule as node/records/scope.py and
the SPARQL rewrite: the caller's organisations, or its DNO licence areas, or everything).
Values come from the request only as bound parameters, never as SQL text."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, func, or_, select, true

from node import policy
from node.index.schema import MEASURE_COLUMNS, MONTH_COLUMNS, assets
from node.query.aggregates import DIMENSIONS, AggregateSpec
from node.query.filters import AssetFilter, check_code

c = assets.c


def scope_condition(scope: policy.ReadScope, table: Table = assets) -> ColumnElement[bool]:
    """POL-003 as a condition on `table`'s code columns (the rows, or the capacity cells):
    as `records_scope.scope_patterns` (IDX-003), with the same check of the caller's codes
    (FED-IN-001)."""
    c = table.c
    for value in (*scope.organisations, *scope.dno_areas):
        check_code("org", value)
    if scope.everything:
        return true()
    alternatives = []
    if scope.organisations:
        alternatives.append(c.organisation.in_(sorted(scope.organisations)))
    if scope.dno_areas:
        alternatives.append(c.dno.in_(sorted(scope.dno_areas)))
    return or_(*alternatives) if alternatives else false()


def filter_condition(spec: AssetFilter, table: Table = assets) -> ColumnElement[bool]:
    """The REST filter form (node/query/filters.py `restriction_patterns`); capacity
    ranges only on the rows."""
    c = table.c
    parts: list[ColumnElement[bool]] = []
    for name, values in spec.codes.items():
        parts.append(c[name].in_(values) if len(values) > 1 else c[name] == values[0])
    if spec.organisation:
        parts.append(c.organisation == spec.organisation)
    if spec.min_capacity is not None or spec.max_capacity is not None:
        parts.append(c.rated.is_not(None))
    if spec.min_capacity is not None:
        parts.append(c.rated >= spec.min_capacity)
    if spec.max_capacity is not None:
        parts.append(c.rated <= spec.max_capacity)
    return and_(true(), *parts)


def page(conn: Any, scope: policy.ReadScope, spec: AssetFilter, limit: int,
         after_iri: str) -> tuple[list[str], bool]:
    """Keyset page (IDX-004): the JSON (IDX-008) of the first `limit` listed records after
    `after_iri` in IRI order, and whether more follow. A record added or removed between
    two pages neither repeats nor hides another (the cursor is a key, not an offset)."""
    query = (select(c.doc).where(c.listed, c.iri > after_iri, scope_condition(scope),
                                 filter_condition(spec))
             .order_by(c.iri).limit(limit + 1))
    docs = list(conn.execute(query).scalars())
    return docs[:limit], len(docs) > limit


def _group_column(dim: str) -> Any:
    if dim in DIMENSIONS:
        return c[dim]
    return func.substr(c[MONTH_COLUMNS[dim]], 1, 7)


def answerable(spec: AggregateSpec) -> bool:
    """The index holds every dimension and measure of this spec (reports' data-quality
    `has_…` dimensions go to the store)."""
    return not spec.present and spec.measure in MEASURE_COLUMNS and all(
        d in DIMENSIONS or d in MONTH_COLUMNS for d in spec.group_by)


def _grouped(spec: AggregateSpec, scope: policy.ReadScope) -> tuple[list[Any], Any, Any]:
    measure = c[MEASURE_COLUMNS[spec.measure]]
    groups = [_group_column(d).label(f"d_{d}") for d in spec.group_by]
    where = and_(measure.is_not(None), scope_condition(scope), filter_condition(spec.filter))
    return groups, measure, where


def exact_groups(conn: Any, spec: AggregateSpec, scope: policy.ReadScope
                 ) -> Iterator[tuple[tuple[str | None, ...], int, float | None,
                                     float | None, float | None]]:
    """(codes, count, sum, min, max) per group (IDX-005)."""
    groups, measure, where = _grouped(spec, scope)
    query = select(*groups, func.count(), func.sum(measure), func.min(measure),
                   func.max(measure)).where(where)
    if groups:
        query = query.group_by(*groups)
    n = len(groups)
    for row in conn.execute(query):
        yield tuple(row[:n]), int(row[n]), row[n + 1], row[n + 2], row[n + 3]


def capacity_groups(conn: Any, spec: AggregateSpec, scope: policy.ReadScope
                    ) -> Iterator[tuple[tuple[str | None, ...], list[Decimal]]]:
    """(codes, the capacities as stored) per finest group: the input of disclosure control,
    exactly as the SPARQL query gives it (IDX-006)."""
    groups, _, where = _grouped(spec, scope)
    text = c[MEASURE_COLUMNS[spec.measure] + "_text"]
    query = select(*groups, func.group_concat(text, " ")).where(where)
    if groups:
        query = query.group_by(*groups)
    n = len(groups)
    for row in conn.execute(query):
        yield tuple(row[:n]), [Decimal(v) for v in (row[n] or "").split()]


def newest_modified(conn: Any, scope: policy.ReadScope) -> str | None:
    """The newest `dcterms:modified` of an asset with a rated capacity the caller's
    aggregates cover (node/reports/node_side.py `freshness_query`)."""
    query = select(func.max(c.modified)).where(c.rated.is_not(None), scope_condition(scope))
    value = conn.execute(query).scalar()
    return str(value) if value is not None else None
