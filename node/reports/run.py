"""Running a definition: one federated call (each node computes every table), then the
sections derived from the merged tables (data quality score, federation health, market
participation's source). A result names the definition's version, when it ran and every
node's status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from node.federation.engine import Engine, NodeTarget
from node.kinds.disputes import merge_summaries
from node.query.aggregates import TOTAL
from node.reports.builtin import CORE_ATTRIBUTES, MARKET_KINDS, attribute_of
from node.reports.model import Definition

VALID, NOT_YET = "Verified", ("Pending", "Query")


def request_body(definition: Definition) -> dict[str, Any]:
    return {"tables": {t.name: t.request() for t in definition.tables}}


async def run(definition: Definition, engine: Engine, nodes: list[NodeTarget]) -> dict[str, Any]:
    tables = {t.name: t.spec() for t in definition.tables}
    answer = await engine.report(nodes, tables, request_body(definition))
    return assemble(definition, answer)


async def disputes_section(engine: Engine, nodes: list[NodeTarget]) -> dict[str, Any]:
    """The data quality report's disputes: each node's `GET /dispute-summary` (the disputes
    the caller reads there, by state and age band) added up, with every node's status."""
    outcome = await engine.fan_out(nodes, "GET", "/dispute-summary", lambda r: (r.json(), 1))
    merged = merge_summaries(list(outcome.payloads.values()))
    return {**merged, "partial": outcome.partial, "nodes": outcome.status_json()}


def assemble(definition: Definition, answer: dict[str, Any],
             ran_at: datetime | None = None) -> dict[str, Any]:
    for table in definition.tables:  # what each table counts, as the definition says
        if table.name in answer["tables"]:
            answer["tables"][table.name].update(measure=table.measure, source=table.source)
    result: dict[str, Any] = {
        "report": definition.name, "version": definition.version, "title": definition.title,
        "ran_at": (ran_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "definition": definition.as_json(), "partial": answer["partial"],
        "nodes": answer["nodes"], "tables": answer["tables"]}
    controlled = any(t.get("disclosure_control") for t in answer["tables"].values())
    result["disclosure_control"] = "POL-013" if controlled else None
    if definition.source == "federation":
        result["health"] = health(answer)
    if definition.source == "market":
        result["market"] = market_source(answer)
    validation = answer["tables"].get("validation", {}).get("group_by")
    if validation == ["validation_status"] and any(attribute_of(t) for t in answer["tables"]):
        result["quality"] = quality(answer["tables"])
    return result


def value(cell: dict[str, Any] | None, measure: str) -> float | None:
    """A cell's published count or capacity (None when suppressed or absent)."""
    if not cell or cell.get("suppressed"):
        return None
    return cell.get(measure)


def marginal(table: dict[str, Any], dim: str) -> list[dict[str, Any]]:
    """The table's totals along one dimension: under disclosure control the published
    margins (computed at the nodes from exact values and protected with the table, so the
    totals shown are the ones released, never a sum of visible cells); otherwise the exact
    sum of the cells. Each: {"key", "count", "sum", "suppressed", "complete"}."""
    dims = table["group_by"]
    i = dims.index(dim)
    out: dict[str, dict[str, Any]] = {}
    if "margins" in table or "disclosure_control" in table:
        rows = table.get("cells", []) + table.get("margins", [])
        for cell in rows:
            group = cell["group"]
            if group.get(dim) in (TOTAL, None) or any(
                    group.get(d) != TOTAL for j, d in enumerate(dims) if j != i):
                continue
            out[str(group[dim])] = _entry(str(group[dim]), cell)
        return [out[k] for k in sorted(out)]
    for cell in table.get("cells", []):
        key = str(cell["group"].get(dim))
        entry = out.setdefault(key, {"key": key, "count": 0, "sum": 0.0, "suppressed": False,
                                     "complete": True})
        if cell.get("suppressed"):
            entry["complete"] = False
            continue
        entry["count"] += cell["count"]
        entry["sum"] = round(entry["sum"] + cell["sum"], 6)
        entry["complete"] = entry["complete"] and cell.get("complete", True)
    return [out[k] for k in sorted(out)]


def _entry(key: str, cell: dict[str, Any]) -> dict[str, Any]:
    if cell.get("suppressed"):
        return {"key": key, "count": None, "sum": None, "suppressed": True, "complete": False}
    return {"key": key, "count": cell["count"], "sum": cell["sum"], "suppressed": False,
            "complete": cell.get("complete", True)}


def grand_total(table: dict[str, Any]) -> dict[str, Any] | None:
    """The table's total over everything (a published margin under control)."""
    dims = table["group_by"]
    if "disclosure_control" in table:
        for cell in table.get("margins", []) + (table.get("cells", []) if not dims else []):
            if all(cell["group"].get(d) == TOTAL for d in dims):
                return _entry("*", cell)
        return None
    rows = [c for c in table.get("cells", []) if not c.get("suppressed")]
    return {"key": "*", "count": sum(c["count"] for c in rows),
            "sum": round(sum(c["sum"] for c in rows), 6), "suppressed": False,
            "complete": len(rows) == len(table.get("cells", []))}


def quality(tables: dict[str, Any]) -> dict[str, Any]:
    """Completeness of each Elexon attribute (assets with it / assets), the shares of
    records Pending and Query, the records failing each rule at the nodes' last
    re-validation (None: suppressed), and the score (docs/reports.md):
    100 × (0.6 × mean completeness of the core attributes + 0.4 × share Verified).
    Under disclosure control the shares are of published (rounded) counts; a suppressed
    share is left out of the mean and named in `unknown`."""
    completeness: dict[str, float | None] = {}
    for name, table in tables.items():
        attribute = attribute_of(name)
        if attribute is None:
            continue
        lines = {e["key"]: e for e in marginal(table, table["group_by"][0])}
        total = grand_total(table)
        present = lines.get("true")
        if total is None or not total["count"]:
            completeness[attribute] = None
        elif present is None:  # nobody has it: no "true" cell at all
            completeness[attribute] = 0.0 if not lines.get("false", {}).get("suppressed") \
                else None
        else:
            completeness[attribute] = (None if present["suppressed"]
                                       else round(min(1.0, present["count"] / total["count"]), 4))
    status = {e["key"]: e for e in marginal(tables["validation"], "validation_status")}
    total = grand_total(tables["validation"])
    shares: dict[str, float | None] = {}
    for key in (VALID, *NOT_YET):
        entry = status.get(key)
        if total is None or not total["count"]:
            shares[key] = None
        elif entry is None:
            shares[key] = 0.0
        else:
            shares[key] = None if entry["suppressed"] else round(entry["count"] / total["count"],
                                                                  4)
    core = [completeness.get(a) for a in CORE_ATTRIBUTES]
    known = [c for c in core if c is not None]
    score = None
    verified = shares[VALID]
    if known and verified is not None:
        score = round(100 * (0.6 * sum(known) / len(known) + 0.4 * verified), 1)
    violations = ({e["key"]: (None if e["suppressed"] else e["count"])
                   for e in marginal(tables["violations"], "rule")}
                  if "violations" in tables else {})
    return {"completeness": completeness, "violations": violations,
            "share_pending": shares["Pending"], "share_query": shares["Query"],
            "share_verified": shares[VALID], "score": score,
            "unknown": sorted(a for a, c in completeness.items() if c is None),
            "formula": "100 × (0.6 × mean completeness of the core attributes "
                       "+ 0.4 × share Verified)", "core_attributes": list(CORE_ATTRIBUTES)}


def health(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Each node: its status, how long it took, and its newest asset change."""
    about = answer.get("about", {})
    return [{"node": s["node"], "status": s["status"], "ms": s["ms"],
             "newest_modified": about.get(s["node"], {}).get("newest_modified"),
             **({"code": s["code"]} if s.get("code") else {})} for s in answer["nodes"]]


def market_source(answer: dict[str, Any]) -> dict[str, Any]:
    """REP-003: which answering nodes declare market units and qualifications. Until any
    does, the report has no source (and says so); it never guesses from other records."""
    about = answer.get("about", {})
    declaring = sorted(url for url, facts in about.items()
                       if set(MARKET_KINDS) <= set(facts.get("kinds", [])))
    if not declaring:
        return {"source": None, "rule": "REP-003",
                "message": "No node declares market units and qualifications yet "
                           f"({', '.join(MARKET_KINDS)}): this report has no source.",
                "asked": sorted(about)}
    return {"source": declaring, "rule": "REP-003",
            "message": "These nodes declare market units and qualifications; the tables are "
                       "computed over the qualification records each of them holds."}
