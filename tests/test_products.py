"""Products (node/kinds/products.py): versions of each product's terms with validity
periods, held on the market facilitator's node; system operators propose, the
facilitator approves (POL-009, POL-010); shapes/product.ttl (PROD-VAL-001..013); versions
of one product do not overlap (PROD-VAL-020); the reference CSV loads with unknown
figures left unknown."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import BadInput
from node.config import NodeSettings
from node.identity import Caller
from node.kinds.product_import import PRODUCTS_CSV, reference_products
from node.kinds.products import product_iri
from tests.conftest import CALLERS, start_node


def terms(**changes: Any) -> dict[str, Any]:
    body = {"ProductCode": "TESTP", "ProductName": "Test product", "SystemOperator": "NESO",
            "Direction": "Up", "MinCapacityMW": 1, "MaxCapacityMW": 50, "Status": "Active",
            "ValidFrom": "2026-01-01"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def post(node, who: str, body: dict[str, Any]):
    with node.client(who) as c:
        return c.post("/products", json=body)


def test_the_reference_loads_with_unknown_figures_left_unknown(node):
    rows = list(reference_products())
    assert len(rows) == 25 and {r["ProductCode"] for r in rows} >= {"DC", "DFS", "DSO_SU"}
    for row in rows:
        made = post(node, "facilitator", row)
        assert made.status_code == 201, (row["ProductCode"], made.text)
    with node.client("fsp") as c:  # any member reads the catalogue
        listed = c.get("/products", params={"limit": 100}).json()["items"]
        sffr = c.get("/products", params={"code": "SFFR"}).json()["items"]
    assert len(listed) == 25
    assert len(sffr) == 1 and "MaxCapacityMW" not in sffr[0]  # empty cell: unknown, not 0
    assert sffr[0]["MinCapacityMW"] == 1 and sffr[0]["Product"] == product_iri("SFFR")
    dso = [p for p in listed if p["ProductCode"].startswith("DSO_")]
    assert dso and {p["SystemOperator"] for p in dso} == {"DNO"}
    assert PRODUCTS_CSV.exists()


@pytest.mark.parametrize("rule, changes", [
    ("PROD-VAL-001", {"ProductCode": "dc lower"}),
    ("PROD-VAL-002", {"ProductName": None}),
    ("PROD-VAL-003", {"SystemOperator": "FSP"}),
    ("PROD-VAL-004", {"Direction": "Sideways"}),
    ("PROD-VAL-005", {"MinCapacityMW": -1}),
    ("PROD-VAL-006", {"MinCapacityMW": 60}),
    ("PROD-VAL-007", {"FullDeliveryTimeSeconds": -5}),
    ("PROD-VAL-008", {"LocationScope": "Europe"}),
    ("PROD-VAL-009", {"Status": None}),
    ("PROD-VAL-010", {"ValidFrom": "2026-02-30"}),
    ("PROD-VAL-011", {"ValidTo": "2025-12-31"}),
    ("PROD-VAL-012", {"AggregationAllowed": "perhaps"}),
    ("PROD-VAL-013", {"Note": "x" * 4001}),
    ("PROD-VAL-030", {"SystemOperator": "DNO", "ProcuringAreas": "UKPN_EPN NOWHERE"}),
    ("PROD-VAL-031", {"ProcuringOrganisations": "ORG-1 <script>"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_PROD_VAL_rules_refuse_a_malformed_product(node, rule, changes):
    refused = post(node, "facilitator", terms(**changes))
    assert (refused.status_code, refused.json()["code"]) == (422, "PROD-VAL"), refused.text
    assert rule in {v["rule"] for v in refused.json()["details"]["violations"]}


@pytest.mark.parametrize("body, code", [
    ({**terms(), "Colour": "red"}, "PROD-IN-002"),
    ({**terms(), "Product": "x"}, "PROD-IN-003"),
], ids=["PROD-IN-002", "PROD-IN-003"])
def test_PROD_IN_unreadable_products_are_400(node, body, code):
    refused = post(node, "facilitator", body)
    assert (refused.status_code, refused.json()["code"]) == (400, code), refused.text


def test_PROD_VAL_030_the_register_says_who_procures_a_dso_product(node):
    """The seed's DNO assignment is demo data loaded into the register, not a list the
    code reads: a DSO product's versions name the areas (and organisations) procuring it."""
    from node.kinds.product_import import with_seed_procurers

    rows = {r["ProductCode"]: with_seed_procurers(r) for r in reference_products()}
    assert rows["DSO_SU"]["ProcuringAreas"] == "UKPN_EPN UKPN_LPN UKPN_SPN"
    assert "ProcuringAreas" not in rows["DC"]
    made = post(node, "facilitator", terms(ProductCode="DSOX", SystemOperator="DNO",
                                           ProcuringAreas="ENWL NPG_YK",
                                           ProcuringOrganisations="ENWL-LTD"))
    assert made.status_code == 201, made.text
    assert made.json()["ProcuringAreas"] == "ENWL NPG_YK"
    assert made.json()["ProcuringOrganisations"] == "ENWL-LTD"


def test_PROD_IN_001_a_product_is_an_object(node):
    """The API refuses a non-object body first (REQ-001); the service says PROD-IN-001."""
    with pytest.raises(BadInput) as refused:
        node.app.state.register.products.create([1, 2], CALLERS["facilitator"])
    assert refused.value.code == "PROD-IN-001"


def test_PROD_VAL_020_versions_of_a_product_do_not_overlap_and_the_day_picks_the_terms(node):
    summer = post(node, "facilitator", terms(ProductCode="DFSX", MinCapacityMW=1,
                                             ValidFrom="2026-04-01", ValidTo="2026-09-30"))
    winter = post(node, "facilitator", terms(ProductCode="DFSX", MinCapacityMW=0.1,
                                             ValidFrom="2026-10-01"))
    assert summer.status_code == winter.status_code == 201
    overlap = post(node, "facilitator", terms(ProductCode="DFSX", ValidFrom="2026-09-01",
                                              ValidTo="2026-10-15"))
    assert (overlap.status_code, overlap.json()["code"]) == (409, "PROD-VAL-020")
    assert overlap.json()["details"]["overlaps"] in (summer.json()["ProductVersionId"],
                                                     winter.json()["ProductVersionId"])
    with node.client("fsp") as c:
        july = c.get("/products/in-force", params={"code": "DFSX", "on": "2026-07-01"})
        november = c.get("/products/in-force", params={"code": "DFSX", "on": "2026-11-01"})
        before = c.get("/products/in-force", params={"code": "DFSX", "on": "2026-01-01"})
    assert july.json()["MinCapacityMW"] == 1 and november.json()["MinCapacityMW"] == 0.1
    assert (before.status_code, before.json()["code"]) == (404, "PROD-404")
    assert july.json()["Product"] == november.json()["Product"] == product_iri("DFSX")


def test_POL_009_only_the_operator_that_runs_a_product_or_the_facilitator_writes_it(node):
    for who, body in (("fsp", terms(Status="Proposed")),
                      ("dno", terms(Status="Proposed")),  # a NESO product
                      ("neso", terms(SystemOperator="DNO", Status="Proposed"))):
        refused = post(node, who, body)
        assert (refused.status_code, refused.json()["code"]) == (403, "POL-009"), who
    assert post(node, "dno", terms(ProductCode="DSO_T", SystemOperator="DNO",
                                   Status="Proposed")).status_code == 201


def test_POL_010_a_system_operator_proposes_and_only_the_facilitator_approves(node):
    refused = post(node, "neso", terms(ProductCode="NEWP"))  # Status Active
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-010")
    proposed = post(node, "neso", terms(ProductCode="NEWP", Status="Proposed"))
    assert proposed.status_code == 201
    version = proposed.json()["ProductVersionId"]
    with node.client("fsp") as c:  # not in force until approved
        assert c.get("/products/in-force", params={"code": "NEWP", "on": "2026-06-01"}
                     ).status_code == 404
    with node.client("neso") as c:
        self_approved = c.post(f"/products/{version}/approve",
                               headers={"If-Match": proposed.headers["etag"]})
    assert (self_approved.status_code, self_approved.json()["code"]) == (403, "POL-010")
    with node.client("facilitator") as c:
        approved = c.post(f"/products/{version}/approve",
                          headers={"If-Match": proposed.headers["etag"]})
    assert approved.status_code == 200 and approved.json()["Status"] == "Active"
    with node.client("neso") as c:  # an active version is changed by the facilitator only
        changed = c.put(f"/products/{version}", json=terms(ProductCode="NEWP", Status="Proposed"),
                        headers={"If-Match": approved.headers["etag"]})
        history = c.get(f"/products/{version}/history").json()["versions"]
    assert (changed.status_code, changed.json()["code"]) == (403, "POL-010")
    assert [v["action"] for v in history] == ["create-product", "approve-product"]
    with node.client("fsp") as c:
        in_force = c.get("/products/in-force", params={"code": "NEWP", "on": "2026-06-01"})
    assert in_force.status_code == 200 and in_force.json()["ProductVersionId"] == version


def test_writing_products_needs_the_products_scope(node):
    refused = post(node, "fsp_readonly", terms())
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-001")


def test_POL_011_every_member_reads_products_in_sparql_too(tmp_path):
    """Products are public records (policy.PUBLIC_RECORDS): an FSP's SPARQL sees them,
    while another FSP's assets stay hidden from it."""
    reader = Caller("s", "FSP-OTHER", frozenset({"FSP"}), frozenset({"assets:read",
                                                                     "sparql:query"}))
    node = start_node(NodeSettings(data_dir=tmp_path, workers=1),
                      {**CALLERS, "sparql_fsp": reader})
    try:
        assert post(node, "facilitator", terms(ProductCode="SPQ")).status_code == 201
        query = ("SELECT ?code WHERE { ?p <https://id.fmar.uk/def/fmar#productCode> ?code }")
        with node.client("sparql_fsp") as c:
            answer = c.post("/sparql", content=query,
                            headers={"content-type": "application/sparql-query"})
        assert answer.status_code == 200, answer.text
        codes = [b["code"]["value"] for b in answer.json()["results"]["bindings"]]
        assert codes == ["SPQ"]
    finally:
        node.stop()


def test_product_versions_emit_public_events_named_by_their_verbs(node):
    """Every member may read products, so every member's feed has their events; each
    action of the kind is an event type a subscriber can name."""
    def events(after: str) -> list[dict[str, Any]]:
        with node.client("fsp") as c:
            return c.get("/events", params={"after": after, "limit": 1000,
                                            "types": "product.created,product.approved"}
                         ).json()["items"]

    with node.client("fsp") as c:
        start = c.get("/events", params={"after": "0", "limit": 1000}).json().get("next") or "0"
    proposed = post(node, "neso", terms(ProductCode="EVTP", Status="Proposed"))
    with node.client("facilitator") as c:
        c.post(f"/products/{proposed.json()['ProductVersionId']}/approve",
               headers={"If-Match": proposed.headers["etag"]})
    seen = [(e["type"], e["version"]) for e in events(start)
            if e["record"] == proposed.json()["id"]]
    assert seen == [("product.created", 1), ("product.approved", 2)]
    with node.client("fsp") as c:  # the verbs are known types before any event of them
        listed = c.post("/subscriptions", json={"url": "http://127.0.0.1:9/hook",
                                                "types": ["product.retired"]})
    assert listed.status_code == 201, listed.text
