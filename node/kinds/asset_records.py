"""Asset records: building them from properties, checking them, and reading them back.

Pure functions shared by single and bulk registration (bulk runs `check_rows`
in worker processes). Moved from node/records.py.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph as ox
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from common.errors import DomainError
from common.vocab import ASSET_BASE, CODE, DCTERMS, FMAR, ONTOLOGY_FILE, ORG_BASE, code_iri
from node import ntriples, policy
from node.asset_fields import FIELD_BY_NAME, FIELD_BY_PREDICATE, to_json_value
from node.identity import Caller
from node.inputs import Properties, Row, ntriples_pairs, properties_from_json
from node.ntriples import term_value
from node.records.kind import Facts
from node.records.refusals import violation_of
from node.records.status import Action, RegistrationStatus, ValidationStatus
from node.validation import ShapeSet, Validator, Violation


def _inactive_codes() -> set[str]:
    """Codes that Elexon's code lists hold but mark inactive (fmar:active false)."""
    found = ox.Store()
    found.load(path=str(ONTOLOGY_FILE), format=ox.RdfFormat.TURTLE)
    query = f'SELECT ?code WHERE {{ ?code <{FMAR.active}> false }}'
    return {s["code"].value for s in found.query(query)}  # type: ignore[union-attr]


VALIDATOR = Validator(labels={f.iri: f.name for f in FIELD_BY_NAME.values()},
                      inactive=_inactive_codes())
RDF_TYPE = str(RDF.type)
_CATEGORY_PREFIX = f"{CODE}AssetCategory/"


@dataclass
class Checked:
    """The outcome for one submitted asset."""

    index: int
    asset_iri: str
    violations: list[Violation] = field(default_factory=list)
    properties: Properties | None = None
    # version 1 of the record as N-Triples and its content digest (node/merkle.py), when
    # built beside validation (bulk uploads: in the worker)
    record: str | None = None
    digest: str | None = None
    # its listing index row (node/index/staged.py), built with it when the node keeps one
    row: tuple[Any, ...] | None = None

    @property
    def ok(self) -> bool:
        return not self.violations


def new_asset_iri() -> str:
    return ASSET_BASE + str(uuid.uuid4())


CATEGORY_CODE = re.compile(r"^[A-Z0-9_]{1,40}$")  # as ARM-VAL-004's pattern
_ORG = str(FMAR.organisation)
_CATEGORY = str(FMAR.assetCategory)


def _iri_value(term: str) -> str | None:
    return term[1:-1] if term.startswith("<") and term.endswith(">") else None


def _lexical(term: str) -> str:
    """The IRI or lexical form of an N-Triples term."""
    iri = _iri_value(term)
    if iri is not None:
        return iri
    end = term.rfind('"')
    return json.loads(term[: end + 1]) if term.startswith('"') and end > 0 else term


def organisation_of(props: Properties) -> str | None:
    for p, o in props:
        if p == _ORG:
            text = _lexical(o)
            return text.removeprefix(ORG_BASE)
    return None


def mpans_and_serial(props: Properties) -> tuple[str | None, str | None, str | None]:
    """Import MPAN, export MPAN and serial number, as sent (for duplicate detection)."""
    found = {p: _lexical(o) for p, o in props}
    return (found.get(str(FMAR.importMPAN)), found.get(str(FMAR.exportMPAN)),
            found.get(str(FMAR.serialNumber)))


def with_default_organisation(props: Properties, caller: Caller) -> Properties:
    if organisation_of(props) is None:
        return [*props, (_ORG, f"<{ORG_BASE}{caller.organisation_id}>")]
    return props


def category_code(props: Properties) -> str | None:
    for p, o in props:
        iri = _iri_value(o) if p == _CATEGORY else None
        if iri and iri.startswith(_CATEGORY_PREFIX):
            return iri[len(_CATEGORY_PREFIX):]
    return None


def category_violations(
    props: Properties, focus: str, categories: dict[str, bool], *, is_new: bool
) -> list[Violation]:
    """ARM-VAL-029: the category is in the catalogue; ARM-VAL-030: a deprecated
    category takes no new registrations (assets already registered stay valid)."""
    code = category_code(props)
    if code is None or not CATEGORY_CODE.match(code):
        return []  # ARM-VAL-004 reports the missing or malformed category
    if code not in categories:
        return [
            Violation(
                "ARM-VAL-029",
                f"[ARM-VAL-029] AssetCategory {code} is not in this node's category catalogue.",
                focus, _CATEGORY, code,
            )
        ]
    if is_new and categories[code]:
        return [
            Violation(
                "ARM-VAL-030",
                f"[ARM-VAL-030] AssetCategory {code} is deprecated and takes no new registrations.",
                focus, _CATEGORY, code,
            )
        ]
    return []


def _content_lines(iri: str, props: Properties) -> list[str]:
    return [f"<{iri}> <{p}> {o} ." for p, o in props]


def check_rows(
    rows: Sequence[tuple[Row, str]],
    shapes: ShapeSet,
    categories: dict[str, bool],
    caller: Caller | None,
    *,
    is_new: bool = True,
) -> list[Checked]:
    """Read, authorise and SHACL-validate submitted assets, all in one validation run.
    Without a caller nothing is authorised: stored records checked again (re-validation),
    never written."""
    results: list[Checked] = []
    lines: list[str] = []
    focus: list[str] = []
    for row, iri in rows:
        checked = Checked(row.index, iri)
        results.append(checked)
        if row.error is not None:
            checked.violations.append(Violation(row.error["code"], row.error["message"]))
            continue
        try:
            props = (ntriples_pairs(row.properties) if row.properties is not None
                     else properties_from_json(row.fields))
            if caller is not None:
                props = with_default_organisation(props, caller)
                policy.authorise(caller, "asset", Action.REGISTER,
                                 Facts(organisation_of(props) or ""))
        except DomainError as exc:
            checked.violations.append(violation_of(exc))
            continue
        checked.properties = props
        checked.violations.extend(category_violations(props, iri, categories, is_new=is_new))
        focus.append(iri)
        lines.append(f"<{iri}> <{RDF_TYPE}> <{FMAR.Asset}> .")
        code = category_code(props)
        if code is not None:
            # Validation only: the category's shape targets assets typed with it.
            lines.append(f"<{iri}> <{RDF_TYPE}> <{_CATEGORY_PREFIX}{code}> .")
        lines.extend(_content_lines(iri, props))
    if focus:
        by_focus = {c.asset_iri: c for c in results}
        for violation in VALIDATOR.validate("\n".join(lines), shapes, focus):
            if violation.focus is not None:
                by_focus[violation.focus].violations.append(violation)
    return results


def record_ntriples(
    iri: str,
    props: Properties,
    *,
    version: int,
    created: str,
    modified: str,
    registration: str = RegistrationStatus.ACTIVE,
    validation: str = ValidationStatus.PENDING,
    validation_reason: str | None = None,
    dispute: str | None = None,
    status_before_dispute: str | None = None,
) -> str:
    """The stored record: the submitted properties plus the state the node keeps (with an
    open dispute's IRI and the status it found, node/kinds/dispute_notices.py)."""
    s = f"<{iri}>"
    dt = f"<{XSD.dateTime}>"
    lines = [
        f"{s} <{RDF_TYPE}> <{FMAR.Asset}> .",
        f'{s} <{FMAR.assetId}> "{iri[len(ASSET_BASE):]}" .',
        f"{s} <{FMAR.registrationStatus}> <{code_iri('RegistrationStatus', registration)}> .",
        f"{s} <{FMAR.validationStatus}> <{code_iri('ValidationStatus', validation)}> .",
        f'{s} <{FMAR.version}> "{version}"^^<{XSD.integer}> .',
        f'{s} <{DCTERMS.created}> "{created}"^^{dt} .',
        f'{s} <{DCTERMS.modified}> "{modified}"^^{dt} .',
    ]
    if validation_reason:
        lines.append(f"{s} <{FMAR.validationReason}> {ntriples.string(validation_reason)} .")
    if dispute:
        lines.append(f"{s} <{FMAR.underDispute}> <{dispute}> .")
        lines.append(f"{s} <{FMAR.statusBeforeDispute}> "
                     f"{ntriples.string(status_before_dispute or ValidationStatus.PENDING)} .")
    lines.extend(_content_lines(iri, props))
    return "\n".join(lines)


# ---------------------------------------------------------------- reading back


# the client fields by predicate IRI as a plain string (an rdflib URIRef hashes apart)
_FIELD_OF = {str(predicate): f for predicate, f in FIELD_BY_PREDICATE.items()}
# predicates read for every record on listings and index rows, made once
_ASSET_ID, _VERSION, _REASON, _DISPUTE = (str(FMAR.assetId), str(FMAR.version),
                                          str(FMAR.validationReason), str(FMAR.underDispute))
_REGISTRATION, _VALIDATION = str(FMAR.registrationStatus), str(FMAR.validationStatus)
_CREATED, _MODIFIED = str(DCTERMS.created), str(DCTERMS.modified)


def own_values(iri: str, triples: Iterable[Any]
               ) -> tuple[dict[str, list[Any]], list[Any]]:
    """The triples (or quads) about `iri` itself, not its child resources, and their
    objects by predicate IRI, in the order given."""
    subject = ox.NamedNode(iri)
    values: dict[str, list[Any]] = {}
    kept = []
    for t in triples:
        if t.subject != subject:
            continue
        kept.append(t)
        values.setdefault(t.predicate.value, []).append(t.object)
    return values, kept


@dataclass
class AssetRecord:
    """A stored asset as read from its named graph."""

    iri: str
    values: dict[str, list[ox.NamedNode | ox.Literal | ox.BlankNode]]
    triples: list[ox.Triple]

    @classmethod
    def from_triples(cls, iri: str, triples: Iterable[ox.Triple]) -> AssetRecord | None:
        values, kept = own_values(iri, triples)
        if _ASSET_ID not in values:
            return None
        return cls(iri, values, kept)

    def first(self, predicate: URIRef | str) -> str | None:
        found = self.values.get(str(predicate))
        return term_value(found[0]) if found else None

    @property
    def asset_id(self) -> str:
        return self.iri[len(ASSET_BASE):]

    @property
    def version(self) -> int:
        return int(self.first(_VERSION) or 0)

    @property
    def etag(self) -> str:
        return etag_of(self.asset_id, self.version)

    @property
    def organisation_id(self) -> str:
        text = self.first(FMAR.organisation) or ""
        return text.removeprefix(ORG_BASE)

    @property
    def dno_area(self) -> str | None:
        text = self.first(FMAR.dnoConnection)
        return text.rsplit("/", 1)[-1] if text else None

    @property
    def facts(self) -> Facts:
        return Facts(self.organisation_id, self.dno_area)

    def code(self, predicate: URIRef | str) -> str | None:
        text = self.first(predicate)
        return text.rsplit("/", 1)[-1] if text else None

    @property
    def registration_status(self) -> str:
        return self.code(_REGISTRATION) or RegistrationStatus.ACTIVE

    @property
    def validation_status(self) -> str:
        return self.code(_VALIDATION) or ValidationStatus.PENDING

    def properties(self) -> Properties:
        """The client-supplied part (for re-validation on update)."""
        return [
            (t.predicate.value, str(t.object))
            for t in self.triples
            if t.predicate.value in _FIELD_OF
        ]

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"AssetId": self.asset_id, "id": self.iri}
        found = {}
        # by predicate, its last value (as a pass over the triples in order would keep);
        # plain strings: an rdflib term per value cost half a page
        for predicate, objects in self.values.items():
            field_ = _FIELD_OF.get(predicate)
            if field_ is not None:
                found[field_.name] = to_json_value(field_, term_value(objects[-1]))
        body.update((name, found[name]) for name in FIELD_BY_NAME if name in found)
        body["RegistrationStatus"] = self.registration_status
        body["ValidationStatus"] = self.validation_status
        reason = self.first(_REASON)
        if reason:
            body["ValidationReason"] = reason
        dispute = self.first(_DISPUTE)
        if dispute:
            body["Dispute"] = dispute
        body["Version"] = self.version
        body["Created"] = self.first(_CREATED)
        body["Modified"] = self.first(_MODIFIED)
        return body


def etag_of(asset_id: str, version: int) -> str:
    """An asset's ETag: its ID and version."""
    return f'"{asset_id}.v{version}"'


CSV_COLUMNS = ["AssetId", *FIELD_BY_NAME.keys(), "RegistrationStatus", "ValidationStatus", "Version"]


def csv_row(body: dict[str, Any]) -> list[str]:
    """The export's CSV row of an asset's JSON (`AssetRecord.as_json`): absent is empty,
    booleans are true/false."""
    return ["" if (value := body.get(column)) is None
            else ("true" if value else "false") if isinstance(value, bool) else str(value)
            for column in CSV_COLUMNS]


def rdflib_graph(triples: Iterable[ox.Triple]) -> Graph:
    graph = Graph()
    for t in triples:
        graph.add((_rdflib(t.subject), _rdflib(t.predicate), _rdflib(t.object)))
    return graph


def _rdflib(term: Any) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        dtype = term.datatype.value
        if dtype and dtype != str(XSD.string):
            return Literal(term.value, datatype=URIRef(dtype))
        return Literal(term.value)
    from rdflib import BNode

    return BNode(term.value)
