"""Connection limits, the third record kind, through the API: written by a DNO or IDNO in
its licence areas (POL-008), read as assets are (POL-003), checked against
shapes/connection_limit.ttl (LIM-001..007), versioned and audited by the one write path."""

from __future__ import annotations

import uuid

import pytest

from common.errors import Denied, NotFound
from node import policy
from node.audit import verify
from node.identity import Caller
from node.kinds.connection_limits import CONNECTION_LIMIT
from node.records.kind import Facts
from node.records.status import Action
from tests.conftest import CALLERS

ASSET_ID = str(uuid.uuid4())


def limit(**changes):
    body = {"AssetId": ASSET_ID, "OrganisationId": "FSP-ACME", "DNOConnection": "UKPN_EPN",
            "ExportLimit": 6000.0}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def created(node, body=None):
    with node.client("dno") as c:
        response = c.post("/connection-limits", json=body or limit())
    assert response.status_code == 201, response.text
    return response


def test_a_dno_sets_a_limit_that_the_asset_holder_the_dno_and_neso_read(node):
    response = created(node)
    body = response.json()
    assert body["SetBy"] == "DNO-UKPN" and body["Version"] == 1
    assert body["ExportLimit"] == 6000.0 and body["AssetId"] == ASSET_ID
    assert response.headers["location"] == f"/connection-limits/{body['LimitId']}"
    assert response.headers["etag"] == f'"{body["LimitId"]}.v1"'
    path = response.headers["location"]
    for who in ("fsp", "dno", "neso"):
        with node.client(who) as c:
            assert c.get(path).status_code == 200, who
    with node.client("fsp2") as c:  # another organisation: as if it did not exist
        hidden = c.get(path)
        listed = c.get("/connection-limits").json()
    assert (hidden.status_code, hidden.json()["code"]) == (404, "LIM-404")
    assert body["LimitId"] not in {i["LimitId"] for i in listed["items"]}
    with node.client("fsp") as c:
        mine = c.get("/connection-limits", params={"asset": ASSET_ID}).json()
    assert [i["LimitId"] for i in mine["items"]] == [body["LimitId"]]


@pytest.mark.parametrize("who, changes", [
    ("fsp", {}),  # not a DNO or IDNO
    ("dno", {"DNOConnection": "ENWL"}),  # not one of its licence areas
], ids=["POL-008-not-a-dno", "POL-008-outside-its-areas"])
def test_POL_008_only_a_dno_in_its_licence_areas_sets_limits(node, who, changes):
    with node.client(who) as c:
        refused = c.post("/connection-limits", json=limit(**changes))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-008")


@pytest.mark.parametrize("changes, rule", [
    ({"ExportLimit": None}, "LIM-007"),
    ({"AssetId": "not-a-uuid"}, "LIM-001"),
    ({"OrganisationId": None}, "LIM-002"),
    ({"DNOConnection": "ATLANTIS"}, "LIM-003"),
    ({"ExportLimit": -1}, "LIM-004"),
    ({"ImportLimit": "lots"}, "LIM-005"),
], ids=["LIM-007", "LIM-001", "LIM-002", "LIM-003", "LIM-004", "LIM-005"])
def test_LIM_rules_refuse_a_malformed_limit(node, changes, rule):
    with node.client("dno") as c:
        refused = c.post("/connection-limits", json=limit(**changes))
    assert (refused.status_code, refused.json()["code"]) == (422, "LIM-VAL"), refused.text
    assert rule in {v["rule"] for v in refused.json()["details"]["violations"]}


def test_LIM_006_the_setter_is_kept_by_the_node():
    from node.kinds.asset_records import VALIDATOR
    from node.kinds.connection_limits import CONNECTION_LIMIT
    from node.records.service import shape_set

    iri = f"https://id.fmar.uk/connection-limit/{uuid.uuid4()}"
    fmar = "https://id.fmar.uk/def/fmar#"
    text = (f"<{iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{fmar}ConnectionLimit> .\n"
            f'<{iri}> <{fmar}exportLimit> "1.0"^^<http://www.w3.org/2001/XMLSchema#decimal> .')
    rules = {v.rule for v in VALIDATOR.validate(text, shape_set(CONNECTION_LIMIT), [iri])}
    assert {"LIM-001", "LIM-002", "LIM-003", "LIM-006"} <= rules and "LIM-007" not in rules


@pytest.mark.parametrize("body, code", [
    ({**limit(), "Colour": "red"}, "LIM-IN-002"),
    ({**limit(), "SetBy": "NESO"}, "LIM-IN-003"),
    ({**limit(), "ExportLimit": [1, 2]}, "LIM-IN-002"),
], ids=["LIM-IN-002-unknown", "LIM-IN-003-state", "LIM-IN-002-list"])
def test_LIM_IN_unreadable_limits_are_400(node, body, code):
    with node.client("dno") as c:
        refused = c.post("/connection-limits", json=body)
    assert (refused.status_code, refused.json()["code"]) == (400, code), refused.text


def test_changes_need_the_current_version_and_keep_history_and_audit(node):
    first = created(node).json()
    path = f"/connection-limits/{first['LimitId']}"
    with node.client("dno") as c:
        missing = c.put(path, json=limit(ExportLimit=5000))
        stale = c.put(path, json=limit(ExportLimit=5000), headers={"If-Match": '"x.v9"'})
        changed = c.put(path, json=limit(ExportLimit=5000, ImportLimit=100),
                        headers={"If-Match": f'"{first["LimitId"]}.v1"'})
        history = c.get(f"{path}/history").json()["versions"]
        trail = c.get(f"{path}/audit").json()["entries"]
    assert (missing.status_code, missing.json()["code"]) == (428, "LIM-428")
    assert (stale.status_code, stale.json()["code"]) == (412, "LIM-412")
    assert changed.status_code == 200, changed.text
    assert changed.json()["Version"] == 2 and changed.json()["ImportLimit"] == 100
    assert [v["record"]["ExportLimit"] for v in history] == [6000.0, 5000]
    assert [v["action"] for v in history] == ["create-connection-limit",
                                               "update-connection-limit"]
    assert [(e["action"], e["version"]) for e in trail] == [
        ("create-connection-limit", 1), ("update-connection-limit", 2)]
    assert verify(node.app.state.register.store)[1] == []


def test_a_dno_cannot_move_a_limit_out_of_its_areas(node):
    first = created(node).json()
    with node.client("dno") as c:
        refused = c.put(f"/connection-limits/{first['LimitId']}",
                        json=limit(DNOConnection="ENWL"), headers={"If-Match": "*"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-008")


def test_a_deleted_limit_is_gone_from_queries_but_its_audit_trail_stays(node):
    first = created(node).json()
    path = f"/connection-limits/{first['LimitId']}"
    with node.client("fsp") as c:
        assert c.delete(path).json()["code"] == "POL-008"  # the holder does not remove it
    with node.client("dno") as c:
        assert c.delete(path).status_code == 204
        assert c.get(path).status_code == 404
    store = node.app.state.register.store
    assert store.triples(first["id"]) == []
    actions = [s["a"].value for s in store.select(
        "SELECT ?a WHERE { GRAPH <urn:fmar:audit> { ?e <http://www.w3.org/ns/prov#used> "
        f"<{first['id']}> ; <https://id.fmar.uk/def/fmar#action> ?a }} }}")]
    assert sorted(actions) == ["create-connection-limit", "delete-connection-limit"]


# ---------------------------------------------------------------- the policy table


def test_policy_is_one_table_read_by_one_function():
    dno, fsp = CALLERS["dno"], CALLERS["fsp"]
    epn = Facts("FSP-ACME", "UKPN_EPN")
    policy.authorise(dno, "connection-limit", Action.CREATE_LIMIT, epn)
    policy.authorise(fsp, "connection-limit", "read", epn)
    with pytest.raises(Denied) as denied:
        policy.authorise(fsp, "connection-limit", Action.CREATE_LIMIT, epn)
    assert denied.value.code == "POL-008"
    with pytest.raises(NotFound) as hidden:  # a record the caller may not read is not there
        policy.authorise(CALLERS["fsp2"], "connection-limit", Action.UPDATE_LIMIT, epn)
    assert hidden.value.code == "LIM-404"
    no_scope = Caller("x", "DNO-UKPN", frozenset({"DNO"}), frozenset(), frozenset({"UKPN_EPN"}))
    with pytest.raises(Denied) as scope:
        policy.authorise(no_scope, "connection-limit", Action.CREATE_LIMIT, epn)
    assert scope.value.code == "POL-001"
    assert CONNECTION_LIMIT.name == "connection-limit"
    for (kind, action), rule in policy.POLICY.items():
        assert rule.scopes, (kind, action)
        assert all(c.rule.startswith("POL-") for c in rule.checks)
