"""Switching a whole market unit across real processes (issue 12 §5): FSP B (Otherflex)
takes over a unit of FSP A (Flexco); on the effective date the unit, its memberships and
its member assets move together from A's node to B's, same IRIs, history carried,
tombstones on A; NESO's qualification of the unit, on NESO's node, and the DNO's grid
prequalification of it, on the DNO's node, still name the unit and, once B's node tells
the operators' nodes (`market-unit.switched-in`) and each has confirmed the move with both
FSPs' nodes itself, name B as its FSP (INBOX-009..012, POL-096, POL-097). Forged notices
move nothing; a holder's node down while confirming is retried by the sender.

Trust framework, FSP A, FSP B, NESO and a DNO node run as processes over TLS on loopback.
A's notice is a few seconds; the crash tests restart a node with FMAR_SWITCH_CRASH_AT
(it exits as kill -9 would at that step) and check each record ends held exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from examples.generate import assets
from tests.harness.federation import LocalFederation, NodeProc
from tests.harness.processes import RATE_LIMITS_OFF, wait_ready

NOTICE = 6.0  # seconds, on A's node
WAIT = 150.0  # generous: a shared 2-core machine
AREA = "ENWL"
JOINED = "2025-04-01"
PAIRS = 10  # units of two member assets each, one of three; the rest of A's assets are loose
MAX_BUNDLE = 6  # on A's node: a unit of two members moves (5 records), of three not (7)


class World:
    def __init__(self, local: LocalFederation, units: list[tuple[str, list[str]]],
                 loose: list[str], qualified: tuple[str, str], large: str,
                 large_outcome: str, grids: dict[str, str],
                 retried: tuple[str, list[str]]):
        self.local, self.large = local, large  # `large`: the unit of three members
        self.large_outcome = large_outcome  # NESO's outcome for it (it never moves)
        self.grids = grids  # unit ID -> the DNO's grid prequalification IRI, naming A
        self.retried = retried  # (unit ID, members) for the INBOX-012 test only
        self.units = units  # (unit ID, [member asset IRIs]) not used by a test yet
        self.loose = loose  # asset IRIs in no unit
        self.qualified = qualified  # (unit ID, NESO's qualification IRI)

    def node(self, name: str) -> NodeProc:
        return self.local.nodes[name]

    @property
    def a(self) -> NodeProc:
        return self.node("fsp_a")

    @property
    def b(self) -> NodeProc:
        return self.node("fsp_b")

    def org(self, who: str) -> str:
        return self.local.members[who].org_id

    def call(self, who: str, node: NodeProc, method: str, path: str,
             **kw: Any) -> httpx.Response:
        m = self.local.members[who]
        headers = {"Authorization": f"Bearer {self.local.access_token(m, node.url)}",
                   **kw.pop("headers", {})}
        with self.local.client(m.cert, m.key) as c:
            return c.request(method, f"{node.url}{path}", headers=headers, timeout=60, **kw)

    def request_unit(self, unit_id: str, who: str = "Otherflex",
                     **body: Any) -> httpx.Response:
        return self.call(who, self.a, "POST", "/switch-requests", json={
            "From": self.org("Flexco"), "RecordKind": "market-unit",
            "Records": [unit_id], "ConsentReference": "CONSENT-" + uuid.uuid4().hex[:8],
            **body})

    def state(self, switch_id: str) -> dict[str, Any]:
        r = self.call("Otherflex", self.a, "GET", f"/switch-requests/{switch_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def wait_state(self, switch_id: str, *states: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                body = self.state(switch_id)
                if body["State"] in states:
                    return body
            except httpx.HTTPError:
                body = {"State": "unreachable"}
            if time.monotonic() > deadline:
                raise AssertionError(f"switch {switch_id} is {body['State']}, not {states}\n"
                                     f"A: {self.a.log_text()}\nB: {self.b.log_text()}")
            time.sleep(0.5)

    def outcome(self, who: str, outcome_iri: str) -> httpx.Response:
        """NESO's outcome on NESO's node, read by `who`."""
        return self.call(who, self.node("neso"), "GET",
                         f"/qualifications/{outcome_iri.rsplit('/', 1)[-1]}")

    def grid(self, who: str, unit_id: str) -> httpx.Response:
        """The DNO's grid prequalification of the unit on the DNO's node, read by `who`."""
        return self.call(who, self.node("dno"), "GET", "/grid-prequalifications/"
                         + self.grids[unit_id].rsplit("/", 1)[-1])

    def wait_grid_names(self, unit_id: str, who: str) -> dict[str, Any]:
        """The grid prequalification, once it names `who`'s organisation (the DNO reads)."""
        deadline = time.monotonic() + WAIT
        while (body := self.grid("Gridco", unit_id).json())["OrganisationId"] != \
                self.org(who):
            assert time.monotonic() < deadline, (self.node("dno").log_text()
                                                 + self.b.log_text())
            time.sleep(0.5)
        return dict(body)

    def notice(self, signer: str, unit_id: str, at: str = "neso",
               **data: Any) -> httpx.Response:
        """A `market-unit.switched-in` webhook to node `at`'s inbox (NESO's by default),
        signed by node `signer`."""
        webhook_id = str(uuid.uuid4())
        body = json.dumps({
            "id": webhook_id, "sequence": "1", "type": "market-unit.switched-in",
            "kind": "market-unit", "record": f"https://id.fmar.uk/market-unit/{unit_id}",
            "version": 9, "time": "2026-11-30T05:00:00Z", "data": data}).encode()
        headers = self.local.webhook_signer(self.node(signer)).headers(
            webhook_id, int(time.time()), body)
        return self.local.post_webhook(self.node(at), body, headers)

    def assert_grid_followed(self, unit_id: str) -> None:
        """The DNO's grid prequalification of the unit names B, still approved, read by B
        and no longer by A; its history keeps A's version and says the DNO's node moved it
        after a unit switch (POL-096)."""
        moved = self.wait_grid_names(unit_id, "Otherflex")
        assert moved["State"] == "approved" and self.org("Flexco") in moved["Reason"], moved
        by_b = self.grid("Otherflex", unit_id)
        assert by_b.status_code == 200 and by_b.json()["id"] == self.grids[unit_id], by_b.text
        assert self.grid("Flexco", unit_id).status_code == 404
        history = self.call("Gridco", self.node("dno"), "GET", "/grid-prequalifications/"
                            + self.grids[unit_id].rsplit("/", 1)[-1] + "/history")
        last, before = history.json()["versions"][-1], history.json()["versions"][-2]
        assert (last["action"], last["by"]) == ("follow-switch-grid-prequalification",
                                                "node:unit-switch"), last
        assert before["record"]["OrganisationId"] == self.org("Flexco")

    def restart(self, node: NodeProc, crash_at: str | None = None) -> None:
        node.stop()
        node.env.pop("FMAR_SWITCH_CRASH_AT", None)
        if crash_at:
            node.env["FMAR_SWITCH_CRASH_AT"] = crash_at
        node.start()
        wait_ready(f"{node.url}/health", node.running(), ca_bundle=self.local.ca_bundle,
                   why=node.log_text)

    def wait_exit(self, node: NodeProc) -> None:
        deadline = time.monotonic() + WAIT
        while node.running().poll() is None:
            assert time.monotonic() < deadline, f"{node.name} did not crash: {node.log_text()}"
            time.sleep(0.2)

    def assert_unit_moved(self, unit_id: str, members: list[str]) -> None:
        """The unit, its memberships and members: exactly one active holder (B's node),
        same IRIs, history carried, tombstones on A naming B's node."""
        gone = self.call("Flexco", self.a, "GET", f"/market-units/{unit_id}")
        assert gone.status_code == 410 and gone.json()["code"] == "SWITCH-410", gone.text
        assert gone.json()["details"]["moved_to"] == self.b.url
        on_b = self.call("Otherflex", self.b, "GET", f"/market-units/{unit_id}")
        assert on_b.status_code == 200, on_b.text
        unit = on_b.json()
        assert unit["id"].endswith(unit_id) and unit["OrganisationId"] == self.org("Otherflex")
        history = self.call("Otherflex", self.b, "GET",
                            f"/market-units/{unit_id}/history").json()["versions"]
        assert [v["version"] for v in history] == list(range(1, unit["Version"] + 1))
        assert history[0]["organisation"] == self.org("Flexco")  # carried from A
        assert history[-1]["action"] == "switch-in"
        listed = self.call("Otherflex", self.b, "GET", f"/market-units/{unit_id}/members")
        assert listed.status_code == 200, listed.text
        assert sorted(m["AssetId"].rsplit("/", 1)[-1] for m in listed.json()["items"]) == \
            sorted(i.rsplit("/", 1)[-1] for i in members)
        for member in listed.json()["items"]:
            assert member["OrganisationId"] == self.org("Otherflex")
        for iri in members:
            asset_id = iri.rsplit("/", 1)[-1]
            on_a = self.call("Flexco", self.a, "GET", f"/assets/{asset_id}")
            assert on_a.status_code == 410 and on_a.json()["code"] == "SWITCH-410", on_a.text
            asset = self.call("Otherflex", self.b, "GET", f"/assets/{asset_id}")
            assert asset.status_code == 200 and asset.json()["id"] == iri, asset.text
            assert self.org("Otherflex") in str(asset.json()["OrganisationId"])
        assert self.call("Flexco", self.b, "GET",
                         f"/market-units/{unit_id}").status_code in (403, 404)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    local = LocalFederation(tmp_path_factory.mktemp("unit-switching"),
                            node_env={"FMAR_SWITCH_POLL_SECONDS": "0.5",
                                      "FMAR_EVENTS_POLL": "0.2",
                                      "FMAR_PLACEMENT_TTL": "1", "FMAR_NODE_DEADLINE": "10",
                                      "FMAR_FEDERATION_KEY_TTL": "1", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        local.register_member("Thirdflex", ["FSP"])
        neso = local.register_member("Neso", ["NESO"])
        gridco = local.register_member("Gridco", ["DNO"], dno_areas=[AREA])
        a = local.add_node("fsp_a", flexco,
                           extra_env={"FMAR_SWITCH_NOTICE_SECONDS": str(NOTICE),
                                      "FMAR_SWITCH_MAX_BUNDLE": str(MAX_BUNDLE)})
        # B's node retries, every 2 s at most, a notice an operator's node cannot take yet
        b = local.add_node("fsp_b", otherflex,
                           extra_env={"FMAR_EVENTS_RETRY_BASE": "0.5",
                                      "FMAR_EVENTS_RETRY_MAX": "2",
                                      "FMAR_EVENTS_MAX_ATTEMPTS": "200"})
        neso_node = local.add_node("neso", neso)
        dno = local.add_node("dno", gridco, ["Asset", "ConnectionLimit"])
        rows = list(assets(2 * PAIRS + 9, flexco.org_id, seed=41, dnos=[AREA]))
        iris = local.load_assets(a, rows)
        pairs = [iris[2 * n:2 * n + 2] for n in range(PAIRS)]
        unit_ids = local.load_market_units(a, [(
            {"Name": f"Portfolio {n}", "UnitType": "SPG", "LocationScope": "DNOArea",
             "DNOArea": AREA}, [(i.rsplit("/", 1)[-1], JOINED) for i in pair])
            for n, pair in enumerate([*pairs, iris[2 * PAIRS:2 * PAIRS + 3]])])
        _, qualification = local.load_qualification(a, neso_node, unit_ids[0])
        _, large_outcome = local.load_qualification(a, neso_node, unit_ids[PAIRS])
        retried = unit_ids[PAIRS - 1]
        grids = {unit: local.load_grid_prequalification(dno, unit, flexco.org_id, AREA)
                 for unit in (unit_ids[0], unit_ids[PAIRS], retried)}
        for fsp in (a, b):  # NESO's and the DNO's nodes hear of units' changes and switches
            for operator in (neso_node, dno):
                local.subscribe_inbox(fsp, operator)
        local.start_nodes()
        yield World(local, list(zip(unit_ids[1:PAIRS - 1], pairs[1:PAIRS - 1])),
                    iris[2 * PAIRS + 3:], (unit_ids[0], qualification), unit_ids[PAIRS],
                    large_outcome, grids, (retried, pairs[PAIRS - 1]))
    finally:
        local.stop()


def test_a_unit_moves_with_its_memberships_and_members_and_its_qualification_follows(
        world: World) -> None:
    unit_id, qualification = world.qualified
    members = world.call("Flexco", world.a, "GET", f"/market-units/{unit_id}/members").json()
    kept, leaving = ["https://id.fmar.uk/asset/" + m["AssetId"].rsplit("/", 1)[-1]
                     for m in members["items"]]
    # one member leaves today: its membership is history and moves, its asset stays on A
    today = datetime.now(UTC).date().isoformat()
    ending = members["items"][1]
    ended = world.call("Flexco", world.a, "POST",
                       f"/market-units/{unit_id}/members/{ending['MembershipId']}/end",
                       json={"ValidTo": today})
    assert ended.status_code == 200, ended.text
    made = world.request_unit(unit_id)
    assert made.status_code == 201, made.text
    switch = made.json()
    assert switch["RecordKind"] == "market-unit"
    assert {f"https://id.fmar.uk/market-unit/{unit_id}", kept, ending["id"]} <= \
        set(switch["Records"])
    assert leaving not in switch["Records"]
    done = world.wait_state(switch["SwitchId"], "completed", "rejected")
    assert done["State"] == "completed", done
    world.assert_unit_moved(unit_id, [kept])
    # the past membership moved with the unit; its asset, no longer a member, stayed on A
    every = world.call("Otherflex", world.b, "GET",
                       f"/market-units/{unit_id}/members?all=true").json()["items"]
    assert sorted(m["id"] for m in every) == sorted(m["id"] for m in members["items"])
    still = world.call("Flexco", world.a, "GET", f"/assets/{leaving.rsplit('/', 1)[-1]}")
    assert still.status_code == 200, still.text
    # NESO's outcome, on NESO's node, still names the same unit IRI: nothing copied
    found = world.call("Neso", world.node("neso"), "GET", f"/qualifications?unit={unit_id}")
    assert found.status_code == 200, found.text
    assert [q["id"] for q in found.json()["items"]] == [qualification]
    assert found.json()["items"][0]["UnitId"].endswith(unit_id)
    # ... and, told by B's node and confirmed by NESO's node with both FSPs' nodes, it
    # names B: B reads its unit's outcome there, A no longer does (INBOX-011, POL-096)
    deadline = time.monotonic() + WAIT
    while world.outcome("Neso", qualification).json()["OrganisationId"] != \
            world.org("Otherflex"):
        assert time.monotonic() < deadline, (world.node("neso").log_text()[-3000:]
                                             + world.b.log_text()[-3000:])
        time.sleep(0.5)
    outcome = world.outcome("Otherflex", qualification)
    assert outcome.status_code == 200, outcome.text
    assert world.org("Flexco") in outcome.json()["Reason"]
    assert world.outcome("Flexco", qualification).status_code == 404
    history = world.call("Neso", world.node("neso"), "GET",
                         f"/qualifications/{qualification.rsplit('/', 1)[-1]}/history")
    last, before = history.json()["versions"][-1], history.json()["versions"][-2]
    assert last["action"] == "follow-switch-qualification", last
    assert before["record"]["OrganisationId"] == world.org("Flexco")
    # the state did not move (A's member leaving made it `reassessment_required` before)
    assert last["record"]["State"] == before["record"]["State"]
    # the DNO's grid prequalification of the unit, on the DNO's node, followed the same
    # notice the same way: B reads it there, A no longer does
    world.assert_grid_followed(unit_id)
    # B changes its unit's composition on its node; A no longer can, on either node
    membership = next(m for m in every if m["AssetId"].endswith(kept.rsplit("/", 1)[-1]))
    path = f"/market-units/{unit_id}/members/{membership['MembershipId']}/end"
    ended_b = world.call("Otherflex", world.b, "POST", path, json={"ValidTo": "2030-01-01"})
    assert ended_b.status_code == 200, ended_b.text
    on_a = world.call("Flexco", world.a, "POST", path, json={"ValidTo": "2029-01-01"})
    assert on_a.status_code == 410 and on_a.json()["code"] == "SWITCH-410", on_a.text
    a_on_b = world.call("Flexco", world.b, "POST", path, json={"ValidTo": "2029-01-01"})
    assert a_on_b.status_code in (403, 404), a_on_b.text


def test_SWITCH_VAL_020_a_member_asset_moves_only_with_its_unit(world: World) -> None:
    unit_id, members = world.units[0]
    alone = world.call("Otherflex", world.a, "POST", "/switch-requests", json={
        "From": world.org("Flexco"), "Records": [members[0]], "ConsentReference": "C-1"})
    assert alone.status_code == 409 and alone.json()["code"] == "SWITCH-VAL-020", alone.text
    assert alone.json()["details"]["market_units"] == [
        f"https://id.fmar.uk/market-unit/{unit_id}"]


def test_SWITCH_VAL_021_a_unit_with_a_member_in_another_switch_is_refused(
        world: World) -> None:
    unit_id, _ = world.units.pop()
    loose = world.loose.pop()
    # the loose asset is asked for alone (B), then A adds it to the unit during the notice
    alone = world.call("Otherflex", world.a, "POST", "/switch-requests", json={
        "From": world.org("Flexco"), "Records": [loose], "ConsentReference": "C-2"})
    assert alone.status_code == 201, alone.text
    joined = world.call("Flexco", world.a, "POST", f"/market-units/{unit_id}/members",
                        json={"AssetId": loose.rsplit("/", 1)[-1], "ValidFrom": JOINED})
    assert joined.status_code == 201, joined.text
    refused = world.request_unit(unit_id)
    assert refused.status_code == 409 and refused.json()["code"] == "SWITCH-VAL-021", \
        refused.text
    assert refused.json()["details"]["records"] == [loose]
    # the asset's own switch is then rejected at its effective date: it is in a unit now
    done = world.wait_state(alone.json()["SwitchId"], "completed", "rejected")
    assert done["State"] == "rejected" and "SWITCH-VAL-020" in done["Reason"], done
    assert world.call("Flexco", world.a, "GET",
                      f"/assets/{loose.rsplit('/', 1)[-1]}").status_code == 200


def test_SWITCH_VAL_002_another_fsps_unit_or_no_unit_is_refused(world: World) -> None:
    unit_id, _ = world.units[0]
    for refused in (world.request_unit(unit_id, From=world.org("Thirdflex")),
                    world.request_unit(str(uuid.uuid4()))):
        assert refused.status_code == 422 and refused.json()["code"] == "SWITCH-VAL-002", \
            refused.text
    # POL-072: A does not ask for its own unit
    own = world.request_unit(unit_id, who="Flexco")
    assert own.status_code == 403 and own.json()["code"] == "POL-072"


def test_SWITCH_VAL_022_a_unit_too_large_for_one_hand_over_is_refused(world: World) -> None:
    refused = world.request_unit(world.large)
    assert refused.status_code == 422 and refused.json()["code"] == "SWITCH-VAL-022", \
        refused.text
    assert refused.json()["details"]["records"] == 7  # the unit, 3 memberships, 3 assets
    assert world.call("Flexco", world.a, "GET",
                      f"/market-units/{world.large}").status_code == 200


def test_SWITCH_409_a_unit_being_handed_over_takes_no_new_member(world: World) -> None:
    """While B's node is down the hand-over waits, frozen on A: no new member, no change."""
    unit_id, members = world.units.pop()
    loose = world.loose.pop()
    world.b.stop()
    try:
        made = world.request_unit(unit_id)
        assert made.status_code == 201, made.text
        switch_id = made.json()["SwitchId"]
        deadline = time.monotonic() + WAIT
        while world.state(switch_id)["State"] != "transferring":
            assert time.monotonic() < deadline, world.state(switch_id)
            time.sleep(0.3)
        joined = world.call("Flexco", world.a, "POST", f"/market-units/{unit_id}/members",
                            json={"AssetId": loose.rsplit("/", 1)[-1], "ValidFrom": JOINED})
        assert joined.status_code == 409 and joined.json()["code"] == "SWITCH-409", joined.text
        asset = world.call("Flexco", world.a, "PATCH",
                           f"/assets/{members[0].rsplit('/', 1)[-1]}",
                           json={"AssetName": "changed mid hand-over"},
                           headers={"If-Match": "*",
                                    "Content-Type": "application/merge-patch+json"})
        assert asset.status_code == 409 and asset.json()["code"] == "SWITCH-409", asset.text
    finally:
        world.restart(world.b)
    done = world.wait_state(switch_id, "completed", "rejected")
    assert done["State"] == "completed", done
    world.assert_unit_moved(unit_id, members)
    assert world.call("Flexco", world.a, "GET",
                      f"/assets/{loose.rsplit('/', 1)[-1]}").status_code == 200


A_STEPS = ["prepared", "staged", "committed"]
B_STEPS = ["import-staged", "import-activated"]


@pytest.mark.parametrize("step", A_STEPS)
def test_kill_of_a_mid_unit_hand_over_then_restart_moves_once(world: World,
                                                              step: str) -> None:
    unit_id, members = world.units.pop()
    world.restart(world.a, crash_at=step)
    made = world.request_unit(unit_id)
    assert made.status_code == 201, made.text
    world.wait_exit(world.a)
    world.restart(world.a)  # the runner resumes the hand-over at start
    done = world.wait_state(made.json()["SwitchId"], "completed", "rejected")
    assert done["State"] == "completed", done
    world.assert_unit_moved(unit_id, members)


@pytest.mark.parametrize("step", B_STEPS)
def test_kill_of_b_mid_unit_hand_over_then_restart_moves_once(world: World,
                                                              step: str) -> None:
    unit_id, members = world.units.pop()
    world.restart(world.b, crash_at=step)
    made = world.request_unit(unit_id)
    assert made.status_code == 201, made.text
    switch_id = made.json()["SwitchId"]
    world.wait_exit(world.b)
    state = world.state(switch_id)["State"]
    on_a = world.call("Flexco", world.a, "GET", f"/market-units/{unit_id}")
    if state in ("transferring", "staged"):  # still A's, frozen
        assert on_a.status_code == 200, on_a.text
    else:  # tombstoned on A, waiting for B's activation: held by neither, lost by none
        assert state == "committed" and on_a.status_code == 410, (state, on_a.text)
    world.restart(world.b)
    done = world.wait_state(switch_id, "completed", "rejected")
    assert done["State"] == "completed", done
    world.assert_unit_moved(unit_id, members)


def test_INBOX_009_a_switch_notice_names_the_unit_and_both_fsps(world: World) -> None:
    for data in ({"organisation": world.org("Otherflex")},
                 {"organisation": "a b", "former": world.org("Flexco")},
                 {"organisation": world.org("Flexco"), "former": world.org("Flexco")}):
        r = world.notice("fsp_b", world.large, **data)
        assert r.status_code == 400 and r.json()["code"] == "INBOX-009", r.text
    r = world.notice("fsp_b", "x> } DROP ALL {", organisation=world.org("Otherflex"),
                     former=world.org("Flexco"))
    assert r.status_code == 400 and r.json()["code"] == "INBOX-009", r.text


def test_INBOX_010_a_node_speaks_only_for_the_fsps_it_holds(world: World) -> None:
    """B's node says A's unit is now a third FSP's: it does not hold that FSP."""
    r = world.notice("fsp_b", world.large, organisation=world.org("Thirdflex"),
                     former=world.org("Flexco"))
    assert r.status_code == 403 and r.json()["code"] == "INBOX-010", r.text
    assert world.outcome("Neso", world.large_outcome).json()["OrganisationId"] == \
        world.org("Flexco")


def test_INBOX_011_a_forged_switch_notice_moves_no_outcome(world: World) -> None:
    """A hostile FSP (B) tells NESO's node, signed by its own node, that A's unit is now
    B's: NESO's node asks A's node, which still holds the unit (no tombstone), and B's,
    which does not hold it; the outcome keeps naming A, and B cannot read it."""
    r = world.notice("fsp_b", world.large, organisation=world.org("Otherflex"),
                     former=world.org("Flexco"), switch_request="forged")
    assert r.status_code == 403 and r.json()["code"] == "INBOX-011", r.text
    assert "former FSP's node" in r.json()["message"]
    assert world.outcome("Neso", world.large_outcome).json()["OrganisationId"] == \
        world.org("Flexco")
    assert world.outcome("Otherflex", world.large_outcome).status_code == 404
    assert world.outcome("Flexco", world.large_outcome).status_code == 200
    # the same forged notice to the DNO's node moves no grid prequalification
    r = world.notice("fsp_b", world.large, at="dno", organisation=world.org("Otherflex"),
                     former=world.org("Flexco"), switch_request="forged")
    assert r.status_code == 403 and r.json()["code"] == "INBOX-011", r.text
    assert world.grid("Gridco", world.large).json()["OrganisationId"] == world.org("Flexco")
    assert world.grid("Otherflex", world.large).status_code == 404
    assert world.grid("Flexco", world.large).status_code == 200
    # the former holder's node wants the switched unit's outcome back: B's node holds the
    # unit, with no tombstone naming A, so nothing moves
    unit_id, qualification = world.qualified
    assert world.outcome("Neso", qualification).json()["OrganisationId"] == \
        world.org("Otherflex"), "the switch test runs first"
    r = world.notice("fsp_a", unit_id, organisation=world.org("Flexco"),
                     former=world.org("Otherflex"))
    assert r.status_code == 403 and r.json()["code"] == "INBOX-011", r.text
    assert world.outcome("Otherflex", qualification).status_code == 200
    r = world.notice("fsp_a", unit_id, at="dno", organisation=world.org("Flexco"),
                     former=world.org("Otherflex"))
    assert r.status_code == 403 and r.json()["code"] == "INBOX-011", r.text
    assert world.grid("Otherflex", unit_id).status_code == 200


def test_INBOX_012_a_holder_node_down_while_confirming_is_retried(world: World) -> None:
    """The DNO's node is told of a switch while A's node is down: it cannot confirm the
    move (503 INBOX-012), nothing moves; B's node retries the notice and, once A's node is
    back, the grid prequalification follows."""
    unit_id, members = world.retried
    dno = world.node("dno")
    dno.stop()  # B's notice to the DNO's node waits in B's outbox
    try:
        made = world.request_unit(unit_id)
        assert made.status_code == 201, made.text
        done = world.wait_state(made.json()["SwitchId"], "completed", "rejected")
        assert done["State"] == "completed", done
        world.assert_unit_moved(unit_id, members)
        world.a.stop()
    finally:
        world.restart(dno)
    try:
        r = world.notice("fsp_b", unit_id, at="dno", organisation=world.org("Otherflex"),
                         former=world.org("Flexco"), switch_request=made.json()["SwitchId"])
        assert r.status_code == 503 and r.json()["code"] == "INBOX-012", r.text
        time.sleep(3)  # B's own retries meet the same answer meanwhile
        held = world.grid("Gridco", unit_id).json()
        assert held["OrganisationId"] == world.org("Flexco"), held
        assert held["Version"] == 2, held  # created, approved: nothing written
    finally:
        world.restart(world.a)
    world.assert_grid_followed(unit_id)


def test_POL_097_who_holds_a_unit_is_told_only_to_an_operators_node(world: World) -> None:
    """`GET /market-units/{id}/holder` answers a system operator's node's own token; an
    FSP's node's own token and a person's token are refused."""
    path = f"/market-units/{world.large}/holder"

    def ask(node: NodeProc, target: NodeProc, scope: str) -> httpx.Response:
        with world.local.client(node.data_dir / "client.pem",
                                node.data_dir / "client.key") as c:
            token = c.post(f"{world.local.issuer}/token", data={
                "grant_type": "client_credentials", "client_id": node.node_id,
                "audience": target.url, "scope": scope}).json()["access_token"]
            return c.get(f"{target.url}{path}", timeout=60,
                         headers={"Authorization": f"Bearer {token}"})

    held = ask(world.node("neso"), world.a, "units:verify")
    assert held.status_code == 200, held.text
    assert held.json()["OrganisationId"] == world.org("Flexco")
    fsp_node = ask(world.b, world.a, "units:verify")
    assert fsp_node.status_code == 403 and fsp_node.json()["code"] == "POL-097", fsp_node.text
    person = world.call("Neso", world.a, "GET", path)
    assert person.status_code == 403 and person.json()["code"] == "POL-001", person.text
