"""Synthetic GB flexible assets with valid MPANs, plausible capacities and all categories.

    python -m examples.generate --count 20000 --org FSP-ACME --out assets.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Iterator
from typing import Any

from common.mpan import DISTRIBUTOR_IDS, GSP_GROUPS, make_mpan

# category -> (weight, kW range, extra fields)
PROFILES: dict[str, tuple[int, tuple[float, float], dict[str, Any]]] = {
    "BESS": (14, (50, 50000), {"FuelType_EnergySource": "GRID", "CanImport": True, "CanExport": True}),
    "SOLAR_PV": (14, (4, 30000), {"FuelType_EnergySource": "SOLAR", "CanExport": True}),
    "WIND_TURBINE": (5, (50, 20000), {"FuelType_EnergySource": "WIND", "CanExport": True}),
    "EV_CHARGER": (25, (3.6, 350), {"FuelType_DemandTechType": "EV", "CanImport": True}),
    "HEAT_PUMP": (20, (3, 400), {"FuelType_DemandTechType": "HEAT_PUMP", "CanImport": True}),
    "ELECTRIC_BOILER": (3, (10, 5000), {"FuelType_DemandTechType": "ELECTRIC_BOILER"}),
    "HVAC": (5, (20, 2000), {"FuelType_DemandTechType": "HVAC"}),
    "REFRIGERATION": (4, (10, 1500), {"FuelType_DemandTechType": "REFRIGERATION"}),
    "INDUSTRIAL_LOAD": (4, (200, 20000), {"FuelType_DemandTechType": "INDUSTRIAL_LOAD"}),
    "CHP": (4, (100, 10000), {"FuelType_EnergySource": "NATURAL_GAS", "CanExport": True}),
    "OTHER": (2, (10, 5000), {"OtherDescription": "Pumped water storage at a treatment works"}),
}
GENERATING = {"SOLAR_PV", "WIND_TURBINE", "CHP"}
MAKERS = ["Tesla", "Fox ESS", "GivEnergy", "Wallbox", "Pod Point", "Vaillant", "Daikin",
          "Mitsubishi", "SMA", "Vestas", "Siemens", "ABB", "Schneider", "Octopus"]

COLUMNS = ["AssetName", "OrganisationId", "AssetCategory", "RatedCapacity", "GenCapacity",
           "DemandCapacity", "InstalledCapacity", "EffectiveDate", "CommissioningDate",
           "ConnectionStatus", "ConnectionType", "DNOConnection", "GSPGroup", "ImportMPAN",
           "ExportMPAN", "FuelType_EnergySource", "FuelType_DemandTechType", "Manufacturer",
           "AssetModel", "SerialNumber", "CanImport", "CanExport", "V2GCapable",
           "OtherDescription"]


def assets(count: int, organisation: str, seed: int = 1, dnos: list[str] | None = None,
           start: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    areas = dnos or list(DISTRIBUTOR_IDS)
    names, weights = zip(*((k, v[0]) for k, v in PROFILES.items()))
    for n in range(start, start + count):
        category = rng.choices(names, weights)[0]
        _, (low, high), extra = PROFILES[category]
        rated = round(rng.uniform(low, high), 2)
        dno = rng.choice(areas)
        serial = rng.randrange(10**9) * 10 + n % 10
        asset: dict[str, Any] = {
            "AssetName": f"{category.replace('_', ' ').title()} {n + 1}",
            "OrganisationId": organisation,
            "AssetCategory": category,
            "RatedCapacity": rated,
            "InstalledCapacity": rated,
            "EffectiveDate": f"20{rng.randint(22, 25)}-{rng.randint(1, 12):02d}-01",
            "CommissioningDate": f"20{rng.randint(15, 21)}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}",
            "ConnectionStatus": rng.choices(["CONNECTED", "PENDING", "DISCONNECTED"], [90, 8, 2])[0],
            "ConnectionType": rng.choices(["FIRM", "NON_FIRM", "DYNAMIC"], [60, 30, 10])[0],
            "DNOConnection": dno,
            "GSPGroup": GSP_GROUPS[dno],
            "ImportMPAN": make_mpan(dno, serial),
            "Manufacturer": rng.choice(MAKERS),
            "AssetModel": f"M-{rng.randint(100, 999)}",
            "SerialNumber": f"SN{n:08d}-{rng.randint(1000, 9999)}",
            **extra,
        }
        if category in GENERATING or category == "BESS":
            asset["GenCapacity"] = rated
            asset["ExportMPAN"] = make_mpan(dno, serial + 1)
        if category not in GENERATING:
            asset["DemandCapacity"] = rated
        if category == "EV_CHARGER":
            asset["V2GCapable"] = rng.random() < 0.1
            if asset["V2GCapable"]:  # a V2G charger exports through its own meter point
                asset["ExportMPAN"] = make_mpan(dno, serial + 1)
                asset["GenCapacity"] = rated
        yield asset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--org", default="FSP-ACME")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=["csv", "ndjson"], default="csv")
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="")  # noqa: SIM115 (closed by `with out`)
    with out:
        if args.format == "csv":
            writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
            writer.writeheader()
            for asset in assets(args.count, args.org, args.seed):
                writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v)
                                 for k, v in asset.items()})
        else:
            for asset in assets(args.count, args.org, args.seed):
                out.write(json.dumps(asset) + "\n")


if __name__ == "__main__":
    main()
