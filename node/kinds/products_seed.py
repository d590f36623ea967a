"""The products a market unit can be qualified for here, and who records their outcomes.

The codes are those of the product register (reference/gb-flexibility-products.csv, held
on the market facilitator's node, node/kinds/products.py), so a qualification names the
same product IRI as the register and eligibility. The register says a DSO product is run
by a DNO but not which: this list names the DNO whose licence areas record each one
(a demo assignment until DSO products name their procuring DNOs).

A product is named by its IRI, https://id.fmar.uk/product/<code>; qualification records
keep only that IRI, so the catalogue of the next issue can take over without changing
them. Each product is run by one system operator: NESO for NESO's (national) products,
the DNO holding the product's licence areas for a DSO product. That operator sees the
applications for it (its queue) and records the outcomes (POL-061).

shapes/qualification.ttl lists the same IRIs (`sh:in`, QUAL-VAL-002);
tests/test_qualifications.py checks that both lists agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.vocab import ID_BASE

PRODUCT_BASE = ID_BASE + "product/"


@dataclass(frozen=True)
class Product:
    code: str
    label: str
    # the licence areas of the DNO that runs a DSO product; () for a product NESO runs
    dno_areas: tuple[str, ...] = ()

    @property
    def iri(self) -> str:
        return PRODUCT_BASE + self.code

    @property
    def operator_role(self) -> str:
        return "DNO" if self.dno_areas else "NESO"


UKPN = ("UKPN_EPN", "UKPN_LPN", "UKPN_SPN")
NGED = ("NGED_EMID", "NGED_WMID", "NGED_WALES", "NGED_SWEST")

PRODUCTS: tuple[Product, ...] = (
    Product("BM", "Balancing Mechanism (incl. small/aggregated BM units)"),
    Product("DFS", "Demand Flexibility Service"),
    Product("QR", "Quick Reserve"),
    Product("DC", "Dynamic Containment"),
    Product("DSO_PR", "Peak Reduction (recorded by UKPN)", UKPN),
    Product("DSO_SU", "Scheduled Utilisation (recorded by UKPN)", UKPN),
    Product("DSO_OU_15MIN", "Operational Utilisation, 15-minute (recorded by NGED)", NGED),
    Product("DSO_VAOU_DA", "Variable Availability + Operational Utilisation, day-ahead (recorded by ENWL)", ("ENWL",)),
)
BY_IRI = {p.iri: p for p in PRODUCTS}


def product(iri: str | None) -> Product | None:
    return BY_IRI.get(iri or "")


def operator_area(iri: str | None) -> str | None:
    """Where policy finds who runs a product: a licence area of the DNO that runs a DSO
    product, None for a NESO product (or an unknown one, which no one runs)."""
    found = product(iri)
    return found.dno_areas[0] if found and found.dno_areas else None


def run_by(caller_roles: frozenset[str], caller_areas: frozenset[str]) -> list[Product]:
    """The products a system operator runs: NESO's for NESO, a DNO's for its areas."""
    return [p for p in PRODUCTS
            if (not p.dno_areas and "NESO" in caller_roles)
            or (p.dno_areas and caller_roles & {"DNO", "IDNO"}
                and set(p.dno_areas) & caller_areas)]
