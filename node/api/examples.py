"""OpenAPI request examples."""

BESS_EXAMPLE = {
    "AssetName": "Didcot battery 1",
    "OrganisationId": "FSP-ACME",
    "AssetCategory": "BESS",
    "RatedCapacity": 500,
    "GenCapacity": 500,
    "DemandCapacity": 500,
    "InstalledCapacity": 500,
    "EffectiveDate": "2025-04-01",
    "CommissioningDate": "2024-11-15",
    "ConnectionStatus": "CONNECTED",
    "ConnectionType": "NON_FIRM",
    "DNOConnection": "SSEN_SEPD",
    "GSPGroup": "_H",
    "ImportMPAN": "2000000000015",
    "FuelType_EnergySource": "GRID",
    "CanImport": True,
    "CanExport": True,
    "Manufacturer": "Example Power",
    "AssetModel": "EP-500",
    "SerialNumber": "EP500-000123",
}

TURTLE_EXAMPLE = """@prefix fmar: <https://id.fmar.uk/def/fmar#> .
@prefix acat: <https://id.fmar.uk/def/code/AssetCategory/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
[] a fmar:Asset ; fmar:assetName "Heat pump 7" ;
  fmar:assetCategory acat:HEAT_PUMP ; fmar:ratedCapacity 12.5 ; fmar:demandCapacity 12.5 ;
  fmar:demandTechType <https://id.fmar.uk/def/code/DemandTechType/HEAT_PUMP> ;
  fmar:effectiveDate "2025-01-01"^^xsd:date ;
  fmar:connectionStatus <https://id.fmar.uk/def/code/ConnectionStatus/CONNECTED> ;
  fmar:connectionType <https://id.fmar.uk/def/code/ConnectionType/FIRM> ;
  fmar:dnoConnection <https://id.fmar.uk/def/code/DNOCode/ENWL> ;
  fmar:importMPAN "1600000000010" .
"""

REGISTER_ONE = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}, "example": BESS_EXAMPLE},
            "application/ld+json": {
                "schema": {"type": "object"},
                "example": {"@context": "/context.jsonld", "@type": "Asset",
                            **BESS_EXAMPLE, "AssetCategory": "acat:BESS",
                               "OrganisationId": "org:FSP-ACME", "ConnectionStatus": "cs:CONNECTED",
                               "ConnectionType": "ct:NON_FIRM", "DNOConnection": "dno:SSEN_SEPD",
                               "GSPGroup": "gsp:_H", "FuelType_EnergySource": "es:GRID"},
            },
            "text/turtle": {"schema": {"type": "string"}, "example": TURTLE_EXAMPLE},
        },
    }
}

_CSV = ",".join(BESS_EXAMPLE) + "\n" + ",".join(
    str(v).lower() if isinstance(v, bool) else str(v) for v in BESS_EXAMPLE.values()
)

REGISTER_BULK = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": _CSV},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/turtle": {"schema": {"type": "string"}},
        },
    }
}

REPLACE = REGISTER_ONE

PATCH = {
    "requestBody": {
        "required": True,
        "content": {
            "application/merge-patch+json": {
                "schema": {"type": "object"},
                "example": {"ConnectionType": "FIRM", "AssetName": "Didcot battery 1 (renamed)"},
            }
        },
    }
}
