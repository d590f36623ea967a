"""The asset register API over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from rdflib import Graph

from common.mpan import make_mpan
from node.api.categories import CATEGORY_BODY
from tests.assets import bess, heat_pump, to_csv
from tests.conftest import RunningNode, reconfigure


def register(node: RunningNode, asset: dict, who: str = "fsp") -> httpx.Response:
    with node.client(who) as c:
        return c.post("/assets", json=asset)


def created(node: RunningNode, asset: dict, who: str = "fsp") -> dict:
    response = register(node, asset, who)
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- registration and reading


def test_register_json_returns_iri_location_and_etag(node):
    response = register(node, bess())
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == f"https://id.fmar.uk/asset/{body['AssetId']}"
    assert "node" not in body["id"] and node.url not in body["id"]
    assert response.headers["location"] == f"/assets/{body['AssetId']}"
    assert response.headers["etag"] == f'"{body["AssetId"]}.v1"'
    assert body["ValidationStatus"] == "Pending" and body["RegistrationStatus"] == "Active"
    with node.client() as c:
        again = c.get(response.headers["location"])
    assert again.status_code == 200
    assert again.json()["AssetName"] == body["AssetName"]
    assert again.headers["etag"] == response.headers["etag"]


def test_read_with_content_negotiation(node):
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    with node.client() as c:
        turtle = c.get(path, headers={"Accept": "text/turtle"})
        jsonld = c.get(path, headers={"Accept": "application/ld+json"})
        ntriples = c.get(path, params={"format": "nt"})
        context = c.get("/context.jsonld")
        refused = c.get(path, headers={"Accept": "image/png"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    g_turtle = Graph().parse(data=turtle.text, format="turtle")
    g_nt = Graph().parse(data=ntriples.text, format="nt")
    assert len(g_turtle) == len(g_nt) > 15
    doc = jsonld.json()
    doc["@context"] = context.json()["@context"]
    g_jsonld = Graph().parse(data=json.dumps(doc), format="json-ld")
    subject = f"https://id.fmar.uk/asset/{body['AssetId']}"
    fmar = "https://id.fmar.uk/def/fmar#"
    for g in (g_turtle, g_jsonld):
        from rdflib import URIRef

        assert str(g.value(URIRef(subject), URIRef(fmar + "assetCategory"))).endswith("/BESS")
    assert refused.status_code == 406 and refused.json()["code"] == "REQ-406"


def test_register_turtle_and_jsonld(node):
    turtle = """@prefix fmar: <https://id.fmar.uk/def/fmar#> .
@prefix code: <https://id.fmar.uk/def/code/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
[] a fmar:Asset ; fmar:assetName "HP from Turtle" ;
  fmar:assetCategory <https://id.fmar.uk/def/code/AssetCategory/HEAT_PUMP> ;
  fmar:ratedCapacity 9.5 ; fmar:demandCapacity 9.5 ;
  fmar:demandTechType <https://id.fmar.uk/def/code/DemandTechType/HEAT_PUMP> ;
  fmar:effectiveDate "2025-01-01"^^xsd:date ;
  fmar:connectionStatus <https://id.fmar.uk/def/code/ConnectionStatus/CONNECTED> ;
  fmar:connectionType <https://id.fmar.uk/def/code/ConnectionType/FIRM> ;
  fmar:dnoConnection <https://id.fmar.uk/def/code/DNOCode/ENWL> ; fmar:importMPAN "1600000000038" .
"""
    with node.client() as c:
        r1 = c.post("/assets", content=turtle, headers={"Content-Type": "text/turtle"})
        jsonld = {
            "@context": "/context.jsonld",
            "@type": "Asset",
            "AssetName": "HP from JSON-LD",
            "AssetCategory": "acat:HEAT_PUMP",
            "RatedCapacity": 7,
            "DemandCapacity": 7,
            "FuelType_DemandTechType": "dt:HEAT_PUMP",
            "EffectiveDate": "2025-02-01",
            "ConnectionStatus": "cs:CONNECTED",
            "ConnectionType": "ct:FIRM",
            "DNOConnection": "dno:ENWL",
            "ImportMPAN": "1600000000029",
        }
        r2 = c.post("/assets", content=json.dumps(jsonld),
                    headers={"Content-Type": "application/ld+json"})
    assert r1.status_code == 201, r1.text
    assert r1.json()["OrganisationId"] == "FSP-ACME"  # defaults to the caller's organisation
    assert r2.status_code == 201, r2.text
    assert r2.json()["AssetCategory"] == "HEAT_PUMP" and r2.json()["RatedCapacity"] == 7


def test_validation_failure_lists_every_violation_and_stores_nothing(node):
    bad = bess(GenCapacity=900, ImportMPAN="1000000000009", CommissioningDate="2099-01-01")
    with node.client("neso") as c:
        before = c.get("/assets", params={"limit": 1000}).json()["count"]
    response = register(node, bad)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "ARM-VAL"
    rules = {v["rule"] for v in body["details"]["violations"]}
    assert {"ARM-VAL-013", "ARM-VAL-020", "ARM-VAL-021", "ARM-VAL-025"} <= rules
    for violation in body["details"]["violations"]:
        assert violation["focus"].startswith("https://id.fmar.uk/asset/")
        assert violation["message"].startswith(f"[{violation['rule']}]")
    mpan = next(v for v in body["details"]["violations"] if v["rule"] == "ARM-VAL-020")
    assert mpan["path"].endswith("importMPAN") and mpan["value"] == "1000000000009"
    with node.client("neso") as c:
        assert c.get("/assets", params={"limit": 1000}).json()["count"] == before


# ---------------------------------------------------------------- search


def test_search_filters_and_paging(node):
    ids = {created(node, bess(dno="NPG_YK", RatedCapacity=2000, GenCapacity=2000,
                              InstalledCapacity=2000, ConnectionType="DYNAMIC"))["AssetId"]
           for _ in range(5)}
    created(node, heat_pump(dno="NPG_YK"))
    with node.client() as c:
        found = c.get("/assets", params={"dno": "NPG_YK", "category": "BESS",
                                         "connection_type": "DYNAMIC",
                                         "min_capacity": 1500, "gsp_group": "_M"}).json()
        assert {a["AssetId"] for a in found["items"]} == ids
        too_small = c.get("/assets", params={"dno": "NPG_YK", "max_capacity": 100}).json()
        assert all(a["RatedCapacity"] <= 100 for a in too_small["items"])
        assert too_small["count"] >= 1
        page1 = c.get("/assets", params={"dno": "NPG_YK", "category": "BESS", "limit": 3}).json()
        page2 = c.get("/assets", params={"dno": "NPG_YK", "category": "BESS", "limit": 3,
                                         "after": page1["next"]}).json()
    assert len(page1["items"]) == 3 and "next" in page1
    assert {a["AssetId"] for a in page1["items"] + page2["items"]} == ids
    assert "next" not in page2


def test_search_refuses_injection_in_filters(node):
    with node.client() as c:
        response = c.get("/assets", params={"category": 'BESS> } } ; DROP ALL #'})
    assert response.status_code == 400 and response.json()["code"] == "ARM-IN-010"


# ---------------------------------------------------------------- updates


def test_put_and_patch_need_the_current_etag(node):
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    changed = {k: v for k, v in body.items() if k in bess()}
    changed["AssetName"] = "Renamed by PUT"
    with node.client() as c:
        no_etag = c.put(path, json=changed)
        assert no_etag.status_code == 428 and no_etag.json()["code"] == "ARM-428"
        v2 = c.put(path, json=changed, headers={"If-Match": f'"{body["AssetId"]}.v1"'})
        assert v2.status_code == 200 and v2.json()["Version"] == 2
        stale = c.patch(path, json={"AssetName": "stale"},
                        headers={"If-Match": f'"{body["AssetId"]}.v1"'})
        assert stale.status_code == 412 and stale.json()["code"] == "ARM-412"
        assert c.get(path).json()["AssetName"] == "Renamed by PUT"
        v3 = c.patch(path, json={"ConnectionType": "FIRM", "SerialNumber": None},
                     headers={"If-Match": v2.headers["etag"],
                              "Content-Type": "application/merge-patch+json"})
        assert v3.status_code == 200, v3.text
        assert v3.json()["ConnectionType"] == "FIRM" and "SerialNumber" not in v3.json()
        invalid = c.patch(path, json={"GenCapacity": 10_000}, headers={"If-Match": v3.headers["etag"]})
        assert invalid.status_code == 422
        assert c.get(path).json()["Version"] == 3


def test_two_writers_racing_one_wins_one_gets_412(node):
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    etag = f'"{body["AssetId"]}.v1"'
    barrier = threading.Barrier(2)
    results: list[int] = []

    def write(name: str) -> None:
        with node.client() as c:
            barrier.wait()
            results.append(c.patch(path, json={"AssetName": name}, headers={"If-Match": etag}).status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in ("writer A", "writer B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    with node.client() as c:
        final = c.get(path).json()
    assert final["Version"] == 2 and final["AssetName"] in ("writer A", "writer B")


def test_history_keeps_every_version_with_who_and_when(node):
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    with node.client() as c:
        r = c.patch(path, json={"AssetName": "second"}, headers={"If-Match": f'"{body["AssetId"]}.v1"'})
        c.patch(path, json={"AssetName": "third"}, headers={"If-Match": r.headers["etag"]})
        versions = c.get(f"{path}/history").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["asset"]["AssetName"] for v in versions] == [body["AssetName"], "second", "third"]
    assert [v["action"] for v in versions] == ["register", "patch", "patch"]
    assert all(v["by"] == "alice@acme" and v["at"] for v in versions)


def test_validation_status_set_by_authorised_parties_only(node):
    body = created(node, bess(dno="UKPN_EPN"))
    path = f"/assets/{body['AssetId']}/validation-status"
    with node.client("fsp") as c:
        own = c.put(path, json={"status": "Verified"})
    assert own.status_code == 403 and own.json()["code"] == "POL-004"
    with node.client("dno") as c:
        no_reason = c.put(path, json={"status": "Query"})
        assert no_reason.status_code == 422 and no_reason.json()["code"] == "ARM-VS-002"
        bad = c.put(path, json={"status": "Approved"})
        assert bad.status_code == 422 and bad.json()["code"] == "ARM-VS-001"
        query = c.put(path, json={"status": "Query", "reason": "MPAN not in MPRS"})
    assert query.status_code == 200
    assert query.json()["ValidationStatus"] == "Query"
    assert query.json()["ValidationReason"] == "MPAN not in MPRS"
    outside = created(node, bess(dno="ENWL"))
    with node.client("dno") as c:
        refused = c.put(f"/assets/{outside['AssetId']}/validation-status", json={"status": "Verified"})
    # outside its areas the DNO may not even read the asset: it does not exist for it
    assert refused.status_code == 404 and refused.json()["code"] == "ARM-404"
    with node.client("facilitator") as c:
        verified = c.put(path, json={"status": "Verified"})
    # the facilitator may set a status but not read the asset: only the status comes back
    assert verified.status_code == 200
    assert set(verified.json()) == {"AssetId", "ValidationStatus", "Version"}


def test_deregistration_is_soft(node):
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    with node.client() as c:
        gone = c.delete(path)
        assert gone.status_code == 200 and gone.json()["RegistrationStatus"] == "Deregistered"
        assert c.get(path).json()["RegistrationStatus"] == "Deregistered"
        again = c.put(path, json=bess(), headers={"If-Match": gone.headers["etag"]})
        assert again.status_code == 409 and again.json()["code"] == "ARM-409"
        assert len(c.get(f"{path}/history").json()["versions"]) == 2
        active = c.get("/assets", params={"registration_status": "Active", "limit": 1000}).json()
    assert body["AssetId"] not in {a["AssetId"] for a in active["items"]}


# ---------------------------------------------------------------- bulk


def test_bulk_all_or_nothing_with_a_bad_row_stores_nothing(node):
    rows = [bess(dno="SPEN_SPD") for _ in range(20)]
    rows[13]["DemandCapacity"] = 9999
    with node.client("neso") as c:
        before = c.get("/assets", params={"dno": "SPEN_SPD"}).json()["count"]
    with node.client() as c:
        response = c.post("/assets/bulk", content=to_csv(rows), headers={"Content-Type": "text/csv"})
    assert response.status_code == 422
    report = response.json()
    assert report["code"] == "ARM-BULK"
    assert report["details"]["stored"] == 0 and report["details"]["received"] == 20
    [error] = report["details"]["errors"]
    assert error["row"] == 14
    assert {v["rule"] for v in error["violations"]} == {"ARM-VAL-014", "ARM-VAL-016"}
    with node.client("neso") as c:
        assert c.get("/assets", params={"dno": "SPEN_SPD"}).json()["count"] == before


def test_bulk_store_valid_mode_and_ndjson(node):
    rows = [bess(dno="NGED_WALES") for _ in range(10)]
    rows[2]["ConnectionStatus"] = "EXPLODED"
    rows[7]["OrganisationId"] = "FSP-OTHER"
    ndjson = "\n".join(json.dumps(r) for r in rows) + "\nnot json\n"
    with node.client() as c:
        response = c.post("/assets/bulk", params={"mode": "store-valid"}, content=ndjson,
                          headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 207
    details = response.json()["details"]
    assert details["stored"] == 8 and details["rejected"] == 3
    by_row = {e["row"]: {v["rule"] for v in e["violations"]} for e in details["errors"]}
    assert by_row == {3: {"ARM-VAL-012"}, 8: {"POL-002"}, 11: {"ARM-IN-008"}}
    with node.client() as c:
        stored = c.get(f"/assets/{details['assets'][0]['AssetId']}")
    assert stored.status_code == 200


def test_bulk_turtle(node):
    lines = ["@prefix fmar: <https://id.fmar.uk/def/fmar#> .",
             "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> ."]
    code = "https://id.fmar.uk/def/code/"
    for i in range(3):
        lines.append(
            f'_:a{i} a fmar:Asset ; fmar:assetName "T{i}" ; '
            f"fmar:assetCategory <{code}AssetCategory/HEAT_PUMP> ; fmar:ratedCapacity 5.0 ; "
            f"fmar:demandCapacity 5.0 ; fmar:demandTechType <{code}DemandTechType/HEAT_PUMP> ; "
            f'fmar:effectiveDate "2025-01-01"^^xsd:date ; '
            f"fmar:connectionStatus <{code}ConnectionStatus/CONNECTED> ; "
            f"fmar:connectionType <{code}ConnectionType/FIRM> ; fmar:dnoConnection <{code}DNOCode/ENWL> ; "
            f'fmar:importMPAN "{make_mpan("ENWL", 10 + i)}" .'
        )
    with node.client() as c:
        response = c.post("/assets/bulk", content="\n".join(lines), headers={"Content-Type": "text/turtle"})
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 3


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["csv", "jsonld", "turtle", "nt"])
def test_export_own_assets_only(node, fmt):
    mine = created(node, bess(dno="NPG_NE"))
    theirs = created(node, bess(dno="NPG_NE", org="FSP-OTHER"), who="fsp2")
    with node.client() as c:
        response = c.get("/assets/export", params={"format": fmt, "dno": "NPG_NE"})
    assert response.status_code == 200
    assert mine["AssetId"] in response.text and theirs["AssetId"] not in response.text
    if fmt == "csv":
        header = response.text.splitlines()[0].split(",")
        assert header[:3] == ["AssetId", "AssetName", "OrganisationId"]
    elif fmt == "jsonld":
        doc = json.loads(response.text)
        assert all(item["OrganisationId"] == "org:FSP-ACME" for item in doc["@graph"])
    else:
        assert len(Graph().parse(data=response.text, format="turtle" if fmt == "turtle" else "nt")) > 15


# ---------------------------------------------------------------- bad input keeps the node serving


@pytest.mark.parametrize(
    "content_type, body, code",
    [
        ("text/turtle", "@prefix : <x> . :a :b", "ARM-IN-006"),
        ("application/ld+json", '{"@context": {"@vocab": 5}, "a": ', "ARM-IN-008"),
        ("application/ld+json", '{"@context": "https://evil.example/ctx", "@type": "x"}', "ARM-IN-007"),
        ("application/json", "[1, 2]", "ARM-IN-001"),
        ("application/json", '{"AssetName": "x", "Colour": "red"}', "ARM-IN-002"),
        ("application/json", '{"AssetName": "x", "Version": 7}', "ARM-IN-003"),
        ("application/xml", "<asset/>", "REQ-415"),
    ],
)
def test_malformed_single_bodies_get_clear_4xx(node, content_type, body, code):
    with node.client() as c:
        response = c.post("/assets", content=body, headers={"Content-Type": content_type})
        assert 400 <= response.status_code < 500
        assert response.json()["code"] == code
        assert "Traceback" not in response.text
        assert response.headers["server-timing"].startswith("app;dur=")
        assert c.get("/health").status_code == 200


def test_malformed_csv_and_oversized_bodies(node):
    with node.client() as c:
        bad_header = c.post("/assets/bulk", content="Name,Colour\nx,y\n",
                            headers={"Content-Type": "text/csv"})
        assert bad_header.status_code == 400 and bad_header.json()["code"] == "ARM-IN-009"
        ragged = c.post("/assets/bulk", params={"mode": "store-valid"},
                        content="AssetName,AssetCategory\nx\n", headers={"Content-Type": "text/csv"})
        assert ragged.json()["details"]["errors"][0]["violations"][0]["rule"] == "ARM-IN-009"
        huge = c.post("/assets", content=b'{"AssetName": "' + b"x" * 300_000 + b'"}',
                      headers={"Content-Type": "application/json"})
        assert huge.status_code == 413 and huge.json()["code"] == "REQ-413"
        huge_bulk = c.post("/assets/bulk", content=b"AssetName\n" + b"x\n" * 3_000_000,
                           headers={"Content-Type": "text/csv"})
        assert huge_bulk.status_code == 413
        assert c.get("/health").status_code == 200


# ---------------------------------------------------------------- security and policy


def test_no_token_and_unknown_token_are_refused(node):
    with node.client(None) as c:
        assert c.get("/health").status_code == 200  # public discovery
        assert c.get("/context.jsonld").status_code == 200
        for method, path in [("GET", "/assets"), ("POST", "/assets"), ("GET", "/categories"),
                             ("GET", "/assets/export")]:
            response = c.request(method, path)
            assert response.status_code == 401 and response.json()["code"] == "AUTH-001"
            assert "Bearer" in response.headers["www-authenticate"]
        bad = c.get("/assets", headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401 and bad.json()["code"] == "AUTH-002"


def test_fsp_cannot_read_or_write_another_fsps_asset(node):
    theirs = created(node, bess(org="FSP-OTHER"), who="fsp2")
    path = f"/assets/{theirs['AssetId']}"
    with node.client("fsp") as c:
        assert c.get(path).status_code == 404
        patch = c.patch(path, json={"AssetName": "mine now"}, headers={"If-Match": "*"})
        assert patch.status_code == 404
        impersonate = c.post("/assets", json=bess(org="FSP-OTHER"))
        assert impersonate.status_code == 403 and impersonate.json()["code"] == "POL-002"
        listed = c.get("/assets", params={"limit": 1000}).json()["items"]
        assert all(a["OrganisationId"] == "FSP-ACME" for a in listed)


def test_dno_reads_its_areas_but_cannot_write(node):
    inside = created(node, bess(dno="UKPN_LPN"))
    outside = created(node, bess(dno="NPG_YK"))
    with node.client("dno") as c:
        assert c.get(f"/assets/{inside['AssetId']}").status_code == 200
        assert c.get(f"/assets/{outside['AssetId']}").status_code == 404
        areas = {a["DNOConnection"] for a in c.get("/assets", params={"limit": 1000}).json()["items"]}
        assert areas <= {"UKPN_EPN", "UKPN_LPN", "UKPN_SPN"} and "UKPN_LPN" in areas
        write = c.patch(f"/assets/{inside['AssetId']}", json={"AssetName": "x"},
                        headers={"If-Match": "*"})
        assert write.status_code == 403 and write.json()["code"] == "POL-002"


def test_neso_reads_everything_and_regulator_reads_no_raw_assets(node):
    theirs = created(node, bess(org="FSP-OTHER", dno="ENWL"), who="fsp2")
    with node.client("neso") as c:
        assert c.get(f"/assets/{theirs['AssetId']}").status_code == 200
    with node.client("regulator") as c:
        assert c.get(f"/assets/{theirs['AssetId']}").status_code == 404
        assert c.get("/assets").json()["count"] == 0


def test_missing_scope_is_refused(node):
    with node.client("fsp_readonly") as c:
        response = c.post("/assets", json=bess())
        audit = c.get(f"/assets/{created(node, bess())['AssetId']}/audit")
    assert response.status_code == 403 and response.json()["code"] == "POL-001"
    assert audit.status_code == 403 and audit.json()["code"] == "POL-001"


def test_POL_001_put_checks_the_scope_before_reading_the_body(node):
    """A caller without assets:write learns nothing about the body's validity (403, not 400)."""
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    etag = f'"{body["AssetId"]}.v1"'
    bad_body = {**bess(), "NotAField": 1}
    with node.client("fsp_readonly") as c:
        refused = c.put(path, json=bad_body, headers={"If-Match": etag})
        refused_garbage = c.put(path, content=b"{not json", headers={"If-Match": etag,
                                                                      "Content-Type": "application/json"})
    with node.client() as c:
        control = c.put(path, json=bad_body, headers={"If-Match": etag})
        replaced = c.put(path, json=bess(AssetName="Replaced"), headers={"If-Match": etag})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-001")
    assert (refused_garbage.status_code, refused_garbage.json()["code"]) == (403, "POL-001")
    assert (control.status_code, control.json()["code"]) == (400, "ARM-IN-002")
    assert replaced.status_code == 200 and replaced.json()["AssetName"] == "Replaced"


def test_audit_trail_of_a_record(node):
    body = created(node, bess())
    path = f"/assets/{body['AssetId']}"
    with node.client() as c:
        c.patch(path, json={"AssetName": "b"}, headers={"If-Match": f'"{body["AssetId"]}.v1"'})
        entries = c.get(f"{path}/audit").json()["entries"]
    with node.client("fsp2") as c:
        assert c.get(f"{path}/audit").status_code == 404
    assert [e["action"] for e in entries] == ["register", "patch"]
    assert entries[1]["previous_hash"] != entries[0]["previous_hash"]
    assert all(e["agent"] == "alice@acme" and e["organisation"] == "FSP-ACME" for e in entries)


# ---------------------------------------------------------------- categories

# The example category of the OpenAPI document is the one the tests create.
HYDRO = CATEGORY_BODY["requestBody"]["content"]["text/turtle"]["example"]


def hydro(**overrides):
    return heat_pump(AssetCategory="HYDRO", FuelType_DemandTechType=None, DemandCapacity=None,
                     FuelType_EnergySource="HYDRO", **overrides)


def test_ARM_CAT_FLY_001_a_category_the_compiler_cannot_translate_is_enforced(node):
    """Its shape (sh:alternativePath) runs in the pyshacl fallback on the running node."""
    from tests.test_rules import FLYWHEEL_TTL

    with node.client("facilitator") as c:
        made = c.post("/categories", content=FLYWHEEL_TTL, headers={"Content-Type": "text/turtle"})
    assert made.status_code == 201, made.text
    assert node.app.state.register.catalogue.shapes.fallback is not None
    flywheel = heat_pump(AssetCategory="FLYWHEEL", FuelType_DemandTechType=None, DemandCapacity=None,
                         GenCapacity=5)
    refused = register(node, flywheel)
    assert (refused.status_code, refused.json()["code"]) == (422, "ARM-VAL")
    assert [v["rule"] for v in refused.json()["details"]["violations"]] == ["ARM-CAT-FLY-001"]
    assert created(node, {**flywheel, "DemandCapacity": 4})["AssetCategory"] == "FLYWHEEL"


def test_categories_managed_at_run_time(node):
    with node.client("fsp") as c:
        listed = c.get("/categories").json()["items"]
        assert {"BESS", "EV_CHARGER", "OTHER"} <= {i["Code"] for i in listed}
        refused = c.post("/categories", content=HYDRO, headers={"Content-Type": "text/turtle"})
        assert refused.status_code == 403 and refused.json()["code"] == "POL-005"
        unknown = c.post("/assets", json=hydro(GenCapacity=10))
        assert {v["rule"] for v in unknown.json()["details"]["violations"]} == {"ARM-VAL-029"}
    with node.client("facilitator") as c:
        made = c.post("/categories", content=HYDRO, headers={"Content-Type": "text/turtle"})
        assert made.status_code == 201, made.text
        assert made.headers["location"] == "/categories/HYDRO"
        assert c.post("/categories", content=HYDRO,
                      headers={"Content-Type": "text/turtle"}).status_code == 409
        shape = c.get("/categories/HYDRO", headers={"Accept": "text/turtle"})
        assert "ARM-CAT-HYDRO-001" in shape.text
    # usable at once, with its own rule
    missing_gen = register(node, hydro())
    assert {v["rule"] for v in missing_gen.json()["details"]["violations"]} == {"ARM-CAT-HYDRO-001"}
    kept = created(node, hydro(GenCapacity=10))
    with node.client("facilitator") as c:
        deprecated = c.post("/categories/HYDRO/deprecate")
        assert deprecated.status_code == 200 and deprecated.json()["Deprecated"] is True
    refused_new = register(node, hydro(GenCapacity=10))
    assert {v["rule"] for v in refused_new.json()["details"]["violations"]} == {"ARM-VAL-030"}
    with node.client() as c:
        still_valid = c.patch(f"/assets/{kept['AssetId']}", json={"AssetName": "Hydro renamed"},
                              headers={"If-Match": f'"{kept["AssetId"]}.v1"'})
    assert still_valid.status_code == 200, still_valid.text


def test_CAT_DEF_090_check_route_then_CAT_DEF_091_save_with_if_match(node):
    turtle = {"Content-Type": "text/turtle"}
    with node.client("facilitator") as c:
        bess = c.get("/categories/BESS", headers={"Accept": "text/turtle"})
        etag = bess.headers["etag"]
        checked = c.post("/categories/BESS/check", content=bess.text, headers=turtle)
        assert checked.status_code == 200 and checked.json()["rule"] == "CAT-DEF-090"
        assert checked.json()["version"] == int(etag.strip('"').rsplit(".v", 1)[1])
        assert c.get("/categories/BESS").headers["etag"] == etag  # nothing stored
        wrong = c.post("/categories/EV_CHARGER/check", content=bess.text, headers=turtle)
        assert wrong.status_code == 422 and wrong.json()["code"] == "CAT-DEF-002"
        saved = c.put("/categories/BESS", content=bess.text, headers={**turtle, "If-Match": etag})
        assert saved.status_code == 200 and saved.headers["etag"] != etag
        stale = c.put("/categories/BESS", content=bess.text, headers={**turtle, "If-Match": etag})
        assert stale.status_code == 412 and stale.json()["code"] == "CAT-DEF-091"
    with node.client("fsp") as c:
        refused = c.post("/categories/BESS/check", content=bess.text, headers=turtle)
        assert refused.status_code == 403 and refused.json()["code"] == "POL-005"


def test_malformed_category_definitions(node):
    no_rule_id = HYDRO.replace('fmar:ruleId "ARM-CAT-HYDRO-001" ;', "").replace("HYDRO", "TIDAL")
    with node.client("facilitator") as c:
        r1 = c.post("/categories", content=no_rule_id, headers={"Content-Type": "text/turtle"})
        r2 = c.post("/categories", content="@prefix : <x> .", headers={"Content-Type": "text/turtle"})
        r3 = c.put("/categories/BESS", content=HYDRO, headers={"Content-Type": "text/turtle"})
    assert r1.status_code == 422 and r1.json()["code"] == "CAT-DEF-004"
    assert r2.status_code == 422 and r2.json()["code"] == "CAT-DEF-001"
    assert r3.status_code == 422 and r3.json()["code"] == "CAT-DEF-002"


def test_openapi_documents_every_route_with_examples(node):
    with node.client(None) as c:
        spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ["/assets", "/assets/bulk", "/assets/{asset_id}", "/assets/{asset_id}/history",
                 "/assets/export", "/categories", "/categories/{code}"]:
        assert path in paths
    post = paths["/assets"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/ld+json", "text/turtle"} <= set(post)
    assert post["application/json"]["example"]["AssetCategory"] == "BESS"


def test_active_records_enquiry_for_deregistration(node):
    created(node, bess(org="FSP-OTHER"), who="fsp2")
    gone = created(node, bess(org="FSP-OTHER"), who="fsp2")
    with node.client("fsp2") as c:
        c.delete(f"/assets/{gone['AssetId']}")
        refused = c.get("/admin/active-records", params={"org_id": "FSP-OTHER"})
    assert refused.status_code == 403 and refused.json()["code"] == "POL-001"
    with node.client("neso") as c:  # reads every asset, yet may not make this enquiry
        neso = c.get("/admin/active-records", params={"org_id": "FSP-OTHER"})
    assert (neso.status_code, neso.json()["code"]) == (403, "POL-001")
    assert neso.json()["details"] == {"missing_scopes": ["trust:deregistration"]}
    with node.client("trust_operator") as c:
        counts = c.get("/admin/active-records", params={"org_id": "FSP-OTHER"}).json()
        with node.client("neso") as n:
            listed = n.get("/assets", params={"organisation": "FSP-OTHER",
                                              "registration_status": "Active", "limit": 1000})
        bad = c.get("/admin/active-records", params={"org_id": "x> } } #"})
    assert counts["active_assets"] == listed.json()["count"] >= 1
    assert counts["active_market_units"] == 0
    assert (bad.status_code, bad.json()["code"]) == (422, "REQ-001")
    with node.client("fsp2") as c:  # a market unit keeps the organisation busy too
        unit = c.post("/market-units", json={"Name": "Site", "UnitType": "SPU",
                                             "OrganisationId": "FSP-OTHER",
                                             "ConnectionMPAN": "1000000000011"})
        assert unit.status_code == 201, unit.text
    with node.client("trust_operator") as c:
        again = c.get("/admin/active-records", params={"org_id": "FSP-OTHER"}).json()
    assert again["active_market_units"] == 1
    with node.client("fsp2") as c:
        etag = c.get(f"/market-units/{unit.json()['UnitId']}").headers["ETag"]
        assert c.delete(f"/market-units/{unit.json()['UnitId']}",
                        headers={"If-Match": etag}).status_code in (200, 204)
    with node.client("trust_operator") as c:
        assert c.get("/admin/active-records",
                     params={"org_id": "FSP-OTHER"}).json()["active_market_units"] == 0


def test_bulk_upload_keeps_the_audit_chain_intact(node):
    from node.audit import verify

    rows = [heat_pump(dno="NPG_NE") for _ in range(25)]
    with node.client() as c:
        response = c.post("/assets/bulk", content=to_csv(rows), headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        first = response.json()["assets"][0]["AssetId"]
        entries = c.get(f"/assets/{first}/audit").json()["entries"]
    assert [e["action"] for e in entries] == ["register"]
    assert entries[0]["covers"]["version"] == 1  # the upload's one entry (ARM-AUD-001),
    assert entries[0]["version"] == 25  # covering the 25 records
    count, problems = verify(node.app.state.register.store)
    assert problems == [] and count >= 1  # (the entries of other tests too, when run)



def test_text_beyond_the_basic_plane_round_trips(node):
    body = created(node, bess(AssetName="Battery 🔋 ⚡ 電池", Manufacturer="Ünïcode Ltd"))
    with node.client() as c:
        again = c.get(f"/assets/{body['AssetId']}").json()
        turtle = c.get(f"/assets/{body['AssetId']}", headers={"Accept": "text/turtle"}).text
        surrogate = c.post("/assets", content=b'{"AssetName": "\\ud800"}',
                           headers={"Content-Type": "application/json"})
    assert again["AssetName"] == "Battery 🔋 ⚡ 電池" and "🔋" in turtle
    assert surrogate.status_code == 400 and surrogate.json()["code"] == "ARM-IN-011"


def test_store_valid_upload_that_stops_reports_what_was_stored(node):
    rows = [heat_pump(dno="SSEN_SHEPD") for _ in range(2100)]
    body = to_csv(rows).encode() + b"x,\xff\xfe,1\n"
    with node.client() as c:
        response = c.post("/assets/bulk", params={"mode": "store-valid"}, content=body,
                          headers={"Content-Type": "text/csv"})
    assert response.status_code == 400 and response.json()["code"] == "ARM-IN-012"
    details = response.json()["details"]
    assert details["stored"] == 2000 and len(details["assets"]) == 2000


def test_nothing_is_revealed_to_a_writer_who_may_not_read(node):
    theirs = created(node, bess(org="FSP-OTHER"), who="fsp2")
    path = f"/assets/{theirs['AssetId']}"
    with node.client("fsp") as c:
        stale = c.put(path, json=bess(), headers={"If-Match": '"x"'})
        no_etag = c.put(path, json=bess())
        gone = c.delete(path)
    for response in (stale, no_etag, gone):
        assert response.status_code == 404 and response.json() == {
            "code": "ARM-404", "message": "No such asset."}


def test_refused_media_type_is_decided_before_any_write(node):
    with node.client("neso") as c:
        before = c.get("/assets", params={"dno": "NGED_EMID"}).json()["count"]
    with node.client() as c:
        refused = c.post("/assets", json=bess(dno="NGED_EMID"), headers={"Accept": "text/html"})
        body = created(node, bess(dno="NGED_EMID"))
        kept = c.delete(f"/assets/{body['AssetId']}", headers={"Accept": "text/html"})
        state = c.get(f"/assets/{body['AssetId']}").json()["RegistrationStatus"]
    assert refused.status_code == 406 and kept.status_code == 406 and state == "Active"
    with node.client("neso") as c:
        assert c.get("/assets", params={"dno": "NGED_EMID"}).json()["count"] == before + 1


def test_export_refuses_before_streaming(node):
    with node.client("trust_operator") as c:
        no_scope = c.get("/assets/export", params={"format": "csv"})
    with node.client() as c:
        bad_filter = c.get("/assets/export", params={"format": "csv", "category": "a b"})
    assert no_scope.status_code == 403 and no_scope.json()["code"] == "POL-001"
    assert bad_filter.status_code == 400 and bad_filter.json()["code"] == "ARM-IN-010"


@pytest.mark.parametrize("who, method, path, params, body, status, code", [
    # an ID that is not a UUID names no asset: refused before any store access
    ("fsp", "GET", "/assets/a%20b", None, None, 404, "ARM-404"),
    ("fsp", "GET", "/assets/%3E/history", None, None, 404, "ARM-404"),
    # a real asset, so the body reaches validation
    ("fsp", "PUT", "/assets/{id}", None, {"AssetName": "x"}, 422, "ARM-VAL"),
    ("fsp", "GET", "/assets", {"max_capacity": "inf"}, None, 422, "REQ-001"),
    ("fsp", "GET", "/assets", {"limit": "abc"}, None, 422, "REQ-001"),
    ("fsp", "GET", "/assets", {"category": "x> }"}, None, 400, "ARM-IN-010"),
    ("fsp", "GET", "/assets/export", {"format": "xml"}, None, 406, "REQ-406"),
    ("neso", "PUT", "/assets/{id}/validation-status", None, {"status": "Query", "reason": 5},
     422, "ARM-VS-002"),
], ids=["not-a-uuid", "not-a-uuid-history", "put-partial-body", "REQ-001-infinite-capacity",
        "REQ-001-limit-not-a-number", "ARM-IN-010-filter-injection", "REQ-406-export-format",
        "ARM-VS-002-reason-not-text"])
def test_odd_parameters_get_clear_4xx(node, who, method, path, params, body, status, code):
    asset = created(node, bess())
    with node.client(who) as c:
        response = c.request(method, path.replace("{id}", asset["AssetId"]), params=params,
                             json=body, headers={"If-Match": "*"})
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert c.get("/health").status_code == 200


def test_odd_parameters_controls_succeed(node):
    """The same routes with sound values answer normally."""
    asset = created(node, bess())
    path = f"/assets/{asset['AssetId']}"
    with node.client() as c:
        assert c.get(path).status_code == 200
        assert c.get(f"{path}/history").status_code == 200
        assert c.put(path, json=bess(AssetName="x"), headers={"If-Match": "*"}).status_code == 200
        assert c.get("/assets", params={"max_capacity": "1000", "limit": "5",
                                        "category": "BESS"}).status_code == 200
        assert c.get("/assets/export", params={"format": "csv"}).status_code == 200
    with node.client("neso") as c:
        query = c.put(f"{path}/validation-status", json={"status": "Query", "reason": "MPAN?"},
                      headers={"If-Match": "*"})
        assert query.status_code == 200 and query.json()["ValidationStatus"] == "Query"


def test_REQ_001_parameters_not_valid(node):
    with node.client("trust_operator") as c:
        bad = c.get("/admin/active-records", params={"org_id": "x> } } #"})
        good = c.get("/admin/active-records", params={"org_id": "FSP-OTHER"})
    assert (bad.status_code, bad.json()["code"]) == (422, "REQ-001")
    assert bad.json()["details"][0]["location"] == ["query", "org_id"]
    assert good.status_code == 200


def test_a_duplicate_mpan_and_serial_is_refused(node, monkeypatch):
    reconfigure(monkeypatch, node.app, federation_key="00" * 32)
    first = created(node, bess(dno="ENWL", SerialNumber="DUP-1"))
    again = register(node, bess(dno="ENWL", org="FSP-OTHER", SerialNumber="DUP-1",
                                ImportMPAN=first["ImportMPAN"]), who="fsp2")
    assert again.status_code == 409 and again.json()["code"] == "ARM-DUP-001"
    assert again.json()["details"] == {"holder_organisations": ["FSP-ACME"]}
    assert first["ImportMPAN"] not in again.text
    other_serial = register(node, bess(dno="ENWL", org="FSP-OTHER", SerialNumber="DUP-2",
                                       ImportMPAN=first["ImportMPAN"]), who="fsp2")
    assert other_serial.status_code == 201


def test_ARM_DUP_001_a_node_without_federation_key_refuses_its_own_duplicates(node, monkeypatch):
    reconfigure(monkeypatch, node.app, federation_key=None)
    with node.client(None) as c:
        assert c.get("/health").json()["duplicate_check"] == "node"  # federation-wide check off
    first = created(node, bess(dno="NPG_YK", SerialNumber="LOCAL-DUP-1"))
    again = register(node, bess(dno="NPG_YK", SerialNumber="LOCAL-DUP-1",
                                ImportMPAN=first["ImportMPAN"]))
    assert (again.status_code, again.json()["code"]) == (409, "ARM-DUP-001")
    assert again.json()["details"] == {"holder_organisations": ["FSP-ACME"]}
    rows = [bess(dno="NPG_YK", SerialNumber="LOCAL-DUP-1", ImportMPAN=first["ImportMPAN"]),
            bess(dno="NPG_YK", SerialNumber="LOCAL-DUP-2")]
    with node.client() as c:
        bulk = c.post("/assets/bulk", params={"mode": "store-valid"}, content=to_csv(rows),
                      headers={"Content-Type": "text/csv"})
    assert bulk.status_code == 207 and bulk.json()["details"]["stored"] == 1
    assert [v["rule"] for v in bulk.json()["details"]["errors"][0]["violations"]] == ["ARM-DUP-001"]
    control = register(node, bess(dno="NPG_YK", SerialNumber="LOCAL-DUP-3",
                                  ImportMPAN=first["ImportMPAN"]))
    assert control.status_code == 201  # same MPAN, another serial: a different asset


def test_health_says_the_duplicate_check_is_federation_wide_with_a_key(node, monkeypatch):
    reconfigure(monkeypatch, node.app, federation_key="22" * 32)
    with node.client(None) as c:
        assert c.get("/health").json()["duplicate_check"] == "federation"


def test_bulk_rows_duplicating_an_asset_or_an_earlier_row_are_refused(node, monkeypatch):
    reconfigure(monkeypatch, node.app, federation_key="11" * 32)
    existing = created(node, bess(dno="ENWL", SerialNumber="BULK-DUP-0"))
    rows = [
        bess(dno="ENWL", SerialNumber="BULK-DUP-1"),
        bess(dno="ENWL", SerialNumber="BULK-DUP-0", ImportMPAN=existing["ImportMPAN"]),
    ]
    rows.append({**rows[0], "AssetName": "same as row 1"})
    with node.client() as c:
        response = c.post("/assets/bulk", params={"mode": "store-valid"}, content=to_csv(rows),
                          headers={"Content-Type": "text/csv"})
    details = response.json()["details"]
    assert response.status_code == 207 and details["stored"] == 1
    by_row = {e["row"]: e["violations"] for e in details["errors"]}
    assert {v["rule"] for v in by_row[2]} == {"ARM-DUP-001"} and "FSP-ACME" in by_row[2][0]["message"]
    assert {v["rule"] for v in by_row[3]} == {"ARM-DUP-001"} and "row 1" in by_row[3][0]["message"]
    assert existing["ImportMPAN"] not in response.text


@pytest.mark.parametrize("key, says_local", [(None, True), ("44" * 32, False)])
def test_start_up_log_says_when_the_federation_wide_duplicate_check_is_off(
        tmp_path, monkeypatch, caplog, key, says_local):
    import logging

    from fastapi.testclient import TestClient

    from node.api.app import create_app
    from node.config import NodeSettings
    from tests.conftest import authenticator

    for name in ("FMAR_FEDERATION_KEY", "FMAR_TRUST_URL", "FMAR_TRUST_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    if key:
        monkeypatch.setenv("FMAR_FEDERATION_KEY", key)
    app = create_app(NodeSettings(data_dir=tmp_path, workers=1), authenticator())
    with caplog.at_level(logging.WARNING, logger="fmar.node"), TestClient(app) as c:
        scope = c.get("/health").json()["duplicate_check"]
    logged = any("covers this node only" in r.getMessage() for r in caplog.records)
    assert (logged, scope) == (says_local, "node" if says_local else "federation")
