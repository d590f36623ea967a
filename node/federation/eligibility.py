"""Where a unit's eligibility answer gets what is not on the unit's node: the product
versions in force and the equivalences (the market facilitator's node), the unit's
qualifications (the system operators' nodes) and the connection limits on its members
(the DNOs' nodes). In a federation they are asked of every node with the caller's own
rights (`federated_context`); a node outside a federation reads its own store
(`local_context`). Each source's status is part of the answer, so a missing node shows."""

from __future__ import annotations

from datetime import date
from typing import Any

from node.federation.engine import Engine, NodeTarget
from node.identity import Caller
from node.kinds.connection_limits import effective_capability
from node.kinds.eligibility import (
    QUALIFIED_STATES,
    Context,
    Equivalence,
    Qualified,
    in_force_versions,
)
from node.kinds.market_unit_capability import UNIT_BASE
from node.kinds.products import PRODUCT, product_iri
from node.records.service import record_from_json
from node.register import Register

PRODUCT_BASE = product_iri("")


def _limits(items: list[dict[str, Any]],
            on: date) -> dict[str, tuple[float | None, float | None]]:
    """Asset IRI -> (export, import) kW: the tightest the limits in force on the day allow
    (flat limits, the day's time bands, no import when export-only)."""
    by_asset: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        asset = str(item.get("AssetId") or "")
        if asset:
            iri = asset if asset.startswith("https://") else f"https://id.fmar.uk/asset/{asset}"
            by_asset.setdefault(iri, []).append(item)
    found = {}
    for iri, limits in by_asset.items():
        caps = effective_capability({}, limits, on)
        found[iri] = (caps["ExportCapability"], caps["ImportCapability"])
    return found


def _qualified(items: list[dict[str, Any]], on: date) -> dict[str, list[Qualified]]:
    """Unit IRI -> the qualifications it holds on the day (prequalified or verified)."""
    found: dict[str, list[Qualified]] = {}
    for item in items:
        if item.get("State") not in QUALIFIED_STATES:
            continue
        until = date.fromisoformat(item["ValidTo"]) if item.get("ValidTo") else None
        start = date.fromisoformat(item["ValidFrom"]) if item.get("ValidFrom") else None
        if (start and start > on) or (until and until < on):
            continue
        unit, product = str(item.get("UnitId", "")), str(item.get("Product", ""))
        unit = unit if unit.startswith("https://") else UNIT_BASE + unit
        product = product if product.startswith("https://") else PRODUCT_BASE + product
        found.setdefault(unit, []).append(Qualified(product, until, str(item.get("id", ""))))
    return found


def _equivalences(items: list[dict[str, Any]], on: date) -> list[Equivalence]:
    found = []
    for item in items:
        start, end = item.get("ValidFrom"), item.get("ValidTo")
        if start and date.fromisoformat(start) <= on and \
                (not end or on <= date.fromisoformat(end)):
            found.append(Equivalence(str(item.get("From")), str(item.get("To")),
                                     str(item.get("id"))))
    return found


async def federated_context(engine: Engine, nodes: list[NodeTarget], on: date) -> Context:
    """Every source asked of every node, with the caller's rights."""
    answers = {}
    for name, path, params in (("products", "/products", {"status": "Active"}),
                               ("equivalences", "/product-equivalences", {}),
                               ("qualifications", "/qualifications", {}),
                               ("connection_limits", "/connection-limits", {})):
        answers[name] = await engine.records(nodes, path, params)
    versions = [r for r in (record_from_json(PRODUCT, item)
                            for item in answers["products"]["items"]) if r is not None]
    return Context(
        products=in_force_versions(versions, on),
        equivalences=_equivalences(answers["equivalences"]["items"], on),
        qualified=_qualified(answers["qualifications"]["items"], on),
        limits=_limits(answers["connection_limits"]["items"], on),
        sources={name: {"partial": a["partial"], "nodes": a["nodes"]}
                 for name, a in answers.items()})


def local_context(register: Register, caller: Caller, on: date) -> Context:
    """This node's own store, read with the caller's rights (a node outside a federation,
    or one that holds everything, as in a single-node demo)."""
    versions = register.products.every(caller, {"Status": "Active"})
    equivalences = [record.as_json() for record in register.equivalences.every(caller)]
    limits = [record.as_json() for record in register.limits.every(caller)]
    qualifications: list[dict[str, Any]] = []  # outcomes are held on operators' nodes
    return Context(
        products=in_force_versions(versions, on),
        equivalences=_equivalences(equivalences, on),
        qualified=_qualified(qualifications, on),
        limits=_limits(limits, on),
        sources={"local": "this node's store"})

