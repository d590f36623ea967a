"""Demo market units from generated assets: one SPU (the assets behind one import MPAN)
and one SPG (assets of one GSP group), with the dates their members joined."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

JOINED = "2025-04-01"


def demo_units(asset_iris: Sequence[str], rows: Sequence[dict[str, Any]], *,
               group_size: int = 6) -> list[tuple[dict[str, Any], list[tuple[str, str]]]]:
    """(unit fields, [(asset ID, ValidFrom)]) for an SPU and an SPG of these assets (as
    loaded: `asset_iris[i]` is `rows[i]`); no asset is in both."""
    ids = [iri.rsplit("/", 1)[-1] for iri in asset_iris]
    metered = [(i, r) for i, r in zip(ids, rows, strict=True) if r.get("ImportMPAN")]
    if not metered:
        return []
    spu_id, spu_row = metered[0]
    spu = ({"Name": f"{spu_row.get('AssetName', 'Site')} site", "UnitType": "SPU",
            "ConnectionMPAN": spu_row["ImportMPAN"]}, [(spu_id, JOINED)])
    groups = Counter(r.get("GSPGroup") for _, r in metered[1:] if r.get("GSPGroup"))
    if not groups:
        return [spu]
    gsp, _ = groups.most_common(1)[0]
    members = [(i, JOINED) for i, r in metered[1:] if r.get("GSPGroup") == gsp][:group_size]
    spg = ({"Name": f"GSP group {gsp} portfolio", "UnitType": "SPG",
            "LocationScope": "GSPGroup", "GSPGroup": gsp}, members)
    return [spu, spg]
