"""The GB product reference (reference/gb-flexibility-products.csv) as product records.

The published cells are prose ("yes (within a GSP Group)"); each becomes a typed field
where its meaning is plain, and stays only in the note where it is not, so an unclear
figure is absent (unknown) rather than guessed. Empty cells stay absent, never zero.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.vocab import ROOT

PRODUCTS_CSV = ROOT / "reference" / "gb-flexibility-products.csv"
# The date of the sources the reference compiles (Elexon's markets scope, 31 Jul 2025):
# the terms are recorded as valid from then, open-ended.
REFERENCE_DATE = "2025-07-31"

_DIRECTIONS = {"up": "Up", "down": "Down", "both": "Both"}
_SCOPES = (("national", "National"), ("gsp group", "GSPGroup"),
           ("constraint", "ConstraintZone"), ("specific dso areas", "DNOArea"))
_NUMBERS = {"min_capacity_mw": "MinCapacityMW", "max_capacity_mw": "MaxCapacityMW",
            "full_delivery_time_s": "FullDeliveryTimeSeconds",
            "min_duration_min": "MinDurationMinutes"}


def _yes_no(cell: str) -> bool | None:
    text = cell.strip().lower()
    if text == "no" or text.startswith("no "):
        return False
    if text == "yes" or text.startswith("yes "):
        return True
    return None  # e.g. "ENA tool: GSP Group": not a plain answer


def _scope(cell: str) -> str | None:
    text = cell.strip().lower()
    return next((code for start, code in _SCOPES if text.startswith(start)), None)


def product_body(row: dict[str, str], valid_from: str = REFERENCE_DATE) -> dict[str, Any]:
    """One reference row as a product record's fields (Status Active)."""
    body: dict[str, Any] = {
        "ProductCode": row["product_code"].strip(),
        "ProductName": row["name"].strip(),
        "SystemOperator": "DNO" if row["owner"].startswith("DSO") else "NESO",
        "OwnerNote": row["owner"].strip(),
        "ServiceType": row["service_type"].strip(),
        "MeteringResolution": row["metering_resolution"].strip(),
        "Procurement": row["procurement"].strip(),
        "Source": row["source_url"].strip(),
        "Status": "Active",
        "ValidFrom": valid_from,
    }
    if row["direction"].strip().lower() in _DIRECTIONS:
        body["Direction"] = _DIRECTIONS[row["direction"].strip().lower()]
    for column, name in _NUMBERS.items():
        if row[column].strip():
            body[name] = row[column].strip()
    for column, name in (("aggregation", "AggregationAllowed"), ("bm_required", "BMRequired")):
        answer = _yes_no(row[column])
        if answer is not None:
            body[name] = answer
    scope = _scope(row["location_scope"])
    if scope:
        body["LocationScope"] = scope
    published = "; ".join(f"{column}: {row[column].strip()}" for column in
                          ("aggregation", "location_scope", "bm_required") if row[column].strip())
    body["Note"] = " ".join(part for part in (row["notes"].strip(),
                                              f"As published: {published}." if published else "")
                            if part)
    return {k: v for k, v in body.items() if v != ""}


def reference_products(path: Path = PRODUCTS_CSV) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield product_body(row)


def with_seed_procurers(body: dict[str, Any]) -> dict[str, Any]:
    """Demo data: the licence areas the seed (node/kinds/products_seed.py) assigns to a
    DSO product, as the register's ProcuringAreas (PROD-VAL-030)."""
    from node.kinds.products_seed import PRODUCTS

    areas = next((p.dno_areas for p in PRODUCTS if p.code == body.get("ProductCode")), ())
    return {**body, "ProcuringAreas": " ".join(areas)} if areas else body
