"""Consumer consent (UC-05.05) through one node's API over real HTTP: the consent record
(CONS-VAL-001..021, CONS-IN-004..006), the check before a registration
(CONS-VAL-022..027, 029), revocation by the FSP (suspension, units' capability and
eligibility, the operators' event, history kept) and privacy (POL-080..083: nobody but
the FSP reads a consent, in REST or SPARQL). The signed webhook and the switch are walked
across real processes in tests/test_consents_process.py and tests/federation/."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.errors import BadInput
from common.mpan import make_mpan
from node.config import NodeSettings
from node.identity import Caller
from node.kinds.consents import ConsentPolicy
from tests.assets import bess, heat_pump
from tests.conftest import ALL, CALLERS, RunningNode, start_node

TODAY = datetime.now(UTC).date()
LAST_YEAR = date(TODAY.year - 1, 1, 1).isoformat()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
_n = itertools.count(700_000)
SPARQL = ALL | {"sparql:query"}
WHO = {**CALLERS, **{name: Caller(c.subject, c.organisation_id, c.roles, SPARQL, c.dno_areas)
                     for name, c in CALLERS.items() if name in ("fsp", "neso", "dno")}}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    data_dir: Path = tmp_path_factory.mktemp("consent-node")
    running = start_node(NodeSettings(data_dir=data_dir, workers=1, consent_categories=(
        "EV_CHARGER", "HEAT_PUMP"), consent_max_kw=100.0), WHO)
    yield running
    running.stop()


def mpan(dno: str = "ENWL") -> str:
    return make_mpan(dno, next(_n))


def consent_body(**changes: Any) -> dict[str, Any]:
    body = {"ConsentReference": f"CCS-{next(_n)}", "OrganisationId": "FSP-ACME",
            "ConsumerReference": "ACC-1", "MPAN": mpan(), "ScopeRegistration": True,
            "ScopeDataSharing": True, "ValidFrom": LAST_YEAR,
            "EvidenceReference": "ccs://evidence/1"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def post(node: RunningNode, path: str, body: Any, who: str = "fsp") -> Any:
    with node.client(who) as c:
        return c.post(path, json=body)


def consent(node: RunningNode, **changes: Any) -> dict[str, Any]:
    made = post(node, "/consents", consent_body(**changes))
    assert made.status_code == 201, made.text
    return made.json()


def rules(response: Any) -> set[str]:
    body = response.json()
    found = {v["rule"] for v in (body.get("details") or {}).get("violations", [])}
    return found or {body["code"]}


def register(node: RunningNode, body: dict[str, Any], expect: int = 201) -> Any:
    made = post(node, "/assets", body)
    assert made.status_code == expect, made.text
    return made.json()


# ---------------------------------------------------------------- the record


@pytest.mark.parametrize("rule, changes", [
    ("CONS-VAL-001", {"ConsentReference": "has spaces"}),
    ("CONS-VAL-002", {"OrganisationId": "X" * 65}),
    ("CONS-VAL-003", {"ConsumerReference": "Jane Smith, 1 High St"}),
    ("CONS-VAL-004", {"MPAN": "12345"}),
    ("CONS-VAL-005", {"ScopeRegistration": "perhaps"}),
    ("CONS-VAL-006", {"ScopeDataSharing": "perhaps"}),
    ("CONS-VAL-007", {"ScopeSwitching": "perhaps"}),
    ("CONS-VAL-008", {"ScopeRegistration": False, "ScopeDataSharing": False}),
    ("CONS-VAL-009", {"ValidFrom": None}),
    ("CONS-VAL-010", {"ValidTo": "next week"}),
    ("CONS-VAL-011", {"ValidFrom": "2026-06-01", "ValidTo": "2026-05-31"}),
    ("CONS-VAL-012", {"EvidenceReference": None}),
    ("CONS-VAL-013", {"ConsentPlatform": "a platform with spaces"}),
])
def test_CONS_VAL_001_to_013_consent_shapes(node, rule, changes):
    refused = post(node, "/consents", consent_body(**changes))
    assert refused.status_code == 422, refused.text
    assert rule in rules(refused)


def test_CONS_VAL_014_to_019_the_state_is_kept_by_the_node(node):
    """CONS-IN-004: ConsentStatus and the revocation fields are never sent; the node keeps
    them (CONS-VAL-014..019 hold on every stored version)."""
    for field, value in (("ConsentStatus", "Revoked"), ("RevokedOn", "2026-01-01"),
                         ("RevokedVia", "API"), ("RevocationReason", "x")):
        refused = post(node, "/consents", consent_body(**{field: value}))
        assert (refused.status_code, refused.json()["code"]) == (400, "CONS-IN-004")
    made = consent(node)
    assert made["ConsentStatus"] == "Active" and "RevokedOn" not in made
    assert made["SetBy"] == "FSP-ACME" and made["Version"] == 1
    with node.client() as c:
        revoked = c.post(f"/consents/{made['ConsentId']}/revocation",
                         json={"Reason": "moved house"})
    assert revoked.status_code == 200, revoked.text
    state = revoked.json()["consent"]
    assert (state["ConsentStatus"], state["RevokedOn"], state["RevokedVia"],
            state["RevocationReason"]) == ("Revoked", TODAY.isoformat(), "API", "moved house")


def test_CONS_IN_001_to_003_consent_input(node):
    with pytest.raises(BadInput) as error:  # a JSON list never reaches it over HTTP (422)
        node.app.state.register.consents.properties(["not", "an", "object"])
    assert error.value.code == "CONS-IN-001"
    assert post(node, "/consents", ["not", "an", "object"]).status_code == 422
    assert rules(post(node, "/consents", consent_body(Colour="red"))) == {"CONS-IN-002"}
    assert rules(post(node, "/consents", consent_body(ConsentId="x"))) == {"CONS-IN-003"}
    assert rules(post(node, "/consents", consent_body(ConsentReference=False))) == \
        {"CONS-IN-002"}
    assert rules(post(node, "/consents", consent_body(MPAN=2000000000015))) == {"CONS-IN-002"}


def test_CONS_IN_005_and_006_a_revocation_is_reason_only(node):
    made = consent(node)
    with node.client() as c:
        bad = c.post(f"/consents/{made['ConsentId']}/revocation", json={"When": "now"})
        assert (bad.status_code, bad.json()["code"]) == (400, "CONS-IN-005")
        long = c.post(f"/consents/{made['ConsentId']}/revocation", json={"Reason": "x" * 1001})
        assert (long.status_code, long.json()["code"]) == (400, "CONS-IN-006")
        assert c.get(f"/consents/{made['ConsentId']}").json()["ConsentStatus"] == "Active"


def test_CONS_VAL_020_one_consent_per_reference(node):
    made = consent(node)
    again = post(node, "/consents", consent_body(ConsentReference=made["ConsentReference"]))
    assert (again.status_code, again.json()["code"]) == (409, "CONS-VAL-020")


def test_CONS_VAL_021_a_revocation_is_final(node):
    made = consent(node)
    with node.client() as c:
        assert c.post(f"/consents/{made['ConsentId']}/revocation").status_code == 200
        again = c.post(f"/consents/{made['ConsentId']}/revocation")
        assert (again.status_code, again.json()["code"]) == (409, "CONS-VAL-021")
        changed = c.put(f"/consents/{made['ConsentId']}", headers={"If-Match": "*"},
                        json=consent_body(ConsentReference=made["ConsentReference"]))
        assert (changed.status_code, changed.json()["code"]) == (409, "CONS-VAL-021")


# ---------------------------------------------------------------- the check at registration


def test_CONS_VAL_022_a_connection_point_that_needs_consent_names_one(node):
    refused = register(node, heat_pump(), 422)
    assert rules_of(refused) == {"CONS-VAL-022"}
    # a large heat pump (above FMAR_CONSENT_MAX_KW) and a battery need none
    register(node, heat_pump(RatedCapacity=250, DemandCapacity=250))
    register(node, bess())


def rules_of(body: dict[str, Any]) -> set[str]:
    found = {v["rule"] for v in (body.get("details") or {}).get("violations", [])}
    return found or {body["code"]}


def test_CONS_VAL_023_no_such_consent_here_nor_another_fsps(node):
    assert rules_of(register(node, heat_pump(ConsentReference="CCS-NOWHERE"), 422)) == \
        {"CONS-VAL-023"}
    theirs = post(node, "/consents", consent_body(OrganisationId="FSP-OTHER"), "fsp2")
    assert theirs.status_code == 201, theirs.text
    mine = heat_pump(ConsentReference=theirs.json()["ConsentReference"],
                     ImportMPAN=theirs.json()["MPAN"])
    assert rules_of(register(node, mine, 422)) == {"CONS-VAL-023"}


def test_CONS_VAL_024_a_revoked_consent_covers_nothing(node):
    made = consent(node)
    with node.client() as c:
        assert c.post(f"/consents/{made['ConsentId']}/revocation").status_code == 200
    body = heat_pump(ConsentReference=made["ConsentReference"], ImportMPAN=made["MPAN"])
    assert rules_of(register(node, body, 422)) == {"CONS-VAL-024"}


def test_CONS_VAL_025_an_expired_consent_covers_nothing(node):
    made = consent(node, ValidFrom="2024-01-01", ValidTo=YESTERDAY)
    body = heat_pump(ConsentReference=made["ConsentReference"], ImportMPAN=made["MPAN"])
    refused = register(node, body, 422)
    assert rules_of(refused) == {"CONS-VAL-025"}
    future = consent(node, ValidFrom=(TODAY + timedelta(days=3)).isoformat())
    body = heat_pump(ConsentReference=future["ConsentReference"], ImportMPAN=future["MPAN"])
    assert rules_of(register(node, body, 422)) == {"CONS-VAL-025"}


def test_CONS_VAL_026_a_consent_for_another_mpan(node):
    made = consent(node)
    body = heat_pump(ConsentReference=made["ConsentReference"])  # its own, other MPAN
    refused = register(node, body, 422)
    assert rules_of(refused) == {"CONS-VAL-026"}
    # any of the asset's MPANs will do: the export MPAN
    register(node, bess(dno="ENWL", ConsentReference=made["ConsentReference"],
                        ExportMPAN=made["MPAN"]))


def test_CONS_VAL_027_the_consent_covers_registration(node):
    made = consent(node, ScopeRegistration=False, ScopeSwitching=True)
    body = heat_pump(ConsentReference=made["ConsentReference"], ImportMPAN=made["MPAN"])
    assert rules_of(register(node, body, 422)) == {"CONS-VAL-027"}


def test_CONS_VAL_029_an_assets_consent_reference(node):
    refused = register(node, bess(ConsentReference="not a reference"), 422)
    assert "CONS-VAL-029" in rules_of(refused)


def test_a_bulk_book_gets_the_same_check_per_row(node):
    made = consent(node)
    good = heat_pump(ConsentReference=made["ConsentReference"], ImportMPAN=made["MPAN"])
    rows = [good, heat_pump()]
    with node.client() as c:
        answer = c.post("/assets/bulk?mode=store-valid", content="\n".join(
            __import__("json").dumps(r) for r in rows), headers={
                "Content-Type": "application/x-ndjson"})
    assert answer.status_code == 207, answer.text
    report = answer.json()["details"] if "details" in answer.json() else answer.json()
    assert report["stored"] == 1
    assert [v["rule"] for v in report["errors"][0]["violations"]] == ["CONS-VAL-022"]


def test_the_consent_policy_is_the_node_setting(node):
    policy = node.app.state.register.consents.policy
    assert policy == ConsentPolicy(frozenset({"EV_CHARGER", "HEAT_PUMP"}), 100.0)
    assert ConsentPolicy().categories == frozenset()  # the default: the FSP opts in
    assert not ConsentPolicy().needs_consent("HEAT_PUMP", 5)


# ---------------------------------------------------------------- revocation


def unit_with(node: RunningNode, asset_id: str, gsp: str = "_G") -> dict[str, Any]:
    made = post(node, "/market-units", {"Name": "Homes", "OrganisationId": "FSP-ACME",
                                        "UnitType": "SPG", "LocationScope": "GSPGroup",
                                        "GSPGroup": gsp})
    assert made.status_code == 201, made.text
    unit = made.json()
    joined = post(node, f"/market-units/{unit['UnitId']}/members",
                  {"AssetId": asset_id, "ValidFrom": LAST_YEAR})
    assert joined.status_code == 201, joined.text
    return unit


def test_a_revocation_suspends_the_asset_out_of_its_unit_and_tells_the_operators(node):
    made = consent(node)
    asset = register(node, heat_pump(ConsentReference=made["ConsentReference"],
                                     ImportMPAN=made["MPAN"], GSPGroup="_G"))
    other = register(node, bess(dno="ENWL", RatedCapacity=300, GenCapacity=300,
                                DemandCapacity=200, InstalledCapacity=300))
    unit = unit_with(node, asset["AssetId"])
    assert post(node, f"/market-units/{unit['UnitId']}/members",
                {"AssetId": other["AssetId"], "ValidFrom": LAST_YEAR}).status_code == 201
    with node.client() as c:
        before = c.get(f"/market-units/{unit['UnitId']}/capability").json()
        assert before["Members"] == 2 and before["RatedCapacity"] == 312.5
        revoked = c.post(f"/consents/{made['ConsentId']}/revocation",
                         json={"Reason": "withdrawn by the consumer"})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["suspended"] == [asset["AssetId"]]
        now = c.get(f"/assets/{asset['AssetId']}").json()
        assert now["RegistrationStatus"] == "SuspendedConsentRevoked"
        suspended = c.get("/assets", params={"registration_status": "SuspendedConsentRevoked",
                                             "limit": 1000}).json()["items"]
        assert asset["AssetId"] in {a["AssetId"] for a in suspended}
        after = c.get(f"/market-units/{unit['UnitId']}/capability").json()
        assert after["Members"] == 1 and after["RatedCapacity"] == 300
        kept = c.get(f"/market-units/{unit['UnitId']}").json()
        assert "suspended: consent revoked" in kept["MaterialChangeReason"]
        # nothing deleted: the asset's and the consent's history keep every version
        versions = c.get(f"/assets/{asset['AssetId']}/history").json()["versions"]
        assert [v["action"] for v in versions][-1] == "suspend"
        assert versions[0]["asset"]["RegistrationStatus"] == "Active"
        trail = c.get(f"/consents/{made['ConsentId']}/history").json()["versions"]
        assert [v["action"] for v in trail] == ["create-consent", "revoke-consent"]
        # a suspended asset joins no unit
        refused = c.post(f"/market-units/{unit['UnitId']}/members",
                         json={"AssetId": asset["AssetId"], "ValidFrom": TODAY.isoformat()})
        assert refused.json()["code"] == "MU-VAL-032"
    # NESO (which reads every unit) hears of it; the events say nothing of the consent
    with node.client("neso") as c:
        feed = c.get("/events", params={"after": "0", "limit": "1000", "types":
                                        "market-unit.composition-changed,asset.suspended"})
    events = feed.json()["items"]
    unit_events = [e for e in events if e["record"].endswith(unit["UnitId"])]
    assert unit_events[-1]["data"]["material"] is True
    assert "consent revoked" in unit_events[-1]["data"]["reason"]
    assert any(e["type"] == "asset.suspended" and e["record"].endswith(asset["AssetId"])
               for e in events)
    assert not [e for e in events if made["ConsentReference"] in str(e)
                or made["ConsentId"] in str(e)]
    with node.client("neso") as c:
        consent_events = c.get("/events", params={"after": "0", "limit": "1000",
                                                  "types": "consent.revoked"}).json()
    assert consent_events["items"] == []


def test_POL_084_only_the_fsp_or_its_platform_revokes(node):
    made = consent(node)
    for who in ("fsp2", "neso", "dno"):
        with node.client(who) as c:
            refused = c.post(f"/consents/{made['ConsentId']}/revocation")
        assert (refused.status_code, refused.json()["code"]) == (404, "CONS-404"), who
    with node.client() as c:
        assert c.get(f"/consents/{made['ConsentId']}").json()["ConsentStatus"] == "Active"


# ---------------------------------------------------------------- policy and privacy


def test_POL_080_an_fsp_records_only_its_own_consents(node):
    refused = post(node, "/consents", consent_body(OrganisationId="FSP-OTHER"))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-080")
    refused = post(node, "/consents", consent_body(OrganisationId="NESO"), "neso")
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-080")


def test_POL_081_nobody_but_the_fsp_reads_a_consent_over_rest(node):
    made = consent(node)
    path = f"/consents/{made['ConsentId']}"
    for who in ("neso", "dno", "fsp2", "regulator"):
        with node.client(who) as c:
            for sub in ("", "/history", "/audit"):
                answer = c.get(path + sub)
                assert answer.status_code in (403, 404), (who, sub, answer.text)
                assert made["ConsumerReference"] not in answer.text
            listed = c.get("/consents", params={"limit": 1000})
            assert listed.status_code in (200, 403)
            if listed.status_code == 200:  # another FSP lists its own, never ours
                assert {i["OrganisationId"] for i in listed.json()["items"]} <= {"FSP-OTHER"}
    with node.client() as c:
        assert c.get(path).json()["MPAN"] == made["MPAN"]
        assert made["ConsentId"] in {i["ConsentId"] for i in c.get(
            "/consents", params={"reference": made["ConsentReference"]}).json()["items"]}


def test_POL_082_no_sparql_query_sees_a_consent(node):
    made = consent(node)
    query = ("SELECT ?g ?p ?o WHERE { GRAPH ?g { ?c a <https://id.fmar.uk/def/fmar#Consent> ;"
             " ?p ?o } }")
    for who in ("neso", "dno", "fsp"):
        with node.client(who) as c:
            for answer in (c.get("/sparql", params={"query": query},
                                 headers={"Accept": "application/sparql-results+json"}),
                           c.post("/sparql", content=query.encode(), headers={
                               "Content-Type": "application/sparql-query",
                               "Accept": "application/sparql-results+json"})):
                assert answer.status_code == 200, (who, answer.text)
                assert answer.json()["results"]["bindings"] == [], who
            # the graph named outright is not part of the dataset either
            named = ("SELECT ?p ?o WHERE { GRAPH <" + made["id"] + "> { ?s ?p ?o } }")
            answer = c.get("/sparql", params={"query": named},
                           headers={"Accept": "application/sparql-results+json"})
            assert answer.json()["results"]["bindings"] == [], who
            assert made["MPAN"] not in answer.text


def test_POL_083_a_consent_is_never_deleted(node):
    made = consent(node)
    with node.client() as c:
        refused = c.delete(f"/consents/{made['ConsentId']}", headers={"If-Match": "*"})
        assert (refused.status_code, refused.json()["code"]) == (403, "POL-083")
        assert c.get(f"/consents/{made['ConsentId']}").status_code == 200


def test_the_demo_seeds_a_consent_and_an_asset_under_it(node):
    from node.demo import seed_consent

    register = node.app.state.register
    fsp = WHO["fsp"]
    assert seed_consent(register, fsp) is True
    assert seed_consent(register, fsp) is False  # once
    [consent] = register.consents.by_reference("CCS-DEMO-FSP-ACME")
    assert consent.field("ConsentStatus") == "Active"
    assert register.consents.assets_under(consent)  # the heat pump registered under it


def test_CONS_IN_007_a_node_without_trust_anchors_verifies_no_webhook(node):
    made = consent(node)
    with node.client(None) as c:
        answer = c.post("/consent-revocations", json={
            "id": "msg_1", "type": "consent.revoked",
            "ConsentReference": made["ConsentReference"]})
    assert (answer.status_code, answer.json()["code"]) == (401, "CONS-IN-007")
    with node.client() as c:
        assert c.get(f"/consents/{made['ConsentId']}").json()["ConsentStatus"] == "Active"


def test_a_consent_defaults_to_the_callers_organisation(node):
    made = post(node, "/consents", consent_body(OrganisationId=None))
    assert made.status_code == 201, made.text
    assert made.json()["OrganisationId"] == "FSP-ACME"
