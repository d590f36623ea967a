"""The federated listing of a record kind (/federation/records/{kind}, Engine.records,
FederationClient.records) across real nodes: each node answers with the caller's own
rights, directly and through a relaying node."""

from __future__ import annotations


def _limit_ids(answer: dict) -> set[str]:
    return {item["LimitId"] for item in answer["items"]}


def test_each_caller_gets_the_limits_it_may_read_from_every_node(fed):
    everything = fed.client("Neso").records("connection-limits")
    assert not everything["partial"] and not everything["truncated"], everything["nodes"]
    # the fixture's limits (other tests of the session may have set more)
    assert {i["id"] for i in everything["items"]} >= set(fed.limits)
    assert {i["_node"] for i in everything["items"]} == {fed.local.nodes["dno"].url}
    assert {s["status"] for s in everything["nodes"]} == {"answered"}
    flexco_org = fed.member("Flexco").org_id
    mine = fed.client("Flexco").records("connection-limits")
    assert mine["items"] and {i["OrganisationId"] for i in mine["items"]} == {flexco_org}
    expected = {i["LimitId"] for i in everything["items"] if i["OrganisationId"] == flexco_org}
    assert _limit_ids(mine) == expected


def test_a_relaying_node_lists_with_the_callers_rights_not_its_own(fed):
    """Flexco asks through the DNO's node: the DNO would read every limit in its areas;
    Flexco gets only those on its own assets."""
    dno_url = fed.local.nodes["dno"].url
    direct = fed.client("Flexco").records("connection-limits")
    relayed = fed.client("Flexco").via(dno_url).records("connection-limits")
    assert not relayed["partial"], relayed["nodes"]
    assert _limit_ids(relayed) == _limit_ids(direct)
    one_asset = direct["items"][0]["AssetId"]
    filtered = fed.client("Flexco").via(dno_url).records("connection-limits", asset=one_asset)
    assert {i["AssetId"] for i in filtered["items"]} == {one_asset}


def test_the_regulator_lists_no_records(fed):
    answer = fed.client("Ofgem").records("connection-limits")
    assert answer["items"] == []
