"""SPARQL results: their formats and media types, terms as SPARQL 1.1 JSON, and JSON
results read back (the federation engine reads nodes' answers with it). Solutions are
written by Oxigraph (node/query/workers.py)."""

from __future__ import annotations

import json
from typing import Any

import pyoxigraph as ox

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

SELECT_TYPES = {
    "application/sparql-results+json": "json",
    "application/json": "json",
    "application/sparql-results+xml": "xml",
    "application/xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
}
GRAPH_TYPES = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}
RESULTS_FORMATS = {"json": ox.QueryResultsFormat.JSON, "xml": ox.QueryResultsFormat.XML,
                   "csv": ox.QueryResultsFormat.CSV, "tsv": ox.QueryResultsFormat.TSV}
MEDIA_OF = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
            "csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8"}


def term_json(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value not in (XSD_STRING, RDF_LANG_STRING):
            out["datatype"] = term.datatype.value
        return out
    return {"type": "triple", "value": str(term)}


def term_from_json(value: dict[str, Any]) -> Any:
    kind = value.get("type")
    if kind == "uri":
        return ox.NamedNode(value["value"])
    if kind == "bnode":
        return ox.BlankNode(value["value"])
    if kind in ("literal", "typed-literal"):
        if "xml:lang" in value:
            return ox.Literal(value["value"], language=value["xml:lang"])
        if "datatype" in value:
            return ox.Literal(value["value"], datatype=ox.NamedNode(value["datatype"]))
        return ox.Literal(value["value"])
    raise ValueError(f"unknown term type {kind!r}")


def ask_bytes(value: bool, fmt: str) -> bytes:
    if fmt == "xml":
        return ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                f"<head/><boolean>{'true' if value else 'false'}</boolean></sparql>").encode()
    if fmt in ("csv", "tsv"):
        return b"_askResult\n" + (b"true\n" if value else b"false\n")
    return json.dumps({"head": {}, "boolean": value}).encode()


def solutions_as(body: bytes, source: str, fmt: str) -> bytes:
    """Solutions (or an ASK answer) written in the results format `source`, written again in
    `fmt`, both names of RESULTS_FORMATS. SyntaxError when `body` cannot be read."""
    if source == fmt:
        return body
    results = ox.parse_query_results(body, format=RESULTS_FORMATS[source])
    if isinstance(results, ox.QueryBoolean):
        return ask_bytes(bool(results), fmt)
    return results.serialize(format=RESULTS_FORMATS[fmt]) or b""


def parse_select_json(body: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    variables = list(body.get("head", {}).get("vars", []))
    rows = [[term_from_json(b[v]) if v in b else None for v in variables]
            for b in body.get("results", {}).get("bindings", [])]
    return variables, rows
