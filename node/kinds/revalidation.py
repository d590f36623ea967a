"""Re-validation (issue 15, data quality): every current asset record on the node checked
again against the shapes in force now, with the one validator (`check_rows`, no caller:
nothing is authorised or written). Records are validated when written; a category's shape
that changed since, or records loaded before a rule existed, leave stored records that
would now be refused. Each failing record gets a finding: a graph of its own outside the
record namespace (never readable through SPARQL, POL-011), naming the record, the rule IDs
it fails, and the record's organisation and DNO area, so that the data quality report
counts findings by rule under the asset read rule (or disclosure control). A run replaces
the findings of the previous run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from common.vocab import ASSET_BASE, DCTERMS, FMAR, ORG_BASE
from node import ntriples
from node.inputs import Row
from node.kinds.asset_records import check_rows
from node.kinds.assets import Assets
from node.store.base import GraphWrite

FINDING_BASE = "urn:fmar:finding:"
BATCH = 500
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


@dataclass(frozen=True)
class Run:
    ran_at: str
    checked: int
    failing: int
    by_rule: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {"ran_at": self.ran_at, "checked": self.checked, "failing": self.failing,
                "by_rule": dict(sorted(self.by_rule.items()))}


def _asset_iris(assets: Assets) -> Iterator[str]:
    query = (f"SELECT ?a WHERE {{ GRAPH ?a {{ ?a a <{FMAR.Asset}> }} "
             f'FILTER (STRSTARTS(STR(?a), "{ASSET_BASE}")) }}')
    yield from sorted(s["a"].value for s in assets.store.select(query))


def _finding(iri: str, rules: set[str], organisation: str | None, area: str | None,
             time: str) -> GraphWrite:
    graph = FINDING_BASE + iri[len(ASSET_BASE):]
    lines = [f"<{graph}> <{RDF_TYPE}> <{FMAR.RevalidationFinding}> .",
             f"<{graph}> <{FMAR.findingOf}> <{iri}> .",
             f"<{graph}> <{DCTERMS.created}> {ntriples.string(time)} ."]
    lines += [f"<{graph}> <{FMAR.violatesRule}> {ntriples.string(rule)} ."
              for rule in sorted(rules)]
    if organisation:
        lines.append(f"<{graph}> <{FMAR.organisation}> <{organisation}> .")
    if area:
        lines.append(f"<{graph}> <{FMAR.dnoConnection}> <{area}> .")
    return GraphWrite(graph, "\n".join(lines) + "\n")


def revalidate(assets: Assets, counted: Callable[[str, str | None], bool]) -> Run:
    """Check every current asset against the shapes in force; replace the findings. The
    run's counts cover the records `counted(organisation ID, DNO area)` allows (what the
    caller may read); the findings cover every record."""
    time = datetime.now(UTC).isoformat(timespec="seconds")
    shapes, categories = assets.categories.catalogue.shapes, assets.categories.states()
    by_rule: Counter[str] = Counter()
    checked = failing = 0
    assets.store.update(  # the previous run's findings go first: a run replaces them
        f"DELETE {{ GRAPH ?g {{ ?s ?p ?o }} }} WHERE {{ GRAPH ?g {{ ?s ?p ?o }} "
        f'FILTER (STRSTARTS(STR(?g), "{FINDING_BASE}")) }}')
    iris = _asset_iris(assets)
    while batch := list(islice(iris, BATCH)):
        records = [r for r in (assets.get_record(i) for i in batch) if r is not None]
        rows = [(Row(n, properties=r.properties()), r.iri) for n, r in enumerate(records)]
        findings = []
        for record, result in zip(records, check_rows(rows, shapes, categories, None,
                                                      is_new=False), strict=True):
            rules = {v.rule for v in result.violations}
            organisation, area = record.first(FMAR.organisation), record.first(FMAR.dnoConnection)
            if rules:
                findings.append(_finding(record.iri, rules, organisation, area, time))
            if counted((organisation or "").removeprefix(ORG_BASE),
                       area.rsplit("/", 1)[-1] if area else None):
                checked += 1
                failing += bool(rules)
                by_rule.update(rules)
        if findings:
            assets.store.write(findings)
    return Run(time, checked, failing, dict(by_rule))
