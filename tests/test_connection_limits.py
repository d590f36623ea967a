"""Connection limits, the third record kind, through the API: written by a DNO or IDNO in
its licence areas (POL-008), read as assets are (POL-003), checked against
shapes/connection_limit.ttl (GICM-VAL-001..026), versioned and audited by the one write
path; a DNO's whole book imported as CSV (node/kinds/limit_import.py); an asset's
capability capped by the limits in force (`effective_capability`)."""

from __future__ import annotations

import json
import uuid
from datetime import date, time

import pytest

from common.errors import Denied, NotFound
from node import policy
from node.audit import verify
from node.identity import Caller
from node.inputs import csv_text
from node.kinds.connection_limits import CONNECTION_LIMIT, effective_capability
from node.records.kind import Facts
from node.records.status import Action
from tests.conftest import CALLERS

ASSET_ID = str(uuid.uuid4())
WINTER_PEAK = {"Season": "WINTER", "From": "16:00", "To": "19:00", "ExportLimit": 500}


def limit(**changes):
    body = {"AssetId": ASSET_ID, "OrganisationId": "FSP-ACME", "DNOConnection": "UKPN_EPN",
            "LimitType": "FIRM", "ExportLimit": 6000.0, "ValidFrom": "2026-01-01"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def created(node, body=None):
    with node.client("dno") as c:
        response = c.post("/connection-limits", json=body or limit())
    assert response.status_code == 201, response.text
    return response


def refused_rules(node, body) -> set[str]:
    with node.client("dno") as c:
        refused = c.post("/connection-limits", json=body)
    assert (refused.status_code, refused.json()["code"]) == (422, "LIM-VAL"), refused.text
    return {v["rule"] for v in refused.json()["details"]["violations"]}


def test_a_dno_sets_a_limit_that_the_asset_holder_the_dno_and_neso_read(node):
    response = created(node)
    body = response.json()
    assert body["SetBy"] == "DNO-UKPN" and body["Version"] == 1
    assert body["ExportLimit"] == 6000.0 and body["AssetId"] == ASSET_ID
    assert body["LimitType"] == "FIRM" and body["ValidFrom"] == "2026-01-01"
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
    assert body["LimitId"] in [i["LimitId"] for i in mine["items"]]


def test_every_field_and_a_time_profile_round_trip(node):
    sent = limit(LimitType="ANM", ImportLimit=250, ConstraintZone="Norwich GSP",
                 ANMScheme="EPN-ANM-3", CurtailmentOrder=4, ValidTo="2027-12-31",
                 Reason="Thermal constraint at Norwich Main",
                 TimeProfile=[WINTER_PEAK, {"Season": "SUMMER", "From": "00:00", "To": "24:00",
                                            "ImportLimit": 100, "ExportLimit": 3000}])
    body = created(node, sent).json()
    for name in ("LimitType", "ConstraintZone", "ANMScheme", "CurtailmentOrder", "ValidTo",
                 "Reason", "ImportLimit"):
        assert body[name] == sent[name], name
    assert body["TimeProfile"] == [WINTER_PEAK, {"Season": "SUMMER", "From": "00:00",
                                                 "To": "24:00", "ImportLimit": 100,
                                                 "ExportLimit": 3000}]
    # the bands are child resources of the limit, in its graph
    bands = node.app.state.register.store.select(
        "SELECT ?b WHERE { GRAPH ?g { ?l <https://id.fmar.uk/def/fmar#timeBand> ?b } "
        f"FILTER (?g = <{body['id']}>) }}")
    assert sorted(s["b"].value for s in bands) == [f"{body['id']}#band-1", f"{body['id']}#band-2"]


def test_a_profile_of_many_bands_keeps_its_order_through_a_change(node):
    hours = [{"Season": "WINTER", "From": f"{h:02d}:00", "To": f"{h + 1:02d}:00",
              "ExportLimit": h} for h in range(12)]
    first = created(node, limit(LimitType="TIMED", TimeProfile=hours)).json()
    assert first["TimeProfile"] == hours
    from node.kinds.connection_limits import LimitRecord

    record = node.app.state.register.limits.existing(first["LimitId"])
    assert isinstance(record, LimitRecord)
    assert [dict(b)["https://id.fmar.uk/def/fmar#bandExportLimit"] for b in
            record.band_properties()] == [
        f'"{h}"^^<http://www.w3.org/2001/XMLSchema#decimal>' for h in range(12)]


def test_a_limit_on_a_connection_point_names_its_mpan_and_site(node):
    body = created(node, limit(AssetId=None, MPAN="1200023456789", Site="Fen Farm")).json()
    assert (body["MPAN"], body["Site"]) == ("1200023456789", "Fen Farm") and "AssetId" not in body
    with node.client("fsp") as c:
        found = c.get("/connection-limits", params={"mpan": "1200023456789"}).json()
    with node.client("fsp2") as c:
        hidden = c.get("/connection-limits", params={"mpan": "1200023456789"}).json()
    assert body["LimitId"] in [i["LimitId"] for i in found["items"]]
    assert {i["MPAN"] for i in found["items"]} == {"1200023456789"} and hidden["items"] == []


@pytest.mark.parametrize("who, changes", [
    ("fsp", {}),  # not a DNO or IDNO
    ("dno", {"DNOConnection": "ENWL"}),  # not one of its licence areas
], ids=["POL-008-not-a-dno", "POL-008-outside-its-areas"])
def test_POL_008_only_a_dno_in_its_licence_areas_sets_limits(node, who, changes):
    with node.client(who) as c:
        refused = c.post("/connection-limits", json=limit(**changes))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-008")


TIMED = {"LimitType": "TIMED", "ExportLimit": None}


BAD = [
    ({"AssetId": "not-a-uuid"}, "GICM-VAL-001"),
    ({"OrganisationId": None}, "GICM-VAL-002"),
    ({"DNOConnection": "ATLANTIS"}, "GICM-VAL-003"),
    ({"ExportLimit": -1}, "GICM-VAL-004"),
    ({"ImportLimit": "lots"}, "GICM-VAL-005"),
    ({"ExportLimit": None}, "GICM-VAL-007"),
    ({"AssetId": None, "MPAN": "1200023456789"}, "GICM-VAL-008"),
    ({"MPAN": "12-34"}, "GICM-VAL-009"),
    ({"Site": "x" * 201}, "GICM-VAL-010"),
    ({"LimitType": "SOMETIMES"}, "GICM-VAL-011"),
    ({"LimitType": None}, "GICM-VAL-011"),
    ({"LimitType": "TIMED"}, "GICM-VAL-012"),
    ({"LimitType": "EXPORT_ONLY", "ImportLimit": 5}, "GICM-VAL-013"),
    ({"LimitType": "EXPORT_ONLY", "TimeProfile": [{**WINTER_PEAK, "ImportLimit": 1}]},
     "GICM-VAL-013"),
    ({"LimitType": "ANM"}, "GICM-VAL-014"),
    ({"ConstraintZone": "z" * 101}, "GICM-VAL-015"),
    ({"ANMScheme": "s" * 101}, "GICM-VAL-016"),
    ({"CurtailmentOrder": 0}, "GICM-VAL-017"),
    ({"CurtailmentOrder": "first"}, "GICM-VAL-017"),
    ({"ValidFrom": None}, "GICM-VAL-018"),
    ({"ValidFrom": "2026-02-30"}, "GICM-VAL-018"),
    ({"ValidTo": "soon"}, "GICM-VAL-019"),
    ({"ValidTo": "2025-12-31"}, "GICM-VAL-020"),
    ({"ValidTo": "2026-01-01"}, "GICM-VAL-020"),  # a one-day limit needs To after From
    ({"Reason": "r" * 1001}, "GICM-VAL-021"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "Season": "MONSOON"}]}, "GICM-VAL-022"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "Season": None}]}, "GICM-VAL-022"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "From": "25:00"}]}, "GICM-VAL-023"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "To": None}]}, "GICM-VAL-023"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "From": "7pm"}]}, "GICM-VAL-023"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "From": "19:00", "To": "16:00"}]},
     "GICM-VAL-024"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "ExportLimit": None}]}, "GICM-VAL-025"),
    ({**TIMED, "TimeProfile": [{**WINTER_PEAK, "ExportLimit": -3}]}, "GICM-VAL-025"),
    ({**TIMED, "TimeProfile": [WINTER_PEAK, {**WINTER_PEAK, "From": "18:00", "To": "20:00"}]},
     "GICM-VAL-026"),
    ({**TIMED, "TimeProfile": [WINTER_PEAK, {**WINTER_PEAK, "Season": "ALL_YEAR",
                                             "From": "07:00", "To": "16:30"}]},
     "GICM-VAL-026"),
]


@pytest.mark.parametrize("changes, rule", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_GICM_VAL_rules_refuse_a_malformed_limit(node, changes, rule):
    assert refused_rules(node, limit(**changes)) == {rule}


@pytest.mark.parametrize("changes", [
    {"LimitType": "EXPORT_ONLY", "ImportLimit": 0},  # GICM-VAL-013 allows import 0
    {**TIMED, "TimeProfile": [WINTER_PEAK, {**WINTER_PEAK, "From": "19:00", "To": "24:00"}]},
    {**TIMED, "TimeProfile": [WINTER_PEAK, {**WINTER_PEAK, "Season": "SUMMER"}]},
    {"LimitType": "ANM", "ANMScheme": "EPN-ANM-3", "CurtailmentOrder": 1},
], ids=["GICM-VAL-013-import-0", "GICM-VAL-026-adjacent", "GICM-VAL-026-other-season",
        "GICM-VAL-014-named"])
def test_GICM_VAL_rules_accept_the_valid_neighbours(node, changes):
    created(node, limit(**changes))


def test_GICM_VAL_rules_give_the_reference_engines_answer():
    """The compiled validator and pyshacl (the reference engine) find the same rules on
    every malformed limit above and on a valid one."""
    import pyshacl
    from rdflib import Graph
    from rdflib.namespace import RDF, SH

    from node.kinds.connection_limits import SHAPES_FILE, band_lines, limit_input
    from node.records.service import record_text, shape_set
    from node.validation import Validator, _rule_of

    shapes = Graph().parse(SHAPES_FILE)
    for changes, rule in [*BAD, ({}, None)]:
        iri = f"https://id.fmar.uk/connection-limit/{uuid.uuid4()}"
        props, bands = limit_input(limit(**changes))
        text = record_text(CONNECTION_LIMIT, iri, props, set_by="DNO-UKPN", version=1,
                           created="2026-01-01T00:00:00Z", modified="2026-01-01T00:00:00Z",
                           children=band_lines(iri, bands))
        compiled = {v.rule for v in Validator().validate(text, shape_set(CONNECTION_LIMIT),
                                                         [iri])}
        _, report, _ = pyshacl.validate(Graph().parse(data=text, format="nt"),
                                        shacl_graph=shapes, inference="none", advanced=True)
        reference = {_rule_of(shapes, report.value(r, SH.sourceConstraint),
                              report.value(r, SH.sourceShape))
                     for r in report.subjects(RDF.type, SH.ValidationResult)}
        assert compiled == reference == ({rule} if rule else set()), (changes, compiled,
                                                                       reference)


def test_GICM_VAL_006_the_setter_is_kept_by_the_node():
    from node.kinds.asset_records import VALIDATOR
    from node.kinds.connection_limits import CONNECTION_LIMIT
    from node.records.service import shape_set

    iri = f"https://id.fmar.uk/connection-limit/{uuid.uuid4()}"
    fmar = "https://id.fmar.uk/def/fmar#"
    text = (f"<{iri}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{fmar}ConnectionLimit> .\n"
            f'<{iri}> <{fmar}exportLimit> "1.0"^^<http://www.w3.org/2001/XMLSchema#decimal> .')
    rules = {v.rule for v in VALIDATOR.validate(text, shape_set(CONNECTION_LIMIT), [iri])}
    assert {"GICM-VAL-002", "GICM-VAL-003", "GICM-VAL-006", "GICM-VAL-008",
            "GICM-VAL-011", "GICM-VAL-018"} == rules


def test_GICM_VAL_messages_carry_their_rule_id():
    from rdflib import Graph
    from rdflib.namespace import SH

    from common.vocab import FMAR
    from node.kinds.connection_limits import SHAPES_FILE

    shapes = Graph().parse(SHAPES_FILE)
    rules = sorted(str(r) for r in shapes.objects(None, FMAR.ruleId))
    assert rules == [f"GICM-VAL-{n:03d}" for n in range(1, 27)]
    for shape, rule in shapes.subject_objects(FMAR.ruleId):
        assert str(shapes.value(shape, SH.message)).startswith(f"[{rule}] ")


@pytest.mark.parametrize("body, code", [
    ({**limit(), "Colour": "red"}, "LIM-IN-002"),
    ({**limit(), "SetBy": "NESO"}, "LIM-IN-003"),
    ({**limit(), "ExportLimit": [1, 2]}, "LIM-IN-002"),
    (limit(TimeProfile={"Season": "WINTER"}), "LIM-IN-004"),
    (limit(TimeProfile=[WINTER_PEAK] * 49), "LIM-IN-004"),
    (limit(TimeProfile=[{**WINTER_PEAK, "Colour": "red"}]), "LIM-IN-002"),
    (limit(TimeProfile=["WINTER"]), "LIM-IN-001"),
], ids=["LIM-IN-002-unknown", "LIM-IN-003-state", "LIM-IN-002-list", "LIM-IN-004-object",
        "LIM-IN-004-too-many", "LIM-IN-002-band-field", "LIM-IN-001-band"])
def test_LIM_IN_unreadable_limits_are_400(node, body, code):
    with node.client("dno") as c:
        refused = c.post("/connection-limits", json=body)
    assert (refused.status_code, refused.json()["code"]) == (400, code), refused.text


def test_LIM_IN_001_a_limit_is_a_json_object(node):
    from node.inputs import InputError
    from node.kinds.connection_limits import limit_input

    with node.client("dno") as c:  # the API's request model refuses it first
        refused = c.post("/connection-limits", json=[limit()])
    assert (refused.status_code, refused.json()["code"]) == (422, "REQ-001"), refused.text
    with pytest.raises(InputError) as error:  # a CSV row or any other caller
        limit_input([limit()])
    assert error.value.code == "LIM-IN-001"


def test_changes_need_the_current_version_and_keep_history_and_audit(node):
    first = created(node).json()
    path = f"/connection-limits/{first['LimitId']}"
    with node.client("dno") as c:
        missing = c.put(path, json=limit(ExportLimit=5000))
        stale = c.put(path, json=limit(ExportLimit=5000), headers={"If-Match": '"x.v9"'})
        changed = c.put(path, json=limit(ExportLimit=5000, ImportLimit=100,
                                         TimeProfile=[WINTER_PEAK]),
                        headers={"If-Match": f'"{first["LimitId"]}.v1"'})
        ended = c.put(path, json=limit(ExportLimit=5000, ValidTo="2026-06-30"),
                      headers={"If-Match": f'"{first["LimitId"]}.v2"'})
        history = c.get(f"{path}/history").json()["versions"]
        trail = c.get(f"{path}/audit").json()["entries"]
    assert (missing.status_code, missing.json()["code"]) == (428, "LIM-428")
    assert (stale.status_code, stale.json()["code"]) == (412, "LIM-412")
    assert changed.status_code == 200, changed.text
    assert changed.json()["Version"] == 2 and changed.json()["ImportLimit"] == 100
    assert ended.status_code == 200 and "TimeProfile" not in ended.json()  # bands replaced too
    assert [v["record"]["ExportLimit"] for v in history] == [6000.0, 5000, 5000]
    assert [v["record"].get("TimeProfile") for v in history] == [None, [WINTER_PEAK], None]
    assert [v["action"] for v in history] == ["create-connection-limit",
                                               "update-connection-limit",
                                               "update-connection-limit"]
    assert [(e["action"], e["version"]) for e in trail] == [
        ("create-connection-limit", 1), ("update-connection-limit", 2),
        ("update-connection-limit", 3)]
    assert verify(node.app.state.register.store)[1] == []


def test_a_dno_cannot_move_a_limit_out_of_its_areas(node):
    first = created(node).json()
    with node.client("dno") as c:
        refused = c.put(f"/connection-limits/{first['LimitId']}",
                        json=limit(DNOConnection="ENWL"), headers={"If-Match": "*"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-008")


def test_another_fsp_cannot_read_change_or_remove_a_limit(node):
    first = created(node, limit(TimeProfile=[WINTER_PEAK], LimitType="TIMED")).json()
    path = f"/connection-limits/{first['LimitId']}"
    with node.client("fsp2") as c:
        answers = [c.get(path), c.get(f"{path}/history"), c.get(f"{path}/audit"),
                   c.put(path, json=limit(), headers={"If-Match": "*"}),
                   c.delete(path, headers={"If-Match": "*"})]
        by_asset = c.get("/connection-limits", params={"asset": ASSET_ID}).json()
    assert {(a.status_code, a.json()["code"]) for a in answers} == {(404, "LIM-404")}
    assert by_asset["items"] == []
    with node.client("dno") as c:
        assert c.get(path).json()["Version"] == 1


def test_a_deleted_limit_is_gone_from_queries_but_its_audit_trail_stays(node):
    first = created(node, limit(TimeProfile=[WINTER_PEAK], LimitType="TIMED")).json()
    path = f"/connection-limits/{first['LimitId']}"
    with node.client("fsp") as c:
        assert c.delete(path).json()["code"] == "POL-008"  # the holder does not remove it
    with node.client("dno") as c:
        assert c.delete(path).status_code == 204
        assert c.get(path).status_code == 404
    store = node.app.state.register.store
    assert store.triples(first["id"]) == []
    actions = [s["a"].value for s in store.journal.select(
        "SELECT ?a WHERE { GRAPH <urn:fmar:audit> { ?e <http://www.w3.org/ns/prov#used> "
        f"<{first['id']}> ; <https://id.fmar.uk/def/fmar#action> ?a }} }}")]
    assert sorted(actions) == ["create-connection-limit", "delete-connection-limit"]


# ---------------------------------------------------------------- bulk CSV import

COLUMNS = ["AssetId", "MPAN", "Site", "OrganisationId", "DNOConnection", "LimitType",
           "ExportLimit", "ImportLimit", "ValidFrom", "TimeProfile"]


def book(rows: list[dict]) -> bytes:
    return csv_text([COLUMNS, *([str(r.get(c, "")) for c in COLUMNS] for r in rows)]).encode()


def good_row(**changes) -> dict:
    row = {"AssetId": str(uuid.uuid4()), "OrganisationId": "FSP-ACME",
           "DNOConnection": "UKPN_LPN", "LimitType": "FIRM", "ExportLimit": "250.5",
           "ValidFrom": "2026-04-01"}
    row.update(changes)
    return row


def upload(node, body: bytes, who: str = "dno", **params):
    with node.client(who) as c:
        return c.post("/connection-limits/bulk", content=body, params=params,
                      headers={"Content-Type": "text/csv"})


def test_a_dno_imports_its_whole_book_as_csv(node):
    rows = [good_row() for _ in range(30)]
    rows.append(good_row(AssetId="", MPAN="1900012345678", Site="Dock Road"))
    rows.append(good_row(LimitType="TIMED", ExportLimit="",
                         TimeProfile=json.dumps([WINTER_PEAK])))
    answer = upload(node, book(rows))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["received"], report["stored"], report["rejected"]) == (32, 32, 0)
    assert [r["row"] for r in report["limits"]] == list(range(1, 33))
    with node.client("fsp") as c:
        last = c.get(f"/connection-limits/{report['limits'][-1]['LimitId']}").json()
        first = c.get(f"/connection-limits/{report['limits'][0]['LimitId']}").json()
    assert last["TimeProfile"] == [WINTER_PEAK] and last["SetBy"] == "DNO-UKPN"
    assert first["ExportLimit"] == 250.5 and first["Version"] == 1
    store = node.app.state.register.store
    actions = store.journal.select(
        "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:fmar:audit> { ?e "
        f"<http://www.w3.org/ns/prov#used> <{first['id']}> }} }}")
    assert next(iter(actions))["n"].value == "1"  # audited through the one write path
    assert verify(store)[1] == []


def test_a_book_emits_one_event_per_limit_to_the_parties_entitled_to_it(node):
    start = str(node.app.state.register.unit.outbox.head)
    answer = upload(node, book([good_row(), good_row(OrganisationId="FSP-OTHER")]))
    assert answer.status_code == 200, answer.text
    acme, other = (f"https://id.fmar.uk/connection-limit/{r['LimitId']}"
                   for r in answer.json()["limits"])

    def seen(who: str) -> list[str]:
        with node.client(who) as c:
            page = c.get("/events", params={"after": start, "limit": 1000,
                                            "types": "connection-limit.created"})
        assert page.status_code == 200, page.text
        return [i["record"] for i in page.json()["items"]]

    assert seen("fsp") == [acme] and seen("fsp2") == [other]
    assert seen("dno") == seen("neso") == [acme, other]


def test_LIM_BULK_a_bad_row_stores_nothing_and_names_its_row_and_rule(node):
    with node.client("dno") as c:
        before = c.get("/connection-limits", params={"limit": 1000}).json()["count"]
    rows = [good_row(), good_row(ExportLimit="-5"), good_row(DNOConnection="ENWL"),
            good_row(TimeProfile="[not json")]
    answer = upload(node, book(rows))
    assert (answer.status_code, answer.json()["code"]) == (422, "LIM-BULK"), answer.text
    details = answer.json()["details"]
    assert (details["received"], details["stored"], details["rejected"]) == (4, 0, 3)
    by_row = {e["row"]: {v["rule"] for v in e["violations"]} for e in details["errors"]}
    assert by_row == {2: {"GICM-VAL-004"}, 3: {"POL-008"}, 4: {"LIM-IN-004"}}
    with node.client("dno") as c:
        assert c.get("/connection-limits", params={"limit": 1000}).json()["count"] == before


def test_LIM_BULK_store_valid_keeps_the_good_rows(node):
    answer = upload(node, book([good_row(), good_row(LimitType="SOMETIMES"), good_row()]),
                    mode="store-valid")
    assert answer.status_code == 207, answer.text
    details = answer.json()["details"]
    assert (details["stored"], details["rejected"]) == (2, 1)
    assert [r["row"] for r in details["limits"]] == [1, 3]
    assert details["errors"][0]["row"] == 2
    assert details["errors"][0]["violations"][0]["rule"] == "GICM-VAL-011"


def test_a_book_row_meets_the_kinds_own_rules_as_a_limit_sent_alone(node, monkeypatch):
    from common.errors import Invalid

    limits = node.app.state.register.limits
    export = "https://id.fmar.uk/def/fmar#exportLimit"

    def check(caller, candidate, current):  # a rule beyond the shapes, as a kind may add
        if candidate.value(export) == "13":
            raise Invalid("LIM-VAL", "Unlucky.", {"violations": []})

    monkeypatch.setattr(limits, "check", check)
    answer = upload(node, book([good_row(), good_row(ExportLimit="13")]), mode="store-valid")
    assert answer.status_code == 207, answer.text
    [error] = answer.json()["details"]["errors"]
    assert (error["row"], error["violations"][0]["rule"]) == (2, "LIM-VAL")


def test_LIM_IN_009_the_csv_header_names_limit_fields(node):
    answer = upload(node, b"AssetId,Colour\n" + str(uuid.uuid4()).encode() + b",red\n")
    assert (answer.status_code, answer.json()["code"]) == (400, "LIM-IN-009")
    assert answer.json()["details"]["fields"] == ["Colour"]
    ragged = upload(node, book([good_row()]) + b"a,b\n")
    assert ragged.status_code == 422
    [error] = ragged.json()["details"]["errors"]
    assert (error["row"], error["violations"][0]["rule"]) == (2, "LIM-IN-009")


def test_LIM_IN_013_a_book_has_at_most_the_row_limit(node, monkeypatch):
    from node.kinds import limit_import

    monkeypatch.setattr(limit_import, "MAX_ROWS", 3)
    answer = upload(node, book([good_row() for _ in range(4)]))
    assert (answer.status_code, answer.json()["code"]) == (400, "LIM-IN-013")


def test_an_oversized_book_is_refused_while_it_streams(node):
    limit_bytes = node.app.state.settings.max_bulk_bytes
    row = book([good_row()]).split(b"\n", 1)[1]
    body = book([]) + row * (limit_bytes // len(row) + 2)
    answer = upload(node, body)
    assert (answer.status_code, answer.json()["code"]) == (413, "REQ-413")


def test_bulk_import_is_for_dnos_and_csv_only(node):
    refused = upload(node, book([good_row()]), who="fsp")
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-008")
    with node.client("dno") as c:
        wrong = c.post("/connection-limits/bulk", json=[limit()])
    assert wrong.status_code == 415


# ---------------------------------------------------------------- capability under limits

ASSET = {"AssetId": ASSET_ID, "RatedCapacity": 8000, "GenCapacity": 7000,
         "DemandCapacity": 3000}


def capability(limits, on=date(2026, 1, 15), at=None):
    return effective_capability(ASSET, limits, on, at)


def test_capability_is_the_asset_capacity_capped_by_the_limits_in_force():
    assert capability([]) | {"limits": []} == {
        "on": "2026-01-15", "at": None, "limits": [], "ExportCapability": 7000.0,
        "ImportCapability": 3000.0}
    flat = limit(LimitId="a", ExportLimit=6000, ImportLimit=5000)
    assert (capability([flat])["ExportCapability"], capability([flat])["ImportCapability"]) \
        == (6000.0, 3000.0)
    ended = limit(LimitId="b", ExportLimit=100, ValidTo="2026-01-14")
    future = limit(LimitId="c", ExportLimit=100, ValidFrom="2026-01-16")
    assert capability([flat, ended, future])["limits"] == ["a"]
    assert capability([ended], on=date(2026, 1, 14))["ExportCapability"] == 100.0


def test_capability_follows_the_time_profile_and_export_only():
    timed = limit(LimitId="t", LimitType="TIMED", ExportLimit=None,
                  TimeProfile=[WINTER_PEAK, {"Season": "SUMMER", "From": "00:00", "To": "24:00",
                                             "ExportLimit": 2000}])
    assert capability([timed])["ExportCapability"] == 500.0  # the tightest that winter day
    assert capability([timed], at=time(12, 0))["ExportCapability"] == 7000.0
    assert capability([timed], at=time(17, 30))["ExportCapability"] == 500.0
    assert capability([timed], on=date(2026, 7, 1))["ExportCapability"] == 2000.0
    assert capability([timed], on=date(2026, 4, 1))["ExportCapability"] == 7000.0
    export_only = limit(LimitId="e", LimitType="EXPORT_ONLY")
    assert capability([export_only])["ImportCapability"] == 0.0
    cannot = effective_capability({**ASSET, "CanExport": False}, [], date(2026, 1, 1))
    assert cannot["ExportCapability"] == 0.0
    unknown = effective_capability({}, [limit(ExportLimit=10)], date(2026, 1, 1))
    assert (unknown["ExportCapability"], unknown["ImportCapability"]) == (10.0, None)


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


def test_the_rule_catalogue_cites_tests_of_this_file_that_exist():
    import re
    from pathlib import Path

    from tests import rule_catalogue

    defined = set(re.findall(r"^def (test_\w+)", Path(__file__).read_text(), re.MULTILINE))
    cited = set(re.findall(r"tests/test_connection_limits\.py::(test_\w+)",
                           rule_catalogue.render()))
    assert cited and cited <= defined, cited - defined
    for n in range(1, 27):
        assert f"`GICM-VAL-{n:03d}`" in rule_catalogue.render()
