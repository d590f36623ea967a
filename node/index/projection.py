"""An asset record's triples as its index row: the values the listing filters, sorts and
aggregates read, taken exactly as the SPARQL queries of node/query/ read them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyoxigraph as ox

from common.vocab import FMAR, XSD
from node.index.schema import MEASURE_COLUMNS, MONTH_COLUMNS
from node.kinds.asset_records import AssetRecord, own_values
from node.query.aggregates import CAPACITY_MEASURES, DERIVED, DIMENSIONS

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_CODES = {str(FMAR[prop]): dim for dim, prop in DIMENSIONS.items()}
_MEASURES = {str(FMAR[prop]): MEASURE_COLUMNS[m] for m, prop in CAPACITY_MEASURES.items()}
_MONTHS = {DERIVED[dim][0]: column for dim, column in MONTH_COLUMNS.items()}
_ASSET, _ASSET_ID = str(FMAR.Asset), str(FMAR.assetId)
# every predicate a row reads (the store is asked for these only)
PREDICATES = (RDF_TYPE, _ASSET_ID, *_CODES, *_MEASURES, *_MONTHS)
_READ = frozenset(PREDICATES)


def code(value: str) -> str:
    """A code as the aggregates give it (node/query/aggregates.py `_code`)."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def row_of(iri: str, triples: Iterable[tuple[str, Any]]) -> dict[str, Any] | None:
    """The row of the record `iri` from its (predicate IRI, object term) pairs, or None
    when it has none (removed). A predicate given more than once (no shape allows that
    for these) keeps its smallest value, so a rebuild always gives the same row."""
    found: dict[str, str] = {}
    typed = has_id = False
    any_triple = False
    for predicate, term in triples:
        any_triple = True
        value = term.value
        if predicate == RDF_TYPE:
            typed = typed or value == _ASSET
            continue
        if predicate == _ASSET_ID:
            has_id = True
            continue
        column = _CODES.get(predicate) or _MEASURES.get(predicate) or _MONTHS.get(predicate)
        if column is None:
            continue
        if predicate in _CODES:
            value = code(value)
        elif predicate in _MEASURES and not _numeric(term):
            continue
        if column not in found or value < found[column]:
            found[column] = value
    if not any_triple:
        return None
    row: dict[str, Any] = {"iri": iri, "listed": typed and has_id}
    for column in _CODES.values():
        row[column] = found.get(column)
    for column in _MEASURES.values():
        text = found.get(column)
        row[column] = float(text) if text is not None else None
        row[column + "_text"] = text
    for column in _MONTHS.values():
        row[column] = found.get(column)
    return row


def record_row(iri: str, triples: Iterable[Any]) -> dict[str, Any] | None:
    """The whole row of a record's triples (or quads) as the store gives them back: the
    columns and, for a listed record (it has an assetId), its JSON exactly as a read of
    the record gives it (IDX-008). Only the triples about its IRI count."""
    from node.index import filtered  # (it reads this module's terms)

    triples = list(triples)
    values, kept = own_values(iri, triples)
    row = row_of(iri, [(p, o) for p, objects in values.items() if p in _READ
                       for o in objects])
    if row is not None:
        row["doc"] = (json.dumps(AssetRecord(iri, values, kept).as_json()) if row["listed"]
                      else None)
        row["q_state"], row["q_head"], row["q_capacity"] = filtered.state_of(  # IDX-010
            iri, triples)
    return row


def _numeric(term: Any) -> bool:
    return isinstance(term, ox.Literal) and term.datatype.value.startswith(
        str(XSD)) and term.datatype.value.rsplit("#", 1)[-1] in (
        "decimal", "integer", "double", "float", "int", "long")
