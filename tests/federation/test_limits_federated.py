"""Connection limits across real processes (issue 14): the DNO sets limits through its
node's API (one alone, a book as CSV), and a federated query returns each limit to the
limited asset's organisation, its DNO and NESO, and to nobody else; the asset's
capability under its limits is answered across the federation
(node/federation/capability.py).

Its own small federation (trust service, two FSP nodes and the DNO's node over TLS), so
the limits it writes do not change the shared federation of the other tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, time
from typing import Any

import pytest

from examples.generate import assets
from node.federation.capability import asset_capability
from node.federation.client import FederationClient
from node.inputs import csv_text
from tests.harness.federation import LocalFederation
from tests.harness.processes import RATE_LIMITS_OFF

AREA = "UKPN_EPN"
OTHER_AREA = "UKPN_SPN"  # also Gridco's, but none of the assets here is connected in it
FMAR = "https://id.fmar.uk/def/fmar#"
LIMITS_QUERY = (f"PREFIX fmar: <{FMAR}> SELECT ?limit ?asset ?export WHERE {{ "
                "?limit a fmar:ConnectionLimit ; fmar:limitsAsset ?asset . "
                "OPTIONAL { ?limit fmar:exportLimit ?export } }")
JOIN_QUERY = (f"PREFIX fmar: <{FMAR}> SELECT ?limit ?asset ?cap WHERE {{ "
              "?limit fmar:limitsAsset ?asset . ?asset fmar:ratedCapacity ?cap }")


class Limits:
    def __init__(self, local: LocalFederation):
        self.local = local
        self.assets: dict[str, list[str]] = {}  # member -> its asset IDs
        self.rated: dict[str, float] = {}  # asset ID -> RatedCapacity
        self.own_export: dict[str, float] = {}  # asset ID -> what it exports, unlimited
        self.rows: dict[str, dict[str, Any]] = {}  # asset ID -> the row it was loaded from
        self.limits: dict[str, str] = {}  # LimitId -> the asset ID it limits

    def client(self, who: str) -> FederationClient:
        m = self.local.members[who]
        return FederationClient(self.local.issuer, ca_bundle=self.local.ca_bundle,
                                client_id=m.app_id, cert=m.cert, key=m.key, deadline=15.0)

    def dno_http(self, scope: str = "assets:read validation:write"):  # type: ignore[no-untyped-def]
        m, node = self.local.members["Gridco"], self.local.nodes["dno"]
        return self.local.client(m.cert, m.key, token=m.access_token(node.url, scope),
                                 base_url=node.url)


def _ids(iris: list[str]) -> list[str]:
    return [iri.rsplit("/", 1)[-1] for iri in iris]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limits]:
    local = LocalFederation(tmp_path_factory.mktemp("limits-federation"),
                            node_env={"FMAR_NODE_DEADLINE": "10", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        gridco = local.register_member("Gridco", ["DNO"], dno_areas=[AREA, OTHER_AREA])
        local.register_member("Neso", ["NESO"])
        nodes = {"fsp_a": local.add_node("fsp_a", flexco),
                 "fsp_b": local.add_node("fsp_b", otherflex),
                 "dno": local.add_node("dno", gridco, ["Asset", "ConnectionLimit"])}
        w = Limits(local)
        for name, member, seed in (("fsp_a", flexco, 5), ("fsp_b", otherflex, 6)):
            rows = list(assets(10, member.org_id, seed=seed, dnos=[AREA]))
            ids = _ids(local.load_assets(nodes[name], rows))
            for asset_id, row in zip(ids, rows):
                w.rated[asset_id] = float(row["RatedCapacity"])
                w.rows[asset_id] = row
                w.own_export[asset_id] = 0.0 if row.get("CanExport") is False else \
                    float(row.get("GenCapacity", row["RatedCapacity"]))
            # assets that export first: their limits cap something
            w.assets[member.name] = sorted(ids, key=lambda a: -w.own_export[a])
        local.start_nodes()
        yield w
    finally:
        local.stop()


def _limit(w: Limits, holder: str, asset_id: str, **extra: Any) -> dict[str, Any]:
    return {"AssetId": asset_id, "OrganisationId": w.local.members[holder].org_id,
            "DNOConnection": AREA, "LimitType": "FIRM", "ValidFrom": "2026-01-01",
            "ExportLimit": round(w.rated[asset_id] / 2, 1), **extra}


@pytest.fixture(scope="module")
def limited(world: Limits) -> Limits:
    """Gridco sets limits through its node's API: one alone (with a time profile) and the
    rest of its book as CSV."""
    flex, other = world.assets["Flexco"], world.assets["Otherflex"]
    timed = _limit(world, "Flexco", flex[0], LimitType="TIMED", ExportLimit=None,
                   TimeProfile=[{"Season": "WINTER", "From": "16:00", "To": "19:00",
                                 "ExportLimit": 1.5},
                                {"Season": "SUMMER", "From": "00:00", "To": "24:00",
                                 "ExportLimit": 3}])
    book = [_limit(world, "Flexco", a) for a in flex[1:3]] + \
        [_limit(world, "Otherflex", a) for a in other[:2]]
    columns = ["AssetId", "OrganisationId", "DNOConnection", "LimitType", "ValidFrom",
               "ExportLimit"]
    with world.dno_http() as c:
        one = c.post("/connection-limits", json=timed)
        assert one.status_code == 201, one.text
        world.limits[one.json()["LimitId"]] = flex[0]
        bulk = c.post("/connection-limits/bulk", headers={"Content-Type": "text/csv"},
                      content=csv_text([columns, *([str(r[k]) for k in columns]
                                                   for r in book)]).encode())
        assert bulk.status_code == 200, bulk.text
    for stored in bulk.json()["limits"]:
        world.limits[stored["LimitId"]] = book[stored["row"] - 1]["AssetId"]
    return world


def _seen(answer: dict[str, Any]) -> dict[str, str]:
    """LimitId -> asset ID, from a federated SELECT of ?limit ?asset."""
    assert not answer["partial"], answer["nodes"]
    return {b["limit"]["value"].rsplit("/", 1)[-1]: b["asset"]["value"].rsplit("/", 1)[-1]
            for b in answer["results"]["bindings"]}


@pytest.mark.parametrize("mode", ["gather", "distribute"])
def test_each_party_sees_the_limits_it_is_entitled_to(limited: Limits, mode: str):
    w = limited
    expected = {
        "Neso": w.limits,  # NESO sees all
        "Gridco": w.limits,  # the DNO of the area
        "Flexco": {k: a for k, a in w.limits.items() if a in w.assets["Flexco"]},
        "Otherflex": {k: a for k, a in w.limits.items() if a in w.assets["Otherflex"]},
    }
    assert len(expected["Flexco"]) == 3 and len(expected["Otherflex"]) == 2
    for who, limits in expected.items():
        with w.client(who) as client:
            assert _seen(client.sparql(LIMITS_QUERY, mode)) == limits, (who, mode)
            if mode == "gather":  # and the federated listing of the kind
                listed = client.records("connection-limits")
                assert not listed["partial"], listed["nodes"]
                assert {i["LimitId"]: i["AssetId"] for i in listed["items"]} == limits, who


def test_an_fsp_joins_its_assets_with_their_limits_and_nothing_else(limited: Limits):
    w = limited
    with w.client("Flexco") as client:
        joined = client.sparql(JOIN_QUERY)
    rows = {(b["limit"]["value"].rsplit("/", 1)[-1], b["asset"]["value"].rsplit("/", 1)[-1])
            for b in joined["results"]["bindings"]}
    mine = {(k, a) for k, a in w.limits.items() if a in w.assets["Flexco"]}
    # the timed limit has no flat ExportLimit but joins all the same
    assert rows == mine and len(rows) == 3


def test_another_fsp_reads_no_limit_of_flexco_even_by_id(limited: Limits):
    w = limited
    theirs = next(k for k, a in w.limits.items() if a in w.assets["Flexco"])
    m, node = w.local.members["Otherflex"], w.local.nodes["dno"]
    with w.local.client(m.cert, m.key, token=m.access_token(node.url), base_url=node.url) as c:
        direct = c.get(f"/connection-limits/{theirs}")
        listed = c.get("/connection-limits", params={"asset": w.limits[theirs]})
        sparql = c.post("/sparql", content=LIMITS_QUERY,
                        headers={"Content-Type": "application/sparql-query",
                                 "Accept": "application/sparql-results+json"})
    assert (direct.status_code, direct.json()["code"]) == (404, "LIM-404")
    assert listed.json()["items"] == []
    seen = {b["limit"]["value"].rsplit("/", 1)[-1] for b in
            sparql.json()["results"]["bindings"]}
    assert seen and not seen & {k for k, a in w.limits.items() if a in w.assets["Flexco"]}


def test_a_dno_cannot_set_a_limit_outside_its_area_on_the_real_node(limited: Limits):
    w = limited
    asset_id = w.assets["Flexco"][4]
    with w.dno_http() as c:
        outside = c.post("/connection-limits", json=_limit(w, "Flexco", asset_id,
                                                           DNOConnection="ENWL"))
        book = c.post("/connection-limits/bulk", headers={"Content-Type": "text/csv"},
                      content=csv_text([["AssetId", "OrganisationId", "DNOConnection",
                                         "LimitType", "ValidFrom", "ExportLimit"],
                                        [asset_id, "x", "ENWL", "FIRM", "2026-01-01", "1"]
                                        ]).encode())
    assert (outside.status_code, outside.json()["code"]) == (403, "POL-008")
    assert (book.status_code, book.json()["code"]) == (422, "LIM-BULK")
    assert book.json()["details"]["errors"][0]["violations"][0]["rule"] == "POL-008"
    m, node = w.local.members["Flexco"], w.local.nodes["dno"]
    token = m.access_token(node.url)
    with w.local.client(m.cert, m.key, token=token, base_url=node.url) as c:
        fsp = c.post("/connection-limits", json=_limit(w, "Flexco", asset_id))
    assert (fsp.status_code, fsp.json()["code"]) == (403, "POL-001")  # no validation:write


def test_capability_under_the_limits_across_the_federation(limited: Limits):
    w = limited
    timed_asset, flat_asset = w.assets["Flexco"][0], w.assets["Flexco"][1]
    with w.client("Flexco") as client:
        winter_peak = asset_capability(client.sparql, timed_asset, date(2026, 1, 10), time(17))
        summer = asset_capability(client.sparql, timed_asset, date(2026, 7, 10))
        flat = asset_capability(client.sparql, flat_asset, date(2026, 3, 1))
        before = asset_capability(client.sparql, flat_asset, date(2025, 12, 31))
    assert w.own_export[timed_asset] > 3 and w.own_export[flat_asset] > 0
    assert winter_peak["ExportCapability"] == 1.5
    assert summer["ExportCapability"] == 3.0
    assert flat["ExportCapability"] == min(round(w.rated[flat_asset] / 2, 1),
                                           w.own_export[flat_asset])
    assert len(flat["limits"]) == 1 and before["limits"] == []
    with w.client("Otherflex") as client, pytest.raises(Exception) as hidden:
        asset_capability(client.sparql, flat_asset, date(2026, 3, 1))
    assert getattr(hidden.value, "code", None) == "ARM-404"


def test_a_limit_on_an_assets_mpan_caps_its_capability_too(limited: Limits):
    w = limited
    asset_id = w.assets["Flexco"][2]  # it has a flat limit from the book
    mpan = w.rows[asset_id]["ImportMPAN"]
    with w.dno_http() as c:
        point = c.post("/connection-limits", json={
            "MPAN": mpan, "Site": "Flexco site", "OrganisationId": w.local.members[
                "Flexco"].org_id, "DNOConnection": AREA, "LimitType": "EXPORT_ONLY",
            "ExportLimit": 0.5, "ValidFrom": "2026-01-01"})
    assert point.status_code == 201, point.text
    with w.client("Flexco") as client:
        answer = asset_capability(client.sparql, asset_id, date(2026, 3, 1))
    assert point.json()["LimitId"] in answer["limits"] and len(answer["limits"]) == 2
    assert (answer["ExportCapability"], answer["ImportCapability"]) == (0.5, 0.0)
    with w.client("Otherflex") as client:  # not theirs: the point's limit is hidden too
        rows = client.sparql(f"PREFIX fmar: <{FMAR}> SELECT ?l WHERE {{ ?l fmar:limitsMPAN "
                             f'"{mpan}" }}')
    assert rows["results"]["bindings"] == []


def test_a_limit_naming_another_area_than_the_assets_does_not_cap_it(limited: Limits):
    """Hostile: Gridco also holds UKPN_SPN, so POL-008 lets it write a limit that names
    SPN on an asset connected in EPN (its node cannot see the asset). The capability
    ignores such a limit; the asset's own-area limit still applies."""
    w = limited
    asset_id = w.assets["Flexco"][1]  # it has a flat limit from the book, in EPN
    with w.dno_http() as c:
        wrong = c.post("/connection-limits", json=_limit(w, "Flexco", asset_id,
                                                         DNOConnection=OTHER_AREA,
                                                         ExportLimit=0.1))
    assert wrong.status_code == 201, wrong.text
    with w.client("Flexco") as client:
        answer = asset_capability(client.sparql, asset_id, date(2026, 3, 1))
    assert wrong.json()["LimitId"] not in answer["limits"] and len(answer["limits"]) == 1
    assert answer["ExportCapability"] == min(round(w.rated[asset_id] / 2, 1),
                                             w.own_export[asset_id])


def test_limits_written_through_the_api_are_audited_on_the_dno_node(limited: Limits):
    w = limited
    limit_id = next(iter(w.limits))
    with w.dno_http("assets:read audit:read") as c:
        trail = c.get(f"/connection-limits/{limit_id}/audit")
    assert trail.status_code == 200, trail.text
    entries = trail.json()["entries"]
    assert [e["action"] for e in entries] == ["create-connection-limit"]
    assert json.dumps(entries).count(w.local.members["Gridco"].org_id) >= 1


def test_the_readme_limits_walkthrough_runs_as_written(limited: Limits, tmp_path):
    """README "Connection limits: a DNO sets one, the FSP reads it", with env.sh files as
    the demo writes them (UKPN's folder holding this federation's DNO). Runs last: it adds
    a limit the tests above do not expect."""
    from examples.federation_demo import env_file
    from tests.federation.test_cli_query import run_readme_block

    w = limited
    for folder, member, node in (("Flexco", "Flexco", "fsp_a"), ("Ukpn", "Gridco", "dno")):
        path = tmp_path / "members" / folder / "env.sh"
        path.parent.mkdir(parents=True)
        env_file(w.local, member, path, w.local.nodes[node].url)
    run_readme_block("federation-limits", tmp_path / "members", tmp_path)
