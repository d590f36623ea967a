"""Re-validation (issue 15, data quality): stored assets checked again against the shapes
in force, their findings counted by rule in the data quality report under each caller's
rights, never readable as rows. A node in process, a real store; records that fail the
rules now are made the way they arise, by a record stored before a rule applied to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from node.config import NodeSettings
from node.identity import Caller
from node.reports.builtin import BUILTIN
from node.reports.run import request_body
from tests.assets import bess
from tests.conftest import CALLERS, RunningNode, start_node

FMAR = "https://id.fmar.uk/def/fmar#"
XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
QUERY = frozenset({"sparql:query"})
CALLERS_HERE = {**{name: replace(c, scopes=c.scopes | QUERY) for name, c in CALLERS.items()},
                "regulator": Caller("fay@ofgem", "OFGEM", frozenset({"Regulator"}), QUERY)}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(NodeSettings(data_dir=tmp_path_factory.mktemp("revalidation"),
                                      workers=1, holds=frozenset({"FSP-ACME", "FSP-OTHER"})),
                         CALLERS_HERE)
    yield running
    running.stop()


def register(node: RunningNode, who: str, org: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        with node.client(who) as c:
            made = c.post("/assets", json=bess(org=org))
        assert made.status_code == 201, made.text
        ids.append(made.json()["AssetId"])
    return ids


def store_rated_capacity(node: RunningNode, asset_id: str, value: str) -> None:
    """Rewrite a stored record's RatedCapacity in place, as a record stored before a rule
    applied to it (no write path: no version, no audit)."""
    iri = f"https://id.fmar.uk/asset/{asset_id}"
    store = node.app.state.register.assets.store  # type: ignore[attr-defined]
    store.update(f"DELETE {{ GRAPH <{iri}> {{ <{iri}> <{FMAR}ratedCapacity> ?v }} }} "
                 f"INSERT {{ GRAPH <{iri}> {{ <{iri}> <{FMAR}ratedCapacity> "
                 f"\"{value}\"^^<{XSD_DECIMAL}> }} }} "
                 f"WHERE {{ GRAPH <{iri}> {{ <{iri}> <{FMAR}ratedCapacity> ?v }} }}")


def revalidate(node: RunningNode, who: str) -> Any:
    with node.client(who) as c:
        return c.post("/admin/revalidation")


def violations(node: RunningNode, who: str) -> dict[Any, Any]:
    with node.client(who) as c:
        answer = c.post("/query/report", json=request_body(BUILTIN["quality"]))
    assert answer.status_code == 200, answer.text
    table = answer.json()["tables"]["violations"]
    return {c["group"]["rule"]: (None if c.get("suppressed") else c["count"])
            for c in table["cells"]}


def test_POL_095_revalidation_finds_stored_records_that_fail_the_rules_in_force(node):
    own = register(node, "fsp", "FSP-ACME", 3)
    other = register(node, "fsp2", "FSP-OTHER", 1)
    assert revalidate(node, "fsp").json()["failing"] == 0
    store_rated_capacity(node, own[0], "-5")
    store_rated_capacity(node, other[0], "-7")

    mine = revalidate(node, "fsp")
    assert mine.status_code == 200, mine.text
    run = mine.json()
    # the counts cover what the caller may read: its own three records, one failing
    assert (run["checked"], run["failing"]) == (3, 1)
    rules = set(run["by_rule"])  # a negative capacity breaks its range and a relation
    assert rules and all(r.startswith("ARM-VAL-") for r in rules)
    assert set(run["by_rule"].values()) == {1}

    # the report counts findings by rule under each caller's read rule
    assert violations(node, "fsp") == dict.fromkeys(rules, 1)
    assert violations(node, "fsp2") == dict.fromkeys(rules, 1)
    assert violations(node, "neso") == dict.fromkeys(rules, 2)
    # the regulator: disclosure control (2 records is below the threshold)
    assert violations(node, "regulator") == dict.fromkeys(rules, None)

    # a corrected record leaves the findings at the next run: a run replaces them
    store_rated_capacity(node, own[0], "500")
    assert revalidate(node, "fsp2").json()["by_rule"] == dict.fromkeys(rules, 1)
    assert violations(node, "neso") == dict.fromkeys(rules, 1)
    store_rated_capacity(node, other[0], "500")
    assert revalidate(node, "fsp").json()["failing"] == 0
    assert violations(node, "neso") == {}


def test_POL_095_only_a_member_the_node_holds_with_assets_write_revalidates(node):
    refused = revalidate(node, "neso")  # NESO's records are not held here
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-095")
    readonly = revalidate(node, "fsp_readonly")
    assert readonly.status_code == 403 and readonly.json()["code"] != "POL-095"
    assert revalidate(node, None).status_code == 401


def test_findings_are_never_readable_through_sparql(node):
    """Findings live outside the record namespace: no caller reads them as rows."""
    register(node, "fsp", "FSP-ACME", 1)
    ids = register(node, "fsp", "FSP-ACME", 1)
    store_rated_capacity(node, ids[0], "-1")
    assert revalidate(node, "fsp").json()["failing"] >= 1
    query = (f"SELECT ?g ?rule WHERE {{ GRAPH ?g {{ ?g <{FMAR}violatesRule> ?rule }} }}")
    for who in ("fsp", "neso"):
        with node.client(who) as c:
            answer = c.post("/sparql", data={"query": query},
                            headers={"Accept": "application/sparql-results+json"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"]["bindings"] == [], who
    store_rated_capacity(node, ids[0], "500")
    assert revalidate(node, "fsp").json()["failing"] == 0

