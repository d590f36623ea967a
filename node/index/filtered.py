"""IDX-010: the REST filter form (GET /query/assets) answered from the listing index, with
the same answer as its generated SPARQL (node/query/filters.py `select_query`) over the
embedded store: the same variables and terms, the same rows in the same order (by the
asset's IRI), the same `LIMIT limit + 1`.

A row says how the SPARQL query sees its record (`q_state`, written from the same read of
the store as the row's columns):

- NULL: never in an answer (not a `fmar:Asset`, or no assetId, organisation, category or
  rated capacity);
- REGULAR: in the answer exactly when the row's columns match: each predicate the query
  reads has one value at most, each code is the canonical IRI of its code, and the rated
  capacity is an xsd:decimal Oxigraph reads (at most 18 digits after the point);
- ODD_CAPACITY: as REGULAR, but its capacity is not one this module compares as Oxigraph
  does: a query with a capacity bound is left to the store;
- IRREGULAR: anything else (two values, a code IRI outside its scheme, a blank node): the
  store answers every query while such a row exists.

The terms the answer shows and the columns do not hold (assetId, name, capacity) are kept
as the JSON text of their bindings (`q_head`, `q_capacity`); an answer is written as text
from them, as the query worker writes its answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

import pyoxigraph as ox
from sqlalchemy import ColumnElement, func, literal_column, select

from common.vocab import FMAR, ORG_BASE, code_iri
from node import policy
from node.index.projection import RDF_TYPE, code
from node.index.schema import assets
from node.query.filters import CODE_FILTERS, COLUMNS, AssetFilter
from node.query.results import term_json

REGULAR, ODD_CAPACITY, IRREGULAR = 0, 1, 2
VARIABLES = ["asset", *COLUMNS]
XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
_ASSET = str(FMAR.Asset)
# code predicate IRI -> how its canonical IRI is made from the code
_CODE_PREDICATES: dict[str, Any] = {
    str(FMAR[prop]): (lambda c, s=scheme: str(code_iri(s, c)))
    for prop, scheme in CODE_FILTERS.values()}
_CODE_PREDICATES[str(FMAR.organisation)] = lambda c: ORG_BASE + c
_TERM_COLUMNS = ("assetId", "name", "capacity")  # kept as JSON text: q_head, q_capacity
_READ = {str(FMAR[prop]) for prop, _ in COLUMNS.values()} | set(_CODE_PREDICATES)
_REQUIRED = [str(FMAR[prop]) for prop, optional in COLUMNS.values() if not optional]
_RATED = str(FMAR.ratedCapacity)
_CATEGORY, _DNO, _CONNECTION = (str(code_iri(scheme, "")) for scheme in (
    "AssetCategory", "DNOCode", "ConnectionType"))
_DECIMAL_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_I128 = 2 ** 127
_SCALE = 10 ** 18
FEW_IN_RANGE = 10_000  # rows in a capacity range read by ix_rated and sorted, at most


def oxigraph_decimal(text: str) -> Decimal | None:
    """The value Oxigraph reads from an xsd:decimal lexical form (a fixed point of 18
    fractional digits in an i128), or None where it reads none (the literal is ill-typed
    and every comparison with it fails)."""
    if not _DECIMAL_RE.match(text):
        return None
    value = Decimal(text)
    scaled = value.scaleb(18)
    if scaled != scaled.to_integral_value() or not -_I128 <= scaled < _I128:
        return None
    return value


def oxigraph_double(value: Decimal) -> float:
    """Oxigraph's xsd:decimal to xsd:double (compared with a double bound): the fixed-point
    integer without its trailing zeros, divided by its power of ten, in binary floating
    point (oxsdatatypes `From<Decimal> for Double`)."""
    scaled, shift = int(value.scaleb(18)), _SCALE
    while scaled and shift != 1 and scaled % 10 == 0:
        scaled //= 10
        shift //= 10
    return float(scaled) / float(shift)


def state_of(iri: str, triples: Iterable[ox.Triple]
             ) -> tuple[int | None, str | None, str | None]:
    """(q_state, q_head, q_capacity) of a record from its own triples: q_head the
    answer's assetId and name bindings as JSON text (`,"assetId":{…},"name":{…}`),
    q_capacity its capacity term's."""
    typed = False
    values: dict[str, list[Any]] = {}
    for t in triples:
        predicate = t.predicate.value
        if predicate == RDF_TYPE:
            typed = typed or t.object == ox.NamedNode(_ASSET)
        elif predicate in _READ:
            values.setdefault(predicate, []).append(t.object)
    if not typed or any(p not in values for p in _REQUIRED):
        return None, None, None
    state = REGULAR
    for predicate, found in values.items():
        if len(found) > 1 or isinstance(found[0], ox.BlankNode):
            state = IRREGULAR
        canonical = _CODE_PREDICATES.get(predicate)
        if canonical is not None and not (isinstance(found[0], ox.NamedNode)
                                           and canonical(code(found[0].value))
                                           == found[0].value):
            state = IRREGULAR
    rated = values[_RATED][0]
    if state == REGULAR and not (isinstance(rated, ox.Literal)
                                 and rated.datatype.value == XSD_DECIMAL
                                 and oxigraph_decimal(rated.value) is not None):
        state = ODD_CAPACITY
    if state == IRREGULAR:
        return state, None, None
    asset_id, name, capacity = (values.get(str(FMAR[COLUMNS[v][0]]), [None])[0]
                                for v in _TERM_COLUMNS)
    head = f',"assetId":{_json(term_json(asset_id))}'
    if name is not None:
        head += f',"name":{_json(term_json(name))}'
    return state, head, _json(term_json(capacity))


def _json(value: Any) -> str:
    """JSON text as Oxigraph writes SPARQL results (compact, UTF-8 unescaped)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Bound:
    """A capacity bound as the query writes it (`repr(float)`): an xsd:decimal literal,
    or an xsd:double one in exponent form; compared with a capacity as Oxigraph does."""

    def __init__(self, number: float):
        self.number = number
        text = repr(number)
        self.double = "e" in text  # (a bound is finite: FED-IN-002)
        self.decimal = None if self.double else oxigraph_decimal(text)
        # Rows within this of the bound are compared exactly; the others by their float
        # (a decimal's float and Oxigraph's double differ by a few ulps at most).
        self.margin = abs(number) * 1e-12 + 1e-300

    @property
    def readable(self) -> bool:
        """Oxigraph reads this bound (a decimal of more than 18 fractional digits, such as
        1.2345678901234567e-4 written out, it does not): else the store answers."""
        return self.double or self.decimal is not None

    def compare(self, capacity: Decimal) -> int:
        if self.decimal is not None:
            return (capacity > self.decimal) - (capacity < self.decimal)
        value = oxigraph_double(capacity)
        return (value > self.number) - (value < self.number)


def answerable(spec: AssetFilter) -> bool:
    """IDX-010: the index holds this filter's answer: each capacity bound is one Oxigraph
    reads (the codes and the caller's scope are always columns)."""
    return all(_Bound(b).readable for b in (spec.min_capacity, spec.max_capacity)
               if b is not None)


def odd_record(conn: Any, spec: AssetFilter) -> tuple[str, str] | None:
    """IDX-010: (IRI, state name) of a row the index cannot answer this filter for (an
    IRREGULAR row, or an ODD_CAPACITY row when the filter bounds the capacity), or None:
    the index holds the answer."""
    odd = [IRREGULAR] + ([ODD_CAPACITY] if spec.min_capacity is not None
                         or spec.max_capacity is not None else [])
    found = conn.execute(select(assets.c.iri, assets.c.q_state).where(
        assets.c.q_state > literal_column("0"),  # ix_q_odd's term
        assets.c.q_state.in_(odd)).order_by(assets.c.q_state.desc()).limit(1)).first()
    if found is None:
        return None
    return str(found[0]), "IRREGULAR" if found[1] == IRREGULAR else "ODD_CAPACITY"


def answer(conn: Any, spec: AssetFilter, scope: policy.ReadScope) -> tuple[bytes, int]:
    """The SPARQL JSON results of `select_query(spec, scope)` and their number of rows:
    at most `spec.limit + 1`, in IRI order."""
    from node.index.queries import filter_condition, scope_condition

    c = assets.c
    low = _Bound(spec.min_capacity) if spec.min_capacity is not None else None
    high = _Bound(spec.max_capacity) if spec.max_capacity is not None else None
    wanted = spec.limit + 1
    # the capacity bounds, widened by their margins, in SQL; exactly near the edges below
    lo = None if low is None else low.number - low.margin
    hi = None if high is None else high.number + high.margin
    measure: ColumnElement[Any] = c.rated
    if (lo is not None or hi is not None) and not _few_in_range(conn, lo, hi, wanted):
        # Many rows in the range: read the rows in IRI order (a code's index, or the
        # table) and stop after the answer's last, rather than all in the range by
        # ix_rated and then sorted (SQLite's choice: 0.5 s against 30 ms for 1,000 of
        # 14,000 NON_FIRM assets between 100.5 and 2,000.25 kW among 100,000).
        measure = c.rated + 0  # not indexed: an expression
    conditions: list[ColumnElement[bool]] = []
    conditions += [measure.is_not(None)] if lo is not None or hi is not None else []
    conditions += [measure >= lo] if lo is not None else []
    conditions += [measure <= hi] if hi is not None else []
    # A code given twice in a filter's list is a VALUES row twice: the query's answer
    # holds each matching asset once per copy (a multiset), and so does this one.
    repeated = [(n, v) for n, v in spec.codes.items() if 1 < len(v) != len(set(v))]
    query = (select(c.iri, c.organisation, c.category, c.dno, c.connection_type, c.rated,
                    c.q_head, c.q_capacity, *(c[n] for n, _ in repeated))
             .where(c.q_state.is_not(None), scope_condition(scope),
                    filter_condition(AssetFilter(spec.codes, spec.organisation)), *conditions)
             .order_by(c.iri))
    # Each binding is written as JSON text, as Oxigraph writes it (`term_json` of each
    # term, compact), from the row's codes and its stored term texts.
    bindings: list[str] = []
    for iri, org, category, dno, connection, rated, head, capacity, *codes in conn.execute(
            query):
        if not _within(low, high, rated, capacity):
            continue
        binding = "".join((
            '{"asset":', _uri(iri), head, ',"organisation":', _uri(ORG_BASE + org),
            ',"category":', _uri(_CATEGORY + category),
            *((',"dno":', _uri(_DNO + dno)) if dno is not None else ()),
            *((',"connectionType":', _uri(_CONNECTION + connection))
              if connection is not None else ()),
            ',"capacity":', capacity, "}"))
        copies = math.prod(values.count(code) for (_, values), code in zip(repeated, codes))
        bindings.extend([binding] * min(copies, wanted - len(bindings)))
        if len(bindings) == wanted:
            break
    body = f'{{"head":{{"vars":{_json(VARIABLES)}}},"results":{{"bindings":[' + \
        ",".join(bindings) + "]}}"
    return body.encode(), len(bindings)


def _uri(value: str) -> str:
    return '{"type":"uri","value":' + encode_basestring(value) + "}"


def _few_in_range(conn: Any, lo: float | None, hi: float | None, wanted: int) -> bool:
    """Whether fewer rows than a bound (a few pages' worth) have a rated capacity in
    [lo, hi]: counted on ix_rated, stopping at the bound."""
    c = assets.c
    bound = max(4 * wanted, FEW_IN_RANGE)
    in_range = select(c.rated).where(*([c.rated >= lo] if lo is not None else []),
                                     *([c.rated <= hi] if hi is not None else []),
                                     c.rated.is_not(None)).limit(bound).subquery()
    return bool(conn.execute(select(func.count()).select_from(in_range)).scalar() < bound)


def _within(low: _Bound | None, high: _Bound | None, rated: float | None,
            capacity: str) -> bool:
    if low is None and high is None:
        return True
    assert rated is not None  # a REGULAR row: an xsd:decimal Oxigraph reads
    exact: Decimal | None = None
    for bound, sign in ((low, 1), (high, -1)):
        if bound is None:
            continue
        if sign * (rated - bound.number) > bound.margin:
            continue  # clearly inside
        if sign * (rated - bound.number) < -bound.margin:
            return False
        if exact is None:
            exact = oxigraph_decimal(json.loads(capacity)["value"])
            assert exact is not None
        if sign * bound.compare(exact) < 0:
            return False
    return True
