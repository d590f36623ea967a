"""The reports every node can run (issue 15), each a versioned definition. A change to a
definition's tables or charts must raise its version: a result names the version it ran."""

from __future__ import annotations

from node.asset_fields import FIELDS
from node.query.aggregates import present_dimension
from node.reports.model import Chart, Definition, Table, check

CAPACITY_DIMS = ("category", "gsp_group", "dno", "connection_type", "validation_status")
# Elexon attributes every asset should carry, whatever its category: the data quality
# score's completeness term (docs/reports.md). Conditional ones (GenCapacity, the fuel or
# demand type, ExportMPAN, StorageCapacity, V2GCapable, OtherDescription, ...) are reported
# but not scored.
CORE_ATTRIBUTES = ("AssetName", "OrganisationId", "RatedCapacity", "AssetCategory",
                   "EffectiveDate", "Manufacturer", "AssetModel", "SerialNumber",
                   "CommissioningDate", "ConnectionStatus", "ConnectionType", "DNOConnection",
                   "ImportMPAN", "GSPGroup", "Postcode", "InstalledCapacity")
ATTRIBUTE_TABLES = {f.name: present_dimension(f.iri) for f in FIELDS}

CAPACITY = Definition(
    "capacity", 1, "Registered flexible capacity",
    "Assets and capacity by category, GSP group, DNO licence area, connection type and "
    "validation status; rated, import (DemandCapacity) and export (GenCapacity) capacity "
    "in separate tables.",
    tables=(Table("rated", CAPACITY_DIMS, "rated"), Table("import", CAPACITY_DIMS, "import"),
            Table("export", CAPACITY_DIMS, "export")),
    charts=(Chart("by_category", "bars", "rated", "category", "sum",
                  "Rated capacity by asset category (MW)"),
            Chart("by_dno", "bars", "rated", "dno", "sum",
                  "Rated capacity by DNO licence area (MW)"),
            Chart("gsp_map", "tiles", "rated", "gsp_group", "sum",
                  "Rated capacity by GSP group (MW)")))

GROWTH = Definition(
    "growth", 1, "Growth over time",
    "Registrations (month of dcterms:created), de-registrations (month of the last change "
    "of a de-registered record) and capacity per month; also by the month the asset became "
    "effective (EffectiveDate).",
    tables=(Table("registrations", ("created_month",)),
            Table("deregistrations", ("modified_month",),
                  filter={"registration_status": "Deregistered"}),
            Table("effective", ("effective_month",))),
    charts=(Chart("registrations", "lines", "registrations", "created_month", "count",
                  "Registrations per month"),
            Chart("effective_capacity", "lines", "effective", "effective_month", "sum",
                  "Capacity by month effective (MW)")))

CONSTRAINTS = Definition(
    "constraints", 2, "Capacity behind constrained connections",
    "Rated and export capacity behind non-firm (incl. ANM) and dynamic connections by DNO "
    "licence area, beside every connection type for comparison; and the connection limits "
    "the DNOs have set (count and sum of export limits) by DNO area.",
    tables=(Table("by_connection", ("dno", "connection_type")),
            Table("constrained", ("dno",), filter={"connection_type": "NON_FIRM,DYNAMIC"}),
            Table("constrained_export", ("dno",), "export",
                  filter={"connection_type": "NON_FIRM,DYNAMIC"}),
            Table("limits", ("dno",), "export_limit", source="connection-limits")),
    charts=(Chart("constrained_by_dno", "bars", "constrained", "dno", "sum",
                  "Capacity behind non-firm / ANM / dynamic connections by DNO area (MW)"),
            Chart("limits_by_dno", "bars", "limits", "dno", "sum",
                  "Export limits set by the DNOs, by DNO area (MW)")))

QUALITY = Definition(
    "quality", 2, "Data quality",
    "Completeness of each Elexon attribute, the share of records Pending or Query, the "
    "rule violations the nodes' last re-validation found (records by rule ID), and the "
    "data quality score (docs/reports.md).",
    tables=(Table("validation", ("validation_status",)),
            Table("violations", ("rule",), "records", source="revalidation"),
            *(Table("has-" + name.lower().replace("_", "-"), (dim,))
              for name, dim in ATTRIBUTE_TABLES.items())),
    charts=(Chart("validation", "bars", "validation", "validation_status", "count",
                  "Records by validation status"),
            Chart("violations", "bars", "violations", "rule", "count",
                  "Records failing each rule at the last re-validation")))

HEALTH = Definition(
    "health", 1, "Federation health",
    "Which nodes answered, in how long, and how fresh each node's data is (its newest "
    "dcterms:modified).", source="federation")

GRANTED = "temporary_qualified,prequalified,verified"  # node/kinds/qualifications.py GRANTED
MARKET = Definition(
    "market", 2, "Market participation",
    "Units qualified and the capacity they are qualified for, per product and per system "
    "operator (outcomes in a granted state, on the operators' nodes); the qualification "
    "pipeline by product and state; and the capacity the FSPs claim in their applications, "
    "by product and state (on the FSPs' nodes).",
    tables=(Table("qualified", ("product", "operator"), "records",
                  {"state": GRANTED}, "qualifications"),
            Table("qualified_up", ("product", "operator"), "qualified_up",
                  {"state": GRANTED}, "qualifications"),
            Table("qualified_down", ("product", "operator"), "qualified_down",
                  {"state": GRANTED}, "qualifications"),
            Table("pipeline", ("product", "state"), "records", source="qualifications"),
            Table("applications", ("product", "state"), "claimed_up",
                  source="qualification-applications")),
    charts=(Chart("qualified_by_product", "bars", "qualified", "product", "count",
                  "Units qualified per product"),
            Chart("qualified_by_operator", "bars", "qualified_up", "operator", "sum",
                  "Upward capacity qualified per system operator (MW)"),
            Chart("pipeline_by_state", "bars", "pipeline", "state", "count",
                  "Qualifications by state"),
            Chart("claimed_by_product", "bars", "applications", "product", "sum",
                  "Upward capacity claimed in applications per product (MW)")),
    source="market")

BUILTIN: dict[str, Definition] = {d.name: check(d) for d in
                                  (CAPACITY, GROWTH, MARKET, CONSTRAINTS, QUALITY, HEALTH)}
# the record kinds (their listing paths) a market participation report needs
MARKET_KINDS = ("market-units", "qualifications")


def attribute_of(table: str) -> str | None:
    """The Elexon attribute a data quality table is about."""
    for name in ATTRIBUTE_TABLES:
        if table == "has-" + name.lower().replace("_", "-"):
            return name
    return None
