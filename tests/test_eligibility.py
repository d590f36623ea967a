"""Eligibility (node/kinds/eligibility.py): a unit's capability validated against the shape
generated from a product version. Every requirement type answers met, not met and cannot
tell (ELIG-001..007); an equivalence makes a qualified unit eligible; a new product
version changes the answer."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from node.kinds.eligibility import Capability, Equivalence, Qualified, assess, requirements
from node.kinds.products import product_iri
from tests.conftest import CALLERS

FULL = Capability(up_mw=5, down_mw=5, full_delivery_s=1, sustained_min=60, direction="Both",
                  asset_count=3, gsp_groups=frozenset({"_A"}), dno_areas=frozenset({"UKPN_EPN"}),
                  constraint_zones=frozenset({"CMZ-1"}), bm_registered=True)


def product(node, **fields: Any):
    body = {"ProductCode": "ELIG", "ProductName": "Eligibility test", "SystemOperator": "NESO",
            "Status": "Active", "ValidFrom": "2026-01-01"}
    body.update(fields)
    return node.app.state.register.products.create(
        {k: v for k, v in body.items() if v is not None}, CALLERS["facilitator"])


def answer_of(result, rule: str) -> dict[str, Any]:
    found = [a.as_dict() for a in result.answers if a.rule == rule]
    assert len(found) == 1, result.as_dict()
    return found[0]


CASES = [  # rule, product fields, capability that meets, one that does not, one that cannot tell
    ("ELIG-001", {"MinCapacityMW": 1, "Direction": "Up"}, {"up_mw": 1.0}, {"up_mw": 0.5},
     {"up_mw": None}),
    ("ELIG-002", {"FullDeliveryTimeSeconds": 30}, {"full_delivery_s": 30},
     {"full_delivery_s": 120}, {"full_delivery_s": None}),
    ("ELIG-003", {"MinDurationMinutes": 30}, {"sustained_min": 30}, {"sustained_min": 15},
     {"sustained_min": None}),
    ("ELIG-004", {"Direction": "Up"}, {"direction": "Both"}, {"direction": "Down"},
     {"direction": None}),
    ("ELIG-005", {"AggregationAllowed": False}, {"asset_count": 1}, {"asset_count": 2}, None),
    ("ELIG-006", {"LocationScope": "ConstraintZone"}, {"constraint_zones": frozenset({"Z"})},
     {"constraint_zones": frozenset({"Z", "Y"})}, {"constraint_zones": None}),
    ("ELIG-007", {"BMRequired": True}, {"bm_registered": True}, {"bm_registered": False},
     {"bm_registered": None}),
]


@pytest.mark.parametrize("rule, fields, meets, fails, unknown", CASES,
                         ids=[c[0] for c in CASES])
def test_ELIG_each_requirement_is_met_not_met_or_cannot_tell(node, rule, fields, meets, fails,
                                                             unknown):
    version = product(node, ProductCode=rule.replace("-", "_"), **fields)
    met = assess(FULL.__class__(**{**FULL.__dict__, **meets}), version)
    assert answer_of(met, rule)["answer"] == "met"
    not_met = answer_of(assess(FULL.__class__(**{**FULL.__dict__, **fails}), version), rule)
    assert not_met["answer"] == "not met" and not_met["unit_value"] is not None
    assert not_met["required"] in not_met["message"]
    if unknown is not None:
        cannot = assess(FULL.__class__(**{**FULL.__dict__, **unknown}), version)
        assert answer_of(cannot, rule)["answer"] == "cannot tell"
        assert answer_of(cannot, rule)["message"].startswith("Cannot tell: add ")
        assert cannot.outcome in ("cannot tell", "not eligible")


def test_a_product_that_states_no_figure_asks_nothing_of_it(node):
    """Unknown is not zero: the reference leaves SFFR's maximum empty; a product with no
    figures at all has no requirements and every unit is eligible."""
    bare = product(node, ProductCode="BARE")
    assert requirements(bare) == []
    assert assess(Capability(), bare).outcome == "eligible"


def test_a_dso_product_in_one_licence_area_and_gsp_group(node):
    local = product(node, ProductCode="LOCAL", LocationScope="DNOArea",
                    SystemOperator="DNO")
    spread = Capability(up_mw=1, dno_areas=frozenset({"UKPN_EPN", "ENWL"}))
    result = assess(spread, local)
    assert result.outcome == "not eligible"
    assert answer_of(result, "ELIG-006")["unit_value"] == 2


def test_eligible_via_an_equivalence_from_a_qualified_product(node):
    demanding = product(node, ProductCode="DEMANDING", MinCapacityMW=10, Direction="Up")
    lighter = product(node, ProductCode="LIGHTER", MinCapacityMW=20, Direction="Up")
    unit = Capability(up_mw=12, direction="Up")
    alone = assess(unit, lighter)
    assert alone.outcome == "not eligible"
    held = [Qualified(product_iri("DEMANDING"), date(2027, 3, 31), "urn:q1")]
    equal = [Equivalence(product_iri("DEMANDING"), product_iri("LIGHTER"), "urn:eq1")]
    via = assess(unit, lighter, held, equal, on=date(2026, 12, 1))
    assert via.outcome == "eligible"
    assert via.as_dict()["via"] == {"equivalence": "urn:eq1", "from": product_iri("DEMANDING"),
                                    "qualified_until": "2027-03-31", "qualification": "urn:q1"}
    expired = assess(unit, lighter, held, equal, on=date(2027, 4, 1))
    assert expired.outcome == "not eligible"  # the qualification ran out
    assert assess(unit, demanding).outcome == "eligible"


def test_a_new_product_version_changes_the_answer_and_the_answer_names_it(node):
    products = node.app.state.register.products
    winter = product(node, ProductCode="SEASON", MinCapacityMW=1, Direction="Up",
                     ValidTo="2026-03-31")
    summer = product(node, ProductCode="SEASON", MinCapacityMW=0.1, Direction="Up",
                     ValidFrom="2026-04-01")
    unit = Capability(up_mw=0.5, direction="Up")
    in_march = products.in_force("SEASON", date(2026, 3, 1), CALLERS["fsp"])
    in_may = products.in_force("SEASON", date(2026, 5, 1), CALLERS["fsp"])
    assert in_march is not None and in_may is not None
    march, may = assess(unit, in_march), assess(unit, in_may)
    assert (march.outcome, may.outcome) == ("not eligible", "eligible")
    assert march.as_dict()["product_version"] == winter.iri
    assert may.as_dict()["product_version"] == summer.iri
    assert march.as_dict()["product"] == may.as_dict()["product"] == product_iri("SEASON")


# ---------------------------------------------------------------- equivalences


def equivalence(**changes: Any) -> dict[str, Any]:
    body = {"FromProduct": "EQA", "ToProduct": "EQB", "ValidFrom": "2026-01-01",
            "Reason": "B's requirements are all within A's."}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_the_facilitator_declares_an_equivalence_that_members_read_and_eligibility_uses(node):
    product(node, ProductCode="EQA", MinCapacityMW=5, Direction="Up")
    lighter = product(node, ProductCode="EQB", MinCapacityMW=8, Direction="Up")
    with node.client("facilitator") as c:
        made = c.post("/product-equivalences", json=equivalence(ValidTo="2026-12-31"))
    assert made.status_code == 201, made.text
    assert made.json()["From"] == product_iri("EQA") and made.json()["To"] == product_iri("EQB")
    with node.client("fsp") as c:
        listed = c.get("/product-equivalences", params={"to": "EQB"}).json()["items"]
    assert [e["EquivalenceId"] for e in listed] == [made.json()["EquivalenceId"]]
    equivalences = node.app.state.register.equivalences
    assert [e.record for e in equivalences.in_force(date(2026, 6, 1))] == [made.json()["id"]]
    assert equivalences.in_force(date(2027, 1, 1)) == []  # ended
    held = [Qualified(product_iri("EQA"), None, "urn:q")]
    result = assess(Capability(up_mw=6, direction="Up"), lighter, held,
                    equivalences.in_force(date(2026, 6, 1)), on=date(2026, 6, 1))
    assert result.outcome == "eligible" and result.via["equivalence"] == made.json()["id"]


def ensure(node, code: str) -> None:
    if not node.app.state.register.products.versions(code):
        product(node, ProductCode=code)


def test_POL_050_only_the_facilitator_manages_equivalences(node):
    ensure(node, "EQA")
    ensure(node, "EQB")
    for who in ("neso", "dno", "fsp"):
        with node.client(who) as c:
            refused = c.post("/product-equivalences", json=equivalence())
        assert (refused.status_code, refused.json()["code"]) == (403, "POL-050"), who


@pytest.mark.parametrize("rule, changes", [
    ("EQV-VAL-001", {"FromProduct": "not a code"}),
    ("EQV-VAL-002", {"Reason": "short"}),
    ("EQV-VAL-003", {"ValidTo": "2025-01-01"}),
    ("EQV-VAL-004", {"ToProduct": "EQA"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_EQV_VAL_rules_refuse_a_malformed_equivalence(node, rule, changes):
    with node.client("facilitator") as c:
        refused = c.post("/product-equivalences", json=equivalence(**changes))
    assert (refused.status_code, refused.json()["code"]) == (422, "EQV-VAL"), refused.text
    assert rule in {v["rule"] for v in refused.json()["details"]["violations"]}


def test_EQV_VAL_005_an_equivalence_names_products_in_the_register(node):
    ensure(node, "EQA")
    with node.client("facilitator") as c:
        refused = c.post("/product-equivalences", json=equivalence(ToProduct="NOSUCH"))
    assert (refused.status_code, refused.json()["code"]) == (422, "EQV-VAL-005")
    assert refused.json()["details"]["missing"] == ["NOSUCH"]


# ---------------------------------------------------------------- a unit's answer


def test_a_units_answer_counts_its_members_capped_by_limits_and_says_what_stops_it(node):
    """Two batteries (3 MW export, 2 MW import each) in one GSP group; the DNO limits one
    to 1 MW export: the unit offers 8 MW up (export 3 + 1, or stop importing 2 + 2). A
    9 MW product is not met (with the value), a 3 MW one is, a BM one cannot tell (the
    unit does not say whether it is BM registered)."""
    from datetime import date as day

    from tests.assets import bess

    made = []
    for _ in range(2):
        with node.client("fsp") as c:
            response = c.post("/assets", json=bess(dno="UKPN_EPN", RatedCapacity=3000,
                                                   GenCapacity=3000, DemandCapacity=2000,
                                                   InstalledCapacity=3000))
        assert response.status_code == 201, response.text
        made.append(response.json()["AssetId"])
    with node.client("dno") as c:
        limited = c.post("/connection-limits", json={
            "AssetId": made[0], "OrganisationId": "FSP-ACME", "DNOConnection": "UKPN_EPN",
            "LimitType": "NON_FIRM", "ValidFrom": "2026-01-01", "ExportLimit": 1000})
    assert limited.status_code == 201, limited.text
    with node.client("fsp") as c:
        unit = c.post("/market-units", json={
            "Name": "Two batteries", "OrganisationId": "FSP-ACME", "UnitType": "SPG",
            "LocationScope": "GSPGroup", "GSPGroup": "_A"}).json()
        for asset_id in made:
            joined = c.post(f"/market-units/{unit['UnitId']}/members",
                            json={"AssetId": asset_id, "ValidFrom": "2026-01-01"})
            assert joined.status_code == 201, joined.text
    product(node, ProductCode="UBIG", MinCapacityMW=9, Direction="Up")
    product(node, ProductCode="USMALL", MinCapacityMW=3, Direction="Up",
            LocationScope="GSPGroup")
    product(node, ProductCode="UBM", BMRequired=True)
    on = day.today().isoformat()
    with node.client("fsp") as c:
        answer = c.get(f"/market-units/{unit['UnitId']}/eligibility", params={"on": on})
        matrix = c.get("/market-units/eligibility", params={"on": on})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["capability"]["up_mw"] == 8.0 and body["capability"]["assets"] == 2
    assert body["capability"]["down_mw"] == 10.0  # no import limit: 2 + 2 more, 3 + 3 less
    by_code = {p["product_code"]: p for p in body["products"]}
    assert by_code["USMALL"]["outcome"] == "eligible"
    big = by_code["UBIG"]
    assert big["outcome"] == "not eligible"
    [capacity] = [r for r in big["requirements"] if r["rule"] == "ELIG-001"]
    assert (capacity["unit_value"], capacity["required"]) == (8.0, "at least 9 MW")
    assert by_code["UBM"]["outcome"] == "cannot tell"
    assert "BMRegistered" in by_code["UBM"]["requirements"][0]["message"]
    assert "USMALL" in body["eligible"] and by_code["UBIG"]["product_version"]
    assert matrix.status_code == 200
    [row] = [u for u in matrix.json()["units"] if u["unit_id"] == unit["UnitId"]]
    assert row["eligible"] == body["eligible"]
    with node.client("fsp2") as c:  # another FSP learns nothing of the unit
        hidden = c.get(f"/market-units/{unit['UnitId']}/eligibility")
    assert (hidden.status_code, hidden.json()["code"]) == (404, "MU-404")


def test_fmar_eligibility_prints_the_matrix(node):
    """`fmar eligibility` (and `fmar unit eligibility`): each unit's line, then a product a
    line with its outcome and what stops it."""
    from tests.conftest import token_for
    from tests.harness.processes import FMAR_INSTALLED, clean_env, run_fmar

    product(node, ProductCode="CLIP", MinCapacityMW=1000, Direction="Up")
    with node.client("fsp") as c:
        unit = c.post("/market-units", json={"Name": "CLI unit", "OrganisationId": "FSP-ACME",
                                             "UnitType": "SPU",
                                             "ConnectionMPAN": "1000000000011"}).json()
    env = clean_env(FMAR_NODE_URL=node.url, FMAR_TOKEN=token_for("fsp"))
    table = run_fmar("eligibility", command=FMAR_INSTALLED, env=env)
    assert table.returncode == 0, table.stderr
    assert f"# unit {unit['UnitId']}" in table.stdout
    lines = [x for x in table.stdout.splitlines() if x.startswith("CLIP")]  # one a unit
    assert lines and all("not eligible" in x and "ELIG-001" in x for x in lines)
    one = run_fmar("unit", "eligibility", unit["UnitId"], "-o", "json",
                   command=FMAR_INSTALLED, env=env)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["unit_id"] == unit["UnitId"]


def test_a_hostile_nodes_product_answer_is_read_as_data_never_as_rdf():
    """Products come from other nodes as JSON; a crafted IRI or field never becomes a
    triple of its own (record_from_json reads only the kind's fields, checked)."""
    import uuid as uuid_

    from node.kinds.products import PRODUCT
    from node.records.service import record_from_json

    iri = f"https://id.fmar.uk/product-version/{uuid_.uuid4()}"
    good = {"id": iri, "ProductCode": "DC", "ProductName": "Dynamic Containment",
            "SystemOperator": "NESO", "Status": "Active", "ValidFrom": "2026-01-01",
            "Version": 3, "Product": "https://id.fmar.uk/product/DC"}
    read = record_from_json(PRODUCT, good)
    assert read is not None and read.version == 3 and read.field("ProductCode") == "DC"
    assert record_from_json(PRODUCT, {**good, "id": "https://evil.example/x> <a> <b"}) is None
    assert record_from_json(PRODUCT, {**good, "id": iri + "> <a> <b"}) is None
    injected = record_from_json(PRODUCT, {
        **good, "Product": 'https://id.fmar.uk/product/DC> <https://id.fmar.uk/def/fmar#x> "y',
        "ProductName": 'x" . <https://id.fmar.uk/a> <https://id.fmar.uk/b> "c'})
    assert injected is not None
    assert {t.subject.value for t in injected.triples} == {iri}
    assert injected.value("https://id.fmar.uk/def/fmar#product") is None
    assert record_from_json(PRODUCT, {**good, "Version": "many"}) is None


def test_a_demand_unit_offers_up_by_consuming_less(node):
    """A heat pump unit (demand only) offers demand turn-down: up for DFS-like products,
    and more demand: down. Values are to the kW (no float noise in the answer)."""
    from tests.assets import heat_pump

    with node.client("fsp") as c:
        made = c.post("/assets", json=heat_pump(dno="ENWL", GSPGroup="_G", RatedCapacity=80.32,
                                                DemandCapacity=80.32)).json()["AssetId"]
        unit = c.post("/market-units", json={
            "Name": "Heat pumps", "OrganisationId": "FSP-ACME", "UnitType": "SPG",
            "LocationScope": "GSPGroup", "GSPGroup": "_G"}).json()
        assert c.post(f"/market-units/{unit['UnitId']}/members",
                      json={"AssetId": made, "ValidFrom": "2026-01-01"}).status_code == 201
    product(node, ProductCode="TURNDOWN", MinCapacityMW=0.05, Direction="Up")
    with node.client("fsp") as c:
        body = c.get(f"/market-units/{unit['UnitId']}/eligibility").json()
    assert body["capability"]["up_mw"] == body["capability"]["down_mw"] == 0.08
    assert body["capability"]["direction"] == "Both"
    [turndown] = [p for p in body["products"] if p["product_code"] == "TURNDOWN"]
    assert turndown["outcome"] == "eligible"
