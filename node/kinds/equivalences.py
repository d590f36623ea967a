"""Product equivalences (Elexon UC-04.03): qualified for one product makes a unit eligible
to apply for another, less demanding one.

- held on the market facilitator's node, managed by the facilitator only (POL-050), each
  with a reason and a validity period, versioned and audited like every record;
- read by every member (public records, also in SPARQL);
- shapes: shapes/product_equivalence.ttl (EQV-VAL-001..004); both products exist on this
  node (EQV-VAL-005, here).
"""

from __future__ import annotations

import re
from datetime import date

from common.errors import Invalid
from common.vocab import EQUIVALENCE_BASE, FMAR, SHAPES_DIR
from node.asset_fields import Field, FieldTable
from node.identity import Caller
from node.inputs import Properties
from node.kinds.eligibility import Equivalence
from node.kinds.products import Products, product_iri
from node.records.kind import Facts, RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.unit import UnitOfWork

SHAPES_FILE = SHAPES_DIR / "product_equivalence.ttl"
_CODE = re.compile(r'^"([A-Z][A-Z0-9_]{0,31})"')

FIELDS = (
    Field("FromProduct", FMAR.fromProductCode, "string"),
    Field("ToProduct", FMAR.toProductCode, "string"),
    Field("Reason", FMAR.reason, "string"),
    Field("ValidFrom", FMAR.validFrom, "date"),
    Field("ValidTo", FMAR.validTo, "date"),
)
STATE_FIELDS = ("EquivalenceId", "From", "To", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("EQV", FIELDS, STATE_FIELDS, "EquivalenceId", "An equivalence",
                   "equivalence field names",
                   "the fields are " + ", ".join(f.name for f in FIELDS))

EQUIVALENCE = RecordKind(
    name="product-equivalence", label="product equivalence", code="EQV",
    iri_base=EQUIVALENCE_BASE, rdf_class=FMAR.ProductEquivalence, table=TABLE,
    shapes=(SHAPES_FILE,),
    rules=("EQV-VAL-001", "EQV-VAL-002", "EQV-VAL-003", "EQV-VAL-004", "EQV-VAL-005",
           "EQV-IN-001", "EQV-IN-002", "EQV-IN-003", "EQV-VAL", "EQV-404", "EQV-412",
           "EQV-428", "POL-050"),
    held_by="the market facilitator's node",
    facts=lambda record: Facts(public=True), area_predicate=None,
    kept=(("From", FMAR.equivalentFrom), ("To", FMAR.equivalentTo)),
)


class Equivalences(Records):
    def __init__(self, unit: UnitOfWork, products: Products):
        super().__init__(unit, EQUIVALENCE)
        self.products = products

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        """The two products as IRIs, so SPARQL joins them with qualifications."""
        kept = []
        for predicate, link in ((FMAR.fromProductCode, FMAR.equivalentFrom),
                                (FMAR.toProductCode, FMAR.equivalentTo)):
            codes = [m.group(1) for p, o in props if p == str(predicate)
                     if (m := _CODE.match(o))]
            if len(codes) == 1:
                kept.append((str(link), f"<{product_iri(codes[0])}>"))
        return kept

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """EQV-VAL-005: both products are in the register (some version of each)."""
        missing = [code for code in (candidate.field("FromProduct"), candidate.field("ToProduct"))
                   if not self.products.versions(code)]
        if missing:
            raise Invalid("EQV-VAL-005", "An equivalence names products in the register; "
                          f"no version of {', '.join(missing)} is.", {"missing": missing})

    def in_force(self, on: date) -> list[Equivalence]:
        """The equivalences that apply on a day, for eligibility."""
        rows = self.store.select(f"SELECT ?r WHERE {{ GRAPH ?r {{ ?r a <{FMAR.ProductEquivalence}> }} }}")
        found = []
        for row in rows:
            record = self.kind.read(row["r"].value, self.store.triples(row["r"].value))
            if record is None:
                continue
            start = date.fromisoformat(record.field("ValidFrom"))
            end = record.field("ValidTo")
            if start <= on and (not end or on <= date.fromisoformat(end)):
                found.append(Equivalence(record.value(FMAR.equivalentFrom) or "",
                                         record.value(FMAR.equivalentTo) or "", record.iri))
        return found
