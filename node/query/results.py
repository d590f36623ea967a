"""SPARQL results: encode solutions as SPARQL 1.1 JSON, XML, CSV and TSV, and read JSON
results back (the federation engine reads nodes' answers with it)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

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
MEDIA_OF = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
            "csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8"}

Row = Sequence[Any]  # a solution: one term (or None) per variable


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


def term_text(term: Any) -> str:
    """CSV form of a term (SPARQL 1.1 CSV: plain values)."""
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return term.value


def term_tsv(term: Any) -> str:
    """TSV form of a term (SPARQL 1.1 TSV: RDF term syntax)."""
    return "" if term is None else str(term)


def select_bytes(variables: list[str], rows: Sequence[Row], fmt: str) -> bytes:
    if fmt == "json":
        bindings = [{v: term_json(t) for v, t in zip(variables, row) if t is not None}
                    for row in rows]
        return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}},
                          ensure_ascii=False).encode()
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(variables)
        writer.writerows([term_text(t) for t in row] for row in rows)
        return buffer.getvalue().encode()
    if fmt == "tsv":
        lines = ["\t".join(f"?{v}" for v in variables)]
        lines.extend("\t".join(term_tsv(t) for t in row) for row in rows)
        return ("\n".join(lines) + "\n").encode()
    if fmt == "xml":
        parts = [('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                 "<head>"), *(f"<variable name={quoteattr(v)}/>" for v in variables),
                 "</head><results>"]
        for row in rows:
            parts.append("<result>")
            for v, t in zip(variables, row):
                if t is not None:
                    parts.append(f"<binding name={quoteattr(v)}>{_term_xml(t)}</binding>")
            parts.append("</result>")
        parts.append("</results></sparql>")
        return "".join(parts).encode()
    raise ValueError(fmt)


def _term_xml(term: Any) -> str:
    data = term_json(term)
    if data["type"] == "uri":
        return f"<uri>{escape(data['value'])}</uri>"
    if data["type"] == "bnode":
        return f"<bnode>{escape(data['value'])}</bnode>"
    attrs = ""
    if "xml:lang" in data:
        attrs = f" xml:lang={quoteattr(data['xml:lang'])}"
    elif "datatype" in data:
        attrs = f" datatype={quoteattr(data['datatype'])}"
    return f"<literal{attrs}>{escape(data['value'])}</literal>"


def ask_bytes(value: bool, fmt: str) -> bytes:
    if fmt == "xml":
        return ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                f"<head/><boolean>{'true' if value else 'false'}</boolean></sparql>").encode()
    if fmt in ("csv", "tsv"):
        return b"_askResult\n" + (b"true\n" if value else b"false\n")
    return json.dumps({"head": {}, "boolean": value}).encode()


def graph_bytes(triples: list[ox.Triple], fmt: ox.RdfFormat) -> bytes:
    return ox.serialize(triples, format=fmt) or b""


def parse_select_json(body: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    variables = list(body.get("head", {}).get("vars", []))
    rows = [[term_from_json(b[v]) if v in b else None for v in variables]
            for b in body.get("results", {}).get("bindings", [])]
    return variables, rows
