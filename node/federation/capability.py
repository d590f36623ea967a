"""An asset's capability under its connection limits, answered across the federation.

The asset is on its holder's node and its limits on the DNO's node, so the answer gathers
both with federated SPARQL, as the caller (each node applies its read policy: the asset's
organisation, its DNO and NESO see the limits, nobody else), then applies
`node.kinds.connection_limits.effective_capability`. Market units use the same function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from datetime import time as TimeOfDay
from typing import Any

from common.errors import NotFound
from common.vocab import ASSET_BASE, FMAR
from node.kinds.connection_limits import PROFILE, effective_capability
from node.records.kind import UUID

Sparql = Callable[[str, str], dict[str, Any]]  # FederationClient.sparql(query, mode)

_P = f"PREFIX fmar: <{FMAR}>\n"
_ASSET = _P + """SELECT ?area ?rated ?gen ?demand ?canImport ?canExport ?importMPAN ?exportMPAN
WHERE {{
  <{a}> a fmar:Asset . OPTIONAL {{ <{a}> fmar:dnoConnection ?area }}
  OPTIONAL {{ <{a}> fmar:importMPAN ?importMPAN }} OPTIONAL {{ <{a}> fmar:exportMPAN ?exportMPAN }}
  OPTIONAL {{ <{a}> fmar:ratedCapacity ?rated }} OPTIONAL {{ <{a}> fmar:genCapacity ?gen }}
  OPTIONAL {{ <{a}> fmar:demandCapacity ?demand }} OPTIONAL {{ <{a}> fmar:canImport ?canImport }}
  OPTIONAL {{ <{a}> fmar:canExport ?canExport }} }}"""
# the limits on the asset, and on its connection points (a limit naming an MPAN and site)
_ON_ASSET = "{{ ?limit fmar:limitsAsset <{a}> }}{mpans}"
_LIMITS = _P + """SELECT ?limit ?area ?type ?export ?import ?from ?to WHERE {{
  {on} ?limit fmar:limitType ?type ; fmar:dnoConnection ?area .
  OPTIONAL {{ ?limit fmar:exportLimit ?export }} OPTIONAL {{ ?limit fmar:importLimit ?import }}
  OPTIONAL {{ ?limit fmar:validFrom ?from }} OPTIONAL {{ ?limit fmar:validTo ?to }} }}"""
_BANDS = _P + """SELECT ?limit ?season ?bandFrom ?bandTo ?bandImport ?bandExport WHERE {{
  {on} ?limit fmar:timeBand ?band .
  ?band fmar:season ?season ; fmar:bandFrom ?bandFrom ; fmar:bandTo ?bandTo .
  OPTIONAL {{ ?band fmar:bandImportLimit ?bandImport }}
  OPTIONAL {{ ?band fmar:bandExportLimit ?bandExport }} }}"""


def _rows(sparql: Sparql, query: str) -> list[dict[str, str]]:
    answer = sparql(query, "distribute")
    return [{k: v["value"] for k, v in b.items()} for b in answer["results"]["bindings"]]


def _code(iri: str) -> str:
    return iri.rsplit("/", 1)[-1]


def _asset(row: dict[str, str]) -> dict[str, Any]:
    names = {"rated": "RatedCapacity", "gen": "GenCapacity", "demand": "DemandCapacity"}
    asset: dict[str, Any] = {name: row[key] for key, name in names.items() if key in row}
    for key, name in (("canImport", "CanImport"), ("canExport", "CanExport")):
        if key in row:
            asset[name] = row[key] == "true"
    return asset


def _on(iri: str, row: dict[str, str]) -> str:
    """Where a limit applies to the asset: on it, or on one of its MPANs."""
    mpans = sorted({row[k] for k in ("importMPAN", "exportMPAN")
                    if k in row and row[k].isdigit()})
    return _ON_ASSET.format(a=iri, mpans="".join(
        f' UNION {{ ?limit fmar:limitsMPAN "{m}" }}' for m in mpans))


def gather(sparql: Sparql, asset_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The asset (capacity fields) and the limits on it, or on its MPANs, that the caller
    may read. A limit counts only if it names the asset's own licence area: a DNO can set
    limits only in its areas (POL-008), but the DNO's node cannot see where an asset held
    elsewhere is connected, so a limit naming another area is ignored here."""
    if not UUID.match(asset_id):
        raise NotFound("ARM-404", "No such asset.")
    iri = ASSET_BASE + asset_id
    found = _rows(sparql, _ASSET.format(a=iri))
    if not found:
        raise NotFound("ARM-404", "No such asset (or not one the caller may read).")
    on = _on(iri, found[0])
    limits: dict[str, dict[str, Any]] = {}
    for row in _rows(sparql, _LIMITS.format(on=on)):
        if row["area"] != found[0].get("area"):
            continue  # set for another licence area: not the asset's DNO's to set (POL-008)
        limit = {"LimitId": _code(row["limit"]), "LimitType": _code(row["type"]),
                 "ExportLimit": row.get("export"), "ImportLimit": row.get("import"),
                 "ValidFrom": row.get("from"), "ValidTo": row.get("to")}
        limits[row["limit"]] = {k: v for k, v in limit.items() if v is not None}
    for row in _rows(sparql, _BANDS.format(on=on)):
        band = {"Season": _code(row["season"]), "From": row["bandFrom"], "To": row["bandTo"],
                "ImportLimit": row.get("bandImport"), "ExportLimit": row.get("bandExport")}
        if row["limit"] in limits:
            limits[row["limit"]].setdefault(PROFILE, []).append(band)
    return _asset(found[0]), list(limits.values())


def asset_capability(sparql: Sparql, asset_id: str, on: date,
                     at: TimeOfDay | None = None) -> dict[str, Any]:
    """The asset's export and import capability in kW on `on` (and at `at`), under the
    limits in force then: `effective_capability` over what the federation returns."""
    asset, limits = gather(sparql, asset_id)
    return {"AssetId": asset_id, **effective_capability(asset, limits, on, at)}
