"""Bulk import of a DNO's book of connection limits (CSV, `POST /connection-limits/bulk`).

Rows are read by the shared CSV machinery (node/inputs.py `rows_from_csv`, with the limit
field table: LIM-IN-009), and each row goes through the same checks as one limit sent
alone: its input (LIM-IN-*), its shape (GICM-VAL-*), the policy (POL-008). Valid rows are
stored through the one write path (node/records/unit.py), one audit entry each:

- `all-or-nothing`: nothing is stored unless every row passed; one transaction;
- `store-valid`: the valid rows are stored (one transaction), the report lists the rest.

A book is held in memory while it is checked, so it has at most MAX_ROWS rows
(LIM-IN-013) and the node's bulk body limit (REQ-413).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph as ox

from common.errors import DomainError
from node import policy
from node.audit import now_iso
from node.identity import Caller
from node.inputs import InputError, Row, rows_from_csv
from node.kinds.connection_limits import (
    CONNECTION_LIMIT,
    LIMIT_BASE,
    PROFILE,
    TABLE,
    ConnectionLimits,
    band_lines,
    facts_of,
    limit_input,
)
from node.records.kind import Facts
from node.records.refusals import violation_of
from node.records.service import record_text
from node.store import GraphWrite
from node.validation import Violation

MAX_ROWS = 20_000
MAX_BYTES = 64_000_000  # the body limit is the smaller of this and the node's bulk limit
MAX_REPORTED_ROWS = 1_000  # failing rows listed in full


@dataclass
class Prepared:
    """One row: the record it would store, or why it cannot."""

    row: int
    iri: str = ""
    text: str = ""
    facts: Facts | None = None
    violations: list[Violation] = field(default_factory=list)


@dataclass
class ImportReport:
    mode: str
    received: int = 0
    stored: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "received": self.received, "stored": self.stored,
                "rejected": self.rejected, "errors": self.errors,
                "errors_truncated": self.rejected > len(self.errors), "limits": self.limits}


def limit_rows(chunks: Iterable[bytes]) -> Iterator[Row]:
    """The CSV rows of a book (LIM-IN-009: a header of limit field names and TimeProfile)."""
    return rows_from_csv(chunks, TABLE, extra=(PROFILE,))


CREATE = CONNECTION_LIMIT.action("create")


def _prepare(row: Row, caller: Caller, time: str) -> Prepared:
    prepared = Prepared(row.index)
    if row.error is not None:
        prepared.violations.append(Violation(row.error["code"], row.error["message"]))
        return prepared
    try:
        props, bands = limit_input(row.fields)
    except DomainError as error:  # LIM-IN-*
        prepared.violations.append(violation_of(error))
        return prepared
    prepared.facts = facts_of(props)
    prepared.iri = LIMIT_BASE + str(uuid.uuid4())
    prepared.text = record_text(CONNECTION_LIMIT, prepared.iri, props,
                                set_by=caller.organisation_id, version=1, created=time,
                                modified=time, children=band_lines(prepared.iri, bands))
    return prepared


def _read(rows: Iterable[Row], caller: Caller) -> list[Prepared]:
    time = now_iso()
    prepared: list[Prepared] = []
    for row in rows:
        if len(prepared) >= MAX_ROWS:
            raise InputError("LIM-IN-013", f"A book of limits has at most {MAX_ROWS} rows; "
                             "send it in parts.", {"max_rows": MAX_ROWS})
        prepared.append(_prepare(row, caller, time))
    return prepared


def _check(limits: ConnectionLimits, prepared: list[Prepared], caller: Caller) -> None:
    """GICM-VAL-* on every readable row at once (the validator works on batches), then
    POL-008 on each conforming row, as for one limit sent alone."""
    batch = [p for p in prepared if p.iri]
    by_iri = {p.iri: p for p in batch}
    if batch:
        text = "\n".join(p.text for p in batch)
        for violation in limits.validator.validate(text, limits.shapes, by_iri):
            by_iri[violation.focus or ""].violations.append(violation)
    for p in batch:
        if not p.violations:
            try:
                policy.authorise(caller, CONNECTION_LIMIT.name, CREATE, p.facts, new=True)
            except DomainError as error:
                p.violations.append(violation_of(error))


def _kind_rules(limits: ConnectionLimits, prepared: list[Prepared], caller: Caller) -> None:
    """The kind's own rules beyond its shapes (`Records.check`) on each conforming row."""
    for p in prepared:
        if p.violations:
            continue
        triples = [q.triple for q in ox.parse(p.text.encode(), format=ox.RdfFormat.N_TRIPLES)]
        try:
            limits.check(caller, CONNECTION_LIMIT.read(p.iri, triples), None)
        except DomainError as error:
            p.violations.append(violation_of(error))


def import_limits(limits: ConnectionLimits, rows: Iterable[Row], caller: Caller,
                  all_or_nothing: bool) -> ImportReport:
    """Check every row of a book; store the valid ones through the unit of work."""
    facts = Facts(caller.organisation_id, min(caller.dno_areas, default=None))
    policy.authorise(caller, CONNECTION_LIMIT.name, CREATE, facts, new=True)  # POL-008
    report = ImportReport("all-or-nothing" if all_or_nothing else "store-valid")
    prepared = _read(rows, caller)
    _check(limits, prepared, caller)
    with limits.unit.lock:  # the kind's rules and the write together, as for one limit
        _kind_rules(limits, prepared, caller)
        good = []
        for p in prepared:
            report.received += 1
            if not p.violations:
                good.append(p)
                continue
            report.rejected += 1
            if len(report.errors) < MAX_REPORTED_ROWS:
                report.errors.append({"row": p.row,
                                      "violations": [v.as_dict() for v in p.violations]})
        if good and not (all_or_nothing and report.rejected):
            limits.unit.write(caller, CREATE,
                              [GraphWrite(p.iri, p.text, replace=False) for p in good],
                              [(p.iri, 1) for p in good])
            report.stored = len(good)
            report.limits = [{"row": p.row, "LimitId": CONNECTION_LIMIT.record_id(p.iri)}
                             for p in good]
    return report
