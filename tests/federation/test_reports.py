"""Reports (issue 15) across the federation's real processes over TLS: each report's
numbers against a union-store oracle as NESO (who may read every asset), the same report
under disclosure control as the regulator (POL-013), the `/reports` routes of a node
(formats, charts) and `fmar report`, and hostile requests to a node's `/query/report`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from openpyxl import load_workbook

from node.query.aggregates import TOTAL
from node.reports.builtin import BUILTIN, CORE_ATTRIBUTES
from node.reports.local import table_from_rows
from node.reports.run import assemble, grand_total, marginal, request_body

FMAR = "https://id.fmar.uk/def/fmar#"
DCT = "http://purl.org/dc/terms/"
# oracle column -> predicate (all optional but the rated capacity)
ORACLE = {"AssetCategory": FMAR + "assetCategory", "GSPGroup": FMAR + "gspGroup",
          "DNOConnection": FMAR + "dnoConnection", "ConnectionType": FMAR + "connectionType",
          "ValidationStatus": FMAR + "validationStatus",
          "RegistrationStatus": FMAR + "registrationStatus",
          "DemandCapacity": FMAR + "demandCapacity", "GenCapacity": FMAR + "genCapacity",
          "EffectiveDate": FMAR + "effectiveDate", "Created": DCT + "created",
          "Modified": DCT + "modified", "Postcode": FMAR + "postcode",
          "ExportMPAN": FMAR + "exportMPAN", "OtherDescription": FMAR + "otherDescription",
          "OrganisationId": FMAR + "organisation"}
REGULATOR_SCOPES = "sparql:query federation:query"


def _value(term: dict[str, Any] | None) -> str | None:
    if term is None:
        return None
    value = term["value"]
    return value.rstrip("/").rsplit("/", 1)[-1] if term["type"] == "uri" else value


@pytest.fixture(scope="module")
def union(fed) -> list[dict[str, Any]]:
    """Every asset with the columns the reports use, read by NESO from every node (the
    union of the nodes' stores): the oracle the reports' numbers are checked against."""
    columns = " ".join(f"OPTIONAL {{ ?asset <{p}> ?{c} }}" for c, p in ORACLE.items())
    query = (f"SELECT * WHERE {{ GRAPH ?asset {{ ?asset <{FMAR}ratedCapacity> ?RatedCapacity "
             f". {columns} }} FILTER (STRSTARTS(STR(?asset), \"https://id.fmar.uk/asset/\")) }}")
    answer = fed.client("Neso").sparql(query, mode="distribute")
    assert not answer["partial"], answer["nodes"]
    rows = [{c: _value(b.get(c)) for c in ["RatedCapacity", *ORACLE]} | {
        "_node": b["_node"]["value"]} for b in answer["results"]["bindings"]]
    assert len(rows) >= 2 * 120  # the fixture's assets (other tests may add more)
    return rows


def _run(fed, who: str, name: str) -> dict[str, Any]:
    definition = BUILTIN[name]
    answer = fed.client(who, deadline=20.0).report(
        {t.name: t.spec() for t in definition.tables}, request_body(definition))
    return assemble(definition, answer)


def _cells(table: dict[str, Any]) -> dict[tuple, tuple[int, float]]:
    return {tuple(c["group"].get(d) for d in table["group_by"]): (c["count"], round(c["sum"], 2))
            for c in table["cells"]}


@pytest.fixture(scope="module")
def regulator_capacity(fed) -> dict[str, Any]:
    return _run(fed, "Ofgem", "capacity")


@pytest.mark.parametrize("name", ["capacity", "growth", "constraints"])
def test_each_report_matches_the_union_store_oracle_for_a_caller_with_full_rights(
        fed, union, name):
    result = _run(fed, "Neso", name)
    assert not result["partial"] and result["disclosure_control"] is None
    assert result["version"] == BUILTIN[name].version and result["ran_at"]
    assert {n["status"] for n in result["nodes"]} == {"answered"}
    for table in BUILTIN[name].tables:
        if table.source != "assets":
            continue  # test_connection_limit_tables_match_the_dnos_limits
        got = result["tables"][table.name]
        want = table_from_rows(union, table)
        assert _cells(got) == _cells(want), table.name
        assert all("suppressed" not in c for c in got["cells"])
    if name == "capacity":  # import and export apart, and not the rated sums
        assert _cells(result["tables"]["import"]) != _cells(result["tables"]["rated"])
        assert sum(c["count"] for c in result["tables"]["export"]["cells"]) < len(union)


@pytest.fixture(scope="module")
def limits(fed) -> list[dict[str, Any]]:
    """Every connection limit, as NESO lists them (the oracle of the limits tables)."""
    answer = fed.client("Neso").records("connection-limits")
    assert not answer["partial"] and answer["items"]
    return answer["items"]


def test_connection_limit_tables_match_the_dnos_limits(fed, limits):
    table = next(t for t in BUILTIN["constraints"].tables if t.source == "connection-limits")
    neso = _run(fed, "Neso", "constraints")
    assert _cells(neso["tables"]["limits"]) == _cells(table_from_rows(limits, table))
    assert neso["tables"]["limits"]["measure"] == "export_limit"
    flexco = fed.member("Flexco").org_id  # the holder reads the limits on its own assets
    own = [item for item in limits if item["OrganisationId"] == flexco]
    assert _cells(_run(fed, "Flexco", "constraints")["tables"]["limits"]) == _cells(
        table_from_rows(own, table))
    regulated = _run(fed, "Ofgem", "constraints")["tables"]["limits"]
    assert regulated["disclosure_control"]["rules"][0] == "SDC-001"
    for cell in regulated["cells"] + regulated["margins"]:
        assert cell.get("suppressed") or (cell["count"] % 5 == 0 and cell["sum"] % 1000 == 0)


def test_data_quality_completeness_shares_and_score_match_the_oracle(fed, union):
    result = _run(fed, "Neso", "quality")
    quality = result["quality"]
    for attribute in ("Postcode", "ExportMPAN", "OtherDescription", "GenCapacity",
                      "DemandCapacity", "AssetCategory"):
        present = sum(1 for row in union if row[attribute] not in (None, ""))
        assert quality["completeness"][attribute] == round(present / len(union), 4), attribute
    statuses = [row["ValidationStatus"] for row in union]
    assert quality["share_pending"] == round(statuses.count("Pending") / len(union), 4)
    assert quality["share_query"] == round(statuses.count("Query") / len(union), 4)
    core = [quality["completeness"][a] for a in CORE_ATTRIBUTES]
    verified = statuses.count("Verified") / len(union)
    assert quality["score"] == round(100 * (0.6 * sum(core) / len(core) + 0.4 * verified), 1)


def test_federation_health_names_every_node_and_its_newest_change(fed, union):
    result = _run(fed, "Neso", "health")
    health = {row["node"]: row for row in result["health"]}
    assert set(health) == {n.url for n in fed.local.nodes.values()}
    for url, row in health.items():
        assert row["status"] == "answered"
        newest = max((r["Modified"] for r in union if r["_node"] == url), default=None)
        assert row["newest_modified"] == (newest[:16] if newest else None)
    assert health[fed.local.nodes["dno"].url]["newest_modified"] is None  # limits, no assets


def test_REP_003_market_participation_names_its_sources_and_computes_its_tables(fed):
    """Every node serves market units and qualifications, so the report names them as its
    sources and computes its tables over the qualification records each holds (their
    numbers are checked against the records in test_qualification_federated.py)."""
    result = _run(fed, "Ofgem", "market")
    market = result["market"]
    assert market["rule"] == "REP-003"
    assert set(market["source"]) == {n.url for n in fed.local.nodes.values()}
    assert set(result["tables"]) == {t.name for t in BUILTIN["market"].tables}
    assert all(t["disclosure_control"] for t in result["tables"].values())


def test_POL_013_the_regulators_capacity_report_is_under_disclosure_control(
        fed, union, regulator_capacity):
    result = regulator_capacity
    assert result["disclosure_control"] == "POL-013" and not result["partial"]
    table = result["tables"]["rated"]
    assert table["disclosure_control"]["rules"][0] == "SDC-001"
    suppressed = [c for c in table["cells"] if c.get("suppressed")]
    shown = [c for c in table["cells"] if not c.get("suppressed")]
    assert suppressed, "a five-way table of 240 assets has small cells"
    for cell in suppressed:  # marked, with its group only
        assert set(cell) <= {"group", "suppressed", "suppressed_parts"}
    for cell in shown + [m for m in table["margins"] if not m.get("suppressed")]:
        assert cell["count"] % 5 == 0 and cell["sum"] % 1000 == 0  # SDC-004
        assert cell["count"] >= 5 and "min" not in cell and "max" not in cell  # SDC-001/005
    capacities = {round(float(r["RatedCapacity"]), 2) for r in union}
    assert not any(round(c["sum"], 2) in capacities and c["sum"] % 1000 for c in shown)
    total = grand_total(table)
    assert total is not None and not total["suppressed"]
    assert abs(total["count"] - len(union)) < 5 * 2  # each node rounds its own total


def test_the_regulators_charts_show_the_published_margins(fed, regulator_capacity):
    """Totals consistent with what is shown: a chart's bar is the table's published margin,
    never a sum of visible cells (which would differ, and hint at suppressed ones)."""
    from node.reports import charts

    result = regulator_capacity
    chart = next(c for c in BUILTIN["capacity"].charts if c.name == "by_category")
    points = {p["label"]: p for p in charts.series(result, chart)}
    margins = {m["group"]["category"]: m for m in result["tables"]["rated"]["margins"]
               if all(v == TOTAL for d, v in m["group"].items() if d != "category")
               and m["group"]["category"] != TOTAL}
    assert set(points) == set(margins)
    for label, margin in margins.items():
        if margin.get("suppressed"):
            assert points[label]["value"] is None and points[label]["suppressed"]
        else:
            assert points[label]["value"] == margin["sum"] / 1000
    svg = ET.fromstring(charts.render(result, chart, "svg"))
    bars = [g for g in svg.iter("{http://www.w3.org/2000/svg}g")
            if g.get("id", "").startswith("bar-")]
    assert len(bars) == sum(1 for p in points.values() if p["value"] is not None)


def test_an_fsp_reports_over_its_own_assets_only(fed, union):
    flexco = fed.member("Flexco").org_id
    result = _run(fed, "Flexco", "constraints")
    table = BUILTIN["constraints"].tables[0]
    own = [r for r in union if r["OrganisationId"] == flexco]
    assert _cells(result["tables"][table.name]) == _cells(table_from_rows(own, table))


# ---------------------------------------------------------------- the node's routes

def _relay(fed, who: str, node: str, scope: str = REGULATOR_SCOPES) -> tuple[str, dict]:
    url = fed.local.nodes[node].url
    token = fed.local.access_token(fed.member(who), url, scope, may_act=True)
    return url, {"authorization": f"Bearer {token}"}


def test_reports_routes_run_a_report_in_every_format_and_draw_its_charts(fed):
    url, headers = _relay(fed, "Ofgem", "dno")
    with fed.http("Ofgem") as http:
        listed = http.get(f"{url}/reports", headers=headers).json()
        assert {r["name"] for r in listed} == set(BUILTIN)
        answer = http.get(f"{url}/reports/capacity/run", headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert {n["status"] for n in result["nodes"]} == {"answered"}, [(n.get("code"), n.get("message")) for n in result["nodes"]]
        assert result["version"] == 1 and result["disclosure_control"] == "POL-013"
        assert {n["status"] for n in result["nodes"]} == {"answered"}
        as_csv = http.get(f"{url}/reports/capacity/run", params={"format": "csv"},
                          headers=headers, timeout=60)
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        hidden = [r for r in rows if r["suppressed"] == "yes"]
        assert hidden and all(r["count"] == "" and r["sum_kW"] == "" for r in hidden)
        as_xlsx = http.get(f"{url}/reports/capacity/run", params={"format": "xlsx"},
                           headers=headers, timeout=60)
        book = load_workbook(io.BytesIO(as_xlsx.content))
        assert book.sheetnames == ["cells", "nodes", "about"]
        assert book["cells"].max_row == len(rows) + 1
        svg = http.get(f"{url}/reports/capacity/charts/gsp_map.svg", headers=headers,
                       timeout=60)
        assert svg.headers["content-type"].startswith("image/svg+xml")
        tiles = [g for g in ET.fromstring(svg.content).iter("{http://www.w3.org/2000/svg}g")
                 if g.get("id", "").startswith("tile-")]
        assert len(tiles) == 14
        png = http.get(f"{url}/reports/growth/charts/registrations.png", headers=headers,
                       timeout=60)
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
        for path, code in (("/reports/nope/run", "REP-001"),
                           ("/reports/capacity/run?format=pdf", "REP-002"),
                           ("/reports/capacity/charts/by_category.gif", "REP-004")):
            refused = http.get(url + path, headers=headers)
            assert refused.json()["code"] == code, path


def test_REP_IN_001_and_REP_VAL_005_006_a_nodes_report_part_refuses_bad_tables(fed):
    url = fed.local.nodes["fsp_a"].url
    headers = {"authorization": f"Bearer {fed.token('Ofgem', 'fsp_a')}"}
    table = {"group_by": ["category"]}
    bad = [({"tables": "all"}, 400, "REP-IN-001"),
           ({"tables": [table]}, 400, "REP-IN-001"),
           ({"tables": {f"t{i}": table for i in range(41)}}, 400, "REP-IN-001"),
           ({"tables": {"t": {"measure": "rated"}}}, 400, "REP-IN-001"),
           ({"tables": {"Bad Name": table}}, 400, "REP-VAL-005"),
           ({"tables": {"t": {"group_by": ["category", "dno", "gsp_group", "connection_type",
                                           "validation_status", "organisation"]}}},
            400, "REP-VAL-005"),
           ({"tables": {"t": {"group_by": ["postcode"]}}}, 400, "REP-VAL-005"),
           ({"tables": {"t": {**table, "measure": "mpan"}}}, 400, "REP-VAL-006"),
           ({"tables": {"t": {**table, "filter": {"category": "BESS}"}}}}, 400, "FED-IN-001"),
           # the regulator may not difference free capacity thresholds (SDC-006)
           ({"tables": {"t": {**table, "filter": {"min_capacity": "1000"}}}}, 400, "REP-IN-001"),
           ({"tables": {"t": {**table, "limit": 5}}}, 400, "REP-IN-001"),
           ({"tables": {"t": {**table, "filter": {"min_capacity": 1234.5}}}}, 403,
            "SDC-006")]
    with fed.http("Ofgem") as http:
        for body, status, code in bad:
            refused = http.post(f"{url}/query/report", json=body, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (status, code), body
        done = http.post(f"{url}/query/report", json={"tables": {
            "t": {**table, "filter": {"min_capacity": 1000}}}}, headers=headers)
        assert done.status_code == 200
        assert done.json()["tables"]["t"]["rule"] == "POL-013"


def test_fmar_report_run_prints_progress_and_show_draws_the_charts(fed, tmp_path):
    env = fed.cli_env("Ofgem")
    out = tmp_path / "capacity.json"
    done = subprocess.run([sys.executable, "-m", "node", "report", "run", "capacity",
                           "--out", str(out), "--charts", str(tmp_path / "charts")],
                          env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(": answered in ") == 3
    result = json.loads(out.read_text())
    assert result["disclosure_control"] == "POL-013"
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(
        f"capacity-{c.name}.{f}" for c in BUILTIN["capacity"].charts for f in ("svg", "png"))
    shown = subprocess.run([sys.executable, "-m", "node", "report", "show", str(out)],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "report capacity v1" in shown.stdout and "POL-013" in shown.stdout
    total = grand_total(result["tables"]["rated"])
    assert total is not None and f"{total['count']} assets" in shown.stdout
    assert marginal(result["tables"]["rated"], "dno")


def test_SDC_the_regulator_recovers_no_single_asset_from_a_reports_tables(fed, union):
    """The attacks of test_disclosure.py (extremes, and every line's total less its visible
    cells, with the totals from the margins) on every table of the regulator's reports."""
    from tests.federation.test_disclosure import Attack, attack_complements, attack_extremes

    column = {"category": "AssetCategory", "gsp_group": "GSPGroup", "dno": "DNOConnection",
              "connection_type": "ConnectionType", "validation_status": "ValidationStatus"}
    month = {"created_month": "Created", "effective_month": "EffectiveDate"}
    assets = [{"capacity": float(r["RatedCapacity"]),
               **{d: r[c] for d, c in column.items()},
               **{d: (r[c] or "")[:7] or None for d, c in month.items()}} for r in union]
    attack = Attack()
    for name in ("capacity", "growth", "constraints"):
        result = _run(fed, "Ofgem", name)
        for table_name, table in result["tables"].items():
            if table["measure"] != "rated" or table_name == "deregistrations":
                continue  # the estimates are compared with rated capacities
            if table_name.startswith("constrained"):
                continue  # filtered tables: their members are not the union's
            attack_extremes(attack, table, assets)
            attack_complements(attack, table, assets, {})
    assert attack.estimates > 50
    assert not attack.recovered, attack.recovered[:5]


def test_the_regulator_saves_a_definition_on_a_node_and_runs_it_across_the_federation(fed):
    """A saved definition (POL-051) run by name through the node: the version is the
    record's, and the numbers are the regulator's (disclosure control)."""
    url = fed.local.nodes["dno"].url
    own = fed.local.access_token(fed.member("Ofgem"), url, "reports:write sparql:query")
    spec = {"tables": [{"name": "bess", "group_by": ["dno"], "filter": {"category": "BESS"}}],
            "charts": [{"name": "bess_by_dno", "kind": "bars", "table": "bess", "x": "dno"}]}
    body = {"ReportName": "ofgem-bess", "Title": "BESS by DNO area",
            "Specification": json.dumps(spec)}
    with fed.http("Ofgem") as http:
        created = http.post(f"{url}/report-definitions", json=body,
                            headers={"authorization": f"Bearer {own}"})
        assert created.status_code == 201, created.text
        changed = http.put(f"{url}{created.headers['location']}",
                           json={**body, "Title": "BESS by DNO area (v2)"},
                           headers={"authorization": f"Bearer {own}",
                                    "If-Match": created.headers["etag"]})
        assert changed.json()["Version"] == 2
        _, relay = _relay(fed, "Ofgem", "dno")
        result = http.get(f"{url}/reports/ofgem-bess/run", headers=relay, timeout=60).json()
        first = http.get(f"{url}/reports/ofgem-bess/run", params={"version": 1},
                         headers=relay, timeout=60).json()
    assert (first["version"], first["title"]) == (1, "BESS by DNO area")
    flexco = fed.local.access_token(fed.member("Flexco"), url, "assets:read assets:write")
    with fed.http("Flexco") as http:  # an FSP holds no reports:write (POL-001)
        refused = http.post(f"{url}/report-definitions", json={**body, "ReportName": "f"},
                            headers={"authorization": f"Bearer {flexco}"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-001")
    assert (result["version"], result["title"]) == (2, "BESS by DNO area (v2)")
    assert result["disclosure_control"] == "POL-013"
    assert {n["status"] for n in result["nodes"]} == {"answered"}, result["nodes"]
    # the same through `fmar report run --via`: the node runs the report saved there
    done = subprocess.run([sys.executable, "-m", "node", "report", "run", "ofgem-bess",
                           "--via", url], env=fed.cli_env("Ofgem"), capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(": answered in ") == 3
    via = json.loads(done.stdout)
    assert (via["report"], via["version"], via["disclosure_control"]) == (
        "ofgem-bess", 2, "POL-013")
