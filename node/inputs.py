"""Turning submitted data (JSON, JSON-LD, Turtle, CSV, NDJSON) into asset properties.

A record arrives as a list of (predicate, object) pairs about one asset; the
node assigns the subject. Input errors carry stable codes (ARM-IN-xxx).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import pyoxigraph as ox
from rdflib import RDF, XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from common.errors import BadInput, DomainError
from common.vocab import FMAR
from node import ntriples
from node.asset_fields import (
    ASSET_TABLE,
    FIELD_BY_PREDICATE,
    STATE_PREDICATES,
    FieldTable,
    full_jsonld_context,
    to_ntriples,
)

# (predicate IRI, object in N-Triples syntax) pairs about one asset
Properties = list[tuple[str, str]]
CONTEXT_PATH = "/context.jsonld"
INPUT_BASE = "https://id.fmar.uk/input/"  # base of relative IRIs in submitted RDF


class InputError(BadInput):
    """A body that cannot be read (ARM-IN-*, LIM-IN-*): 400 in the API."""


@dataclass
class Row:
    """One submitted asset of a bulk upload: its properties, or why it could not be read."""

    index: int
    properties: Properties | None = None
    fields: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


_BAD_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def nt_term(term: Node) -> str:
    """An rdflib IRI or literal in N-Triples syntax (ARM-IN-005 for anything else)."""
    if isinstance(term, URIRef):
        try:
            if _BAD_IRI.search(str(term)):
                raise ValueError(str(term))
            ox.NamedNode(str(term))  # Oxigraph's IRI rules are the ones the store applies
        except ValueError:
            raise InputError("ARM-IN-005", "An IRI is not valid.", {"iri": str(term)[:200]}) from None
        return f"<{term}>"
    if isinstance(term, Literal):
        text = ntriples.string(str(term))
        if term.language:
            try:
                ox.Literal("", language=term.language)
            except ValueError:
                raise InputError("ARM-IN-005", "A language tag is not valid.",
                                 {"language": term.language[:50]}) from None
            return f"{text}@{term.language}"
        if term.datatype is not None:
            return f"{text}^^{nt_term(term.datatype)}"
        return text
    raise InputError("ARM-IN-005", "Asset property values are IRIs or literals.")


def ntriples_pairs(props: Iterable[tuple[Any, Any]]) -> Properties:
    """Properties given as rdflib terms, in the node's (IRI, N-Triples) form."""
    return [(str(p), o if isinstance(o, str) else nt_term(o)) for p, o in props]


def properties_from_json(obj: Any, *, allow_asset_id: bool = False,
                         table: FieldTable = ASSET_TABLE) -> Properties:
    """<CODE>-IN-001..003 (ARM-IN-… for assets): an object of the kind's field names and
    scalar values; `allow_asset_id` lets a replacement echo the record's own ID."""
    if not isinstance(obj, dict):
        raise InputError(f"{table.code}-IN-001", f"{table.a_label} is a JSON object of {table.names}.")
    by_name = table.by_name
    props: Properties = []
    unknown = []
    for name, value in obj.items():
        if name in ("@context", "@id", "@type", "id"):
            continue
        if name in table.state_fields:
            if name == table.id_field and allow_asset_id:
                continue
            raise InputError(
                f"{table.code}-IN-003",
                f"{name} is kept by the node and cannot be sent.",
                {"field": name},
            )
        field = by_name.get(name)
        if field is None:
            unknown.append(name)
            continue
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        if isinstance(value, (dict, list)):
            raise InputError(
                f"{table.code}-IN-002", f"{name} takes one plain value, not a list or object.",
                {"field": name}
            )
        props.append((field.iri, to_ntriples(field, value)))
    if unknown:
        raise InputError(
            f"{table.code}-IN-002",
            f"Unknown field(s); {table.hint}.",
            {"fields": sorted(unknown)},
        )
    return props


def _checked_properties(graph: Graph, subject: Node) -> Properties:
    props: Properties = []
    for p, o in graph.predicate_objects(subject):
        if p == RDF.type:
            continue
        if p in STATE_PREDICATES:
            raise InputError("ARM-IN-003", f"<{p}> is kept by the node and cannot be sent.")
        if not isinstance(p, URIRef) or p not in FIELD_BY_PREDICATE:
            raise InputError("ARM-IN-002", f"<{p}> is not an asset property.", {"predicate": str(p)})
        if isinstance(o, BNode):
            raise InputError("ARM-IN-005", "Asset property values are IRIs or literals.")
        term = _as_decimal(o) if FIELD_BY_PREDICATE[p].kind == "decimal" else o
        props.append((str(p), nt_term(term)))
    return props


_NUMERIC = {XSD.integer, XSD.int, XSD.long, XSD.double, XSD.float, XSD.decimal}


def _as_decimal(term: Node) -> Node:
    """Numbers written as integers or doubles (Turtle `10`, JSON-LD `7`) become xsd:decimal."""
    if isinstance(term, Literal) and term.datatype in _NUMERIC:
        try:
            return Literal(format(Decimal(str(term)), "f"), datatype=XSD.decimal)
        except InvalidOperation:
            return term
    return term


def properties_from_graph(graph: Graph, *, many: bool = False) -> list[Properties]:
    """ARM-IN-004/005: fmar:Asset subjects, and nothing about any other subject."""
    subjects = list(graph.subjects(RDF.type, FMAR.Asset))
    if not subjects or (len(subjects) > 1 and not many):
        raise InputError(
            "ARM-IN-004",
            "Send exactly one resource of type fmar:Asset."
            if not many
            else "Send at least one resource of type fmar:Asset.",
            {"assets_found": len(subjects)},
        )
    others = set(graph.subjects()) - set(subjects)
    if others:
        raise InputError(
            "ARM-IN-005",
            "Only triples about the asset itself are accepted.",
            {"other_subjects": sorted(str(s) for s in others)[:10]},
        )
    return [_checked_properties(graph, s) for s in subjects]


def parse_rdf(body: bytes, fmt: str) -> Graph:
    """ARM-IN-006: well-formed Turtle or JSON-LD (remote contexts other than ours refused)."""
    graph = Graph()
    doc = read_json(body) if fmt == "json-ld" else None
    try:
        if fmt == "json-ld":
            graph.parse(data=json.dumps(_inline_context(doc)), format="json-ld",
                        publicID=INPUT_BASE)
        else:
            graph.parse(data=body.decode("utf-8"), format=fmt, publicID=INPUT_BASE)
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - parsers raise many types; the message is what matters
        raise InputError(
            "ARM-IN-006", f"The {fmt} body could not be parsed.", {"error": str(exc)[:500]}
        ) from None
    return graph


def _resolve_context(ref: Any) -> Any:
    """A context reference as content: ours inlined, any other URL refused (no fetching)."""
    if isinstance(ref, list):
        return [_resolve_context(r) for r in ref]
    if isinstance(ref, str):
        if urlsplit(ref).path != CONTEXT_PATH:
            raise InputError(
                "ARM-IN-007",
                "Remote JSON-LD contexts are not fetched; use the node's "
                f"{CONTEXT_PATH} or an inline context.",
                {"context": ref[:200]},
            )
        return full_jsonld_context()["@context"]
    return _inline_context(ref)


def _inline_context(doc: Any) -> Any:
    """Replace every context reference (at any depth, including @import and scoped
    contexts) by its content, so the JSON-LD parser never opens a URL."""
    if isinstance(doc, list):
        return [_inline_context(d) for d in doc]
    if not isinstance(doc, dict):
        return doc
    resolved = {}
    for key, value in doc.items():
        if key == "@context":
            resolved[key] = _resolve_context(value)
        elif key == "@import":
            imported = _resolve_context(value)
            if not isinstance(imported, dict):
                raise InputError("ARM-IN-007", "@import names one context.")
            resolved[key] = imported
        else:
            resolved[key] = _inline_context(value)
    if isinstance(resolved.get("@import"), dict):
        # JSON-LD 1.1 @import: merge the imported definitions under the local ones.
        imported = resolved.pop("@import")
        resolved = {**imported, **resolved}
    return resolved


def read_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError("ARM-IN-008", "The body is not valid JSON.", {"error": str(exc)}) from None


MAX_LINE_BYTES = 1_000_000


def _decoded(line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("ARM-IN-012", f"Line {number} is not UTF-8 text.", {"line": number}) from None


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """ARM-IN-012: UTF-8 lines of at most 1 MB, read as the body streams in."""
    pending: list[bytes] = []
    pending_size = 0
    number = 0
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            pending.append(chunk[start:end])
            yield _decoded(b"".join(pending), number)
            pending, pending_size, start = [], 0, end + 1
        if start < len(chunk):
            pending.append(chunk[start:])
            pending_size += len(chunk) - start
            if pending_size > MAX_LINE_BYTES:
                raise InputError("ARM-IN-012", f"Line {number + 1} is longer than 1 MB.",
                                 {"line": number + 1})
    if pending:
        yield _decoded(b"".join(pending), number + 1)


def rows_from_ndjson(chunks: Iterable[bytes]) -> Iterator[Row]:
    for index, line in enumerate(_lines(chunks), start=1):
        if not line.strip():
            continue
        try:
            yield Row(index, fields=json.loads(line))
        except (ValueError, RecursionError) as exc:
            yield Row(index, error={"code": "ARM-IN-008", "message": f"Not valid JSON: {exc}"})


def rows_from_csv(chunks: Iterable[bytes], table: FieldTable = ASSET_TABLE,
                  extra: tuple[str, ...] = ()) -> Iterator[Row]:
    """<CODE>-IN-009 (ARM-IN-009 for assets): a header row of the kind's field names (and
    `extra` columns it reads itself), then one record per row."""
    code = f"{table.code}-IN-009"
    reader = csv.reader(_lines(chunks))
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise InputError(code, "The CSV has no header row.") from None
    known = table.by_name
    unknown = [h for h in header if h not in known and h not in extra]
    if unknown:
        raise InputError(code, f"The CSV header names unknown fields; use {table.names}.",
                         {"fields": unknown})
    width = len(header)
    for index, cells in enumerate(_checked_csv(reader, code), start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != width:
            yield Row(
                index,
                error={
                    "code": code,
                    "message": f"Row has {len(cells)} cells; the header has {width}.",
                },
            )
            continue
        yield Row(index, fields={h: c for h, c in zip(header, cells) if c.strip()})


def _checked_csv(reader: Iterator[list[str]], code: str) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise InputError(code, f"The CSV cannot be read: {exc}.") from None


def rows_from_graph(graph: Graph) -> Iterator[Row]:
    for index, props in enumerate(properties_from_graph(graph, many=True), start=1):
        yield Row(index, properties=props)


def csv_text(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
