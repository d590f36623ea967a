"""Market units (SPU and SPG) and their members through the API of one node: the shapes
(MU-VAL-001..010, 020..025), the rules on the node's store (MU-VAL-030..039), policy
(POL-041, POL-003 with the areas a unit spans), capability on a date, history and material
changes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from node.kinds.market_unit_capability import Capability, material_reasons
from tests.assets import bess, heat_pump

TODAY = datetime.now(UTC).date()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
LAST_YEAR = date(TODAY.year - 1, 1, 1).isoformat()
NEXT_YEAR = date(TODAY.year + 1, 1, 1).isoformat()


def asset(node, body, who="fsp"):
    with node.client(who) as c:
        response = c.post("/assets", json=body)
    assert response.status_code == 201, response.text
    return response.json()["AssetId"]


def unit(node, who="fsp", expect=201, **fields):
    with node.client(who) as c:
        response = c.post("/market-units", json=fields)
    assert response.status_code == expect, response.text
    return response.json()


def spu(node, mpan, **changes):
    return unit(node, **{"Name": "Site", "OrganisationId": "FSP-ACME", "UnitType": "SPU",
                         "ConnectionMPAN": mpan, **changes})


def spg(node, gsp="_H", **changes):
    return unit(node, **{"Name": "Group", "OrganisationId": "FSP-ACME", "UnitType": "SPG",
                         "LocationScope": "GSPGroup", "GSPGroup": gsp, **changes})


def join(node, unit_id, asset_id, valid_from=LAST_YEAR, expect=201, who="fsp", **more):
    with node.client(who) as c:
        response = c.post(f"/market-units/{unit_id}/members",
                          json={"AssetId": asset_id, "ValidFrom": valid_from, **more})
    assert response.status_code == expect, response.text
    return response.json()


def end(node, unit_id, membership_id, valid_to, expect=200, who="fsp"):
    with node.client(who) as c:
        response = c.post(f"/market-units/{unit_id}/members/{membership_id}/end",
                          json={"ValidTo": valid_to})
    assert response.status_code == expect, response.text
    return response.json()


def violations(body):
    return {v["rule"] for v in body["details"]["violations"]}


def get(node, path, who="fsp", **params):
    with node.client(who) as c:
        response = c.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- the unit itself


def test_an_fsp_creates_an_spu_and_an_spg_that_neso_reads(node):
    made = spu(node, "1000000000011")
    assert made["UnitType"] == "SPU" and made["Version"] == 1 and made["SetBy"] == "FSP-ACME"
    assert made["Capability"]["Members"] == 0 and made["SpansDNOAreas"] == []
    group = spg(node, "_J")
    assert group["SpansGSPGroups"] == ["_J"]
    for who in ("fsp", "neso"):
        assert get(node, f"/market-units/{made['UnitId']}", who)["Name"] == "Site"
    listed = get(node, "/market-units", "neso", type="SPG")
    assert group["UnitId"] in {u["UnitId"] for u in listed["items"]}
    assert all(u["UnitType"] == "SPG" for u in listed["items"])


@pytest.mark.parametrize("rule, fields", [
    ("MU-VAL-001", {"Name": None}),
    ("MU-VAL-002", {"OrganisationId": None}),
    ("MU-VAL-003", {"UnitType": "VPP"}),
    ("MU-VAL-004", {"ConnectionMPAN": "12345"}),
    ("MU-VAL-005", {"ConnectionMPAN": None, "SitePostcode": "not a postcode"}),
    ("MU-VAL-006", {"UnitType": "SPG", "ConnectionMPAN": None, "LocationScope": "Planet"}),
    ("MU-VAL-007", {"UnitType": "SPG", "ConnectionMPAN": None, "LocationScope": "GSPGroup",
                    "GSPGroup": "_Z"}),
    ("MU-VAL-008", {"SitePostcode": "EC1A 1BB"}),  # two connection points
    ("MU-VAL-009", {"UnitType": "SPG"}),  # an SPG with a connection point and no scope
    ("MU-VAL-010", {"UnitType": "SPG", "ConnectionMPAN": None, "LocationScope": "DNOArea",
                    "GSPGroup": "_A"}),
])
def test_MU_VAL_001_to_010_unit_shapes(node, rule, fields):
    body = {"Name": "Unit", "OrganisationId": "FSP-ACME", "UnitType": "SPU",
            "ConnectionMPAN": "1000000000011", **fields}
    refused = unit(node, expect=422, **{k: v for k, v in body.items() if v is not None})
    assert refused["code"] == "MU-VAL" and rule in violations(refused)
    assert rule in refused["details"]["violations"][0]["message"] or rule in violations(refused)


@pytest.mark.parametrize("rule, fields", [
    ("MU-VAL-011", {"FullDeliveryTimeSeconds": -1}),
    ("MU-VAL-012", {"SustainedDurationMinutes": "long"}),
    ("MU-VAL-013", {"Direction": "Sideways"}),
    ("MU-VAL-014", {"BMRegistered": "perhaps"}),
    ("MU-VAL-015", {"MeteringResolution": "x" * 201}),
])
def test_MU_VAL_011_to_015_the_unit_states_its_capability(node, rule, fields):
    body = {"Name": "Unit", "OrganisationId": "FSP-ACME", "UnitType": "SPU",
            "ConnectionMPAN": "1000000000011"}
    refused = unit(node, expect=422, **body, **fields)
    assert refused["code"] == "MU-VAL" and rule in violations(refused)
    stated = unit(node, expect=201, **body, FullDeliveryTimeSeconds=30,
                  SustainedDurationMinutes=60, Direction="Up", BMRegistered=False,
                  MeteringResolution="1 Hz")
    assert (stated["Direction"], stated["BMRegistered"]) == ("Up", False)


def test_MU_IN_001_to_003_capability_is_never_typed_in(node):
    refused = unit(node, expect=400, Name="U", OrganisationId="FSP-ACME", UnitType="SPU",
                   ConnectionMPAN="1000000000011", Capability={"Members": 9})
    assert refused["code"] in ("MU-IN-002", "MU-IN-003")
    with node.client() as c:
        refused = c.post("/market-units", json={"Name": "U", "OrganisationId": "FSP-ACME",
                                                "UnitType": "SPU", "MaterialChangeAt": "x",
                                                "ConnectionMPAN": "1000000000011"}).json()
    assert refused["code"] == "MU-IN-003"
    with node.client() as c:
        refused = c.post("/market-units", json={"Colour": "red"}).json()
    assert refused["code"] == "MU-IN-002"
    from common.errors import BadInput
    from tests.conftest import CALLERS
    with pytest.raises(BadInput) as not_an_object:  # MU-IN-001
        node.app.state.register.units.create(["a", "list"], CALLERS["fsp"])
    assert not_an_object.value.code == "MU-IN-001"


def test_POL_041_an_fsp_writes_only_its_own_units(node):
    refused = unit(node, expect=403, Name="Theirs", OrganisationId="FSP-OTHER",
                   UnitType="SPU", ConnectionMPAN="1000000000011")
    assert refused["code"] == "POL-041"
    refused = unit(node, who="dno", expect=403, Name="DNO's", OrganisationId="DNO-UKPN",
                   UnitType="SPU", ConnectionMPAN="1000000000011")
    assert refused["code"] == "POL-041"
    mine = spu(node, "1000000000011")
    with node.client("fsp2") as c:  # another FSP: as if the unit did not exist
        hidden = c.get(f"/market-units/{mine['UnitId']}")
        changed = c.put(f"/market-units/{mine['UnitId']}", headers={"If-Match": "*"},
                        json={"Name": "Stolen", "OrganisationId": "FSP-OTHER",
                              "UnitType": "SPU", "ConnectionMPAN": "1000000000011"})
        listed = c.get("/market-units").json()
        members = c.get(f"/market-units/{mine['UnitId']}/members")
    assert (hidden.status_code, hidden.json()["code"]) == (404, "MU-404")
    assert (changed.status_code, changed.json()["code"]) == (404, "MU-404")
    assert (members.status_code, members.json()["code"]) == (404, "MU-404")
    assert mine["UnitId"] not in {u["UnitId"] for u in listed["items"]}
    with node.client() as c:  # nor can the FSP give its unit away
        given = c.put(f"/market-units/{mine['UnitId']}", headers={"If-Match": "*"},
                      json={"Name": "Gift", "OrganisationId": "FSP-OTHER",
                            "UnitType": "SPU", "ConnectionMPAN": "1000000000011"})
    assert (given.status_code, given.json()["code"]) == (403, "POL-041")
    group = spg(node)
    member = join(node, group["UnitId"], asset(node, bess()))
    with node.client("fsp2") as c:  # another FSP cannot end my unit's memberships
        ended = c.delete(f"/market-units/{group['UnitId']}/members/{member['MembershipId']}")
    assert (ended.status_code, ended.json()["code"]) == (404, "MU-404")


# ---------------------------------------------------------------- members


def test_MU_VAL_031_another_fsps_asset_cannot_join(node):
    theirs = asset(node, bess(org="FSP-OTHER"), who="fsp2")
    group = spg(node, "_H")
    refused = join(node, group["UnitId"], theirs, expect=422)
    assert refused["code"] == "MU-VAL-031" and "FSP-ACME" in refused["message"]
    unknown = join(node, group["UnitId"], str(uuid.uuid4()), expect=422)
    assert unknown["code"] == "MU-VAL-031"  # the same answer: existence not confirmed
    # another FSP adding its own asset to my unit: the unit is hidden
    hidden = join(node, group["UnitId"], theirs, who="fsp2", expect=404)
    assert hidden["code"] == "MU-404"


def test_MU_VAL_032_a_deregistered_asset_cannot_join(node):
    gone = asset(node, bess())
    with node.client() as c:
        assert c.delete(f"/assets/{gone}", headers={"If-Match": "*"}).status_code == 200
    refused = join(node, spg(node)["UnitId"], gone, expect=422)
    assert refused["code"] == "MU-VAL-032"


def test_MU_VAL_033_an_asset_in_query_cannot_join(node):
    queried = asset(node, bess())
    with node.client("neso") as c:
        response = c.put(f"/assets/{queried}/validation-status", headers={"If-Match": "*"},
                         json={"status": "Query", "reason": "MPAN unknown"})
    assert response.status_code == 200, response.text
    refused = join(node, spg(node)["UnitId"], queried, expect=422)
    assert refused["code"] == "MU-VAL-033"


def test_MU_VAL_034_an_asset_is_in_one_unit_at_a_time(node):
    battery = asset(node, bess())
    first, second = spg(node), spg(node)
    member = join(node, first["UnitId"], battery, LAST_YEAR)
    refused = join(node, second["UnitId"], battery, NEXT_YEAR, expect=409)
    assert refused["code"] == "MU-VAL-034" and first["UnitId"] in refused["message"]
    assert refused["details"]["unit"] == first["UnitId"]
    # it leaves the first unit at the start of next year: then it may join the second
    end(node, first["UnitId"], member["MembershipId"], NEXT_YEAR)
    moved = join(node, second["UnitId"], battery, NEXT_YEAR)
    assert moved["ValidFrom"] == NEXT_YEAR
    # and the first membership cannot be reopened over it
    refused = end(node, first["UnitId"], member["MembershipId"],
                  date(TODAY.year + 2, 1, 1).isoformat(), expect=409)
    assert refused["code"] == "MU-VAL-034"


def test_MU_VAL_035_an_spu_s_members_share_its_connection_point(node):
    here = bess()
    there = asset(node, bess())
    site = spu(node, here["ImportMPAN"])
    join(node, site["UnitId"], asset(node, here))
    refused = join(node, site["UnitId"], there, expect=422)
    assert refused["code"] == "MU-VAL-035" and here["ImportMPAN"] in refused["message"]
    by_site = spu(node, None, ConnectionMPAN=None, SitePostcode="OX11 0QX")
    join(node, by_site["UnitId"], asset(node, bess(Postcode="OX11 0QX")))
    refused = join(node, by_site["UnitId"], asset(node, bess(Postcode="RG1 1AA")), expect=422)
    assert refused["code"] == "MU-VAL-035"


def test_MU_VAL_036_an_spg_s_members_share_its_location_scope(node):
    group = spg(node, "_H")  # SSEN_SEPD's GSP group
    refused = join(node, group["UnitId"], asset(node, bess(dno="ENWL")), expect=422)
    assert refused["code"] == "MU-VAL-036" and "_H" in refused["message"]
    area = unit(node, Name="Zone", OrganisationId="FSP-ACME", UnitType="SPG",
                LocationScope="ConstraintZone", ConstraintZone="Didcot N-1",
                DNOArea="SSEN_SEPD")
    join(node, area["UnitId"], asset(node, bess(dno="SSEN_SEPD")))
    refused = join(node, area["UnitId"], asset(node, heat_pump(dno="ENWL")), expect=422)
    assert refused["code"] == "MU-VAL-036"


@pytest.mark.parametrize("rule, body", [
    ("MU-VAL-021", {"AssetId": "not-a-uuid"}),
    ("MU-VAL-023", {"ValidFrom": "2026-02-30"}),
    ("MU-VAL-024", {"ValidTo": "soon"}),
    ("MU-VAL-025", {"ValidFrom": "2026-05-01", "ValidTo": "2026-04-01"}),
])
def test_MU_VAL_021_to_025_membership_shapes(node, rule, body):
    group = spg(node)
    sent = {"AssetId": asset(node, bess()), "ValidFrom": LAST_YEAR, **body}
    with node.client() as c:
        refused = c.post(f"/market-units/{group['UnitId']}/members", json=sent)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "MUM-VAL" and rule in violations(refused.json())


def test_MU_VAL_020_and_022_the_node_sets_unit_and_organisation(node):
    group = spg(node)
    member = join(node, group["UnitId"], asset(node, bess()))
    assert member["UnitId"] == group["UnitId"] and member["OrganisationId"] == "FSP-ACME"
    with node.client() as c:  # a client never names them (MU-VAL-020/022 always hold)
        refused = c.post(f"/market-units/{group['UnitId']}/members",
                         json={"AssetId": member["AssetId"], "ValidFrom": LAST_YEAR,
                               "UnitId": str(uuid.uuid4())})
    assert refused.json()["code"] == "MUM-IN-002"


def test_MU_VAL_030_a_membership_names_a_unit_on_this_node(node):
    from node.kinds.market_unit_members import MEMBERSHIP  # noqa: F401 - the kind is declared
    register = node.app.state.register
    from tests.conftest import CALLERS
    body = {"UnitId": str(uuid.uuid4()), "AssetId": asset(node, bess()),
            "OrganisationId": "FSP-ACME", "ValidFrom": LAST_YEAR}
    from common.errors import Invalid
    with pytest.raises(Invalid) as refused:
        register.members.create(body, CALLERS["fsp"])
    assert refused.value.code == "MU-VAL-030"


def test_MU_IN_004_dates_are_checked(node):
    group = spg(node)
    with node.client() as c:
        bad = c.get(f"/market-units/{group['UnitId']}/capability", params={"on": "yesterday"})
        no_end = c.post(f"/market-units/{group['UnitId']}/members/{uuid.uuid4()}/end", json={})
    assert (bad.status_code, bad.json()["code"]) == (400, "MU-IN-004")
    assert (no_end.status_code, no_end.json()["code"]) == (400, "MUM-IN-003")


# ---------------------------------------------------------------- capability and history


def test_capability_sums_the_members_in_force_on_a_date(node):
    group = spg(node, "_G")
    b = asset(node, bess(dno="ENWL", RatedCapacity=500, GenCapacity=500, DemandCapacity=400))
    h = asset(node, heat_pump(dno="ENWL", GSPGroup="_G"))
    join(node, group["UnitId"], b, LAST_YEAR)
    join(node, group["UnitId"], h, YESTERDAY)
    before = get(node, f"/market-units/{group['UnitId']}/capability", on=LAST_YEAR)
    now = get(node, f"/market-units/{group['UnitId']}/capability")
    assert (before["Members"], before["RatedCapacity"]) == (1, 500)
    assert now["Members"] == 2 and now["RatedCapacity"] == 512.5
    assert now["GenCapacity"] == 500 and now["DemandCapacity"] == 412.5
    assert now["Categories"] == {"BESS": 1, "HEAT_PUMP": 1}
    assert now["DNOAreas"] == ["ENWL"] and now["GSPGroups"] == ["_G"]
    kept = get(node, f"/market-units/{group['UnitId']}")
    assert kept["Capability"]["Members"] == 2 and kept["Capability"]["RatedCapacity"] == 512.5
    assert kept["SpansDNOAreas"] == ["ENWL"]


def test_history_shows_the_composition_at_a_date(node):
    group = spg(node)
    a, b = asset(node, bess()), asset(node, bess())
    first = join(node, group["UnitId"], a, LAST_YEAR)
    join(node, group["UnitId"], b, YESTERDAY)
    end(node, group["UnitId"], first["MembershipId"], TODAY.isoformat())
    on = {d: {m["AssetId"] for m in get(node, f"/market-units/{group['UnitId']}/members",
                                          on=d)["items"]}
          for d in (LAST_YEAR, YESTERDAY, TODAY.isoformat())}
    assert on == {LAST_YEAR: {a}, YESTERDAY: {a, b}, TODAY.isoformat(): {b}}
    every = get(node, f"/market-units/{group['UnitId']}/members", all="true")
    assert every["count"] == 2
    versions = get(node, f"/market-units/{group['UnitId']}/history")["versions"]
    assert [v["action"] for v in versions] == ["create-market-unit"] + \
        ["recompute-market-unit"] * 3
    assert [v["record"]["Capability"]["Members"] for v in versions] == [0, 1, 2, 1]
    trail = get(node, f"/market-units/{group['UnitId']}/audit")["entries"]
    assert len(trail) == 4


def test_a_dno_reads_the_units_spanning_its_areas(node):
    group = spg(node, "_A")  # UKPN_EPN's group; the test DNO holds UKPN areas
    far = spg(node, "_G")
    join(node, group["UnitId"], asset(node, bess(dno="UKPN_EPN")))
    listed = {u["UnitId"] for u in get(node, "/market-units", "dno", limit=1000)["items"]}
    assert group["UnitId"] in listed and far["UnitId"] not in listed
    assert get(node, f"/market-units/{group['UnitId']}", "dno")["SpansDNOAreas"] == ["UKPN_EPN"]
    with node.client("dno") as c:
        assert c.get(f"/market-units/{far['UnitId']}").status_code == 404


# ---------------------------------------------------------------- material change


def test_material_change_is_stamped_and_announced(node, monkeypatch):
    units = node.app.state.register.units
    heard: list[tuple[str, str]] = []
    monkeypatch.setattr(units, "material_hooks", [lambda iri, why: heard.append((iri, why))])
    group = spg(node, "_H")
    join(node, group["UnitId"], asset(node, bess(RatedCapacity=1000, GenCapacity=1000,
                                                 InstalledCapacity=1000)))
    first = get(node, f"/market-units/{group['UnitId']}")
    assert first["MaterialChangeAt"] and "RatedCapacity 0 -> 1000" in \
        first["MaterialChangeReason"]
    assert heard[-1][0] == first["id"]
    # +5% of the same category: not material (default share 0.1)
    heard.clear()
    join(node, group["UnitId"], asset(node, bess(RatedCapacity=50, GenCapacity=50,
                                                 DemandCapacity=20)))
    assert heard == []
    assert get(node, f"/market-units/{group['UnitId']}")["MaterialChangeAt"] == \
        first["MaterialChangeAt"]
    # a category added: material
    join(node, group["UnitId"], asset(node, heat_pump(dno="SSEN_SEPD", GSPGroup="_H",
                                                      RatedCapacity=1, DemandCapacity=1)))
    assert len(heard) == 1 and "category added: HEAT_PUMP" in heard[0][1]


def test_a_material_change_is_an_event_for_the_operators_with_its_reason(node):
    """The operators that qualified a unit subscribe to `market-unit.composition-changed`:
    material with the reason when a material change was stamped, not material otherwise;
    an FSP not entitled to the unit gets neither (POL-040)."""
    group = spg(node, "_H")
    join(node, group["UnitId"], asset(node, bess(RatedCapacity=2000, GenCapacity=2000,
                                                 InstalledCapacity=2000)))
    join(node, group["UnitId"], asset(node, bess(RatedCapacity=40, GenCapacity=40,
                                                 DemandCapacity=20)))

    def composition(who: str) -> list[dict]:
        feed = get(node, "/events", who, after="0", limit="1000",
                   types="market-unit.composition-changed")
        return [e for e in feed["items"] if e["record"].endswith(group["UnitId"])]

    seen = composition("neso")
    assert [e["data"]["material"] for e in seen] == [True, False]
    assert "RatedCapacity 0 -> 2000" in seen[0]["data"]["reason"]
    assert "reason" not in seen[1]["data"]
    assert composition("fsp2") == []


def test_material_reasons_are_what_the_setting_says():
    before = Capability("2026-01-01", 1, rated=__import__("decimal").Decimal(100))
    after = Capability("2026-01-01", 2, rated=__import__("decimal").Decimal(111))
    assert material_reasons(before, after, 0.1) == ["RatedCapacity 100 -> 111 kW"]
    assert material_reasons(before, after, 0.2) == []


def test_a_changed_scope_is_material_and_must_fit_the_members(node):
    group = spg(node, "_H")
    join(node, group["UnitId"], asset(node, bess()))
    current = get(node, f"/market-units/{group['UnitId']}")
    with node.client() as c:
        refused = c.put(f"/market-units/{group['UnitId']}", headers={"If-Match": "*"},
                        json={"Name": "Group", "OrganisationId": "FSP-ACME", "UnitType": "SPG",
                              "LocationScope": "GSPGroup", "GSPGroup": "_A"})
        widened = c.put(f"/market-units/{group['UnitId']}",
                        headers={"If-Match": f'"{group["UnitId"]}.v{current["Version"]}"'},
                        json={"Name": "Group", "OrganisationId": "FSP-ACME", "UnitType": "SPG",
                              "LocationScope": "DNOArea", "DNOArea": "SSEN_SEPD"})
    assert (refused.status_code, refused.json()["code"]) == (409, "MU-VAL-037")
    assert widened.status_code == 200, widened.text
    assert "location scope changed" in widened.json()["MaterialChangeReason"]


# ---------------------------------------------------------------- de-registering


def test_MU_VAL_039_deregistering_is_refused_while_in_a_unit(node):
    battery = asset(node, bess())
    group = spg(node)
    member = join(node, group["UnitId"], battery)
    with node.client() as c:
        refused = c.delete(f"/assets/{battery}", headers={"If-Match": "*"})
    assert (refused.status_code, refused.json()["code"]) == (409, "MU-VAL-039")
    assert group["UnitId"] in refused.json()["message"]
    assert refused.json()["details"]["unit"] == group["UnitId"]
    assert get(node, f"/assets/{battery}")["RegistrationStatus"] == "Active"  # nothing stored
    end(node, group["UnitId"], member["MembershipId"], TODAY.isoformat())
    with node.client() as c:
        done = c.delete(f"/assets/{battery}", headers={"If-Match": "*"})
    assert done.status_code == 200 and done.json()["RegistrationStatus"] == "Deregistered"


def test_MU_VAL_038_a_unit_with_members_is_not_removed(node):
    group = spg(node)
    member = join(node, group["UnitId"], asset(node, bess()))
    with node.client() as c:
        refused = c.delete(f"/market-units/{group['UnitId']}", headers={"If-Match": "*"})
    assert (refused.status_code, refused.json()["code"]) == (409, "MU-VAL-038")
    with node.client() as c:  # removing today's member via DELETE ends it today
        ended = c.delete(f"/market-units/{group['UnitId']}/members/{member['MembershipId']}")
        assert ended.status_code == 200 and ended.json()["ValidTo"] == TODAY.isoformat()
        assert c.delete(f"/market-units/{group['UnitId']}",
                        headers={"If-Match": "*"}).status_code == 204
        assert c.get(f"/market-units/{group['UnitId']}").status_code == 404


def test_a_membership_of_another_unit_is_not_ended_through_this_one(node):
    one, other = spg(node), spg(node)
    member = join(node, one["UnitId"], asset(node, bess()))
    refused = end(node, other["UnitId"], member["MembershipId"], TODAY.isoformat(), expect=404)
    assert refused["code"] == "MUM-404"


def test_MU_412_and_MU_428_changes_name_the_current_version(node):
    group = spg(node)
    body = {"Name": "Renamed", "OrganisationId": "FSP-ACME", "UnitType": "SPG",
            "LocationScope": "GSPGroup", "GSPGroup": "_H"}
    with node.client() as c:
        missing = c.put(f"/market-units/{group['UnitId']}", json=body)
        stale = c.put(f"/market-units/{group['UnitId']}", json=body,
                      headers={"If-Match": f'"{group["UnitId"]}.v0"'})
        done = c.put(f"/market-units/{group['UnitId']}", json=body,
                     headers={"If-Match": f'"{group["UnitId"]}.v1"'})
    assert (missing.status_code, missing.json()["code"]) == (428, "MU-428")
    assert (stale.status_code, stale.json()["code"]) == (412, "MU-412")
    assert done.status_code == 200 and done.json()["Name"] == "Renamed"
    assert "MaterialChangeAt" not in done.json()  # a new name is not a material change


# ---------------------------------------------------------------- the command line


def test_fmar_unit_commands_call_the_node(node):
    from tests.conftest import token_for
    from tests.harness.processes import FMAR_INSTALLED, clean_env, run_fmar

    env = clean_env(FMAR_NODE_URL=node.url, FMAR_TOKEN=token_for("fsp"))

    def fmar(*args: str) -> dict:
        done = run_fmar("unit", *args, command=FMAR_INSTALLED, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    battery = asset(node, bess())
    made = fmar("create", "--name", "CLI group", "--organisation", "FSP-ACME", "--type", "SPG",
                "--scope", "GSPGroup", "--gsp-group", "_H")
    unit_id = made["UnitId"]
    member = fmar("add-member", unit_id, battery, "--from", LAST_YEAR)
    assert fmar("show", unit_id)["Capability"]["Members"] == 1
    assert unit_id in {u["UnitId"] for u in fmar("list", "--type", "SPG")["items"]}
    assert fmar("capability", unit_id, "--on", LAST_YEAR)["Categories"] == {"BESS": 1}
    assert fmar("members", unit_id)["count"] == 1
    ended = fmar("remove-member", unit_id, member["MembershipId"])
    assert ended["ValidTo"] == TODAY.isoformat()
    # a refusal is one line with its code, and a non-zero exit
    refused = run_fmar("unit", "add-member", unit_id, str(uuid.uuid4()), "--from", LAST_YEAR,
                       command=FMAR_INSTALLED, env=env)
    assert refused.returncode != 0 and "MU-VAL-031" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_FMAR_MATERIAL_CHANGE_SHARE_reaches_the_units(tmp_path, monkeypatch):
    from node.config import NodeSettings
    from tests.conftest import start_node

    monkeypatch.setenv("FMAR_MATERIAL_CHANGE_SHARE", "0.5")
    running = start_node(NodeSettings(data_dir=tmp_path, workers=1))
    try:
        assert running.app.state.register.units.material_share == 0.5
    finally:
        running.stop()
