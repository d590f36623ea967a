"""Products: the terms of each GB flexibility product, one record per version with a
validity period, so a season's new terms never overwrite the last (DFS changes each winter).

- held on the market facilitator's node; read by every member (the catalogue is public
  to the federation);
- a system operator proposes and changes the products it runs (NESO, or a DNO for DSO
  products), always as `Proposed`; the market facilitator approves (`Active`) and retires
  them (POL-009, POL-010);
- every version of a product names the same product IRI,
  https://id.fmar.uk/product/{ProductCode}, which qualifications and eligibility link to;
- shapes: shapes/product.ttl (PROD-VAL-001..013, and PROD-VAL-030/031: the licence areas
  and organisations that procure it, which the seed of node/kinds/products_seed.py fills
  in for the demo's DSO products); versions of one product do not overlap (PROD-VAL-020,
  here);
- an unknown figure stays absent, never zero (reference/gb-flexibility-products.csv).
"""

from __future__ import annotations

import re
from datetime import date

from rdflib import URIRef

from common.errors import Conflict
from common.vocab import FMAR, ID_BASE, PRODUCT_VERSION_BASE, SHAPES_DIR
from node.asset_fields import Field, FieldTable
from node.identity import Caller
from node.inputs import Properties
from node.records.kind import Facts, RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.unit import UnitOfWork

PRODUCT_BASE = ID_BASE + "product/"  # + ProductCode: the product across its versions
SHAPES_FILE = SHAPES_DIR / "product.ttl"
CODE_RE = re.compile(r'^"([A-Z][A-Z0-9_]{0,31})"')  # ProductCode as an N-Triples literal

FIELDS = (
    Field("ProductCode", FMAR.productCode, "string"),
    Field("ProductName", FMAR.productName, "string"),
    Field("SystemOperator", FMAR.systemOperatorRole, "code:OrganisationRole"),
    # who procures it (PROD-VAL-030/031): DNO licence areas and organisation IDs,
    # space-separated; absent when not known
    Field("ProcuringAreas", FMAR.procuringAreas, "string"),
    Field("ProcuringOrganisations", FMAR.procuringOrganisations, "string"),
    Field("OwnerNote", FMAR.ownerNote, "string"),
    Field("ServiceType", FMAR.serviceType, "string"),
    Field("Direction", FMAR.direction, "code:Direction"),
    Field("MinCapacityMW", FMAR.minCapacity, "decimal"),
    Field("MaxCapacityMW", FMAR.maxCapacity, "decimal"),
    Field("FullDeliveryTimeSeconds", FMAR.fullDeliveryTime, "decimal"),
    Field("MinDurationMinutes", FMAR.minDuration, "decimal"),
    Field("AggregationAllowed", FMAR.aggregationAllowed, "boolean"),
    Field("LocationScope", FMAR.locationScope, "code:LocationScope"),
    Field("MeteringResolution", FMAR.meteringResolution, "string"),
    Field("BMRequired", FMAR.bmRequired, "boolean"),
    Field("TechnologyRestrictions", FMAR.technologyRestrictions, "string"),
    Field("Procurement", FMAR.procurement, "string"),
    Field("Source", URIRef("http://purl.org/dc/terms/source"), "string"),
    Field("Note", URIRef("http://www.w3.org/2004/02/skos/core#note"), "string"),
    Field("Status", FMAR.productStatus, "code:ProductStatus"),
    Field("ValidFrom", FMAR.validFrom, "date"),
    Field("ValidTo", FMAR.validTo, "date"),
)
STATE_FIELDS = ("ProductVersionId", "Product", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("PROD", FIELDS, STATE_FIELDS, "ProductVersionId", "A product",
                   "product field names", "the fields are " + ", ".join(f.name for f in FIELDS))


def _facts(record: Record) -> Facts:
    return Facts(public=True, operator=record.field("SystemOperator"),
                 state=record.field("Status"))


PRODUCT = RecordKind(
    name="product", label="product", code="PROD", iri_base=PRODUCT_VERSION_BASE,
    rdf_class=FMAR.Product, table=TABLE, shapes=(SHAPES_FILE,),
    rules=(*(f"PROD-VAL-{n:03d}" for n in range(1, 14)), "PROD-VAL-020", "PROD-VAL-030",
           "PROD-VAL-031", "PROD-IN-001",
           "PROD-IN-002", "PROD-IN-003", "PROD-VAL", "PROD-404", "PROD-412", "PROD-428",
           "POL-009", "POL-010"),
    held_by="the market facilitator's node",
    facts=_facts, area_predicate=None, kept=(("Product", FMAR.product),),
)


def product_iri(code: str) -> str:
    return PRODUCT_BASE + code


def _days(record: Record) -> tuple[date, date]:
    start = date.fromisoformat(record.field("ValidFrom"))
    end = record.field("ValidTo")
    return start, date.fromisoformat(end) if end else date.max


class Products(Records):
    def __init__(self, unit: UnitOfWork):
        super().__init__(unit, PRODUCT)

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        """Every version names its product: https://id.fmar.uk/product/{ProductCode}."""
        codes = [CODE_RE.match(o) for p, o in props if p == str(FMAR.productCode)]
        found = [m.group(1) for m in codes if m]
        return [(str(FMAR.product), f"<{product_iri(found[0])}>")] if len(found) == 1 else []

    def versions(self, code: str) -> list[Record]:
        """Every stored version of a product, oldest terms first."""
        rows = self.store.select(
            f"SELECT ?r WHERE {{ GRAPH ?r {{ ?r a <{FMAR.Product}> ; "
            f"<{FMAR.product}> <{product_iri(code)}> }} }}")
        records = [self.kind.read(r["r"].value, self.store.triples(r["r"].value))
                   for r in rows]
        return sorted((r for r in records if r is not None), key=_days)

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """PROD-VAL-020: the versions of one product cover days that do not overlap, so on
        any day at most one set of terms applies."""
        start, end = _days(candidate)
        for other in self.versions(candidate.field("ProductCode")):
            if other.iri == candidate.iri:
                continue
            other_start, other_end = _days(other)
            if start <= other_end and other_start <= end:
                raise Conflict(
                    "PROD-VAL-020",
                    f"These terms overlap version {other.record_id} of "
                    f"{candidate.field('ProductCode')} ({other_start} to "
                    f"{'open' if other_end == date.max else other_end}). End that version "
                    "first (ValidTo) or start these after it.",
                    {"overlaps": other.record_id})

    def in_force(self, code: str, on: date, caller: Caller) -> Record | None:
        """The active terms of a product on a day, if any."""
        for record in self.versions(code):
            start, end = _days(record)
            if start <= on <= end and record.field("Status") == "Active":
                self.read(record.record_id, caller)  # the read rule, as for any read
                return record
        return None
