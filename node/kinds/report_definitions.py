"""Report definitions saved as records (issue 15): held on the market facilitator's or the
regulator's node, written by them only (POL-051), read by every member; versioned and
audited like every record, so a report's version is its record's `Version`.

- shapes: shapes/report_definition.ttl (REP-VAL-001, REP-VAL-008);
- the specification (tables and charts, JSON) is checked by node/reports/model.py
  (REP-VAL-003..007) and the name is unique on the node (REP-VAL-009), here.
"""

from __future__ import annotations

import json
from typing import Any

from common.errors import Conflict, Invalid, NotFound
from common.http_errors import ApiError
from common.vocab import FMAR, ID_BASE, SHAPES_DIR
from node.asset_fields import Field, FieldTable
from node.identity import Caller
from node.records.kind import Facts, RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.unit import UnitOfWork
from node.reports.builtin import BUILTIN
from node.reports.model import Definition

SHAPES_FILE = SHAPES_DIR / "report_definition.ttl"
REPORT_DEFINITION_BASE = ID_BASE + "report-definition/"

FIELDS = (
    Field("ReportName", FMAR.reportName, "string"),
    Field("Title", FMAR.reportTitle, "string"),
    Field("Specification", FMAR.reportSpecification, "string"),
)
STATE_FIELDS = ("DefinitionId", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("REPDEF", FIELDS, STATE_FIELDS, "DefinitionId", "A report definition",
                   "report definition field names",
                   "the fields are " + ", ".join(f.name for f in FIELDS))

REPORT_DEFINITION = RecordKind(
    name="report-definition", label="report definition", code="REPDEF",
    iri_base=REPORT_DEFINITION_BASE, rdf_class=FMAR.ReportDefinition, table=TABLE,
    shapes=(SHAPES_FILE,),
    rules=("REP-VAL-001", "REP-VAL-003", "REP-VAL-004", "REP-VAL-005", "REP-VAL-006",
           "REP-VAL-007", "REP-VAL-008", "REP-VAL-009", "REPDEF-IN-001", "REPDEF-IN-002",
           "REPDEF-IN-003", "REPDEF-VAL", "REPDEF-404", "REPDEF-412", "REPDEF-428",
           "POL-051"),
    held_by="the market facilitator's or the regulator's node",
    facts=lambda record: Facts(public=True), area_predicate=None,
)


def definition_of(record: Record) -> Definition:
    """The report a stored record defines; its version is the record's."""
    return parse(record.field("ReportName"), record.field("Title"),
                 record.field("Specification"), record.version)


def parse(name: Any, title: Any, specification: Any, version: int) -> Definition:
    """REP-VAL-001..007 on the record's fields (a refusal is Invalid, 422)."""
    try:
        spec = json.loads(str(specification))
    except ValueError:
        raise Invalid("REP-VAL-008", "Specification is the report's tables and charts as "
                      "JSON (docs/reports.md).") from None
    if not isinstance(spec, dict):
        raise Invalid("REP-VAL-008", "Specification is a JSON object of tables and charts.")
    try:
        return Definition.from_json({**spec, "name": name, "title": title, "version": version})
    except ApiError as refused:
        raise Invalid(refused.code, refused.message, refused.details) from None


class ReportDefinitions(Records):
    def __init__(self, unit: UnitOfWork):
        super().__init__(unit, REPORT_DEFINITION)

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """The specification is a valid report (REP-VAL-003..007); the name is not another
        definition's on this node (REP-VAL-009)."""
        definition = definition_of(candidate)
        if definition.name in BUILTIN:
            raise Conflict("REP-VAL-009", f"'{definition.name}' is a built-in report; "
                           "choose another name.", {"builtin": sorted(BUILTIN)})
        for other in self.stored():
            if other.field("ReportName") == definition.name and other.iri != candidate.iri:
                raise Conflict("REP-VAL-009", f"A report named '{definition.name}' is "
                               "already defined on this node; change it instead.",
                               {"DefinitionId": other.record_id})

    def stored(self) -> list[Record]:
        rows = self.store.select(
            f"SELECT ?r WHERE {{ GRAPH ?r {{ ?r a <{FMAR.ReportDefinition}> }} }}")
        records = [self.kind.read(row["r"].value, self.store.triples(row["r"].value))
                   for row in rows]
        return [r for r in records if r is not None]

    def definitions(self) -> dict[str, Definition]:
        """Every definition saved on this node, by name (unreadable ones left out)."""
        found = {}
        for record in self.stored():
            try:
                definition = definition_of(record)
            except Invalid:
                continue
            found[definition.name] = definition
        return found

    def at_version(self, name: str, version: int) -> Definition:
        """A saved report as it was at one of its versions (its record's history); REP-006
        for a version it never had."""
        for current in self.stored():
            if current.field("ReportName") != name:
                continue
            then: Record | None = current
            if 1 <= version < current.version:
                then = self.kind.read(current.iri, self.unit.journal.triples(
                    self.kind.version_iri(current.iri, version)))
            if then is not None and then.version == version:
                return definition_of(then)
            raise NotFound("REP-006", f"Report '{name}' has no version {version}.",
                           {"versions": list(range(1, current.version + 1))})
        raise NotFound("REP-001", f"No report named '{name[:60]}' is saved on this node.")
