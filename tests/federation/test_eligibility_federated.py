"""Eligibility across real processes: the FSP's node holds the unit and its members, the
market facilitator's node the product register and an equivalence, NESO's node the
unit's qualification, the DNO's node a limit on one member. The FSP's node asks each,
with the FSP's own rights (its token relayed, `may_act`), and answers per product."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from examples.generate import assets
from examples.market_units import demo_units
from node.identity import Caller
from node.kinds.market_unit_capability import UNIT_BASE, memberships
from tests.harness.federation import LocalFederation
from tests.harness.processes import RATE_LIMITS_OFF

ON = "2027-06-01"  # the seeded qualification runs 2027-01-01 .. 2028-12-31


class EligFed:
    def __init__(self, local: LocalFederation, unit: str, limited: str):
        self.local, self.unit, self.limited = local, unit, limited

    def get(self, who: str, node: str, path: str, relay: bool = True, **params: str) -> Any:
        member = self.local.members[who]
        url = self.local.nodes[node].url
        token = self.local.access_token(member, url, may_act=relay)
        with self.local.client(member.cert, member.key, token=token, base_url=url) as c:
            return c.get(path, params=params, timeout=60)


@pytest.fixture(scope="module")
def ef(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EligFed]:
    local = LocalFederation(tmp_path_factory.mktemp("eligibility"),
                            node_env={"FMAR_NODE_DEADLINE": "10", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        elexon = local.register_member("Elexon", ["MarketFacilitator"])
        neso = local.register_member("Neso", ["NESO"])
        gridco = local.register_member("Gridco", ["DNO"], dno_areas=["UKPN_EPN"])
        fsp = local.add_node("fsp", flexco)
        facilitator = local.add_node("facilitator", elexon, ["Asset", "Product"])
        neso_node = local.add_node("neso", neso)
        dno = local.add_node("dno", gridco, ["Asset", "ConnectionLimit"])
        rows = list(assets(40, flexco.org_id, seed=5, dnos=["UKPN_EPN"]))
        iris = local.load_assets(fsp, rows)
        [_, group] = local.load_market_units(fsp, demo_units(iris, rows))
        local.load_products(facilitator)
        mf = Caller("loader", elexon.org_id, frozenset(elexon.roles), frozenset({"products:write"}))
        local._on_store(facilitator, lambda register: register.equivalences.create({
            "FromProduct": "DC", "ToProduct": "DM", "ValidFrom": "2026-01-01",
            "Reason": "DM's response and duration needs are within DC's."}, mf))
        local.load_qualification(fsp, neso_node, group, product="DC")  # prequalified
        members = local._on_store(fsp, lambda register: [
            m.asset for m in memberships(register.store, unit=UNIT_BASE + group)])
        limited = members[0]
        row = rows[iris.index(limited)]
        local.load_connection_limits(dno, [(limited, flexco.org_id, row["DNOConnection"], 0.0)])
        local.start_nodes()
        yield EligFed(local, group, limited)
    finally:
        local.stop()


def test_the_fsp_asks_its_node_which_products_its_unit_can_enter(ef):
    answer = ef.get("Flexco", "fsp", f"/market-units/{ef.unit}/eligibility", on=ON)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for source in body["sources"].values():  # every node asked, every node answered
        assert {n["status"] for n in source["nodes"]} == {"answered"}, source
    products = {p["product_code"]: p for p in body["products"]}
    assert len(products) == 25 and {"DC", "DM", "DFS", "DSO_SU"} <= set(products)
    dm = products["DM"]  # the unit states no delivery time: only the equivalence makes it
    assert dm["outcome"] == "eligible" and dm["via"]["from"].endswith("/product/DC")
    assert dm["via"]["qualified_until"] == "2028-12-31"
    assert any(r["answer"] == "cannot tell" for r in dm["requirements"])
    assert all(p["product_version"].startswith("https://id.fmar.uk/product-version/")
               for p in body["products"])


def test_a_connection_limit_on_a_member_caps_what_the_unit_offers(ef):
    """The DNO's zero export limit on one member takes its generation out of the unit's
    up capability (compared with the same unit read on the FSP's own node alone)."""
    answer = ef.get("Flexco", "fsp", f"/market-units/{ef.unit}/eligibility", on=ON).json()
    capability = ef.get("Flexco", "fsp", f"/market-units/{ef.unit}/capability", on=ON).json()
    limited = ef.get("Flexco", "fsp", f"/assets/{ef.limited.rsplit('/', 1)[-1]}").json()
    # up: every member's export, less the limited one's (its limit is 0), and demand
    # turn-down, which an export limit does not cap
    expected = (capability["GenCapacity"] - float(limited.get("GenCapacity") or 0)
                + capability["DemandCapacity"]) / 1000
    assert answer["capability"]["up_mw"] == pytest.approx(expected, abs=0.001)


def test_FED_011_without_a_relay_token_the_node_asks_no_one_for_the_caller(ef):
    """The node never lends its own rights: a token that does not name it in `may_act`
    cannot be exchanged, every node refuses, and the caller is told why."""
    refused = ef.get("Flexco", "fsp", f"/market-units/{ef.unit}/eligibility", relay=False,
                     on=ON)
    assert (refused.status_code, refused.json()["code"]) == (403, "FED-011"), refused.text
    assert "AUTH-042" in refused.json()["details"]["codes"]


def test_another_fsp_learns_nothing_of_the_unit(ef):
    other = ef.local.register_member("Stranger", ["FSP"])
    assert other
    hidden = ef.get("Stranger", "fsp", f"/market-units/{ef.unit}/eligibility", on=ON)
    assert hidden.status_code in (403, 404)
