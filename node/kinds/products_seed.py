"""Demo data only: the licence areas whose DNO procures each of the demo's DSO products.

`make demo` (and the test harness) loads the GB reference products into the product
register on the market facilitator's node (node/kinds/product_import.py); the reference
says a DSO product is run by a DNO but not which, so `with_seed_procurers` puts these
areas in each DSO product's `ProcuringAreas` (PROD-VAL-030). Nothing checks against this
list: qualification reads products and their procurers from the register
(node/kinds/product_register.py, QUAL-VAL-030..039).
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
