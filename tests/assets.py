"""Valid example assets for tests."""

from __future__ import annotations

import itertools
from typing import Any

from common.mpan import GSP_GROUPS, make_mpan

_serial = itertools.count(1)


def bess(dno: str = "SSEN_SEPD", org: str = "FSP-ACME", **overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    asset = {
        "AssetName": f"Battery {n}",
        "OrganisationId": org,
        "AssetCategory": "BESS",
        "RatedCapacity": 500,
        "GenCapacity": 500,
        "DemandCapacity": 400,
        "InstalledCapacity": 500,
        "EffectiveDate": "2025-04-01",
        "CommissioningDate": "2024-11-15",
        "ConnectionStatus": "CONNECTED",
        "ConnectionType": "NON_FIRM",
        "DNOConnection": dno,
        "GSPGroup": GSP_GROUPS[dno],
        "ImportMPAN": make_mpan(dno, n),
        "FuelType_EnergySource": "GRID",
        "CanImport": True,
        "CanExport": True,
        "SerialNumber": f"SN-{n}",
    }
    asset.update(overrides)
    return {k: v for k, v in asset.items() if v is not None}


def heat_pump(dno: str = "ENWL", org: str = "FSP-ACME", **overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    asset = {
        "AssetName": f"Heat pump {n}",
        "OrganisationId": org,
        "AssetCategory": "HEAT_PUMP",
        "RatedCapacity": 12.5,
        "DemandCapacity": 12.5,
        "EffectiveDate": "2025-01-01",
        "ConnectionStatus": "CONNECTED",
        "ConnectionType": "FIRM",
        "DNOConnection": dno,
        "FuelType_DemandTechType": "HEAT_PUMP",
        "ImportMPAN": make_mpan(dno, 500000 + n),
    }
    asset.update(overrides)
    return {k: v for k, v in asset.items() if v is not None}


def to_csv(assets: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for a in assets:
        columns += [k for k in a if k not in columns]

    def cell(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    lines = [",".join(columns)]
    lines += [",".join(cell(a[c]) if c in a else "" for c in columns) for a in assets]
    return "\n".join(lines) + "\n"
