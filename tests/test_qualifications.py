"""Qualification (node/kinds/qualifications.py) through a node's API: applications written
by the FSP (POL-060), outcomes by the system operator that runs the product (POL-061),
grid prequalification by the DNO of the area (POL-062), who reads what (POL-063/044),
the state machine (QUAL-VAL-020..024), the shapes (QUAL-VAL-001..015), the product
register checks (QUAL-VAL-030..039: the node under test holds the register, loaded with the
reference products as `make demo` loads them), the material change hook, and the queue's
refusals (POL-066). Across real processes (the register on the facilitator's node):
tests/federation/test_qualification_federated.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import policy
from node.audit import verify
from node.config import NodeSettings
from node.federation.products import RemoteRegister
from node.identity import Caller
from node.kinds.product_import import reference_products, with_seed_procurers
from node.kinds.qualifications import (
    APPLICATION,
    INITIAL,
    TRANSITIONS,
    UNIT_BASE,
)
from node.records.kind import Facts
from tests.conftest import CALLERS, RunningNode, start_node

# the organisations this node holds (POL-030, POL-067): FSP-OTHER is not one of them
HOLDS = frozenset({"FSP-ACME", "DNO-UKPN", "NESO"})


# the node under test: applications name units held on it (QUAL-VAL-025)
UNITS: list = []


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    data_dir: Path = tmp_path_factory.mktemp("qual-node")
    running = start_node(NodeSettings(data_dir=data_dir, workers=1, holds=HOLDS))
    UNITS[:] = [running.app.state.register.units]
    load_products(running)
    yield running
    running.stop()


def load_products(running: RunningNode) -> None:
    """The reference products in the node's product register, as `make demo` loads them
    (with the seed's procuring areas of the DSO products)."""
    products = running.app.state.register.products
    for body in reference_products():
        products.create(with_seed_procurers(body), CALLERS["facilitator"])


def product(node, code: str, **fields) -> dict:
    """A product version the facilitator adds to the register (Active from 2025)."""
    body = {"ProductCode": code, "ProductName": f"Test product {code}",
            "SystemOperator": "NESO", "Status": "Active", "ValidFrom": "2025-01-01", **fields}
    with node.client("facilitator") as c:
        made = c.post("/products", json={k: v for k, v in body.items() if v is not None})
    assert made.status_code == 201, made.text
    return made.json()


def new_unit() -> str:
    """A unit of FSP-ACME's on the node under test (an SPU on its own MPAN)."""
    unit = UNITS[0].create({"Name": "Qualified unit", "OrganisationId": "FSP-ACME",
                            "UnitType": "SPU", "ConnectionMPAN": "1000000000011"},
                           CALLERS["fsp"])
    return str(unit.record_id)


def application(**changes):
    body = {"UnitId": new_unit() if UNITS else str(uuid.uuid4()), "Product": "DC",
            "OrganisationId": "FSP-ACME", "ClaimedUpKW": 2000, "ClaimedDownKW": 1500,
            "Evidence": "https://docs.example/acme/dc-test.pdf"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def outcome(app: dict, **changes):
    body = {"UnitId": app["UnitId"], "Product": app["Product"],
            "OrganisationId": app["OrganisationId"], "ApplicationId": app["ApplicationId"]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def applied(node, who="fsp", **changes):
    with node.client(who) as c:
        response = c.post("/qualification-applications", json=application(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def recorded(node, app, who="neso", **changes):
    with node.client(who) as c:
        response = c.post("/qualifications", json=outcome(app, **changes))
    assert response.status_code == 201, response.text
    return response.json()


def move(node, who, path, to, reason=None, **kw):
    body = {"to": to, **({"reason": reason} if reason is not None else {})}
    with node.client(who) as c:
        return c.post(f"{path}/transitions", json=body, **kw)


# ---------------------------------------------------------------- the walk


def test_an_fsp_applies_neso_records_the_outcome_and_moves_it_with_reasons(node):
    app = applied(node)
    assert app["State"] == "requested" and app["SetBy"] == "FSP-ACME"
    assert app["id"].startswith("https://id.fmar.uk/qualification-application/")
    assert app["UnitId"] == application()["UnitId"] or app["UnitId"]  # the ID back
    qual = recorded(node, app)
    assert qual["State"] == "requested" and qual["ApplicationId"] == app["ApplicationId"]
    path = f"/qualifications/{qual['QualificationId']}"
    assert move(node, "neso", path, "in_progress").status_code == 200
    with node.client("neso") as c:  # granting needs a validity period (QUAL-VAL-012)
        c.put(path, json=outcome(app, ValidFrom="2027-01-01", ValidTo="2028-12-31",
                                 Conditions="Re-test after firmware changes."),
              headers={"If-Match": "*"}).raise_for_status()
    done = move(node, "neso", path, "prequalified", "Test report accepted.")
    assert done.status_code == 200, done.text
    assert done.json()["State"] == "prequalified"
    assert done.json()["Reason"] == "Test report accepted."
    assert done.json()["Conditions"] == "Re-test after firmware changes."
    verified = move(node, "neso", path, "verified")
    assert verified.json()["State"] == "verified" and "Reason" not in verified.json()
    with node.client("neso") as c:
        history = c.get(f"{path}/history").json()["versions"]
    assert [v["record"]["State"] for v in history] == [
        "requested", "in_progress", "in_progress", "prequalified", "verified"]
    assert [v["action"] for v in history] == [
        "create-qualification", "transition-qualification", "update-qualification",
        "transition-qualification", "transition-qualification"]
    assert verify(node.app.state.register.store)[1] == []


def test_an_application_names_the_callers_organisation_by_default(node):
    app = applied(node, OrganisationId=None)
    assert app["OrganisationId"] == "FSP-ACME"


def test_the_unit_is_named_by_iri_and_the_product_by_its_seed_iri(node):
    unit = new_unit()
    app = applied(node, UnitId=UNIT_BASE + unit, Product="DSO_PR")
    assert app["UnitId"] == unit and app["Product"] == "DSO_PR"
    triples = node.app.state.register.store.triples(app["id"])
    objects = {t.object.value for t in triples}
    assert UNIT_BASE + unit in objects
    assert "https://id.fmar.uk/product/DSO_PR" in objects
    with node.client("fsp") as c:
        found = c.get("/qualification-applications", params={"unit": unit}).json()
    assert [i["ApplicationId"] for i in found["items"]] == [app["ApplicationId"]]


def test_the_products_listed_for_qualification_are_the_open_ones_of_the_register(node):
    with node.client("fsp") as c:
        items = {i["code"]: i for i in c.get("/qualification-products").json()["items"]}
    assert items["DSO_SU"]["operator"] == "DNO" and items["DC"]["operator"] == "NESO"
    assert items["DSO_SU"]["dno_areas"] == ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]
    assert items["DC"]["label"] == "Dynamic Containment"
    assert all(i["open"] for i in items.values())
    register = node.app.state.register.product_register
    # the queue's products: what each operator procures, per the register
    assert {t.operator for t in register.procured_by(CALLERS["neso"])} == {"NESO"}
    assert {"DSO_PR", "DSO_SU"} <= {t.code for t in register.procured_by(CALLERS["dno"])}
    assert "DSO_OU_15MIN" not in {t.code for t in register.procured_by(CALLERS["dno"])}
    assert register.procured_by(CALLERS["fsp"]) == []


# ---------------------------------------------------------------- who writes (POL)


def test_POL_060_only_the_fsp_applies_for_its_own_units(node):
    with node.client("neso") as c:  # not an FSP (and no assets:write on a real token)
        assert c.post("/qualification-applications",
                      json=application()).json()["code"] == "POL-060"
    with node.client("fsp") as c:
        other = c.post("/qualification-applications",
                       json=application(OrganisationId="FSP-OTHER"))
    assert (other.status_code, other.json()["code"]) == (403, "POL-060")
    app = applied(node, Product="DSO_SU")  # the DNO reads it (it runs the product)
    with node.client("dno") as c:  # but does not move an FSP's application
        refused = c.post(f"/qualification-applications/{app['ApplicationId']}/transitions",
                         json={"to": "withdrawn"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-060")


def test_POL_060_an_fsp_cannot_hand_its_application_to_another_organisation(node):
    app = applied(node)
    with node.client("fsp") as c:
        refused = c.put(f"/qualification-applications/{app['ApplicationId']}",
                        json=application(UnitId=app["UnitId"], OrganisationId="FSP-OTHER"),
                        headers={"If-Match": "*"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-060")


def test_POL_060_not_an_fsp_role(node):
    with pytest.raises(policy.Denied) as denied:
        policy.authorise(CALLERS["dno"], "qualification-application",
                         APPLICATION.action("create"), Facts("DNO-UKPN"), new=True)
    assert denied.value.code == "POL-060"


def test_POL_030_an_fsp_applies_on_its_own_node_only(node):
    with node.client("fsp2") as c:  # FSP-OTHER is not held by this node
        refused = c.post("/qualification-applications",
                         json=application(OrganisationId="FSP-OTHER"))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-030")


def test_POL_061_an_fsp_cannot_record_an_outcome(node):
    app = applied(node)
    with node.client("fsp") as c:
        refused = c.post("/qualifications", json=outcome(app))
    assert refused.status_code == 403
    assert refused.json()["code"] in ("POL-061", "POL-067")
    with pytest.raises(policy.Denied) as denied:  # whatever the node: POL-061
        policy.authorise(CALLERS["fsp"], "qualification", "create-qualification",
                         Facts("FSP-ACME"), new=True)
    assert denied.value.code == "POL-061"


def test_POL_061_a_dno_cannot_record_an_outcome_for_a_neso_product(node):
    app = applied(node)
    with node.client("dno") as c:
        refused = c.post("/qualifications", json=outcome(app))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-061")


def test_POL_061_the_dno_records_outcomes_for_its_dso_products_and_neso_does_not(node):
    app = applied(node, Product="DSO_SU")
    with node.client("neso") as c:
        refused = c.post("/qualifications", json=outcome(app))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-061")
    qual = recorded(node, app, who="dno")
    path = f"/qualifications/{qual['QualificationId']}"
    moved = move(node, "neso", path, "in_progress")  # NESO reads it, but does not run it
    assert (moved.status_code, moved.json()["code"]) == (403, "POL-061")
    assert move(node, "dno", path, "in_progress").status_code == 200


def test_POL_061_a_transition_not_allowed_to_the_caller(node):
    qual = recorded(node, applied(node))
    path = f"/qualifications/{qual['QualificationId']}"
    for who in ("fsp", "dno"):
        refused = move(node, who, path, "in_progress")
        assert (refused.status_code, refused.json()["code"]) == (403, "POL-061"), who
    with node.client("fsp2") as c:  # another FSP does not even see it
        hidden = c.post(f"{path}/transitions", json={"to": "in_progress"})
    assert (hidden.status_code, hidden.json()["code"]) == (404, "QUAL-404")


def test_POL_061_a_dno_cannot_move_a_qualification_to_a_neso_product(node):
    qual = recorded(node, applied(node, Product="DSO_SU"), who="dno")
    with node.client("dno") as c:
        refused = c.put(f"/qualifications/{qual['QualificationId']}",
                        json={**{k: qual[k] for k in ("UnitId", "OrganisationId",
                                                      "ApplicationId")},
                              "Product": "BM"}, headers={"If-Match": "*"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-061")


def test_POL_062_grid_prequalification_by_the_dno_of_the_area(node):
    body = {"UnitId": str(uuid.uuid4()), "OrganisationId": "FSP-ACME",
            "DNOConnection": "UKPN_EPN"}
    with node.client("dno") as c:
        made = c.post("/grid-prequalifications", json=body)
        outside = c.post("/grid-prequalifications", json={**body, "DNOConnection": "ENWL"})
    assert made.status_code == 201, made.text
    assert (outside.status_code, outside.json()["code"]) == (403, "POL-062")
    with node.client("neso") as c:
        refused = c.post("/grid-prequalifications", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-062")
    path = f"/grid-prequalifications/{made.json()['GridPrequalificationId']}"
    assert move(node, "dno", path, "in_progress").status_code == 200
    conditional = move(node, "dno", path, "conditionally_approved")
    assert conditional.json()["code"] == "QUAL-VAL-023"
    assert move(node, "dno", path, "conditionally_approved",
                "Export capped at 1 MW 16:00-19:00.").json()["State"] == "conditionally_approved"
    for who in ("fsp", "neso"):
        assert move(node, who, path, "approved").json()["code"] == "POL-062"


def test_POL_063_the_fsp_neso_and_dnos_read_outcomes_other_fsps_do_not(node):
    qual = recorded(node, applied(node))
    path = f"/qualifications/{qual['QualificationId']}"
    for who in ("fsp", "neso", "dno"):
        with node.client(who) as c:
            assert c.get(path).status_code == 200, who
            listed = c.get("/qualifications").json()["items"]
        assert qual["QualificationId"] in {i["QualificationId"] for i in listed}, who
    with node.client("fsp2") as c:
        hidden = c.get(path)
        listed = c.get("/qualifications").json()["items"]
    assert (hidden.status_code, hidden.json()["code"]) == (404, "QUAL-404")
    assert qual["QualificationId"] not in {i["QualificationId"] for i in listed}


def test_POL_064_applications_are_read_by_the_fsp_and_the_operator_of_the_product(node):
    neso_app = applied(node)
    dso_app = applied(node, Product="DSO_PR")
    nged_app = applied(node, Product="DSO_OU_15MIN")
    seen = {}
    for who in ("fsp", "neso", "dno", "fsp2"):
        with node.client(who) as c:
            listed = [i["ApplicationId"] for i in
                      c.get("/qualification-applications").json()["items"]]
            seen[who] = set(listed)
            assert len(listed) == len(seen[who]), who  # once each, whatever areas match
            for app in (neso_app, dso_app, nged_app):
                code = c.get(f"/qualification-applications/{app['ApplicationId']}").status_code
                assert code == (200 if app["ApplicationId"] in seen[who] else 404), (who, app)
    ids = {a["ApplicationId"] for a in (neso_app, dso_app, nged_app)}
    assert ids <= seen["fsp"] and ids <= seen["neso"]
    assert dso_app["ApplicationId"] in seen["dno"]
    assert not {neso_app["ApplicationId"], nged_app["ApplicationId"]} & seen["dno"]
    assert not ids & seen["fsp2"]


def test_POL_065_qualification_records_are_not_deleted(node):
    app = applied(node)
    qual = recorded(node, app)
    with node.client("fsp") as c:
        refused = c.delete(f"/qualification-applications/{app['ApplicationId']}")
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-065")
    with node.client("neso") as c:
        refused = c.delete(f"/qualifications/{qual['QualificationId']}")
        assert c.get(f"/qualifications/{qual['QualificationId']}").status_code == 200
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-065")


def test_POL_066_only_a_system_operator_has_a_queue(node):
    with node.client("fsp") as c:
        refused = c.get("/qualification-queue")
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-066")
    with node.client("neso") as c:  # a system operator without federation:query
        refused = c.get("/qualification-queue")
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-014")


def test_POL_067_an_operator_records_outcomes_on_its_own_node(tmp_path):
    running = start_node(NodeSettings(data_dir=tmp_path, workers=1,
                                      holds=frozenset({"FSP-ACME"})))
    try:
        load_products(running)
        unit = running.app.state.register.units.create(
            {"Name": "U", "OrganisationId": "FSP-ACME", "UnitType": "SPU",
             "ConnectionMPAN": "1000000000011"}, CALLERS["fsp"]).record_id
        with running.client("fsp") as c:
            app = c.post("/qualification-applications", json=application(UnitId=unit)).json()
        with running.client("neso") as c:
            refused = c.post("/qualifications", json=outcome(app))
        assert (refused.status_code, refused.json()["code"]) == (403, "POL-067")
    finally:
        running.stop()


# ---------------------------------------------------------------- the state machine


def test_QUAL_VAL_020_a_record_starts_in_an_initial_state(node):
    with node.client("fsp") as c:
        refused = c.post("/qualification-applications", json=application(State="withdrawn"))
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-020")
    app = applied(node)
    with node.client("neso") as c:
        refused = c.post("/qualifications", json=outcome(app, State="verified",
                                                         ValidFrom="2027-01-01"))
        started = c.post("/qualifications", json=outcome(app, State="in_progress"))
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-020")
    assert started.status_code == 201 and started.json()["State"] == "in_progress"
    assert set(INITIAL) == set(TRANSITIONS)


def test_QUAL_VAL_021_put_does_not_change_the_state(node):
    app = applied(node)
    path = f"/qualification-applications/{app['ApplicationId']}"
    with node.client("fsp") as c:
        refused = c.put(path, json=application(UnitId=app["UnitId"], State="withdrawn"),
                        headers={"If-Match": "*"})
        changed = c.put(path, json=application(UnitId=app["UnitId"], ClaimedUpKW=2500),
                        headers={"If-Match": f'"{app["ApplicationId"]}.v1"'})
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-021")
    assert changed.status_code == 200, changed.text
    assert changed.json()["State"] == "requested" and changed.json()["ClaimedUpKW"] == 2500


def test_QUAL_VAL_022_a_move_that_is_not_in_the_table(node):
    qual = recorded(node, applied(node))
    refused = move(node, "neso", f"/qualifications/{qual['QualificationId']}", "verified")
    assert (refused.status_code, refused.json()["code"]) == (409, "QUAL-VAL-022")
    assert refused.json()["details"]["allowed"] == ["in_progress", "rejected"]
    unknown = move(node, "neso", f"/qualifications/{qual['QualificationId']}", "granted")
    assert unknown.json()["code"] == "QUAL-VAL-022"


def test_QUAL_VAL_023_a_rejection_needs_a_reason(node):
    qual = recorded(node, applied(node))
    path = f"/qualifications/{qual['QualificationId']}"
    refused = move(node, "neso", path, "rejected", "   ")
    assert (refused.status_code, refused.json()["code"]) == (409, "QUAL-VAL-023")
    done = move(node, "neso", path, "rejected", "Evidence does not show 2 MW.")
    assert done.json()["Reason"] == "Evidence does not show 2 MW."


def test_QUAL_VAL_024_the_fsp_cannot_make_the_nodes_move(node):
    app = applied(node)
    refused = move(node, "fsp", f"/qualification-applications/{app['ApplicationId']}",
                   "reassessment_required", "I say so")
    assert (refused.status_code, refused.json()["code"]) == (409, "QUAL-VAL-024")
    withdrawn = move(node, "fsp", f"/qualification-applications/{app['ApplicationId']}",
                     "withdrawn")
    assert withdrawn.json()["State"] == "withdrawn"


def test_QUAL_IN_004_a_transition_body_is_to_and_reason(node):
    app = applied(node)
    with node.client("fsp") as c:
        path = f"/qualification-applications/{app['ApplicationId']}/transitions"
        missing = c.post(path, json={"reason": "no target"})
        listed = c.post(path, json={"to": ["withdrawn"]})
        extra = c.post(path, json={"to": "withdrawn", "colour": "red"})
    assert (missing.status_code, missing.json()["code"]) == (400, "QUAL-IN-004")
    assert (listed.status_code, listed.json()["code"]) == (400, "QUAL-IN-004")
    assert extra.status_code in (400, 422)


def test_QUAL_412_428_transitions_honour_if_match_when_given(node):
    app = applied(node)
    path = f"/qualification-applications/{app['ApplicationId']}"
    stale = move(node, "fsp", path, "withdrawn", headers={"If-Match": '"x.v9"'})
    assert (stale.status_code, stale.json()["code"]) == (412, "QUAL-412")
    with node.client("fsp") as c:
        missing = c.put(path, json=application(UnitId=app["UnitId"]))
    assert (missing.status_code, missing.json()["code"]) == (428, "QUAL-428")


# ---------------------------------------------------------------- the shapes


@pytest.mark.parametrize("changes, rule", [
    ({"UnitId": "unit-7"}, "QUAL-VAL-001"),
    ({"Product": "cheap-energy"}, "QUAL-VAL-002"),
    ({"OrganisationId": "not an id!"}, "QUAL-VAL-003"),
    ({"ClaimedUpKW": -5}, "QUAL-VAL-004"),
    ({"ClaimedUpKW": 0, "ClaimedDownKW": None}, "QUAL-VAL-005"),
    ({"Evidence": None}, "QUAL-VAL-006"),
    ({"Reason": "x" * 2001}, "QUAL-VAL-013"),
], ids=["QUAL-VAL-001", "QUAL-VAL-002", "QUAL-VAL-003", "QUAL-VAL-004", "QUAL-VAL-005",
        "QUAL-VAL-006", "QUAL-VAL-013"])
def test_QUAL_VAL_rules_refuse_a_malformed_application(node, changes, rule):
    with node.client("fsp") as c:
        refused = c.post("/qualification-applications", json=application(**changes))
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL"), refused.text
    assert rule in {v["rule"] for v in refused.json()["details"]["violations"]}


def test_QUAL_VAL_007_an_application_state_from_its_list(node):
    with node.client("fsp") as c:
        refused = c.post("/qualification-applications", json=application(State="granted"))
    assert "QUAL-VAL-007" in {v["rule"] for v in refused.json()["details"]["violations"]}


@pytest.mark.parametrize("changes, rule", [
    ({"State": "granted"}, "QUAL-VAL-008"),
    ({"ApplicationId": "not-an-id"}, "QUAL-VAL-010"),
    ({"ValidFrom": "2028-01-01", "ValidTo": "2027-01-01"}, "QUAL-VAL-011"),
    ({"ValidFrom": "1 Jan 2027"}, "QUAL-VAL-011"),
    ({"Conditions": "y" * 2001}, "QUAL-VAL-013"),
    ({"QualifiedUpKW": -1}, "QUAL-VAL-040"),
    ({"QualifiedDownKW": 10_000_001}, "QUAL-VAL-040"),
], ids=["QUAL-VAL-008", "QUAL-VAL-010", "QUAL-VAL-011-order", "QUAL-VAL-011-date",
        "QUAL-VAL-013", "QUAL-VAL-040-negative", "QUAL-VAL-040-too-large"])
def test_QUAL_VAL_rules_refuse_a_malformed_outcome(node, changes, rule):
    app = applied(node)
    with node.client("neso") as c:
        refused = c.post("/qualifications", json=outcome(app, **changes))
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL"), refused.text
    assert rule in {v["rule"] for v in refused.json()["details"]["violations"]}


def test_QUAL_VAL_012_a_granted_qualification_states_valid_from(node):
    qual = recorded(node, applied(node), State="in_progress")
    refused = move(node, "neso", f"/qualifications/{qual['QualificationId']}",
                   "temporary_qualified")
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL")
    assert "QUAL-VAL-012" in {v["rule"] for v in refused.json()["details"]["violations"]}


@pytest.mark.parametrize("changes, rule", [
    ({"State": "granted"}, "QUAL-VAL-009"),
    ({"DNOConnection": "ATLANTIS"}, "QUAL-VAL-014"),
], ids=["QUAL-VAL-009", "QUAL-VAL-014"])
def test_QUAL_VAL_rules_refuse_a_malformed_grid_prequalification(node, changes, rule):
    body = {"UnitId": str(uuid.uuid4()), "OrganisationId": "FSP-ACME",
            "DNOConnection": "UKPN_EPN", **changes}
    with node.client("dno") as c:
        refused = c.post("/grid-prequalifications", json=body)
    assert refused.status_code in (403, 422), refused.text
    if refused.status_code == 422:
        assert rule in {v["rule"] for v in refused.json()["details"]["violations"]}
    else:  # an area outside the shape's list is outside the DNO's areas too
        assert rule == "QUAL-VAL-014" and refused.json()["code"] == "POL-062"


def test_QUAL_VAL_009_014_015_by_the_validator():
    from node.kinds.asset_records import VALIDATOR
    from node.kinds.qualifications import GRID_PREQUALIFICATION
    from node.records.service import shape_set

    iri = f"https://id.fmar.uk/grid-prequalification/{uuid.uuid4()}"
    fmar = "https://id.fmar.uk/def/fmar#"
    text = (f"<{iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
            f"<{fmar}GridPrequalification> .\n"
            f'<{iri}> <{fmar}qualificationState> "approved!" .')
    rules = {v.rule for v in VALIDATOR.validate(text, shape_set(GRID_PREQUALIFICATION), [iri])}
    assert {"QUAL-VAL-001", "QUAL-VAL-003", "QUAL-VAL-009", "QUAL-VAL-014",
            "QUAL-VAL-015"} <= rules


@pytest.mark.parametrize("body, code", [
    ({**application(), "Colour": "red"}, "QUAL-IN-002"),
    ({**application(), "SetBy": "NESO"}, "QUAL-IN-003"),
    ({**application(), "Evidence": ["a", "b"]}, "QUAL-IN-002"),
    ({**application(), "Reason": False}, "QUAL-IN-002"),
    ({**application(), "Evidence": 12345}, "QUAL-IN-002"),
    ({**application(), "ClaimedUpKW": "2000"}, "QUAL-IN-002"),
], ids=["QUAL-IN-002-unknown", "QUAL-IN-003-state", "QUAL-IN-002-list",
        "QUAL-IN-002-bool-for-text", "QUAL-IN-002-number-for-text",
        "QUAL-IN-002-text-for-number"])
def test_QUAL_IN_unreadable_applications_are_400(node, body, code):
    with node.client("fsp") as c:
        refused = c.post("/qualification-applications", json=body)
    assert (refused.status_code, refused.json()["code"]) == (400, code), refused.text


def test_QUAL_IN_001_an_application_is_an_object():
    from node.inputs import InputError, properties_from_json
    from node.kinds.qualifications import APPLICATION_TABLE

    with pytest.raises(InputError) as refused:
        properties_from_json(["UnitId"], table=APPLICATION_TABLE)
    assert refused.value.code == "QUAL-IN-001"


# ---------------------------------------------------------------- material change


def test_a_material_change_sends_open_applications_back_for_reassessment(node):
    unit = new_unit()
    open_app = applied(node, UnitId=unit)
    other_product = applied(node, UnitId=unit, Product="DSO_SU")
    withdrawn = applied(node, UnitId=unit, Product="QR")
    assert move(node, "fsp", f"/qualification-applications/{withdrawn['ApplicationId']}",
                "withdrawn").status_code == 200
    elsewhere = applied(node)  # another unit
    register = node.app.state.register
    moved = register.applications.on_material_change(UNIT_BASE + unit,
                                                      "capability up by 40%")
    assert sorted(moved) == sorted([open_app["id"], other_product["id"]])
    with node.client("fsp") as c:
        states = {a["ApplicationId"]: (a["State"], a.get("Reason")) for a in
                  c.get("/qualification-applications", params={"unit": unit}).json()["items"]}
        history = c.get(f"/qualification-applications/{open_app['ApplicationId']}/history")
        other = c.get(f"/qualification-applications/{elsewhere['ApplicationId']}").json()
    assert states[open_app["ApplicationId"]] == (
        "reassessment_required", "Material change of the unit: capability up by 40%")
    assert states[withdrawn["ApplicationId"]][0] == "withdrawn"
    assert other["State"] == "requested"
    last = history.json()["versions"][-1]
    assert (last["action"], last["by"]) == ("reassess-qualification-application",
                                            "node:material-change")
    # the FSP resubmits once the claim is right again
    assert move(node, "fsp", f"/qualification-applications/{open_app['ApplicationId']}",
                "requested").json()["State"] == "requested"
    for hostile in ("https://example.com/unit",  # not a unit, and no SPARQL through it
                    f"{UNIT_BASE}{unit}> }} }} ; DROP ALL ; SELECT * {{ <x"):
        with pytest.raises(Exception) as bad:
            register.applications.on_material_change(hostile, "x")
        assert getattr(bad.value, "code", "") == "QUAL-IN-004"


def test_QUAL_404_an_unknown_or_malformed_id(node):
    with node.client("neso") as c:
        assert c.get("/qualifications/nope").json()["code"] == "QUAL-404"
        assert c.get(f"/qualifications/{uuid.uuid4()}").json()["code"] == "QUAL-404"
        assert c.post(f"/grid-prequalifications/{uuid.uuid4()}/transitions",
                      json={"to": "in_progress"}).json()["code"] == "QUAL-404"


def test_the_rule_catalogue_cites_tests_that_exist():
    import re

    from tests import rule_catalogue

    text = rule_catalogue.render()
    defined = set(re.findall(r"^def (test_\w+)", Path(__file__).read_text(), re.MULTILINE))
    cited = re.findall(r"tests/test_qualifications\.py::(test_\w+)", text)
    assert cited and set(cited) <= defined
    for rule in APPLICATION.rules:  # every rule of the kinds is in docs/rules.md
        assert f"`{rule}`" in text, rule


def test_QUAL_VAL_002_names_a_product_by_iri_and_lists_none():
    """No static product list in the shape: the register decides (QUAL-VAL-030..039)."""
    from rdflib import Graph, URIRef

    from common.vocab import SH, SHAPES_DIR

    shapes = Graph().parse(SHAPES_DIR / "qualification.ttl")
    shape = URIRef("https://id.fmar.uk/def/shapes#QualProduct")
    assert shapes.value(shape, SH["in"]) is None
    assert shapes.value(shape, SH.pattern) is not None


def test_a_material_change_told_to_the_operators_node_reassesses_its_granted_outcomes(node):
    unit = new_unit()
    granted, dso, started = (applied(node, UnitId=unit),
                             applied(node, UnitId=unit, Product="DSO_SU"),
                             applied(node, UnitId=unit, Product="QR"))
    outcomes = [recorded(node, granted, State="in_progress", ValidFrom="2027-01-01"),
                recorded(node, dso, who="dno", State="in_progress", ValidFrom="2027-01-01"),
                recorded(node, started, State="in_progress")]
    for qual, who in zip(outcomes[:2], ("neso", "dno")):
        assert move(node, who, f"/qualifications/{qual['QualificationId']}",
                    "prequalified").status_code == 200
    moved = node.app.state.register.qualifications.on_material_change(
        UNIT_BASE + unit, "a battery added")
    assert sorted(moved) == sorted(q["id"] for q in outcomes[:2])
    with node.client("neso") as c:
        states = {q["QualificationId"]: q["State"] for q in
                  c.get("/qualifications", params={"unit": unit}).json()["items"]}
        last = c.get(f"/qualifications/{outcomes[1]['QualificationId']}/history").json()
    assert [states[q["QualificationId"]] for q in outcomes] == [
        "reassessment_required", "reassessment_required", "in_progress"]
    assert (last["versions"][-1]["by"], last["versions"][-1]["record"]["Reason"]) == (
        "node:material-change", "Material change of the unit: a battery added")
    # the operator moves on from there; the node's own move is not the API's for an FSP
    assert move(node, "neso", f"/qualifications/{outcomes[0]['QualificationId']}",
                "in_progress").status_code == 200


def test_POL_096_only_the_operators_node_moves_an_outcome_to_a_new_fsp(node):
    """`follow_switch` (the node's own move, after INBOX-011) makes the unit's outcomes
    naming the former FSP name the new one, state unchanged, history keeping the former;
    the operator itself, with its own token, cannot make that move (POL-096)."""
    from common.errors import Denied

    quals = node.app.state.register.qualifications
    unit = new_unit()
    qual = recorded(node, applied(node, UnitId=unit), State="in_progress")
    with pytest.raises(Denied) as refused:
        quals.set_fields(qual["QualificationId"], CALLERS["neso"], "*", "follow-switch",
                         {"OrganisationId": "FSP-OTHER"})
    assert refused.value.code == "POL-096"
    moved = quals.follow_switch(UNIT_BASE + unit, "FSP-ACME", "FSP-OTHER",
                                "The unit switched from FSP-ACME to FSP-OTHER")
    assert moved == [qual["id"]]
    assert quals.follow_switch(UNIT_BASE + unit, "FSP-ACME", "FSP-OTHER", "again") == []
    with node.client("fsp2") as c:  # the new FSP reads it; the former no longer does
        now = c.get(f"/qualifications/{qual['QualificationId']}")
    assert now.status_code == 200, now.text
    assert (now.json()["OrganisationId"], now.json()["State"]) == ("FSP-OTHER", "in_progress")
    with node.client("fsp") as c:
        assert c.get(f"/qualifications/{qual['QualificationId']}").status_code == 404
    with node.client("neso") as c:
        versions = c.get(f"/qualifications/{qual['QualificationId']}/history").json()["versions"]
    assert versions[-1]["by"] == policy.SWITCH_FOLLOWER
    assert versions[-1]["action"] == "follow-switch-qualification"
    assert versions[-2]["record"]["OrganisationId"] == "FSP-ACME"


def test_POL_096_only_the_dnos_node_moves_a_grid_prequalification_to_a_new_fsp(node):
    """The same `follow_switch` (StatefulRecords) moves a DNO's grid prequalification of
    the unit naming the former FSP, as the node acting for the DNO of its licence area:
    approved stays approved, the new FSP reads it, the former no longer does, history keeps
    the former; the DNO itself cannot make that move (POL-096)."""
    from common.errors import Denied

    grids = node.app.state.register.grid_prequalifications
    unit = str(uuid.uuid4())
    with node.client("dno") as c:
        made = c.post("/grid-prequalifications", json={
            "UnitId": unit, "OrganisationId": "FSP-ACME", "DNOConnection": "UKPN_EPN"})
    assert made.status_code == 201, made.text
    grid_id = made.json()["GridPrequalificationId"]
    path = f"/grid-prequalifications/{grid_id}"
    for to in ("in_progress", "approved"):
        assert move(node, "dno", path, to).status_code == 200
    with pytest.raises(Denied) as refused:
        grids.set_fields(grid_id, CALLERS["dno"], "*", "follow-switch",
                         {"OrganisationId": "FSP-OTHER"})
    assert refused.value.code == "POL-096"
    moved = grids.follow_switch(UNIT_BASE + unit, "FSP-ACME", "FSP-OTHER",
                                "The unit switched from FSP-ACME to FSP-OTHER")
    assert moved == [made.json()["id"]]
    assert grids.follow_switch(UNIT_BASE + unit, "FSP-ACME", "FSP-OTHER", "again") == []
    with node.client("fsp2") as c:
        now = c.get(path)
    assert now.status_code == 200, now.text
    assert (now.json()["OrganisationId"], now.json()["State"]) == ("FSP-OTHER", "approved")
    with node.client("fsp") as c:
        assert c.get(path).status_code == 404
    with node.client("dno") as c:
        versions = c.get(f"{path}/history").json()["versions"]
    assert versions[-1]["by"] == policy.SWITCH_FOLLOWER
    assert versions[-1]["action"] == "follow-switch-grid-prequalification"
    assert versions[-2]["record"]["OrganisationId"] == "FSP-ACME"


def test_QUAL_VAL_025_an_application_names_a_unit_of_the_fsps_on_this_node(node):
    """The register passes the market-unit kind: an application names one of the applying
    FSP's units held on this node; another FSP's unit or no unit at all is refused."""
    from common.vocab import FMAR

    mine = new_unit()
    assert applied(node, UnitId=mine)["UnitId"] == mine
    theirs = UNITS[0].create({"Name": "Theirs", "OrganisationId": "FSP-OTHER", "UnitType": "SPU",
                              "ConnectionMPAN": "1000000000011"}, CALLERS["fsp2"]).record_id
    for unit in (theirs, str(uuid.uuid4())):  # another FSP's; none at all
        with node.client("fsp") as c:
            refused = c.post("/qualification-applications", json=application(UnitId=unit))
        assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-025"), unit
    assert FMAR.forUnit  # the link is the unit's IRI (fmar:forUnit)


def test_QUAL_VAL_026_one_outcome_per_application(node):
    app = applied(node)
    first = recorded(node, app)
    with node.client("neso") as c:
        again = c.post("/qualifications", json=outcome(app, State="in_progress"))
        # changing the first one is not a second one
        changed = c.put(f"/qualifications/{first['QualificationId']}",
                        json=outcome(app, Conditions="Only weekdays."), headers={"If-Match": "*"})
    assert (again.status_code, again.json()["code"]) == (422, "QUAL-VAL-026")
    assert again.json()["details"]["id"] == first["QualificationId"]
    assert changed.status_code == 200, changed.text


def test_QUAL_VAL_027_one_grid_prequalification_per_unit_and_area(node):
    body = {"UnitId": str(uuid.uuid4()), "OrganisationId": "FSP-ACME",
            "DNOConnection": "UKPN_EPN"}
    with node.client("dno") as c:
        assert c.post("/grid-prequalifications", json=body).status_code == 201
        again = c.post("/grid-prequalifications", json=body)
        other_area = c.post("/grid-prequalifications", json={**body, "DNOConnection": "UKPN_SPN"})
    assert (again.status_code, again.json()["code"]) == (422, "QUAL-VAL-027")
    assert other_area.status_code == 201


# ---------------------------------------------------------------- the product register


@pytest.mark.parametrize("product_iri", [
    "https://id.fmar.uk/asset/5f0c8e2a-6b1d-4c3e-9a7f-2d4b6c8e0a1b",
    "https://id.fmar.uk/market-unit/5f0c8e2a-6b1d-4c3e-9a7f-2d4b6c8e0a1b",
    "https://id.fmar.uk/product/DC/../BM",
    "https://id.fmar.uk/product/dc",
], ids=["asset", "market-unit", "dot-segments", "lower-case"])
def test_QUAL_VAL_002_a_product_iri_of_another_kind_is_refused(node, product_iri):
    with node.client("fsp") as c:
        refused = c.post("/qualification-applications", json=application(Product=product_iri))
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL"), refused.text
    assert {v["rule"] for v in refused.json()["details"]["violations"]} == {"QUAL-VAL-002"}


def test_QUAL_VAL_030_a_product_not_in_the_register(node):
    before = len(node.app.state.register.applications.every(CALLERS["fsp"]))
    for named in ("NOT_A_PRODUCT", "https://id.fmar.uk/product/NOT_A_PRODUCT"):
        with node.client("fsp") as c:
            refused = c.post("/qualification-applications", json=application(Product=named))
        assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-030")
        assert refused.json()["details"]["product"].endswith("/NOT_A_PRODUCT")
    app = applied(node)  # an outcome naming an unknown product: the same refusal
    with node.client("neso") as c:
        refused = c.post("/qualifications", json=outcome(app, Product="NOT_A_PRODUCT"))
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-030")
    assert len(node.app.state.register.applications.every(CALLERS["fsp"])) == before + 1


def test_QUAL_VAL_031_a_withdrawn_proposed_or_ended_product_is_not_open(node):
    made = product(node, "TEST_RETIRED")
    app = applied(node, Product="TEST_RETIRED")  # open: applications and outcomes accepted
    with node.client("facilitator") as c:
        c.post(f"/products/{made['ProductVersionId']}/retire",
               headers={"If-Match": "*"}).raise_for_status()
    for who, path, body in (("fsp", "/qualification-applications",
                             application(Product="TEST_RETIRED")),
                            ("neso", "/qualifications", outcome(app))):
        with node.client(who) as c:
            refused = c.post(path, json=body)
        assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-031"), path
        assert refused.json()["details"]["statuses"] == ["Retired"]
    product(node, "TEST_PROPOSED", Status="Proposed")
    product(node, "TEST_ENDED", ValidTo="2025-12-31")
    for code in ("TEST_PROPOSED", "TEST_ENDED"):
        with node.client("fsp") as c:
            refused = c.post("/qualification-applications", json=application(Product=code))
        assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-031"), code
    with node.client("fsp") as c:
        listed = {i["code"] for i in c.get("/qualification-products").json()["items"]}
    assert not listed & {"TEST_RETIRED", "TEST_PROPOSED", "TEST_ENDED"}
    # next season's terms, approved already: open (applications come before the season)
    product(node, "TEST_NEXT", ValidFrom="2099-01-01")
    assert applied(node, Product="TEST_NEXT")["Product"] == "TEST_NEXT"


def test_QUAL_VAL_032_an_operator_that_is_not_a_procurer_records_no_outcome(node):
    product(node, "TEST_PROCURED", ProcuringOrganisations="NESO-OTHER")
    app = applied(node, Product="TEST_PROCURED")  # the FSP applies; NESO is not a procurer
    with node.client("neso") as c:
        refused = c.post("/qualifications", json=outcome(app))
    assert (refused.status_code, refused.json()["code"]) == (403, "QUAL-VAL-032")
    assert refused.json()["details"]["procurers"] == ["NESO-OTHER"]
    assert "TEST_PROCURED" not in {t.code for t in node.app.state.register.product_register
                                   .procured_by(CALLERS["neso"])}
    product(node, "TEST_PROCURED_NESO", ProcuringOrganisations="NESO-OTHER NESO")
    recorded(node, applied(node, Product="TEST_PROCURED_NESO"))


def test_QUAL_VAL_033_a_dno_outside_the_procuring_areas_records_no_outcome(node):
    app = applied(node, Product="DSO_VAOU_DA")  # procured in ENWL (the demo's register)
    with node.client("dno") as c:  # UKPN's DNO
        refused = c.post("/qualifications", json=outcome(app))
    assert (refused.status_code, refused.json()["code"]) == (403, "QUAL-VAL-033")
    assert refused.json()["details"]["procuring_areas"] == ["ENWL"]
    product(node, "TEST_DSO_NOWHERE", SystemOperator="DNO")  # no ProcuringAreas
    with node.client("fsp") as c:
        nowhere = c.post("/qualification-applications",
                         json=application(Product="TEST_DSO_NOWHERE"))
    assert (nowhere.status_code, nowhere.json()["code"]) == (403, "QUAL-VAL-033")


def test_QUAL_VAL_039_the_register_cannot_be_read_nothing_is_stored(node, tmp_path):
    from tests.harness.processes import free_port

    register = node.app.state.register
    down = NodeSettings(data_dir=tmp_path, trust_url=f"https://127.0.0.1:{free_port()}",
                        client_id="NODE-FSP")  # nothing listens there
    before = len(register.applications.every(CALLERS["fsp"]))
    register.product_register.use(RemoteRegister(down), 60, "the node serving Product")
    try:
        with node.client("fsp") as c:
            refused = c.post("/qualification-applications", json=application())
            listed = c.get("/qualification-products")
        assert (refused.status_code, refused.json()["code"]) == (503, "QUAL-VAL-039")
        assert (listed.status_code, listed.json()["code"]) == (503, "QUAL-VAL-039")
        assert len(register.applications.every(CALLERS["fsp"])) == before
    finally:
        register.product_register.use(register._product_versions, 0, "this node's store")
    assert applied(node)["State"] == "requested"


def test_a_transition_does_not_read_the_register_again(node, tmp_path):
    """A move keeps the product and its operator areas: it is judged without the
    register (a register that is down does not stop the operator's work)."""
    from tests.harness.processes import free_port

    register = node.app.state.register
    qual = recorded(node, applied(node, Product="DSO_SU"), who="dno")
    down = NodeSettings(data_dir=tmp_path, trust_url=f"https://127.0.0.1:{free_port()}",
                        client_id="NODE-DNO")
    register.product_register.use(RemoteRegister(down), 60, "the node serving Product")
    try:
        moved = move(node, "dno", f"/qualifications/{qual['QualificationId']}", "in_progress")
        assert moved.status_code == 200, moved.text
    finally:
        register.product_register.use(register._product_versions, 0, "this node's store")


def test_the_node_reads_the_register_with_its_own_products_read_scope():
    reader = Caller("node", "NESO", frozenset(), frozenset({"products:read"}))
    policy.require_scopes(reader, policy.POLICY[("product", "read")].scopes)
    with pytest.raises(policy.Denied) as denied:  # not a scope for anything else
        policy.require_scopes(reader, policy.POLICY[("qualification", "read")].scopes)
    assert denied.value.code == "POL-001"
