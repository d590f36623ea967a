"""The rule corpus: every SHACL rule ID has a violating and a conforming example.

Each example goes through `node.records.check_rows` with the node's compiled
shapes (core shape + the seeded category shapes), exactly as a registration
does. A violating example must yield exactly its rule ID (plus, where a case
says so, the other rules that fire on the same mistake by design), with the
right path and value; a conforming example must yield no violation at all.

`pytest -k ARM-VAL-020` runs the examples of one rule. The reference test runs
the whole corpus through plain pyshacl (SHACL Core + SHACL-SPARQL) and checks
that the node's split validator (Core in pyshacl, `sh:sparql` in Oxigraph)
gives the same (rule, focus, path) set. docs/rules.md is generated from the
shapes and this corpus by tests/rule_catalogue.py.
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from types import EllipsisType
from typing import Any

import pyshacl
import pytest
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.term import Node

from common.errors import DomainError
from common.http_errors import status_of
from common.mpan import make_mpan
from common.vocab import CODE, FMAR, ORG_BASE, SH, code_iri
from node.api.examples import BESS_EXAMPLE
from node.asset_fields import FIELD_BY_NAME
from node.identity import Caller
from node.inputs import Properties, Row, parse_rdf, properties_from_graph, properties_from_json
from node.kinds.asset_records import category_code, check_rows, with_default_organisation
from node.kinds.categories import Catalogue, category_from_graph, load_core_shapes, seed_categories

CALLER = Caller("t", "FSP-ACME", frozenset({"FSP"}), frozenset({"assets:write", "assets:read"}))
GEO_LAT = URIRef("http://www.w3.org/2003/01/geo/wgs84_pos#lat")
GEO_LONG = URIRef("http://www.w3.org/2003/01/geo/wgs84_pos#long")
RECORD_RULES = ("ARM-VAL-029", "ARM-VAL-030")  # decided in node/kinds/asset_records.py, not in SHACL
ASSET = "https://id.fmar.uk/asset/00000000-0000-4000-8000-"


@cache
def catalogue() -> Catalogue:
    cat = Catalogue(load_core_shapes())
    cat.replace_all(seed_categories())
    return cat


def category_states(deprecated: frozenset[str] = frozenset()) -> dict[str, bool]:
    return {c.code: (c.deprecated or c.code in deprecated) for c in catalogue().all()}


def shape_rule_ids() -> set[str]:
    return {str(o) for o in catalogue().shapes.full.objects(None, FMAR.ruleId)}


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    # rdflib logs a traceback for every ill-typed literal (2024-02-30 ...); those are the point.
    logging.disable(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


# ---------------------------------------------------------------- building examples

SEPD_IMPORT = "2000000000015"  # BESS_EXAMPLE's (SSEN_SEPD, distributor 20)
SEPD_EXPORT = make_mpan("SSEN_SEPD", 2)  # 2000000000024
ENWL_MPAN = make_mpan("ENWL", 1)  # 1600000000010: valid check digit, distributor 16
UTC_TODAY = datetime.now(UTC).date()


def _wrong_check_digit(mpan: str) -> str:
    return mpan[:12] + str((int(mpan[12]) + 1) % 10)


def bess(**changes: Any) -> dict[str, Any]:
    """BESS_EXAMPLE (a valid asset) with an export MPAN and some fields changed; None
    removes a field. (With both MPANs, ARM-CAT-BESS-001 holds whatever the capacities.)"""
    body = {**BESS_EXAMPLE, "ExportMPAN": SEPD_EXPORT, **changes}
    return {k: v for k, v in body.items() if v is not None}


_CATEGORY_FIELDS: dict[str, dict[str, Any]] = {
    "BESS": {"GenCapacity": 50, "DemandCapacity": 50},
    "CHP": {"FuelType_EnergySource": "NATURAL_GAS", "GenCapacity": 80},
    "ELECTRIC_BOILER": {"FuelType_DemandTechType": "ELECTRIC_BOILER", "DemandCapacity": 80},
    "EV_CHARGER": {"FuelType_DemandTechType": "EV", "DemandCapacity": 7, "V2GCapable": False},
    "HEAT_PUMP": {"FuelType_DemandTechType": "HEAT_PUMP", "DemandCapacity": 12},
    "HVAC": {"FuelType_DemandTechType": "HVAC", "DemandCapacity": 40},
    "INDUSTRIAL_LOAD": {"FuelType_DemandTechType": "INDUSTRIAL_LOAD", "DemandCapacity": 90},
    "OTHER": {"OtherDescription": "Flywheel storage"},
    "REFRIGERATION": {"FuelType_DemandTechType": "REFRIGERATION", "DemandCapacity": 30},
    "SOLAR_PV": {"FuelType_EnergySource": "SOLAR", "GenCapacity": 100},
    "WIND_TURBINE": {"FuelType_EnergySource": "WIND", "GenCapacity": 100},
}


def asset(category: str, **changes: Any) -> dict[str, Any]:
    """A valid asset of `category` in ENWL (GSP group _G), with some fields changed."""
    body: dict[str, Any] = {
        "AssetName": f"Example {category}",
        "AssetCategory": category,
        "RatedCapacity": 100,
        "EffectiveDate": "2025-01-01",
        "ConnectionStatus": "CONNECTED",
        "ConnectionType": "FIRM",
        "DNOConnection": "ENWL",
        "GSPGroup": "_G",
        "ImportMPAN": ENWL_MPAN,
        **_CATEGORY_FIELDS[category],
        **changes,
    }
    return {k: v for k, v in body.items() if v is not None}


def _turtle_term(name: str, value: Any) -> str:
    f = FIELD_BY_NAME[name]
    if f.kind == "org":
        return f"<{ORG_BASE}{value}>"
    if f.scheme:
        return f"<{CODE}{f.scheme}/{value}>"
    if f.kind == "boolean":
        return f'"{str(value).lower()}"^^xsd:boolean'
    if f.kind in ("decimal", "date"):
        return f'"{value}"^^xsd:{f.kind}'
    return json.dumps(str(value))


def rdf(fields: dict[str, Any], *extra: str) -> str:
    """The asset as a Turtle body, plus `extra` statements that JSON cannot express."""
    statements = [f"<{FIELD_BY_NAME[k].predicate}> {_turtle_term(k, v)}" for k, v in fields.items()]
    return (
        f"@prefix fmar: <{FMAR}> .\n@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
        "[] a fmar:Asset ;\n  " + " ;\n  ".join([*statements, *extra]) + " .\n"
    )


def turtle_properties(body: str) -> Properties:
    """What the node reads from a Turtle body (node.inputs, as POST /assets does)."""
    [props] = properties_from_graph(parse_rdf(body.encode(), "turtle"))
    return props


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    fields: dict[str, Any] | None = None  # a JSON body (Elexon field names) ...
    turtle: str | None = None  # ... or a Turtle body (for what JSON cannot say)
    bad: bool = True
    path: URIRef | None = None  # expected sh:resultPath of the violations of `rule`
    value: str | None | EllipsisType = ...  # expected value (... = not checked)
    also: frozenset[str] = frozenset()  # other rules that fire on the same data by design
    deprecated: frozenset[str] = frozenset()  # categories deprecated in this example
    is_new: bool = True

    @property
    def id(self) -> str:
        return f"{self.rule}-{'bad' if self.bad else 'ok'}-{self.name}"

    def row(self, index: int) -> Row:
        if self.turtle is not None:
            return Row(index, properties=turtle_properties(self.turtle))
        return Row(index, fields=dict(self.fields or {}))


def bad(rule: str, name: str, data: dict | str, path: URIRef | None = None,
        value: str | None | EllipsisType = ..., **kw: Any) -> Case:
    key = "fields" if isinstance(data, dict) else "turtle"
    return Case(rule, name, bad=True, path=path, value=value, **{key: data}, **kw)


def ok(rule: str, name: str, data: dict | str, **kw: Any) -> Case:
    key = "fields" if isinstance(data, dict) else "turtle"
    return Case(rule, name, bad=False, **{key: data}, **kw)


def es(code: str) -> str:
    return f"{CODE}EnergySource/{code}"


def dt(code: str) -> str:
    return f"{CODE}DemandTechType/{code}"


T200 = "x" * 200
T201 = "x" * 201

CORE_CASES: list[Case] = [
    # ARM-VAL-001 AssetName: required, one string of 1..200 characters
    ok("ARM-VAL-001", "200-chars", bess(AssetName=T200)),
    bad("ARM-VAL-001", "missing", bess(AssetName=None), FMAR.assetName, None),
    bad("ARM-VAL-001", "201-chars", bess(AssetName=T201), FMAR.assetName, T201),
    bad("ARM-VAL-001", "empty-literal", rdf(bess(AssetName=None), 'fmar:assetName ""'),
        FMAR.assetName, ""),
    bad("ARM-VAL-001", "two-names", rdf(bess(), 'fmar:assetName "Second name"'),
        FMAR.assetName, None),
    bad("ARM-VAL-001", "typed-integer", rdf(bess(AssetName=None), "fmar:assetName 7"),
        FMAR.assetName, "7"),
    # ARM-VAL-002 OrganisationId: one IRI under https://id.fmar.uk/org/
    ok("ARM-VAL-002", "explicit-own-org", bess(OrganisationId="FSP-ACME")),
    ok("ARM-VAL-002", "defaults-to-caller-org", bess(OrganisationId=None)),
    bad("ARM-VAL-002", "literal-not-iri",
        rdf(bess(OrganisationId=None), 'fmar:organisation "FSP-ACME"'),
        FMAR.organisation, "FSP-ACME"),
    bad("ARM-VAL-002", "two-orgs",
        rdf(bess(), f"fmar:organisation <{ORG_BASE}FSP-OTHER>"),
        FMAR.organisation, None),
    # ARM-VAL-003 RatedCapacity: required decimal, 0 < x <= 10,000,000
    ok("ARM-VAL-003", "max-10000000", bess(RatedCapacity=10_000_000)),
    ok("ARM-VAL-003", "decimal-text", bess(RatedCapacity="500.0")),
    bad("ARM-VAL-003", "missing", bess(RatedCapacity=None), FMAR.ratedCapacity, None),
    bad("ARM-VAL-003", "zero", bess(RatedCapacity=0, GenCapacity=0, DemandCapacity=0),
        FMAR.ratedCapacity, "0"),
    bad("ARM-VAL-003", "above-max", bess(RatedCapacity=10_000_001), FMAR.ratedCapacity, "10000001"),
    bad("ARM-VAL-003", "not-a-number", bess(RatedCapacity="abc"), FMAR.ratedCapacity, "abc"),
    # ARM-VAL-004 AssetCategory: required, one code IRI of the AssetCategory scheme
    ok("ARM-VAL-004", "BESS", bess()),
    bad("ARM-VAL-004", "missing", bess(AssetCategory=None), FMAR.assetCategory, None),
    bad("ARM-VAL-004", "literal-not-iri",
        rdf(bess(AssetCategory=None), 'fmar:assetCategory "BESS"'),
        FMAR.assetCategory, "BESS"),
    bad("ARM-VAL-004", "two-categories",
        rdf(bess(), f"fmar:assetCategory <{code_iri('AssetCategory', 'BESS_TWO')}>"),
        FMAR.assetCategory, None),
    # ARM-VAL-005 EffectiveDate: required, one valid xsd:date
    ok("ARM-VAL-005", "leap-day-2024-02-29", bess(EffectiveDate="2024-02-29")),
    bad("ARM-VAL-005", "missing", bess(EffectiveDate=None), FMAR.effectiveDate, None),
    bad("ARM-VAL-005", "2024-02-30", bess(EffectiveDate="2024-02-30"), FMAR.effectiveDate,
        "2024-02-30"),
    bad("ARM-VAL-005", "2023-02-29", bess(EffectiveDate="2023-02-29"), FMAR.effectiveDate,
        "2023-02-29"),
    bad("ARM-VAL-005", "uk-format", bess(EffectiveDate="01/04/2025"), FMAR.effectiveDate,
        "01/04/2025"),
    # ARM-VAL-006 FuelType_EnergySource: closed code list
    ok("ARM-VAL-006", "HYDROGEN", bess(FuelType_EnergySource="HYDROGEN")),
    ok("ARM-VAL-006", "absent", bess(FuelType_EnergySource=None)),
    bad("ARM-VAL-006", "COAL", bess(FuelType_EnergySource="COAL"), FMAR.energySource, es("COAL")),
    bad("ARM-VAL-006", "two-sources",
        rdf(bess(), f"fmar:energySource <{es('SOLAR')}>"), FMAR.energySource, None),
    # ARM-VAL-007 FuelType_DemandTechType: closed code list
    ok("ARM-VAL-007", "ELECTRIC_BOILER", bess(FuelType_DemandTechType="ELECTRIC_BOILER")),
    bad("ARM-VAL-007", "GAS_BOILER", bess(FuelType_DemandTechType="GAS_BOILER"),
        FMAR.demandTechType, dt("GAS_BOILER")),
    # ARM-VAL-008..010 optional texts
    ok("ARM-VAL-008", "200-chars", bess(Manufacturer=T200)),
    ok("ARM-VAL-008", "absent", bess(Manufacturer=None)),
    bad("ARM-VAL-008", "201-chars", bess(Manufacturer=T201), FMAR.manufacturer, T201),
    bad("ARM-VAL-008", "empty-literal",
        rdf(bess(Manufacturer=None), 'fmar:manufacturer ""'), FMAR.manufacturer, ""),
    ok("ARM-VAL-009", "200-chars", bess(AssetModel=T200)),
    bad("ARM-VAL-009", "201-chars", bess(AssetModel=T201), FMAR.assetModel, T201),
    ok("ARM-VAL-010", "100-chars", bess(SerialNumber="s" * 100)),
    bad("ARM-VAL-010", "101-chars", bess(SerialNumber="s" * 101), FMAR.serialNumber, "s" * 101),
    bad("ARM-VAL-010", "two-serials",
        rdf(bess(), 'fmar:serialNumber "other"'), FMAR.serialNumber, None),
    # ARM-VAL-011 CommissioningDate: optional valid xsd:date
    ok("ARM-VAL-011", "2024-02-29", bess(CommissioningDate="2024-02-29")),
    bad("ARM-VAL-011", "five-digit-year", bess(CommissioningDate="12024-01-01"),
        FMAR.commissioningDate, "12024-01-01"),
    ok("ARM-VAL-011", "absent", bess(CommissioningDate=None)),
    bad("ARM-VAL-011", "2024-02-30", bess(CommissioningDate="2024-02-30"),
        FMAR.commissioningDate, "2024-02-30"),
    bad("ARM-VAL-011", "month-13", bess(CommissioningDate="2024-13-01"),
        FMAR.commissioningDate, "2024-13-01"),
    # ARM-VAL-012 ConnectionStatus: required, closed code list
    ok("ARM-VAL-012", "DISCONNECTED", bess(ConnectionStatus="DISCONNECTED")),
    bad("ARM-VAL-012", "missing", bess(ConnectionStatus=None), FMAR.connectionStatus, None),
    bad("ARM-VAL-012", "lower-case", bess(ConnectionStatus="connected"), FMAR.connectionStatus,
        f"{CODE}ConnectionStatus/connected"),
    # ARM-VAL-013 GenCapacity: decimal >= 0 and <= RatedCapacity
    ok("ARM-VAL-013", "gen-equals-rated", bess(GenCapacity=500)),
    ok("ARM-VAL-013", "gen-zero", bess(GenCapacity=0)),
    bad("ARM-VAL-013", "gen-above-rated", bess(GenCapacity=600, InstalledCapacity=700),
        FMAR.genCapacity, "600"),
    bad("ARM-VAL-013", "gen-negative", bess(GenCapacity=-1), FMAR.genCapacity, "-1"),
    # ARM-VAL-014 DemandCapacity: decimal >= 0 and <= RatedCapacity
    ok("ARM-VAL-014", "demand-below-rated", bess(DemandCapacity=250.5)),
    bad("ARM-VAL-014", "demand-above-rated", bess(DemandCapacity=500.01, InstalledCapacity=600),
        FMAR.demandCapacity, "500.01"),
    bad("ARM-VAL-014", "demand-negative", bess(DemandCapacity=-5), FMAR.demandCapacity, "-5"),
    # ARM-VAL-015 InstalledCapacity: decimal > 0
    ok("ARM-VAL-015", "absent", bess(InstalledCapacity=None)),
    bad("ARM-VAL-015", "zero", bess(GenCapacity=0, DemandCapacity=0, InstalledCapacity=0),
        FMAR.installedCapacity, "0"),
    # ARM-VAL-016 InstalledCapacity >= max(GenCapacity, DemandCapacity)
    ok("ARM-VAL-016", "installed-equals-max", bess(GenCapacity=300, DemandCapacity=500,
                                                   InstalledCapacity=500)),
    ok("ARM-VAL-016", "installed-above-rated", bess(InstalledCapacity=900)),
    bad("ARM-VAL-016", "below-demand", bess(GenCapacity=300, InstalledCapacity=400),
        FMAR.demandCapacity, "500"),
    bad("ARM-VAL-016", "below-gen", bess(DemandCapacity=300, InstalledCapacity=400),
        FMAR.genCapacity, "500"),
    # ARM-VAL-017 ConnectionType: required, closed code list
    ok("ARM-VAL-017", "DYNAMIC", bess(ConnectionType="DYNAMIC")),
    bad("ARM-VAL-017", "SEMI_FIRM", bess(ConnectionType="SEMI_FIRM"), FMAR.connectionType,
        f"{CODE}ConnectionType/SEMI_FIRM"),
    bad("ARM-VAL-017", "missing", bess(ConnectionType=None), FMAR.connectionType, None),
    # ARM-VAL-018 DNOConnection: required, closed code list (14 licence areas)
    ok("ARM-VAL-018", "ENWL", asset("BESS")),
    bad("ARM-VAL-018", "unknown-area", bess(DNOConnection="XYZ"), FMAR.dnoConnection,
        f"{CODE}DNOCode/XYZ"),
    bad("ARM-VAL-018", "missing", bess(DNOConnection=None), FMAR.dnoConnection, None),
    # ARM-VAL-019 MPANs are exactly 13 digits
    ok("ARM-VAL-019", "import-and-export", bess(ExportMPAN=SEPD_EXPORT)),
    ok("ARM-VAL-019", "json-number", bess(ImportMPAN=int(SEPD_IMPORT))),
    bad("ARM-VAL-019", "import-12-digits", bess(ImportMPAN="200000000001"), FMAR.importMPAN,
        "200000000001"),
    bad("ARM-VAL-019", "export-14-digits", bess(ExportMPAN="20000000000245"), FMAR.exportMPAN,
        "20000000000245"),
    bad("ARM-VAL-019", "import-letter", bess(ImportMPAN="200000000001X"), FMAR.importMPAN,
        "200000000001X"),
    bad("ARM-VAL-019", "typed-integer",
        rdf(bess(ImportMPAN=None), f"fmar:importMPAN {SEPD_IMPORT}"),
        FMAR.importMPAN, SEPD_IMPORT),
    # ARM-VAL-020 MPAN check digit (import and export)
    ok("ARM-VAL-020", "import-valid", bess(ExportMPAN=None)),
    ok("ARM-VAL-020", "export-valid", bess(ImportMPAN=None, ExportMPAN=SEPD_EXPORT)),
    bad("ARM-VAL-020", "import-check-digit", bess(ImportMPAN=_wrong_check_digit(SEPD_IMPORT)),
        FMAR.importMPAN, _wrong_check_digit(SEPD_IMPORT)),
    bad("ARM-VAL-020", "export-check-digit", bess(ExportMPAN=_wrong_check_digit(SEPD_EXPORT)),
        FMAR.exportMPAN, _wrong_check_digit(SEPD_EXPORT)),
    # ARM-VAL-021 MPAN distributor ID agrees with the DNOConnection licence area
    ok("ARM-VAL-021", "enwl-16", asset("HEAT_PUMP", ExportMPAN=make_mpan("ENWL", 2))),
    bad("ARM-VAL-021", "import-other-area", bess(ImportMPAN=ENWL_MPAN), FMAR.importMPAN,
        ENWL_MPAN),
    bad("ARM-VAL-021", "export-other-area", bess(ExportMPAN=make_mpan("UKPN_EPN", 7)),
        FMAR.exportMPAN, make_mpan("UKPN_EPN", 7)),
    # ARM-VAL-022 GSPGroup: one of the 14 GSP groups
    ok("ARM-VAL-022", "absent", bess(GSPGroup=None)),
    bad("ARM-VAL-022", "_Q", bess(GSPGroup="_Q"), FMAR.gspGroup, f"{CODE}GSPGroup/_Q"),
    # ARM-VAL-023 GSPGroup agrees with the DNOConnection licence area
    ok("ARM-VAL-023", "sepd-_H", bess(GSPGroup="_H")),
    ok("ARM-VAL-023", "enwl-_G", asset("SOLAR_PV")),
    bad("ARM-VAL-023", "sepd-_A", bess(GSPGroup="_A"), FMAR.gspGroup, f"{CODE}GSPGroup/_A"),
    # ARM-VAL-024 Postcode
    ok("ARM-VAL-024", "SW1A-1AA", bess(Postcode="SW1A 1AA")),
    ok("ARM-VAL-024", "M1-1AE-no-space", bess(Postcode="M11AE")),
    bad("ARM-VAL-024", "lower-case", bess(Postcode="sw1a 1aa"), FMAR.postcode, "sw1a 1aa"),
    bad("ARM-VAL-024", "not-a-postcode", bess(Postcode="12345"), FMAR.postcode, "12345"),
    # ARM-VAL-025 CommissioningDate not in the future (UTC date)
    ok("ARM-VAL-025", "today", bess(CommissioningDate=UTC_TODAY.isoformat())),
    bad("ARM-VAL-025", "2999-01-01", bess(CommissioningDate="2999-01-01"),
        FMAR.commissioningDate, "2999-01-01"),
    bad("ARM-VAL-025", "in-two-days",
        bess(CommissioningDate=(UTC_TODAY + timedelta(days=2)).isoformat()),
        FMAR.commissioningDate, (UTC_TODAY + timedelta(days=2)).isoformat()),
    # ARM-VAL-026 OTHER energy source / demand technology needs OtherDescription <= 200 chars
    ok("ARM-VAL-026", "energy-OTHER-described",
       bess(FuelType_EnergySource="OTHER", OtherDescription=T200)),
    ok("ARM-VAL-026", "demand-OTHER-described",
       bess(FuelType_DemandTechType="OTHER", OtherDescription="Pumped water")),
    bad("ARM-VAL-026", "energy-OTHER-undescribed", bess(FuelType_EnergySource="OTHER"),
        FMAR.energySource, es("OTHER")),
    bad("ARM-VAL-026", "demand-OTHER-undescribed", bess(FuelType_DemandTechType="OTHER"),
        FMAR.demandTechType, dt("OTHER")),
    bad("ARM-VAL-026", "description-201-chars",
        bess(FuelType_EnergySource="OTHER", OtherDescription=T201), FMAR.otherDescription, T201),
    # ARM-VAL-027 CanImport / CanExport / V2GCapable are booleans
    ok("ARM-VAL-027", "text-true-false", bess(CanImport="TRUE", CanExport="true", V2GCapable="false")),
    bad("ARM-VAL-027", "v2g-maybe", bess(V2GCapable="maybe"), FMAR.v2gCapable),
    bad("ARM-VAL-027", "string-literal",
        rdf(bess(V2GCapable=None), 'fmar:v2gCapable "true"'), FMAR.v2gCapable, "true"),
    bad("ARM-VAL-027", "two-values",
        rdf(bess(V2GCapable=True), "fmar:v2gCapable false"), FMAR.v2gCapable, None),
    # ARM-VAL-028 StorageCapacity: decimal kWh > 0
    ok("ARM-VAL-028", "1000-kWh", bess(StorageCapacity=1000)),
    bad("ARM-VAL-028", "zero", bess(StorageCapacity=0), FMAR.storageCapacity, "0"),
    bad("ARM-VAL-028", "text", bess(StorageCapacity="lots"), FMAR.storageCapacity, "lots"),
    # ARM-VAL-031/032 coordinates: WGS84 decimals inside Great Britain
    ok("ARM-VAL-031", "didcot", bess(Latitude=51.62, Longitude=-1.27)),
    bad("ARM-VAL-031", "text", bess(Latitude="abc"), GEO_LAT, "abc"),
    bad("ARM-VAL-031", "paris", bess(Latitude=48.85), GEO_LAT, "48.85"),
    ok("ARM-VAL-032", "lerwick", bess(Latitude=60.15, Longitude=-1.14)),
    bad("ARM-VAL-032", "out-of-range", bess(Longitude=500), GEO_LONG, "500"),
    # ARM-VAL-033 at least one meter point (ImportMPAN or ExportMPAN)
    ok("ARM-VAL-033", "import-only", asset("HEAT_PUMP")),
    ok("ARM-VAL-033", "export-only", asset("SOLAR_PV", ImportMPAN=None, ExportMPAN=make_mpan("ENWL", 4))),
    bad("ARM-VAL-033", "no-mpan", asset("HEAT_PUMP", ImportMPAN=None), None, None),
    bad("ARM-VAL-033", "no-mpan-bess", bess(ImportMPAN=None, ExportMPAN=None), None, None),
    # ARM-VAL-034 EnergyConversionType (Elexon's extended attribute): optional text
    ok("ARM-VAL-034", "inverter", bess(EnergyConversionType="Inverter (DC/AC)")),
    bad("ARM-VAL-034", "201-chars", bess(EnergyConversionType=T201), FMAR.energyConversionType, T201),
    # CONS-VAL-029 ConsentReference (node/kinds/consents.py checks what it refers to)
    ok("CONS-VAL-029", "consent-reference", bess(ConsentReference="CCS-2026-000042")),
    bad("CONS-VAL-029", "consent-reference-with-spaces",
        bess(ConsentReference="my consent"), FMAR.consentReference, "my consent"),
    # ARM-VAL-029 / 030 (node/kinds/asset_records.py): category in the catalogue, not deprecated
    ok("ARM-VAL-029", "in-catalogue", asset("HVAC")),
    bad("ARM-VAL-029", "unknown-category", bess(AssetCategory="NOPE"), FMAR.assetCategory, "NOPE"),
    ok("ARM-VAL-030", "deprecated-existing-asset", bess(), deprecated=frozenset({"BESS"}),
       is_new=False),
    bad("ARM-VAL-030", "deprecated-new-asset", bess(), FMAR.assetCategory, "BESS",
        deprecated=frozenset({"BESS"})),
]

CATEGORY_CASES: list[Case] = [
    # BESS import/export ability comes from Elexon's attributes; CanImport/CanExport are hints
    ok("ARM-CAT-BESS-001", "capacities-both-above-0", asset("BESS")),
    ok("ARM-CAT-BESS-001", "both-mpans", asset("BESS", GenCapacity=0, ExportMPAN=make_mpan("ENWL", 3))),
    ok("ARM-CAT-BESS-001", "both-mpans-and-hints",
       asset("BESS", ExportMPAN=make_mpan("ENWL", 3), CanImport=True, CanExport=True)),
    bad("ARM-CAT-BESS-001", "gen-zero-one-mpan", asset("BESS", GenCapacity=0), None, None),
    bad("ARM-CAT-BESS-001", "demand-zero-export-mpan-only",
        asset("BESS", DemandCapacity=0, ImportMPAN=None, ExportMPAN=make_mpan("ENWL", 3)), None, None),
    ok("ARM-CAT-BESS-002", "hints-true", asset("BESS", CanImport=True, CanExport=True)),
    ok("ARM-CAT-BESS-002", "hints-absent", asset("BESS", CanImport=None, CanExport=None)),
    bad("ARM-CAT-BESS-002", "cannot-import", asset("BESS", CanImport=False), FMAR.canImport, "false"),
    bad("ARM-CAT-BESS-002", "cannot-export", asset("BESS", CanExport="false"), FMAR.canExport, "false"),
    ok("ARM-CAT-BESS-003", "gen-stated", asset("BESS")),
    bad("ARM-CAT-BESS-003", "gen-unstated",
        asset("BESS", GenCapacity=None, ExportMPAN=make_mpan("ENWL", 3)), FMAR.genCapacity, None),
    ok("ARM-CAT-BESS-004", "demand-stated", asset("BESS")),
    bad("ARM-CAT-BESS-004", "demand-unstated",
        asset("BESS", DemandCapacity=None, ExportMPAN=make_mpan("ENWL", 3)), FMAR.demandCapacity, None),
    ok("ARM-CAT-CHP-001", "NATURAL_GAS", asset("CHP")),
    ok("ARM-CAT-CHP-001", "BIOGAS", asset("CHP", FuelType_EnergySource="BIOGAS")),
    bad("ARM-CAT-CHP-001", "SOLAR", asset("CHP", FuelType_EnergySource="SOLAR"),
        FMAR.energySource, es("SOLAR")),
    bad("ARM-CAT-CHP-001", "unstated", asset("CHP", FuelType_EnergySource=None), FMAR.energySource),
    ok("ARM-CAT-CHP-002", "gen-stated", asset("CHP")),
    bad("ARM-CAT-CHP-002", "gen-unstated", asset("CHP", GenCapacity=None), FMAR.genCapacity),
    ok("ARM-CAT-EB-001", "ELECTRIC_BOILER", asset("ELECTRIC_BOILER")),
    bad("ARM-CAT-EB-001", "HEAT_PUMP", asset("ELECTRIC_BOILER", FuelType_DemandTechType="HEAT_PUMP"),
        FMAR.demandTechType),
    ok("ARM-CAT-EB-002", "demand-stated", asset("ELECTRIC_BOILER")),
    bad("ARM-CAT-EB-002", "demand-unstated", asset("ELECTRIC_BOILER", DemandCapacity=None),
        FMAR.demandCapacity),
    ok("ARM-CAT-EV-001", "v2g-false", asset("EV_CHARGER")),
    ok("ARM-CAT-EV-001", "v2g-unstated", asset("EV_CHARGER", V2GCapable=None)),
    ok("ARM-CAT-EV-001", "v2g-true-export-mpan",
       asset("EV_CHARGER", V2GCapable=True, ExportMPAN=make_mpan("ENWL", 5))),
    ok("ARM-CAT-EV-001", "v2g-true-gen-capacity", asset("EV_CHARGER", V2GCapable=True, GenCapacity=7)),
    bad("ARM-CAT-EV-001", "v2g-true-cannot-export", asset("EV_CHARGER", V2GCapable=True),
        FMAR.v2gCapable, "true"),
    ok("ARM-CAT-EV-002", "EV", asset("EV_CHARGER")),
    bad("ARM-CAT-EV-002", "HVAC", asset("EV_CHARGER", FuelType_DemandTechType="HVAC"),
        FMAR.demandTechType),
    bad("ARM-CAT-EV-002", "unstated", asset("EV_CHARGER", FuelType_DemandTechType=None),
        FMAR.demandTechType),
    ok("ARM-CAT-EV-003", "demand-stated", asset("EV_CHARGER")),
    bad("ARM-CAT-EV-003", "demand-unstated", asset("EV_CHARGER", DemandCapacity=None),
        FMAR.demandCapacity),
    ok("ARM-CAT-HP-001", "HEAT_PUMP", asset("HEAT_PUMP")),
    bad("ARM-CAT-HP-001", "HVAC", asset("HEAT_PUMP", FuelType_DemandTechType="HVAC"),
        FMAR.demandTechType),
    ok("ARM-CAT-HP-002", "demand-stated", asset("HEAT_PUMP")),
    bad("ARM-CAT-HP-002", "demand-unstated", asset("HEAT_PUMP", DemandCapacity=None),
        FMAR.demandCapacity),
    ok("ARM-CAT-HVAC-001", "HVAC", asset("HVAC")),
    bad("ARM-CAT-HVAC-001", "unstated", asset("HVAC", FuelType_DemandTechType=None),
        FMAR.demandTechType),
    ok("ARM-CAT-HVAC-002", "demand-stated", asset("HVAC")),
    bad("ARM-CAT-HVAC-002", "demand-unstated", asset("HVAC", DemandCapacity=None),
        FMAR.demandCapacity),
    ok("ARM-CAT-IND-001", "INDUSTRIAL_LOAD", asset("INDUSTRIAL_LOAD")),
    bad("ARM-CAT-IND-001", "EV", asset("INDUSTRIAL_LOAD", FuelType_DemandTechType="EV"),
        FMAR.demandTechType),
    ok("ARM-CAT-IND-002", "demand-stated", asset("INDUSTRIAL_LOAD")),
    bad("ARM-CAT-IND-002", "demand-unstated", asset("INDUSTRIAL_LOAD", DemandCapacity=None),
        FMAR.demandCapacity),
    ok("ARM-CAT-OTHER-001", "described", asset("OTHER")),
    ok("ARM-CAT-OTHER-001", "200-chars", asset("OTHER", OtherDescription=T200)),
    bad("ARM-CAT-OTHER-001", "undescribed", asset("OTHER", OtherDescription=None),
        FMAR.otherDescription, None),
    ok("ARM-CAT-REF-001", "REFRIGERATION", asset("REFRIGERATION")),
    bad("ARM-CAT-REF-001", "HEAT_PUMP", asset("REFRIGERATION", FuelType_DemandTechType="HEAT_PUMP"),
        FMAR.demandTechType),
    ok("ARM-CAT-REF-002", "demand-stated", asset("REFRIGERATION")),
    bad("ARM-CAT-REF-002", "demand-unstated", asset("REFRIGERATION", DemandCapacity=None),
        FMAR.demandCapacity),
    ok("ARM-CAT-PV-001", "SOLAR", asset("SOLAR_PV")),
    bad("ARM-CAT-PV-001", "WIND", asset("SOLAR_PV", FuelType_EnergySource="WIND"),
        FMAR.energySource),
    ok("ARM-CAT-PV-002", "gen-stated", asset("SOLAR_PV")),
    bad("ARM-CAT-PV-002", "gen-unstated", asset("SOLAR_PV", GenCapacity=None), FMAR.genCapacity),
    ok("ARM-CAT-WIND-001", "WIND", asset("WIND_TURBINE")),
    bad("ARM-CAT-WIND-001", "SOLAR", asset("WIND_TURBINE", FuelType_EnergySource="SOLAR"),
        FMAR.energySource),
    ok("ARM-CAT-WIND-002", "gen-stated", asset("WIND_TURBINE")),
    bad("ARM-CAT-WIND-002", "gen-unstated", asset("WIND_TURBINE", GenCapacity=None),
        FMAR.genCapacity),
]

CASES: list[Case] = CORE_CASES + CATEGORY_CASES


def check(case: Case, iri: str = ASSET + "000000000001") -> list[dict[str, Any]]:
    [checked] = check_rows(
        [(case.row(1), iri)], catalogue().shapes, category_states(case.deprecated), CALLER,
        is_new=case.is_new,
    )
    return [v.as_dict() for v in checked.violations]


def assert_case(case: Case, violations: list[dict[str, Any]]) -> None:
    if not case.bad:
        assert violations == [], f"{case.id} should conform"
        return
    assert {v["rule"] for v in violations} == {case.rule} | case.also, violations
    own = [v for v in violations if v["rule"] == case.rule]
    for v in own:
        if case.path is not None:
            assert v["path"] == str(case.path), v
        if case.value is not ...:
            assert v["value"] == case.value, v
        assert v["message"].startswith(f"[{case.rule}]"), v


def test_corpus_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case) -> None:
    assert_case(case, check(case))


def test_every_rule_has_a_violating_and_a_conforming_example() -> None:
    expected = shape_rule_ids() | set(RECORD_RULES)
    assert {r for r in expected if r.startswith("ARM-VAL-")} == {
        f"ARM-VAL-{n:03d}" for n in range(1, 35)
    }
    for polarity in (True, False):
        covered = {c.rule for c in CASES if c.bad is polarity}
        assert expected - covered == set(), ("violating" if polarity else "conforming", expected - covered)
    assert {c.rule for c in CASES} <= expected, "a case names a rule the shapes do not have"


def test_every_category_has_a_valid_example_and_all_category_rules_have_ids() -> None:
    codes = {c.code for c in catalogue().all()}
    assert codes == set(_CATEGORY_FIELDS)
    graph = catalogue().shapes.full
    for shape in graph.subjects(RDF.type, SH.PropertyShape):
        assert graph.value(shape, FMAR.ruleId) is not None, shape
    for category in catalogue().all():
        for prop in category.graph.objects(None, SH.property):
            assert category.graph.value(prop, FMAR.ruleId) is not None


def test_messages_carry_their_rule_id() -> None:
    graph = catalogue().shapes.full
    for shape, rule in graph.subject_objects(FMAR.ruleId):
        message = str(graph.value(shape, SH.message))
        assert message.startswith(f"[{rule}] "), (rule, message)


# ---------------------------------------------------------------- the reference engine


def _corpus_rows() -> list[tuple[Case, str]]:
    return [(case, f"{ASSET}{i:012d}") for i, case in enumerate(CASES, start=1)]


def _data_graph(rows: list[tuple[Case, str]]) -> Graph:
    """The data graph check_rows validates, built independently from the same properties
    (rdflib terms, or N-Triples text, whichever node.inputs produces)."""
    data = Graph()
    lines = []
    for i, (case, iri) in enumerate(rows, start=1):
        row = case.row(i)
        props = row.properties if row.properties is not None else properties_from_json(row.fields)
        props = with_default_organisation(props, CALLER)
        subject = URIRef(iri)
        data.add((subject, RDF.type, FMAR.Asset))
        code = category_code(props)
        if code is not None:
            data.add((subject, RDF.type, code_iri("AssetCategory", code)))
        for p, o in props:
            if isinstance(o, Node):
                data.add((subject, URIRef(p), o))
            else:
                lines.append(f"<{iri}> <{p}> {o} .")
    if lines:
        data.parse(data="\n".join(lines), format="nt")
    return data


@contextmanager
def _prepared_sparql() -> Iterator[None]:
    """pyshacl re-parses each SHACL-SPARQL query for every focus node (~90% of its time,
    in pyparsing). Memoise rdflib's parse + translate of identical query text, which is
    what rdflib's own `prepareQuery` does; evaluation is untouched."""
    from rdflib.plugins.sparql import processor

    parse, translate = processor.parseQuery, processor.translateQuery
    prepared: dict[tuple[Any, ...], Any] = {}

    def cached(text: str, base: str | None = None, init_ns: Any = None) -> Any:
        key = (text, base, tuple(sorted((init_ns or {}).items())))
        if key not in prepared:
            prepared[key] = translate(parse(text), base, init_ns)
        return prepared[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(processor, "parseQuery", lambda text: text)
        patch.setattr(processor, "translateQuery", cached)
        yield


def _reference(data: Graph) -> set[tuple[str, str, str | None]]:
    """(rule, focus, path) of every result of plain pyshacl, SHACL-SPARQL included."""
    shapes = catalogue().shapes.full
    with _prepared_sparql():
        _, report, _ = pyshacl.validate(
            data, shacl_graph=shapes, advanced=True, inference="none", allow_warnings=True
        )
    assert isinstance(report, Graph)
    found = set()
    for result in report.subjects(RDF.type, SH.ValidationResult):
        source = report.value(result, SH.sourceConstraint)
        rule = shapes.value(source, FMAR.ruleId) if source is not None else None
        if rule is None:
            rule = shapes.value(report.value(result, SH.sourceShape), FMAR.ruleId)
        path = report.value(result, SH.resultPath)
        found.add((str(rule), str(report.value(result, SH.focusNode)),
                   None if path is None else str(path)))
    return found


def test_reference_equivalence_with_pyshacl() -> None:
    """The node's validator (Core in pyshacl, SPARQL in Oxigraph, whole batch at once)
    reports the same (rule, focus, path) set as plain pyshacl with SHACL-SPARQL."""
    rows = _corpus_rows()
    started = time.perf_counter()
    checked = check_rows(
        [(case.row(i), iri) for i, (case, iri) in enumerate(rows, start=1)],
        catalogue().shapes, category_states(), CALLER,
    )
    ours_seconds = time.perf_counter() - started
    ours = {
        (v.rule, c.asset_iri, v.path)
        for c in checked for v in c.violations if v.rule not in RECORD_RULES
    }
    # In one batch every record is still judged on its own.
    for (case, _), result in zip(rows, checked, strict=True):
        if case.rule in RECORD_RULES:
            continue
        assert_case(case, [v.as_dict() for v in result.violations])

    started = time.perf_counter()
    reference = _reference(_data_graph(rows))
    ref_seconds = time.perf_counter() - started
    assert ours == reference, {"only_ours": ours - reference, "only_pyshacl": reference - ours}
    assert len(ours) > len(CASES) / 2  # the corpus really violates something
    print(f"\n{len(rows)} records: node validator {ours_seconds:.2f} s, pyshacl {ref_seconds:.2f} s")


# ---------------------------------------------------------------- edge values (regressions)


@pytest.mark.parametrize("rule,fields,value", [
    ("ARM-VAL-019", bess(ImportMPAN="2000000000016\n"), "2000000000016\n"),
    ("ARM-VAL-024", bess(Postcode="SW1A 1AA\n"), "SW1A 1AA\n"),
    ("ARM-VAL-003", bess(RatedCapacity="NaN"), "NaN"),
    ("ARM-VAL-015", bess(InstalledCapacity="Infinity"), "Infinity"),
    ("ARM-VAL-028", bess(StorageCapacity="Infinity"), "Infinity"),
    ("ARM-VAL-003", bess(RatedCapacity="1e3", GenCapacity=1, DemandCapacity=1,
                         InstalledCapacity=1), "1e3"),
    ("ARM-VAL-005", bess(EffectiveDate="2024-01-01T00:00:00"), "2024-01-01T00:00:00"),
    ("ARM-VAL-027", bess(V2GCapable="maybe"), "maybe"),
], ids=["ARM-VAL-019-bad-trailing-newline", "ARM-VAL-024-bad-trailing-newline",
        "ARM-VAL-003-bad-NaN", "ARM-VAL-015-bad-Infinity", "ARM-VAL-028-bad-Infinity",
        "ARM-VAL-003-bad-exponent", "ARM-VAL-005-bad-datetime", "ARM-VAL-027-bad-maybe"])
def test_edge_values(rule: str, fields: dict[str, Any], value: str) -> None:
    """Lexical forms Python's parsers accept but XSD does not; the value reported is the
    one the user sent. (With the pyshacl-only validator these crashed (NaN) or passed.)"""
    violations = check(bad(rule, "edge", fields))
    assert {v["rule"] for v in violations} == {rule}, violations
    assert {v["value"] for v in violations} == {value}


def test_ARM_VAL_015_ok_json_number_in_exponent_form_is_a_plain_decimal() -> None:
    assert check(ok("ARM-VAL-015", "json-1e20", bess(InstalledCapacity=1e20))) == []


def test_ARM_VAL_019_trailing_newline_node_and_pyshacl_reference_differ() -> None:
    """A known divergence, and pyshacl is the lenient one: it runs sh:pattern with Python's
    re.search, where '$' also matches before a final newline, so for '2000000000016\n' it
    passes ARM-VAL-019 and reports ARM-VAL-020 (its SPARQL REGEX has the same leniency);
    the node (SPARQL REGEX in Oxigraph, XPath semantics) reports ARM-VAL-019."""
    case = bad("ARM-VAL-019", "trailing-newline", bess(ImportMPAN="2000000000016\n"))
    iri = ASSET + "000000000001"
    assert _reference(_data_graph([(case, iri)])) == {("ARM-VAL-020", iri, str(FMAR.importMPAN))}
    assert {(v["rule"], v["path"]) for v in check(case, iri)} == {
        ("ARM-VAL-019", str(FMAR.importMPAN))
    }


# ---------------------------------------------------------------- messages users read


def _only(fields: dict[str, Any]) -> dict[str, Any]:
    [violation] = check(bad("MSG", "one", fields))
    return violation


def test_ARM_VAL_003_not_a_number_is_reported_once_and_says_so() -> None:
    violation = _only(bess(RatedCapacity="lots"))
    assert (violation["rule"], violation["value"]) == ("ARM-VAL-003", "lots")
    assert violation["message"] == '[ARM-VAL-003] RatedCapacity "lots" is not a number (a decimal, e.g. 12.5).'
    assert check(ok("ARM-VAL-003", "control", bess(RatedCapacity="500"))) == []


def test_ARM_VAL_018_inactive_code_says_it_exists_but_is_inactive() -> None:
    violation = _only(bess(DNOConnection="IDNO_GTC", GSPGroup=None))
    assert violation["rule"] == "ARM-VAL-018"
    assert violation["message"].startswith(
        "[ARM-VAL-018] DNOConnection IDNO_GTC exists in the DNOCode code list but is inactive.")
    assert "SSEN_SEPD" in violation["allowed"] and "IDNO_GTC" not in violation["allowed"]


def test_ARM_VAL_017_code_list_message_shows_the_code_sent_and_the_allowed_codes() -> None:
    violation = _only(bess(ConnectionType="SEMI_FIRM"))
    assert violation["rule"] == "ARM-VAL-017"
    assert violation["message"] == ("[ARM-VAL-017] ConnectionType SEMI_FIRM is not an allowed code. "
                                    "Allowed codes: FIRM, NON_FIRM, DYNAMIC.")
    assert violation["allowed"] == ["FIRM", "NON_FIRM", "DYNAMIC"]


def test_ARM_CAT_CHP_001_category_code_list_message_lists_its_own_codes() -> None:
    violation = _only(asset("CHP", FuelType_EnergySource="SOLAR"))
    assert violation["rule"] == "ARM-CAT-CHP-001"
    assert "SOLAR is not an allowed code" in violation["message"]
    assert violation["allowed"] == ["NATURAL_GAS", "BIOGAS", "BIOMASS", "HYDROGEN", "DIESEL", "OTHER"]


def test_ARM_VAL_021_mismatch_states_the_expected_distributor_id() -> None:
    violation = _only(bess(ImportMPAN=ENWL_MPAN))
    assert violation["rule"] == "ARM-VAL-021"
    assert violation["message"] == (
        f"[ARM-VAL-021] ImportMPAN {ENWL_MPAN} begins with 16, but DNOConnection SSEN_SEPD has "
        "distributor ID 20: its MPANs begin with 20.")


@pytest.mark.parametrize("rule,fields", [
    ("ARM-CAT-EV-002", asset("EV_CHARGER", FuelType_DemandTechType=None)),
    ("ARM-CAT-BESS-001", asset("BESS", GenCapacity=0)),
    ("ARM-VAL-028", bess(StorageCapacity="lots")),
    ("ARM-VAL-005", bess(EffectiveDate="soon")),
    ("ARM-VAL-011", bess(CommissioningDate="lots")),
    ("ARM-VAL-013", asset("BESS", GenCapacity="lots")),
], ids=["ARM-CAT-EV-002-required-hasValue", "ARM-CAT-BESS-001-once", "ARM-VAL-028-lots",
        "ARM-VAL-005-soon", "ARM-VAL-011-lots-not-also-025", "ARM-VAL-013-lots-not-also-BESS-001"])
def test_each_violation_appears_once(rule: str, fields: dict[str, Any]) -> None:
    violation = _only(fields)
    assert violation["rule"] == rule, violation


@pytest.mark.parametrize("value", ["soon", "2024-02-30", "01/04/2025"])
def test_ARM_VAL_005_not_a_date_says_so(value: str) -> None:
    assert _only(bess(EffectiveDate=value))["message"] == (
        f'[ARM-VAL-005] EffectiveDate "{value}" is not a valid date (YYYY-MM-DD).')


def test_ARM_VAL_011_not_a_date_is_not_also_in_the_future() -> None:
    violation = _only(bess(CommissioningDate="lots"))
    assert (violation["rule"], violation["message"]) == (
        "ARM-VAL-011", '[ARM-VAL-011] CommissioningDate "lots" is not a valid date (YYYY-MM-DD).')


# ---------------------------------------------------------------- one error per mistake (regressions)


@pytest.mark.parametrize("rule,fields", [
    ("ARM-VAL-019", bess(ImportMPAN="123")),
    ("ARM-VAL-022", bess(GSPGroup="_Q")),
    ("ARM-VAL-004", bess(AssetCategory="bess")),
], ids=["ARM-VAL-019-short-mpan-not-021", "ARM-VAL-022-not-023", "ARM-VAL-004-not-029"])
def test_one_error_per_mistake(rule: str, fields: dict[str, Any]) -> None:
    assert {v["rule"] for v in check(bad(rule, "one", fields))} == {rule}


# ---------------------------------------------------------------- category definitions


_CATEGORY_TTL = """@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix fmar: <https://id.fmar.uk/def/fmar#> .
@prefix fshape: <https://id.fmar.uk/def/shapes#> .
@prefix acat: <https://id.fmar.uk/def/code/AssetCategory/> .
%(concept)s a fmar:AssetCategory, skos:Concept ; skos:notation "%(code)s" ;
  skos:prefLabel "Hydro"@en ; fmar:appliesTo "Gen" %(link)s .
fshape:Category_HYDRO a sh:NodeShape ; sh:targetClass %(target)s ;
  sh:property [ %(rule)s sh:path fmar:genCapacity ; %(constraint)s ] .
"""


def category_ttl(**kw: str) -> Graph:
    values = {"concept": "acat:HYDRO", "code": "HYDRO", "link": "; fmar:categoryShape fshape:Category_HYDRO",
              "target": "acat:HYDRO", "rule": 'fmar:ruleId "ARM-CAT-HYDRO-001" ;',
              "constraint": "sh:minCount 1", **kw}
    return Graph().parse(data=_CATEGORY_TTL % values, format="turtle")


def test_CAT_DEF_ok_valid_definition() -> None:
    assert category_from_graph(category_ttl()).code == "HYDRO"


@pytest.mark.parametrize("rule,graph", [
    ("CAT-DEF-001", Graph()),
    ("CAT-DEF-001", category_ttl(link="; fmar:categoryShape fshape:Category_HYDRO . "
                                      "acat:TWO a fmar:AssetCategory")),
    ("CAT-DEF-002", category_ttl(code="hydro")),
    ("CAT-DEF-002", category_ttl(concept="<https://example.org/HYDRO>")),
    ("CAT-DEF-003", category_ttl(link="")),
    ("CAT-DEF-003", category_ttl(target="acat:OTHER")),
    ("CAT-DEF-004", category_ttl(rule="")),
], ids=["CAT-DEF-001-no-concept", "CAT-DEF-001-two-concepts", "CAT-DEF-002-lower-case-code",
        "CAT-DEF-002-iri-not-code", "CAT-DEF-003-no-shape", "CAT-DEF-003-wrong-target",
        "CAT-DEF-004-no-rule-id"])
def test_CAT_DEF_bad(rule: str, graph: Graph) -> None:
    with pytest.raises(DomainError) as raised:
        category_from_graph(graph)
    assert (status_of(raised.value), raised.value.code) == (422, rule)


def _register():  # a real register on an in-memory Oxigraph store
    from node.register import Register
    from node.store.embedded import EmbeddedStore

    return Register(EmbeddedStore(None), workers=1)


FACILITATOR = Caller("mf", "MF", frozenset({"MarketFacilitator"}), frozenset({"categories:write"}))


def test_CAT_DEF_005_bad_sparql_constraint() -> None:
    graph = category_ttl(constraint='sh:minCount 1 ] ; sh:sparql [ sh:select "SELECT nonsense"')
    with pytest.raises(DomainError) as raised:
        _register().categories.save(graph, FACILITATOR, expected_code=None)
    assert (status_of(raised.value), raised.value.code) == (422, "CAT-DEF-005")


def test_CAT_DEF_005_ok_valid_shape_is_saved() -> None:
    register = _register()
    register.categories.save(category_ttl(), FACILITATOR, expected_code=None)
    assert register.catalogue.get("HYDRO") is not None


def test_CAT_DEF_005_bad_core_constraint() -> None:
    with pytest.raises(DomainError) as raised:
        _register().categories.save(category_ttl(constraint='sh:minCount "abc"'), FACILITATOR,
                                  expected_code=None)
    assert (status_of(raised.value), raised.value.code) == (422, "CAT-DEF-005")


def test_CAT_DEF_005_bad_pattern_sparql_cannot_run() -> None:
    with pytest.raises(DomainError) as raised:
        _register().categories.save(category_ttl(constraint='sh:pattern "^(?!X)[A-Z]+$"'),
                                  FACILITATOR, expected_code=None)
    assert raised.value.code == "CAT-DEF-005"


def test_CAT_DEF_006_bad_definition_touching_other_shapes() -> None:
    graph = category_ttl()
    graph.add((URIRef("https://id.fmar.uk/def/shapes#Asset"),
               URIRef("http://www.w3.org/ns/shacl#deactivated"), Literal(True)))
    with pytest.raises(DomainError) as raised:
        category_from_graph(graph)
    assert (status_of(raised.value), raised.value.code) == (422, "CAT-DEF-006")


def test_CAT_DEF_005_bad_pattern() -> None:
    with pytest.raises(DomainError) as raised:
        _register().categories.save(category_ttl(constraint='sh:pattern "(["'), FACILITATOR,
                                  expected_code=None)
    assert raised.value.code == "CAT-DEF-005"


# ---------------------------------------------------------------- the pyshacl fallback

# A category whose shape uses a property path the compiler does not translate
# (sh:alternativePath): node/validation.py hands that shape to pyshacl.
FLYWHEEL_TTL = """@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix fmar: <https://id.fmar.uk/def/fmar#> .
@prefix fshape: <https://id.fmar.uk/def/shapes#> .
@prefix acat: <https://id.fmar.uk/def/code/AssetCategory/> .
acat:FLYWHEEL a fmar:AssetCategory, skos:Concept ; skos:notation "FLYWHEEL" ;
  skos:prefLabel "Flywheel"@en ; fmar:appliesTo "Storage" ;
  fmar:categoryShape fshape:Category_FLYWHEEL .
fshape:Category_FLYWHEEL a sh:NodeShape ; sh:targetClass acat:FLYWHEEL ;
  sh:property [ fmar:ruleId "ARM-CAT-FLY-001" ;
    sh:path [ sh:alternativePath ( fmar:genCapacity fmar:demandCapacity ) ] ; sh:minCount 2 ;
    sh:message "[ARM-CAT-FLY-001] A flywheel states its GenCapacity and its DemandCapacity." ] .
"""


def _flywheel_register():
    register = _register()
    register.categories.save(Graph().parse(data=FLYWHEEL_TTL, format="turtle"), FACILITATOR,
                           expected_code=None)
    return register


def test_ARM_CAT_FLY_001_uncompilable_shape_runs_in_pyshacl() -> None:
    register = _flywheel_register()
    shapes = register.catalogue.shapes
    assert shapes.fallback is not None  # the category's shape was not compiled
    assert catalogue().shapes.fallback is None  # the seeded shapes all compile
    flywheel = asset("OTHER", AssetCategory="FLYWHEEL", OtherDescription=None, GenCapacity=50)
    states = {c.code: c.deprecated for c in register.catalogue.all()}
    rows = [(Row(1, fields=flywheel), ASSET + "000000000001"),
            (Row(2, fields={**flywheel, "DemandCapacity": 40}), ASSET + "000000000002"),
            (Row(3, fields={**flywheel, "DemandCapacity": 40, "RatedCapacity": "lots"}),
             ASSET + "000000000003")]
    bad_one, good, core_bad = check_rows(rows, shapes, states, CALLER)
    assert [(v.rule, v.message) for v in bad_one.violations] == [
        ("ARM-CAT-FLY-001", "[ARM-CAT-FLY-001] A flywheel states its GenCapacity and its DemandCapacity.")]
    assert good.violations == []
    # the compiled core rules still run once, not again in pyshacl
    assert [v.rule for v in core_bad.violations] == ["ARM-VAL-003"]


# ---------------------------------------------------------------- the catalogue


def test_docs_rules_md_lists_every_shape_rule() -> None:
    from tests import rule_catalogue

    text = rule_catalogue.DOC.read_text()
    missing = sorted(r for r in shape_rule_ids() | set(RECORD_RULES) if f"`{r}`" not in text)
    assert not missing, f"docs/rules.md lacks {missing}; run: .venv/bin/python -m tests.rule_catalogue"


def test_docs_rules_md_is_up_to_date() -> None:
    from tests import rule_catalogue

    assert rule_catalogue.DOC.read_text() == rule_catalogue.render(), (
        "docs/rules.md is stale; run: .venv/bin/python -m tests.rule_catalogue"
    )


def test_catalogue_names_existing_tests() -> None:
    """Every test the catalogue cites exists (in this file, test_inputs.py, test_api.py)."""
    import re
    from pathlib import Path

    from tests import rule_catalogue

    text = rule_catalogue.render()
    names = set(globals()) | {f"test_rule[{c.id}]" for c in CASES}
    for cited in re.findall(r"tests/test_rules\.py::([A-Za-z0-9_]+)", text):
        assert cited in names, cited
    for other in ("test_inputs.py", "test_api.py", "test_codes.py", "test_errors.py",
                  "test_market_units.py"):
        source = Path(__file__).with_name(other)
        if not source.exists():
            continue
        defined = set(re.findall(r"^(?:async )?def (test_\w+)", source.read_text(), re.MULTILINE))
        for cited in re.findall(rf"tests/{re.escape(other)}::(test_\w+)", text):
            assert cited in defined, f"{other}::{cited}"


def test_CAT_DEF_090_ok_check_passes_and_stores_nothing() -> None:
    register = _register()
    result = register.categories.check(category_ttl(), FACILITATOR, "HYDRO")
    assert result["valid"] is True and result["rules"] == ["ARM-CAT-HYDRO-001"]
    assert register.catalogue.get("HYDRO") is None  # nothing saved


def test_CAT_DEF_090_bad_check_gives_the_save_rule_ids() -> None:
    register = _register()
    with pytest.raises(DomainError) as raised:
        register.categories.check(category_ttl(constraint='sh:minCount "abc"'), FACILITATOR,
                                  "HYDRO")
    assert raised.value.code == "CAT-DEF-005"
    with pytest.raises(DomainError) as raised:
        register.categories.check(category_ttl(), FACILITATOR, "BESS")
    assert raised.value.code == "CAT-DEF-002"
    fsp = Caller("f", "F", frozenset({"FSP"}), frozenset({"assets:write"}))
    with pytest.raises(DomainError) as raised:
        register.categories.check(category_ttl(), fsp, "HYDRO")
    assert status_of(raised.value) == 403


def test_CAT_DEF_091_bad_stale_if_match_is_refused() -> None:
    register = _register()
    register.categories.save(category_ttl(), FACILITATOR, expected_code=None)
    saved = register.categories.save(category_ttl(), FACILITATOR, expected_code="HYDRO",
                                     if_match='"HYDRO.v1"')
    assert saved.version == 2
    with pytest.raises(DomainError) as raised:
        register.categories.save(category_ttl(), FACILITATOR, expected_code="HYDRO",
                                 if_match='"HYDRO.v1"')
    assert (status_of(raised.value), raised.value.code) == (412, "CAT-DEF-091")
    assert register.catalogue.get("HYDRO").version == 2  # type: ignore[union-attr]


def test_checks_of_classes_the_batch_does_not_hold_are_not_run(monkeypatch) -> None:
    """A record is of one category: the checks targeting other categories' classes find
    nothing in its batch and are not run (node/validation.py `validate`); `every_check`
    runs them all (CAT-DEF-005 tries a new shape's queries so). Their violations are
    still found: the corpus comparisons with pyshacl above hold."""
    from node import validation

    register = _register()
    shapes, categories = register.catalogue.shapes, register.assets.categories.states()
    run: list[str] = []
    real = validation._select
    monkeypatch.setattr(validation, "_select", lambda store, q: run.append(q) or real(store, q))
    [checked] = check_rows([(Row(0, fields=BESS_EXAMPLE), "https://id.fmar.uk/asset/x")],
                           shapes, categories, None)
    assert checked.violations == []

    def targets() -> set[str]:
        return {t for q in run for t in re.findall(r"#type> <([^>]+)>", q)}

    assert targets() == {str(FMAR.Asset), str(CODE) + "AssetCategory/BESS"}
    # per-value checks of the paths the record holds values of, and of those only
    held = {FIELD_BY_NAME[name].iri for name, value in BESS_EXAMPLE.items()
            if name in FIELD_BY_NAME and value not in (None, "")}
    checked_paths = {p for q in run for p in re.findall(r"\?this <([^>]+)> \?value \. BIND", q)}
    assert checked_paths and checked_paths <= {str(i) for i in held}
    assert len(checked_paths) < len({path for _, path in shapes.value_checks})
    run.clear()
    validation.Validator().validate("", shapes, [], every_check=True)
    assert str(CODE) + "AssetCategory/SOLAR_PV" in targets() and len(targets()) > 10
