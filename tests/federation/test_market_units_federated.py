"""Market units across real processes over TLS: an FSP's units are held on its own node;
NESO reads them there (node API and SPARQL) with its own certificate-bound token, the DNO
only those whose members span its licence areas, another FSP none; a unit is written only
on a node that holds the writer's records (POL-030), never by NESO.

Its own small federation (trust service + the FSP's node), so the records written here do
not change the shared federation's oracle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples.generate import assets
from examples.market_units import JOINED, demo_units
from tests.harness.federation import LocalFederation

AREAS = ["UKPN_EPN", "ENWL"]


class Units:
    def __init__(self, local: LocalFederation, unit_ids: list[str],
                 members: list[list[tuple[str, str]]]):
        self.local = local
        self.unit_ids = unit_ids
        self.members = members

    def send(self, who: str, method: str, path: str, body: Any = None,
             node: str = "flexco") -> httpx.Response:
        member, url = self.local.members[who], self.local.nodes[node].url
        token = self.local.access_token(member, url)
        with self.local.client(member.cert, member.key) as c:
            return c.request(method, f"{url}{path}", json=body,
                             headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Units]:
    local = LocalFederation(tmp_path_factory.mktemp("units"))
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        local.register_member("Otherflex", ["FSP"])
        local.register_member("Gridco", ["DNO"], dno_areas=["UKPN_EPN"])
        local.register_member("Neso", ["NESO"])
        node = local.add_node("flexco", flexco)
        rows = list(assets(24, flexco.org_id, seed=31, dnos=AREAS))
        iris = local.load_assets(node, rows)
        chosen = demo_units(iris, rows)
        unit_ids = local.load_market_units(node, chosen)
        local.start_nodes()
        yield Units(local, unit_ids, [m for _, m in chosen])
    finally:
        local.stop()


def test_neso_reads_an_fsps_units_on_the_fsps_node(units):
    listed = units.send("Neso", "GET", "/market-units")
    assert listed.status_code == 200, listed.text
    assert {u["UnitId"] for u in listed.json()["items"]} == set(units.unit_ids)
    spu, spg = units.unit_ids
    one = units.send("Neso", "GET", f"/market-units/{spg}").json()
    assert one["UnitType"] == "SPG" and one["OrganisationId"] == units.local.members[
        "Flexco"].org_id
    capability = units.send("Neso", "GET", f"/market-units/{spg}/capability?on={JOINED}")
    assert capability.status_code == 200, capability.text
    assert capability.json()["Members"] == len(units.members[1]) > 1
    before = units.send("Neso", "GET", f"/market-units/{spg}/capability?on=2025-03-31").json()
    assert before["Members"] == 0  # the members joined on JOINED
    members = units.send("Neso", "GET", f"/market-units/{spu}/members?on={JOINED}").json()
    assert [m["AssetId"] for m in members["items"]] == [units.members[0][0][0]]


def test_neso_finds_the_units_with_sparql_on_the_fsps_node(units):
    member, url = units.local.members["Neso"], units.local.nodes["flexco"].url
    token = units.local.access_token(member, url)
    query = ("PREFIX fmar: <https://id.fmar.uk/def/fmar#> SELECT ?unit ?members WHERE { "
             "?unit a fmar:MarketUnit ; fmar:memberCount ?members }")
    with units.local.client(member.cert, member.key) as c:
        answer = c.post(f"{url}/sparql", content=query,
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/sparql-query",
                                 "Accept": "application/sparql-results+json"})
    assert answer.status_code == 200, answer.text
    found = {b["unit"]["value"].rsplit("/", 1)[-1]
             for b in answer.json()["results"]["bindings"]}
    assert found == set(units.unit_ids)


def test_the_dno_reads_only_units_spanning_its_area_and_another_fsp_none(units):
    spanning = {u for u, m in zip(units.unit_ids, units.members, strict=True)
                if "UKPN_EPN" in units.send("Neso", "GET", f"/market-units/{u}").json()[
                    "SpansDNOAreas"]}
    seen = units.send("Gridco", "GET", "/market-units")
    assert seen.status_code == 200, seen.text
    assert {u["UnitId"] for u in seen.json()["items"]} == spanning
    other = units.send("Otherflex", "GET", "/market-units")
    assert other.status_code == 200 and other.json()["count"] == 0
    hidden = units.send("Otherflex", "GET", f"/market-units/{units.unit_ids[0]}")
    assert (hidden.status_code, hidden.json()["code"]) == (404, "MU-404")


def test_POL_030_units_are_written_on_their_fsps_node_only_by_it(units):
    other = units.local.members["Otherflex"]
    refused = units.send("Otherflex", "POST", "/market-units",
                         {"Name": "Mine here", "OrganisationId": other.org_id,
                          "UnitType": "SPG", "LocationScope": "DNOArea", "DNOArea": "ENWL"})
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-030"), refused.text
    neso = units.send("Neso", "POST", "/market-units",
                      {"Name": "NESO's", "OrganisationId": units.local.members["Neso"].org_id,
                       "UnitType": "SPG", "LocationScope": "DNOArea", "DNOArea": "ENWL"})
    # NESO's token carries no assets:write (POL-001); were it given one, POL-041 refuses
    # any organisation but the unit's FSP (tests/test_market_units.py)
    assert (neso.status_code, neso.json()["code"]) == (403, "POL-001"), neso.text
    spg = units.unit_ids[1]
    membership = units.send("Neso", "GET", f"/market-units/{spg}/members").json()[
        "items"][0]["MembershipId"]
    ended = units.send("Neso", "DELETE", f"/market-units/{spg}/members/{membership}")
    assert (ended.status_code, ended.json()["code"]) == (403, "POL-001"), ended.text
