"""Reports (issue 15) on their own functions: definitions and their rules (REP-VAL-*), the
aggregate SPARQL of derived dimensions and other measures on a real Oxigraph store, the
margins a result shows, the data quality score, exports, and the charts' structure (the
SVG's bars, points, tiles and labels, not pixels). Across the federation's processes:
tests/federation/test_reports.py."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import pyoxigraph as ox
import pytest
from openpyxl import load_workbook

from common.http_errors import ApiError
from node.identity import Caller
from node.policy import DisclosureControl, ReadScope
from node.query import aggregates
from node.query.aggregates import TOTAL
from node.reports import charts, export
from node.reports.builtin import BUILTIN, CORE_ATTRIBUTES, attribute_of
from node.reports.local import answer_from_rows
from node.reports.model import Chart, Definition, Table
from node.reports.run import assemble, grand_total, marginal, market_source, quality

SVG = "{http://www.w3.org/2000/svg}"
FMAR = "https://id.fmar.uk/def/fmar#"
CODE = "https://id.fmar.uk/def/code/"
ALL = ReadScope(True, frozenset(), frozenset())


def definition(**overrides: Any) -> dict[str, Any]:
    base = {"name": "mine", "version": 1, "title": "Mine",
            "tables": [{"name": "t", "group_by": ["category"]}],
            "charts": [{"name": "c", "kind": "bars", "table": "t", "x": "category"}]}
    return {**base, **overrides}


# ---------------------------------------------------------------- definitions

def test_builtin_definitions_are_valid_and_versioned():
    assert set(BUILTIN) == {"capacity", "growth", "market", "constraints", "quality", "health"}
    for d in BUILTIN.values():
        assert Definition.from_json(d.as_json()) == d  # round trip, checked again
        assert d.version >= 1
    assert BUILTIN["capacity"].tables[0].group_by == (
        "category", "gsp_group", "dno", "connection_type", "validation_status")
    assert [t.measure for t in BUILTIN["capacity"].tables] == ["rated", "import", "export"]


@pytest.mark.parametrize("change, rule", [
    ({"name": "Has Spaces"}, "REP-VAL-001"),
    ({"title": None, "version": "x"}, "REP-VAL-001"),
    ({"version": 0}, "REP-VAL-002"),
    ({"source": "rows"}, "REP-VAL-003"),
    ({"tables": [{"name": "t", "group_by": ["dno"]}] * 2}, "REP-VAL-004"),
    ({"tables": [{"name": "t", "group_by": ["mpan"]}]}, "REP-VAL-005"),
    ({"tables": [{"name": "t", "group_by": ["category", "dno", "gsp_group", "connection_type",
                                           "validation_status", "organisation"]}]},
     "REP-VAL-005"),
    ({"tables": [{"name": "t", "group_by": ["category"], "measure": "mpan"}]}, "REP-VAL-006"),
    ({"charts": [{"name": "c", "kind": "pie", "table": "t", "x": "category"}]}, "REP-VAL-007"),
    ({"charts": [{"name": "c", "kind": "bars", "table": "t", "x": "dno"}]}, "REP-VAL-007"),
    ({"charts": [{"name": "c", "kind": "bars", "table": "nope", "x": "category"}]},
     "REP-VAL-007"),
])
def test_REP_VAL_001_to_007_a_bad_definition_is_refused_with_its_rule(change, rule):
    with pytest.raises(ApiError) as refused:
        Definition.from_json(definition(**change))
    assert refused.value.code == rule


def test_REP_VAL_005_a_table_filter_is_checked_like_the_rest_form():
    with pytest.raises(ApiError) as refused:
        Definition.from_json(definition(tables=[{"name": "t", "group_by": ["category"],
                                                 "filter": {"category": "BESS }"}}]))
    assert refused.value.code == "FED-IN-001"


# ---------------------------------------------------------------- the node's SPARQL

def store_with(assets: list[dict[str, Any]]) -> ox.Store:
    store = ox.Store()
    for i, asset in enumerate(assets):
        graph = ox.NamedNode(f"https://id.fmar.uk/asset/{i}")
        quads = [ox.Quad(graph, ox.NamedNode(FMAR + "ratedCapacity"),
                         ox.Literal(str(asset["rated"]), datatype=ox.NamedNode(
                             "http://www.w3.org/2001/XMLSchema#decimal")), graph),
                 ox.Quad(graph, ox.NamedNode(FMAR + "assetCategory"),
                         ox.NamedNode(f"{CODE}AssetCategory/{asset['category']}"), graph),
                 ox.Quad(graph, ox.NamedNode(aggregates.DCTERMS + "created"),
                         ox.Literal(asset["created"], datatype=ox.NamedNode(
                             "http://www.w3.org/2001/XMLSchema#dateTime")), graph)]
        if "status" in asset:
            quads.append(ox.Quad(graph, ox.NamedNode(FMAR + "registrationStatus"), ox.NamedNode(
                f"{CODE}RegistrationStatus/{asset['status']}"), graph))
        if "modified" in asset:
            quads.append(ox.Quad(graph, ox.NamedNode(aggregates.DCTERMS + "modified"),
                                 ox.Literal(asset["modified"], datatype=ox.NamedNode(
                                     "http://www.w3.org/2001/XMLSchema#dateTime")), graph))
        if "gen" in asset:
            quads.append(ox.Quad(graph, ox.NamedNode(FMAR + "genCapacity"),
                                 ox.Literal(str(asset["gen"]), datatype=ox.NamedNode(
                                     "http://www.w3.org/2001/XMLSchema#decimal")), graph))
        store.extend(quads)
    return store


def run_exact(store: ox.Store, table: Table) -> dict[str, Any]:
    spec = table.spec()
    answer = store.query(aggregates.node_query(spec, ALL))
    assert isinstance(answer, ox.QuerySolutions)
    return aggregates.node_result(spec, answer.serialize(format=ox.QueryResultsFormat.JSON))


ASSETS = [{"rated": 10, "category": "BESS", "created": "2025-01-03T10:00:00Z", "gen": 4},
          {"rated": 20, "category": "BESS", "created": "2025-01-20T10:00:00Z"},
          {"rated": 30, "category": "EV", "created": "2025-02-01T10:00:00Z", "gen": 7}]


def test_a_month_dimension_groups_by_the_values_year_and_month():
    answer = run_exact(store_with(ASSETS), Table("m", ("created_month",)))
    assert [(c["group"], c["count"], c["sum"]) for c in answer["cells"]] == [
        ({"created_month": "2025-01"}, 2, 30.0), ({"created_month": "2025-02"}, 1, 30.0)]


def test_a_presence_dimension_and_another_capacity_measure():
    has_gen = Table("g", ("has_genCapacity",))
    answer = run_exact(store_with(ASSETS), has_gen)
    assert {c["group"]["has_genCapacity"]: c["count"] for c in answer["cells"]} == {
        "true": 2, "false": 1}
    export_sum = run_exact(store_with(ASSETS), Table("e", ("category",), "export"))
    assert {c["group"]["category"]: c["sum"] for c in export_sum["cells"]} == {
        "BESS": 4.0, "EV": 7.0}  # GenCapacity summed, the asset without one left out


def test_de_registrations_are_counted_by_the_month_of_their_last_change():
    assets = [{**ASSETS[0], "status": "Deregistered", "modified": "2025-03-09T10:00:00Z"},
              {**ASSETS[1], "status": "Active", "modified": "2025-03-10T10:00:00Z"},
              {**ASSETS[2], "status": "Deregistered", "modified": "2025-04-01T00:00:00Z"}]
    table = next(t for t in BUILTIN["growth"].tables if t.name == "deregistrations")
    answer = run_exact(store_with(assets), table)
    assert [(c["group"]["modified_month"], c["count"]) for c in answer["cells"]] == [
        ("2025-03", 1), ("2025-04", 1)]


def test_a_capacity_filter_still_filters_rated_capacity_when_another_measure_is_summed():
    table = Table("e", ("category",), "export", {"min_capacity": "25"})
    answer = run_exact(store_with(ASSETS), table)
    assert [(c["group"]["category"], c["sum"]) for c in answer["cells"]] == [("EV", 7.0)]


def test_a_derived_dimension_under_disclosure_control_keeps_the_sdc_rules():
    assets = [{"rated": 100 + i, "category": "BESS", "created": f"2025-0{1 + i % 2}-01T00:00Z"}
              for i in range(13)]
    spec = Table("m", ("created_month",)).spec()
    answer = store_with(assets).query(aggregates.controlled_query(spec, ALL))
    assert isinstance(answer, ox.QuerySolutions)
    result = aggregates.controlled_result(spec, answer.serialize(
        format=ox.QueryResultsFormat.JSON), DisclosureControl(), b"k" * 32)
    assert result["rule"] == "POL-013"
    for cell in result["cells"] + result["margins"]:
        assert cell.get("suppressed") or (cell["count"] % 5 == 0 and cell["sum"] % 1000 == 0)


# ---------------------------------------------------------------- results

def controlled_table() -> dict[str, Any]:
    return {"group_by": ["category", "dno"], "measure": "rated", "unit": "kW",
            "disclosure_control": DisclosureControl().as_json(),
            "cells": [{"group": {"category": "BESS", "dno": "A"}, "count": 10, "sum": 5000.0},
                      {"group": {"category": "BESS", "dno": "B"}, "suppressed": True},
                      {"group": {"category": "EV", "dno": "A"}, "suppressed": True}],
            "margins": [{"group": {"category": "BESS", "dno": TOTAL}, "count": 15,
                         "sum": 7000.0},
                        {"group": {"category": "EV", "dno": TOTAL}, "suppressed": True},
                        {"group": {"category": TOTAL, "dno": "A"}, "count": 15, "sum": 6000.0},
                        {"group": {"category": TOTAL, "dno": TOTAL}, "count": 20,
                         "sum": 9000.0}]}


def test_totals_under_disclosure_control_are_the_published_margins():
    table = controlled_table()
    by_category = {e["key"]: e for e in marginal(table, "category")}
    assert by_category["BESS"]["sum"] == 7000.0  # the margin, not 5000 of visible cells
    assert by_category["EV"]["suppressed"] and by_category["EV"]["sum"] is None
    total = grand_total(table)
    assert total is not None and (total["count"], total["sum"]) == (20, 9000.0)


def test_exact_totals_add_the_cells_and_mark_a_suppressed_part():
    table = {"group_by": ["category", "dno"], "cells": [
        {"group": {"category": "BESS", "dno": "A"}, "count": 2, "sum": 5.5, "complete": True},
        {"group": {"category": "BESS", "dno": "B"}, "count": 1, "sum": 1.0, "complete": False}]}
    (bess,) = marginal(table, "category")
    assert (bess["count"], bess["sum"], bess["complete"]) == (3, 6.5, False)


def quality_tables(present: dict[str, tuple[int, int]], statuses: dict[str, int],
                   hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Quality tables with (with, without) counts per attribute (10, 0 when not named)."""
    tables: dict[str, Any] = {"validation": {"group_by": ["validation_status"], "cells": [
        {"group": {"validation_status": k}, "count": v, "sum": 1.0}
        for k, v in statuses.items()]}}
    for t in BUILTIN["quality"].tables[1:]:
        dim, attribute = t.group_by[0], attribute_of(t.name)
        yes, no = present.get(attribute or "", (10, 0))
        cells: list[dict[str, Any]] = [{"group": {dim: "true"}, "count": yes, "sum": 1.0},
                                       {"group": {dim: "false"}, "count": no, "sum": 1.0}]
        if attribute in hidden:
            cells = [{"group": {dim: v}, "suppressed": True} for v in ("true", "false")]
        tables[t.name] = {"group_by": [dim],
                          "cells": [c for c in cells if c.get("suppressed") or c["count"]]}
    return tables


def test_the_data_quality_score_follows_its_documented_formula():
    tables = quality_tables({"Postcode": (5, 5), "SerialNumber": (8, 2)},
                            {"Verified": 6, "Pending": 3, "Query": 1})
    result = quality(tables)
    assert result["completeness"]["Postcode"] == 0.5
    assert (result["share_pending"], result["share_query"]) == (0.3, 0.1)
    core = [1.0] * (len(CORE_ATTRIBUTES) - 2) + [0.5, 0.8]
    assert result["score"] == round(100 * (0.6 * sum(core) / len(core) + 0.4 * 0.6), 1)


def test_a_suppressed_completeness_is_unknown_and_left_out_of_the_score():
    tables = quality_tables({"Postcode": (5, 5)}, {"Verified": 10}, hidden=frozenset({"Postcode"}))
    result = quality(tables)
    assert result["completeness"]["Postcode"] is None and "Postcode" in result["unknown"]
    assert result["score"] == 100.0  # the other core attributes are complete


def test_REP_003_market_source_is_named_only_when_a_node_declares_both_kinds():
    none = market_source({"about": {"https://a": {"kinds": ["assets", "market-units"]}}})
    assert none["source"] is None and none["rule"] == "REP-003"
    some = market_source({"about": {"https://a": {"kinds": ["market-units", "qualifications"]},
                                    "https://b": {"kinds": []}}})
    assert some["source"] == ["https://a"]


# ---------------------------------------------------------------- exports and charts

def rows(n: int = 60) -> list[dict[str, Any]]:
    categories = ["BESS", "EV_CHARGER", "HEAT_PUMP"]
    groups = ["_A", "_C", "_J"]
    return [{"AssetCategory": categories[i % 3], "GSPGroup": groups[i % 3],
             "DNOConnection": "UKPN_EPN", "ConnectionType": "FIRM",
             "ValidationStatus": "Verified", "RatedCapacity": 1000 + i,
             "Created": f"2025-{1 + i % 6:02d}-01T00:00:00Z", "EffectiveDate": "2025-01-01"}
            for i in range(n)]


def result_of(name: str) -> dict[str, Any]:
    return assemble(BUILTIN[name], answer_from_rows(BUILTIN[name], rows()))


def svg_of(result: dict[str, Any], chart: Chart) -> ET.Element:
    return ET.fromstring(charts.render(result, chart, "svg"))


def ids(svg: ET.Element, prefix: str) -> list[str]:
    return [e.get("id", "") for e in svg.iter() if e.get("id", "").startswith(prefix)]


def texts(svg: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]


def test_bars_have_one_bar_per_published_value_and_a_label_each():
    result = result_of("capacity")
    chart = BUILTIN["capacity"].charts[0]
    svg = svg_of(result, chart)
    assert ids(svg, "bar-") == ["bar-BESS", "bar-EV_CHARGER", "bar-HEAT_PUMP"]
    assert {"BESS", "EV_CHARGER", "HEAT_PUMP", chart.title} <= set(texts(svg))


def test_a_suppressed_bar_is_a_mark_never_a_bar():
    result = {"tables": {"t": controlled_table()}, "disclosure_control": "POL-013"}
    svg = svg_of(result, Chart("c", "bars", "t", "category", "sum", "By category"))
    assert ids(svg, "bar-") == ["bar-BESS"] and ids(svg, "suppressed-") == ["suppressed-EV"]
    assert "By category — rounded, small cells suppressed" in texts(svg)


def test_lines_have_one_line_with_a_point_per_month():
    result = result_of("growth")
    svg = svg_of(result, BUILTIN["growth"].charts[0])
    (line,) = [e for e in svg.iter() if e.get("id") == "line-registrations"]
    path = next(line.iter(f"{SVG}path")).get("d", "")
    assert path.count("L") == 5  # six months: a move and five line segments
    assert {"2025-01", "2025-06"} <= set(texts(svg))


def test_the_tile_map_has_the_14_gsp_groups_labelled():
    result = result_of("capacity")
    svg = svg_of(result, BUILTIN["capacity"].charts[2])
    assert sorted(ids(svg, "tile-")) == sorted(f"tile-{g}" for g in charts.GSP_TILES)
    labels = texts(svg)
    assert "_C London" in labels and labels.count("no data") == 11
    assert f"{sum(1000 + i for i in range(1, 60, 3)) / 1000:,.0f} MW" in labels  # _C


def test_png_is_a_png():
    assert charts.render(result_of("capacity"), BUILTIN["capacity"].charts[0],
                         "png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_and_xlsx_keep_the_suppression_marks():
    result = {"report": "t", "version": 2, "title": "T", "ran_at": "2026-01-01T00:00:00+00:00",
              "partial": False, "disclosure_control": "POL-013",
              "nodes": [{"node": "https://a", "status": "answered", "ms": 1.0}],
              "tables": {"t": controlled_table()}}
    lines = list(csv.DictReader(io.StringIO(export.to_csv(result).decode())))
    hidden = [r for r in lines if r["suppressed"] == "yes"]
    assert len(hidden) == 3 and all(r["count"] == r["sum_kW"] == "" for r in hidden)
    assert {r["margin"] for r in lines} == {"yes", "no"}
    book = load_workbook(io.BytesIO(export.to_xlsx(result)))
    about = {row[0].value: row[1].value for row in book["about"].iter_rows()}
    assert about["version"] == "2" and about["disclosure_control"] == "POL-013"
    assert book["cells"].max_row == len(lines) + 1
    assert [c.value for c in book["nodes"][2]] == ["https://a", "answered", 1.0, None]


# ---------------------------------------------------------------- the CLI (no node asked)

def test_REP_001_002_005_fmar_report_refuses_before_asking_any_node(tmp_path):
    from node.cli_errors import CliError
    from node.cli_reports import run_report, show_report

    with pytest.raises(CliError) as unknown:
        run_report("nope")
    with pytest.raises(CliError) as bad_format:
        run_report("capacity", fmt="pdf")
    with pytest.raises(CliError) as no_out:
        run_report("capacity", fmt="xlsx")
    other = tmp_path / "other.json"
    other.write_text('{"cells": []}')
    with pytest.raises(CliError) as not_a_result:
        show_report(other)
    assert [e.value.code for e in (unknown, bad_format, no_out, not_a_result)] == [
        "REP-001", "REP-002", "REP-002", "REP-005"]


def test_fmar_report_show_draws_a_saved_results_charts_offline(tmp_path, capsys):
    from node.cli_errors import CliError
    from node.cli_reports import show_report

    saved = tmp_path / "growth.json"
    saved.write_bytes(export.to_json(result_of("growth")))
    show_report(saved, charts=tmp_path / "out", chart="registrations")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "growth-registrations.png", "growth-registrations.svg"]
    assert "report growth v1" in capsys.readouterr().out
    with pytest.raises(CliError) as no_chart:
        show_report(saved, chart="pie")
    assert no_chart.value.code == "REP-004"


def test_REP_VAL_a_definition_of_ones_own_is_read_from_a_file_and_checked(tmp_path):
    from node.cli_errors import CliError
    from node.cli_reports import _definition

    mine = BUILTIN["constraints"].as_json() | {"name": "my-constraints", "version": 3}
    saved = tmp_path / "mine.json"
    saved.write_text(json.dumps(mine))
    definition = _definition(f"@{saved}")
    assert (definition.name, definition.version) == ("my-constraints", 3)
    saved.write_text(json.dumps(mine | {"version": 0}))
    with pytest.raises(CliError) as refused:
        _definition(f"@{saved}")
    assert refused.value.code == "REP-VAL-002"
    saved.write_text("{")
    with pytest.raises(CliError) as unreadable:
        _definition(f"@{saved}")
    assert unreadable.value.code == "REP-VAL-001"


# ---------------------------------------------------------------- saved definitions (records)

WRITERS = {
    "facilitator": Caller("erin@mf", "MF", frozenset({"MarketFacilitator"}),
                          frozenset({"assets:read", "sparql:query", "reports:write"})),
    "regulator": Caller("fay@ofgem", "OFGEM", frozenset({"Regulator"}),
                        frozenset({"sparql:query", "federation:query", "reports:write"})),
    "neso": Caller("dan@neso", "NESO", frozenset({"NESO"}),
                   frozenset({"assets:read", "sparql:query", "reports:write"})),
    "fsp": Caller("alice@acme", "FSP-ACME", frozenset({"FSP"}),
                  frozenset({"assets:read", "sparql:query", "assets:write"})),
}


@pytest.fixture(scope="module")
def saving_node(tmp_path_factory):
    from node.config import NodeSettings
    from tests.conftest import start_node

    running = start_node(NodeSettings(data_dir=tmp_path_factory.mktemp("reports"), workers=1),
                         WRITERS)
    yield running
    running.stop()


def saved(name: str = "bess-by-dno", **changes: Any) -> dict[str, Any]:
    spec = {"description": "BESS by area", "tables": [
        {"name": "t", "group_by": ["dno"], "filter": {"category": "BESS"}}],
        "charts": [{"name": "by_dno", "kind": "bars", "table": "t", "x": "dno"}]}
    return {"ReportName": name, "Title": "BESS by DNO area",
            "Specification": json.dumps(spec), **changes}


def test_POL_051_only_the_facilitator_and_the_regulator_save_report_definitions(saving_node):
    for who in ("fsp", "neso"):
        with saving_node.client(who) as http:
            refused = http.post("/report-definitions", json=saved(f"by-{who}"))
        assert (refused.status_code, refused.json()["code"]) in (
            (403, "POL-051"), (403, "POL-001")), who
    with saving_node.client("neso") as http:
        assert http.post("/report-definitions", json=saved("x")).json()["code"] == "POL-051"
    for who in ("facilitator", "regulator"):
        with saving_node.client(who) as http:
            created = http.post("/report-definitions", json=saved(f"by-{who}"))
        assert created.status_code == 201, created.text
        assert created.json()["Version"] == 1
    with saving_node.client("regulator") as http:  # read without assets:read
        listed = http.get("/report-definitions").json()["items"]
        assert {d["ReportName"] for d in listed} >= {"by-facilitator", "by-regulator"}
        reports = {r["name"]: r for r in http.get("/reports").json()}
    assert reports["by-regulator"]["saved"] and not reports["capacity"]["saved"]


def test_a_saved_definition_is_versioned_by_its_record(saving_node):
    with saving_node.client("facilitator") as http:
        created = http.post("/report-definitions", json=saved("versioned"))
        path = created.headers["location"]
        changed = http.put(path, json=saved("versioned", Title="BESS by DNO area, v2"),
                           headers={"If-Match": created.headers["etag"]})
        assert changed.status_code == 200, changed.text
        shown = http.get("/reports/versioned").json()
        assert (shown["version"], shown["title"]) == (2, "BESS by DNO area, v2")
        assert len(http.get(f"{path}/history").json()["versions"]) == 2
        stale = http.put(path, json=saved("versioned"),
                         headers={"If-Match": created.headers["etag"]})
        assert stale.json()["code"] == "REPDEF-412"
        assert http.put(path, json=saved("versioned")).json()["code"] == "REPDEF-428"
        missing = http.get("/report-definitions/00000000-0000-4000-8000-000000000000")
        assert missing.json()["code"] == "REPDEF-404"
        assert http.get("/reports/nothing-saved").json()["code"] == "REP-001"
        for report, version in (("versioned", 3), ("capacity", 7)):
            never = http.get(f"/reports/{report}/run", params={"version": version})
            assert (never.status_code, never.json()["code"]) == (404, "REP-006")


@pytest.mark.parametrize("body, status, code", [
    (saved("Bad Name"), 422, "REPDEF-VAL"),
    ({k: v for k, v in saved("no-spec").items() if k != "Specification"}, 422, "REPDEF-VAL"),
    (saved("not-json", Specification="{"), 422, "REP-VAL-008"),
    (saved("bad-dims", Specification=json.dumps({"tables": [
        {"name": "t", "group_by": ["postcode"]}]})), 422, "REP-VAL-005"),
    (saved("bad-chart", Specification=json.dumps({"tables": [
        {"name": "t", "group_by": ["dno"]}], "charts": [
        {"name": "c", "kind": "pie", "table": "t", "x": "dno"}]})), 422, "REP-VAL-007"),
    ([saved()], 422, "REQ-001"),  # the API first; the service: REPDEF-IN-001 below
    (saved("extra", Colour="red"), 400, "REPDEF-IN-002"),
    (saved("kept", Version=7), 400, "REPDEF-IN-003"),
])
def test_REP_VAL_a_saved_definition_is_checked_and_nothing_is_stored_on_refusal(
        saving_node, body, status, code):
    with saving_node.client("facilitator") as http:
        refused = http.post("/report-definitions", json=body)
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
        names = {d["ReportName"] for d in http.get("/report-definitions").json()["items"]}
    if isinstance(body, dict):
        assert body.get("ReportName") not in names


def test_REP_VAL_001_and_009_names_are_checked_and_unique_on_the_node(saving_node):
    with saving_node.client("facilitator") as http:
        bad = http.post("/report-definitions", json=saved("Bad Name")).json()
        assert {v["rule"] for v in bad["details"]["violations"]} == {"REP-VAL-001"}
        assert http.post("/report-definitions", json=saved("twice")).status_code == 201
        again = http.post("/report-definitions", json=saved("twice"))
        assert (again.status_code, again.json()["code"]) == (409, "REP-VAL-009")
        builtin = http.post("/report-definitions", json=saved("capacity"))
        assert (builtin.status_code, builtin.json()["code"]) == (409, "REP-VAL-009")


def test_REPDEF_IN_001_a_definition_is_an_object(saving_node):
    from common.errors import BadInput

    with pytest.raises(BadInput) as refused:
        saving_node.app.state.register.report_definitions.create([saved()],
                                                                WRITERS["facilitator"])
    assert refused.value.code == "REPDEF-IN-001"


# ---------------------------------------------------------------- connection limit tables

def test_a_limits_table_sums_the_limits_by_area_and_refuses_asset_dimensions():
    from node.kinds.connection_limits import LIMIT_BASE
    from node.reports import sources

    store = ox.Store()
    decimal = ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal")
    for i, (area, limit) in enumerate([("ENWL", 100), ("ENWL", 50), ("NPG_NE", 7)]):
        graph = ox.NamedNode(f"{LIMIT_BASE}{i}")
        store.extend([
            ox.Quad(graph, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                    ox.NamedNode(FMAR + "ConnectionLimit"), graph),
            ox.Quad(graph, ox.NamedNode(FMAR + "dnoConnection"),
                    ox.NamedNode(f"{CODE}DNOCode/{area}"), graph),
            ox.Quad(graph, ox.NamedNode(FMAR + "exportLimit"),
                    ox.Literal(str(limit), datatype=decimal), graph)])
    table = Table("l", ("dno",), "export_limit", source="connection-limits")
    answer = store.query(sources.exact_query(sources.SOURCES["connection-limits"],
                                             table.group_by, table.measure, {}, ALL))
    assert isinstance(answer, ox.QuerySolutions)
    result = aggregates.node_result(table.spec(), answer.serialize(
        format=ox.QueryResultsFormat.JSON))
    assert [(c["group"]["dno"], c["count"], c["sum"]) for c in result["cells"]] == [
        ("ENWL", 2, 150.0), ("NPG_NE", 1, 7.0)]
    for bad, rule in ((Table("l", ("category",), "export_limit", source="connection-limits"),
                       "REP-VAL-005"),
                      (Table("l", ("dno",), "rated", source="connection-limits"), "REP-VAL-006"),
                      (Table("l", ("dno",), "export_limit", {"dno": "ENWL"},
                             "connection-limits"), "REP-VAL-005"),
                      (Table("l", ("dno",), source="events"), "REP-VAL-005")):
        with pytest.raises(ApiError) as refused:
            Definition.from_json(definition(tables=[bad.as_json() | {"source": bad.source,
                                                                     "filter": bad.filter}],
                                            charts=[]))
        assert refused.value.code == rule


def test_every_builtin_reports_request_is_one_a_node_accepts():
    """What the caller's side sends (`request_body`) is what `/query/report` reads back."""
    from node.reports.node_side import parse_request
    from node.reports.run import request_body

    for d in BUILTIN.values():
        assert parse_request(request_body(d)) == list(d.tables), d.name
