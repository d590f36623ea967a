"""Record fields (JSON names <-> RDF), the asset field table (Elexon column names), and the
published JSON-LD context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from rdflib import XSD, URIRef
from rdflib.term import Node
from rdflib.util import from_n3

from common.vocab import ASSET_BASE, CODE, FMAR, ID_BASE, ORG_BASE
from node import ntriples

GEO = "http://www.w3.org/2003/01/geo/wgs84_pos#"


@dataclass(frozen=True)
class Field:
    name: str  # Elexon column name, used in JSON and CSV
    predicate: URIRef
    kind: str  # string | decimal | integer | date | time | boolean | org | asset | record
    #   | code:<Scheme> | iri:<base> (a record of another kind, by its ID)
    scheme: str | None = None  # derived from kind
    iri: str = ""  # the predicate as a plain string
    # what the API documents of it (node/api/tables.py): its description and JSON schema
    doc: str = ""
    schema: dict[str, Any] | None = dataclass_field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "iri", str(self.predicate))
        if self.kind.startswith("code:"):
            object.__setattr__(self, "scheme", self.kind.split(":", 1)[1])


FIELDS: tuple[Field, ...] = (
    Field("AssetName", FMAR.assetName, "string"),
    Field("OrganisationId", FMAR.organisation, "org"),
    Field("RatedCapacity", FMAR.ratedCapacity, "decimal"),
    Field("AssetCategory", FMAR.assetCategory, "code:AssetCategory"),
    Field("EffectiveDate", FMAR.effectiveDate, "date"),
    Field("EnergyConversionType", FMAR.energyConversionType, "string"),
    Field("FuelType_EnergySource", FMAR.energySource, "code:EnergySource"),
    Field("FuelType_DemandTechType", FMAR.demandTechType, "code:DemandTechType"),
    Field("Manufacturer", FMAR.manufacturer, "string"),
    Field("AssetModel", FMAR.assetModel, "string"),
    Field("SerialNumber", FMAR.serialNumber, "string"),
    Field("CommissioningDate", FMAR.commissioningDate, "date"),
    Field("ConnectionStatus", FMAR.connectionStatus, "code:ConnectionStatus"),
    Field("GenCapacity", FMAR.genCapacity, "decimal"),
    Field("DemandCapacity", FMAR.demandCapacity, "decimal"),
    Field("InstalledCapacity", FMAR.installedCapacity, "decimal"),
    Field("ConnectionType", FMAR.connectionType, "code:ConnectionType"),
    Field("DNOConnection", FMAR.dnoConnection, "code:DNOCode"),
    Field("ImportMPAN", FMAR.importMPAN, "string"),
    Field("ExportMPAN", FMAR.exportMPAN, "string"),
    Field("GSPGroup", FMAR.gspGroup, "code:GSPGroup"),
    Field("Postcode", FMAR.postcode, "string"),
    Field("Latitude", URIRef(GEO + "lat"), "decimal"),
    Field("Longitude", URIRef(GEO + "long"), "decimal"),
    Field("OtherDescription", FMAR.otherDescription, "string"),
    Field("CanImport", FMAR.canImport, "boolean"),
    Field("CanExport", FMAR.canExport, "boolean"),
    Field("V2GCapable", FMAR.v2gCapable, "boolean"),
    Field("StorageCapacity", FMAR.storageCapacity, "decimal"),
    # the Consent Reference ID a domestic or small-business connection point needs
    # (node/kinds/consents.py; the consent record itself stays on the FSP's node)
    Field("ConsentReference", FMAR.consentReference, "string"),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
FIELD_BY_PREDICATE = {f.predicate: f for f in FIELDS}

# Fields the node keeps itself; a client may read them but never send them.
STATE_FIELDS = (
    "AssetId",
    "RegistrationStatus",
    "ValidationStatus",
    "ValidationReason",
    "Dispute",  # an open dispute's IRI (node/kinds/dispute_notices.py)
    "Version",
    "Created",
    "Modified",
)
STATE_PREDICATES = frozenset(
    {
        FMAR.assetId,
        FMAR.registrationStatus,
        FMAR.validationStatus,
        FMAR.validationReason,
        FMAR.underDispute,
        FMAR.statusBeforeDispute,
        FMAR.version,
        URIRef("http://purl.org/dc/terms/created"),
        URIRef("http://purl.org/dc/terms/modified"),
    }
)



@dataclass(frozen=True)
class FieldTable:
    """A kind's client fields and what its JSON input errors say (`<code>-IN-00x`)."""

    code: str  # ARM, LIM, ...
    fields: tuple[Field, ...]
    state_fields: tuple[str, ...]  # kept by the node: readable, never sent
    id_field: str  # the record's ID among the state fields (may be echoed back on PUT)
    a_label: str  # "An asset"
    names: str  # "Elexon field names"
    hint: str  # where the accepted names are listed

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}


ASSET_TABLE = FieldTable("ARM", FIELDS, STATE_FIELDS, "AssetId", "An asset", "Elexon field names",
                         "see GET /context.jsonld for the accepted Elexon names")

_XSD_OF = {"string": str(XSD.string), "decimal": str(XSD.decimal), "date": str(XSD.date),
           "boolean": str(XSD.boolean), "integer": str(XSD.integer), "time": str(XSD.time)}
_HOUR_MINUTE = re.compile(r"^[0-9]{2}:[0-9]{2}$")
_DECIMAL, _BOOLEAN = _XSD_OF["decimal"], _XSD_OF["boolean"]
_CODE_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_RECORD_IRI = re.compile(r"^https://id\.fmar\.uk/[a-z-]{1,40}/[0-9a-f-]{36}$")


def _iri_part(value: Any) -> str:
    """A code or ID inside an IRI; anything unusual is percent-encoded (and will then fail
    its code-list rule with a readable value) so it can never break the N-Triples."""
    text = str(value).strip()
    return text if _CODE_SAFE.match(text) else quote(text, safe="")




def to_ntriples(field: Field, value: Any) -> str:
    """A JSON or CSV value as an RDF term in N-Triples syntax.

    Ill-typed values (a decimal "abc", a date 2024-02-30) stay ill-typed, so the
    SHACL datatype rules report them with the value the user sent.
    """
    kind = field.kind
    if kind == "string":
        return ntriples.string(value if isinstance(value, str) else str(value))
    if field.scheme:
        return f"<{CODE}{field.scheme}/{_iri_part(value)}>"
    if kind == "decimal":
        if isinstance(value, float):
            text = format(Decimal(repr(value)), "f")
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            text = str(value).strip()
        return ntriples.typed(text, _DECIMAL)
    if kind == "org":
        return f"<{ORG_BASE}{_iri_part(value)}>"
    if kind == "asset":
        return f"<{ASSET_BASE}{_iri_part(value)}>"
    if kind == "record":  # any register record by its whole IRI (a dispute's subject)
        text = str(value).strip()
        return f"<{text}>" if _RECORD_IRI.match(text) else f"<{ID_BASE}?{quote(text, safe='')}>"
    if kind.startswith("iri:"):  # a record of another kind by its ID (or its whole IRI)
        base = kind[4:]
        return f"<{base}{_iri_part(str(value).strip().removeprefix(base))}>"
    if kind == "boolean":
        text = ("true" if value else "false") if isinstance(value, bool) else str(value).strip().lower()
        return ntriples.typed(text, _BOOLEAN)
    if kind == "time":  # a time of day HH:MM is stored as xsd:time HH:MM:00; 24:00 as 00:00
        text = str(value).strip()
        text = "00:00" if text == "24:00" else text
        return ntriples.typed(text + ":00" if _HOUR_MINUTE.match(text) else text, _XSD_OF[kind])
    return ntriples.typed(str(value).strip(), _XSD_OF[kind])


def to_term(field: Field, value: Any) -> Node:
    """The same value as an rdflib term (for pyshacl, the reference engine)."""
    term = from_n3(to_ntriples(field, value))
    assert isinstance(term, Node)
    return term


def to_json_value(field: Field, term: Node | str) -> Any:
    """A stored value (an rdflib term, or its lexical form / IRI) as the JSON field."""
    text = str(term)
    if field.kind == "org":
        return text.removeprefix(ORG_BASE)
    if field.kind == "asset":
        return text.removeprefix(ASSET_BASE)
    if field.kind.startswith("iri:"):
        return text.removeprefix(field.kind[4:])
    if field.scheme:
        prefix = f"{CODE}{field.scheme}/"
        return text.removeprefix(prefix)
    if field.kind == "boolean":  # xsd:boolean's lexical forms (Virtuoso answers 1 / 0)
        return text in ("true", "1")
    if field.kind == "integer":
        return int(text) if text.lstrip("+-").isdigit() else text
    if field.kind == "time":
        return text[:5] if text.endswith(":00") and len(text) == 8 else text
    if field.kind == "decimal":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    return text


def jsonld_context() -> dict[str, Any]:
    """The published JSON-LD context: Elexon names mapped to ontology terms."""
    ctx: dict[str, Any] = {
        "@version": 1.1,
        "fmar": str(FMAR),
        "xsd": str(XSD),
        "AssetId": {"@id": str(FMAR.assetId)},
        "RegistrationStatus": {"@id": str(FMAR.registrationStatus), "@type": "@vocab"},
        "ValidationStatus": {"@id": str(FMAR.validationStatus), "@type": "@vocab"},
        "ValidationReason": {"@id": str(FMAR.validationReason)},
        "Version": {"@id": str(FMAR.version), "@type": str(XSD.integer)},
        "Created": {"@id": "http://purl.org/dc/terms/created", "@type": str(XSD.dateTime)},
        "Modified": {"@id": "http://purl.org/dc/terms/modified", "@type": str(XSD.dateTime)},
        "Asset": str(FMAR.Asset),
    }
    for field in FIELDS:
        entry: dict[str, Any] = {"@id": str(field.predicate)}
        if field.kind == "org" or field.scheme:
            entry["@type"] = "@id"
        elif field.kind in ("decimal", "date", "boolean"):
            entry["@type"] = str(_XSD_OF[field.kind])
        ctx[field.name] = entry
    return {"@context": ctx}


CODE_PREFIXES = {
    "acat": f"{CODE}AssetCategory/",
    "es": f"{CODE}EnergySource/",
    "dt": f"{CODE}DemandTechType/",
    "cs": f"{CODE}ConnectionStatus/",
    "ct": f"{CODE}ConnectionType/",
    "dno": f"{CODE}DNOCode/",
    "gsp": f"{CODE}GSPGroup/",
    "rs": f"{CODE}RegistrationStatus/",
    "vs": f"{CODE}ValidationStatus/",
    "org": ORG_BASE,
}


def full_jsonld_context() -> dict[str, Any]:
    context = jsonld_context()
    context["@context"].update(CODE_PREFIXES)
    return context
