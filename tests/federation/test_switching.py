"""Switching across real processes: FSP B (Otherflex) takes over assets of FSP A (Flexco).

The trust framework and two FSP nodes run as processes over TLS on loopback; a third FSP
(Thirdflex) has an application but no node. A's notice period is a few seconds
(FMAR_SWITCH_NOTICE_SECONDS) and its runner polls twice a second. The crash tests restart
a node with FMAR_SWITCH_CRASH_AT=<step>, which makes it exit abruptly (os._exit, as kill -9
would leave it) at that step of the hand-over, then start it again without it, and check
that each asset ends with exactly one active holder and nothing lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from examples.generate import assets
from node.switching.notice import notice_ends
from node.switching.states import State, check_transition
from tests.harness.federation import LocalFederation, NodeProc
from tests.harness.processes import RATE_LIMITS_OFF, ROOT, clean_env, wait_ready

NOTICE = 8.0  # seconds, on A's node
WAIT = 120.0  # generous: a shared 2-core machine
AREAS = ["UKPN_EPN", "UKPN_SPN", "ENWL"]


class World:
    def __init__(self, local: LocalFederation, a_assets: list[str], rows: list[dict[str, Any]]):
        self.local = local
        self.a_assets = list(a_assets)
        self.rows = dict(zip(a_assets, rows))
        self._tokens: dict[tuple[str, str], tuple[float, str]] = {}

    @property
    def a(self) -> NodeProc:
        return self.local.nodes["fsp_a"]

    @property
    def b(self) -> NodeProc:
        return self.local.nodes["fsp_b"]

    def org(self, who: str) -> str:
        return self.local.members[who].org_id

    def take_asset(self) -> str:
        return self.a_assets.pop()

    def token(self, who: str, node: NodeProc) -> str:
        key = (who, node.url)
        hit = self._tokens.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        token = self.local.access_token(self.local.members[who], node.url)
        self._tokens[key] = (time.monotonic() + 120, token)
        return token

    def call(self, who: str, node: NodeProc, method: str, path: str,
             **kw: Any) -> httpx.Response:
        m = self.local.members[who]
        headers = {"Authorization": f"Bearer {self.token(who, node)}",
                   **kw.pop("headers", {})}
        with self.local.client(m.cert, m.key) as c:
            return c.request(method, f"{node.url}{path}", headers=headers, timeout=60, **kw)

    def request_switch(self, iris: list[str], who: str = "Otherflex",
                       **body: Any) -> httpx.Response:
        return self.call(who, self.a, "POST", "/switch-requests", json={
            "From": self.org("Flexco"), "Records": iris,
            "ConsentReference": "CONSENT-" + uuid.uuid4().hex[:8], **body})

    def switch_ids(self, who: str) -> list[str]:
        r = self.call(who, self.a, "GET", "/switch-requests")
        assert r.status_code == 200, r.text
        return [s["SwitchId"] for s in r.json()["items"]]

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

    def asset_id(self, iri: str) -> str:
        return iri.rsplit("/", 1)[-1]

    def assert_moved(self, iri: str) -> None:
        """Exactly one active holder (B's node), same IRI, history carried, tombstone on A."""
        on_a = self.call("Flexco", self.a, "GET", f"/assets/{self.asset_id(iri)}")
        assert on_a.status_code == 410, on_a.text
        assert on_a.json()["code"] == "SWITCH-410"
        assert on_a.json()["details"]["moved_to"] == self.b.url
        on_b = self.call("Otherflex", self.b, "GET", f"/assets/{self.asset_id(iri)}")
        assert on_b.status_code == 200, on_b.text
        body = on_b.json()
        assert body["id"] == iri and self.org("Otherflex") in str(body["OrganisationId"])
        history = self.call("Otherflex", self.b, "GET",
                            f"/assets/{self.asset_id(iri)}/history").json()["versions"]
        assert [v["version"] for v in history] == list(range(1, body["Version"] + 1))
        assert history[0]["action"] == "register"  # carried from A: who registered it there
        assert history[0]["organisation"] == self.org("Flexco")
        assert history[0]["asset"]["id"] == iri
        assert self.org("Flexco") in str(history[0]["asset"]["OrganisationId"])
        assert history[-1]["action"] == "switch-in"
        # the old holder cannot read it on B's node, and nothing of it is active on A
        assert self.call("Flexco", self.b, "GET",
                         f"/assets/{self.asset_id(iri)}").status_code == 404


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    local = LocalFederation(tmp_path_factory.mktemp("switching"),
                            node_env={"FMAR_SWITCH_POLL_SECONDS": "0.5",
                                      "FMAR_PLACEMENT_TTL": "1",
                                      "FMAR_FEDERATION_KEY_TTL": "1", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        local.register_member("Thirdflex", ["FSP"])
        local.register_member("Neso", ["NESO"])
        a = local.add_node("fsp_a", flexco,
                           extra_env={"FMAR_SWITCH_NOTICE_SECONDS": str(NOTICE)})
        b = local.add_node("fsp_b", otherflex)
        rows = list(assets(24, flexco.org_id, seed=31, dnos=AREAS))
        iris = local.load_assets(a, rows)
        local.load_assets(b, assets(3, otherflex.org_id, seed=32, dnos=AREAS))
        local.start_nodes()
        yield World(local, iris, rows)
    finally:
        local.stop()


# ---------------------------------------------------------------- without processes


def test_notice_is_ten_working_days_skipping_weekends() -> None:
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert notice_ends(friday, 10, None) == datetime(2026, 12, 11, 15, 0, tzinfo=UTC)
    assert notice_ends(friday, 1, None).weekday() == 0  # Monday
    assert (notice_ends(friday, 10, 5.0) - friday).total_seconds() == 5.0


def test_SWITCH_VAL_008_the_state_machine_names_who_moves_it() -> None:
    check_transition(State.REQUESTED, State.OBJECTED, "holder")
    for current, wanted, by in [(State.REQUESTED, State.OBJECTED, "requester"),
                                (State.REQUESTED, State.COMPLETED, "system"),
                                (State.OBJECTED, State.ACCEPTED, "system"),
                                (State.COMPLETED, State.OBJECTED, "holder")]:
        with pytest.raises(Exception) as refused:
            check_transition(current, wanted, by)
        assert getattr(refused.value, "code", "") == "SWITCH-VAL-008"


# ---------------------------------------------------------------- the use cases


def test_b_requests_a_objects_and_the_assets_stay(world: World) -> None:
    iri = world.take_asset()
    made = world.request_switch([iri])
    assert made.status_code == 201, made.text
    switch = made.json()
    assert switch["State"] == "requested" and switch["To"] == world.org("Otherflex")
    # A is told by reading it (the event system will notify later)
    listed = world.call("Flexco", world.a, "GET", "/switch-requests").json()["items"]
    assert switch["SwitchId"] in [s["SwitchId"] for s in listed]
    # SWITCH-VAL-007: an objection has a reason
    no_reason = world.call("Flexco", world.a, "POST",
                           f"/switch-requests/{switch['SwitchId']}/objection", json={})
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "SWITCH-VAL-007"
    objected = world.call("Flexco", world.a, "POST",
                          f"/switch-requests/{switch['SwitchId']}/objection",
                          json={"Reason": "The consumer's contract runs to March."})
    assert objected.status_code == 200, objected.text
    assert objected.json()["State"] == "objected"
    time.sleep(NOTICE + 2)  # the notice passes: nothing moves
    assert world.state(switch["SwitchId"])["State"] == "objected"
    still = world.call("Flexco", world.a, "GET", f"/assets/{world.asset_id(iri)}")
    assert still.status_code == 200 and world.org("Flexco") in str(still.json()["OrganisationId"])
    # SWITCH-VAL-006: objecting again after the notice ended
    late = world.call("Flexco", world.a, "POST", f"/switch-requests/{switch['SwitchId']}/objection",
                      json={"Reason": "again"})
    assert late.status_code == 409 and late.json()["code"] == "SWITCH-VAL-006"


def test_b_requests_the_notice_passes_and_the_assets_move(world: World) -> None:
    iris = [world.take_asset(), world.take_asset()]
    made = world.request_switch(iris)
    assert made.status_code == 201, made.text
    switch_id = made.json()["SwitchId"]
    done = world.wait_state(switch_id, "completed", "rejected")
    assert done["State"] == "completed", done
    assert done["TargetNode"] == world.b.url
    for iri in iris:
        world.assert_moved(iri)
    asset_id = world.asset_id(iris[0])
    gone = world.call("Flexco", world.a, "GET", f"/assets/{asset_id}/history")
    assert gone.status_code == 410 and gone.json()["code"] == "SWITCH-410"
    # B updates them on its node; A cannot, on either node
    current = world.call("Otherflex", world.b, "GET", f"/assets/{asset_id}")
    patched = world.call("Otherflex", world.b, "PATCH", f"/assets/{asset_id}",
                         json={"AssetName": "Renamed by its new FSP"},
                         headers={"If-Match": current.headers["ETag"],
                                  "Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text
    on_a = world.call("Flexco", world.a, "PATCH", f"/assets/{asset_id}",
                      json={"AssetName": "Still mine?"},
                      headers={"If-Match": "*", "Content-Type": "application/merge-patch+json"})
    assert on_a.status_code == 410 and on_a.json()["code"] == "SWITCH-410"
    on_b = world.call("Flexco", world.b, "PATCH", f"/assets/{asset_id}",
                      json={"AssetName": "Still mine?"},
                      headers={"If-Match": "*", "Content-Type": "application/merge-patch+json"})
    assert on_b.status_code in (403, 404), on_b.text
    # a third FSP that never could read it learns nothing on A's node
    third = world.call("Thirdflex", world.a, "GET", f"/assets/{asset_id}")
    assert third.status_code == 404 and third.json()["code"] == "ARM-404"
    # the duplicate index followed: the same asset again is B's, from A's node and from B's
    row = dict(world.rows[iris[1]])
    again_a = world.call("Flexco", world.a, "POST", "/assets", json=row)
    assert again_a.status_code == 409 and again_a.json()["code"] == "ARM-DUP-001", again_a.text
    assert world.org("Otherflex") in again_a.text
    row["OrganisationId"] = world.org("Otherflex")
    again_b = world.call("Otherflex", world.b, "POST", "/assets", json=row)
    assert again_b.status_code == 409 and again_b.json()["code"] == "ARM-DUP-001", again_b.text
    # SWITCH-VAL-006: A objects after the notice
    late = world.call("Flexco", world.a, "POST", f"/switch-requests/{switch_id}/objection",
                      json={"Reason": "too late"})
    assert late.status_code == 409 and late.json()["code"] == "SWITCH-VAL-006"


def test_refusals_and_the_parties_rules(world: World) -> None:
    iri = world.take_asset()
    unknown = f"https://id.fmar.uk/asset/{uuid.uuid4()}"
    # SWITCH-VAL-002: not an asset held here for A (does not exist, or is B's own)
    for records in ([unknown], [iri, unknown]):
        r = world.request_switch(records)
        assert r.status_code == 422 and r.json()["code"] == "SWITCH-VAL-002", r.text
    wrong_holder = world.request_switch([iri], From=world.org("Thirdflex"))
    assert wrong_holder.status_code == 422 and wrong_holder.json()["code"] == "SWITCH-VAL-002"
    # SWITCH-VAL-001: records of a switchable kind, by IRI or ID
    assert world.request_switch(["not-an-id"]).json()["code"] == "SWITCH-VAL-001"
    assert world.request_switch([iri], RecordKind="category").json()["code"] == "SWITCH-VAL-001"
    assert world.request_switch([]).json()["code"] == "SWITCH-VAL-001"
    # SWITCH-VAL-003: a consent reference
    r = world.request_switch([iri], ConsentReference="  ")
    assert r.status_code == 422 and r.json()["code"] == "SWITCH-VAL-003"
    # SWITCH-IN-001: a readable body
    r = world.call("Otherflex", world.a, "POST", "/switch-requests",
                   json={"From": 3, "Records": iri, "ConsentReference": "x"})
    assert r.status_code == 400 and r.json()["code"] == "SWITCH-IN-001"
    # POL-072: A cannot request its own assets
    own = world.request_switch([iri], who="Flexco")
    assert own.status_code == 403 and own.json()["code"] == "POL-072"
    made = world.request_switch([iri])
    assert made.status_code == 201
    switch_id = made.json()["SwitchId"]
    # SWITCH-VAL-004: one open switch per record
    twice = world.request_switch([iri], who="Thirdflex")
    assert twice.status_code == 409 and twice.json()["code"] == "SWITCH-VAL-004"
    # POL-071: a third FSP neither reads nor objects (404: it learns nothing)
    path = f"/switch-requests/{switch_id}"
    assert world.call("Thirdflex", world.a, "GET", path).json()["code"] == "SWITCH-404"
    third = world.call("Thirdflex", world.a, "POST", f"{path}/objection", json={"Reason": "x"})
    assert third.status_code == 404 and third.json()["code"] == "SWITCH-404"
    assert world.switch_ids("Thirdflex") == []
    # POL-071: NESO reads every record (as in SPARQL, POL-011) but objects to nothing
    neso = world.call("Neso", world.a, "GET", path)
    assert neso.status_code == 200 and neso.json()["SwitchId"] == switch_id
    neso_objects = world.call("Neso", world.a, "POST", f"{path}/objection", json={"Reason": "x"})
    assert neso_objects.status_code == 403, neso_objects.text
    # POL-073: B does not object to its own request; POL-074: A does not withdraw it
    b_objects = world.call("Otherflex", world.a, "POST", f"{path}/objection", json={"Reason": "x"})
    assert b_objects.status_code == 403 and b_objects.json()["code"] == "POL-073"
    a_withdraws = world.call("Flexco", world.a, "POST", f"{path}/withdrawal")
    assert a_withdraws.status_code == 403 and a_withdraws.json()["code"] == "POL-074"
    withdrawn = world.call("Otherflex", world.a, "POST", f"{path}/withdrawal")
    assert withdrawn.status_code == 200 and withdrawn.json()["State"] == "withdrawn"
    # SWITCH-VAL-008: no step out of a finished request
    again = world.call("Otherflex", world.a, "POST", f"{path}/withdrawal")
    assert again.status_code == 409 and again.json()["code"] == "SWITCH-VAL-008"
    time.sleep(NOTICE + 1)
    assert world.state(switch_id)["State"] == "withdrawn"
    assert world.call("Flexco", world.a, "GET",
                      f"/assets/{world.asset_id(iri)}").status_code == 200


def test_SWITCH_VAL_002_an_asset_deregistered_during_the_notice_does_not_move(
        world: World) -> None:
    iri = world.take_asset()
    made = world.request_switch([iri])
    assert made.status_code == 201, made.text
    asset_id = world.asset_id(iri)
    current = world.call("Flexco", world.a, "GET", f"/assets/{asset_id}")
    gone = world.call("Flexco", world.a, "DELETE", f"/assets/{asset_id}",
                      headers={"If-Match": current.headers["ETag"]})
    assert gone.status_code == 200, gone.text
    done = world.wait_state(made.json()["SwitchId"], "completed", "rejected")
    assert done["State"] == "rejected" and "SWITCH-VAL-002" in done["Reason"], done
    still = world.call("Flexco", world.a, "GET", f"/assets/{asset_id}")
    assert still.status_code == 200 and still.json()["RegistrationStatus"] == "Deregistered"
    assert world.call("Otherflex", world.b, "GET", f"/assets/{asset_id}").status_code == 404


def test_POL_075_only_a_node_hands_records_over(world: World) -> None:
    """A member's application gets no `switch:transfer` token, and one without it cannot
    stage records on a node (POL-001) nor activate them."""
    m = world.local.members["Otherflex"]
    refused = world.local.trust.client_credentials(m.app_id, m.cert, m.key, world.b.url,
                                                   "switch:transfer")
    assert refused.status_code == 400 and "AUTH-022" in refused.text
    switch_id = str(uuid.uuid4())
    bundle = {"switch_request": f"https://id.fmar.uk/switch-request/{switch_id}",
              "switch_id": switch_id, "kind": "asset", "from_organisation": world.org("Flexco"),
              "to_organisation": world.org("Otherflex"), "records": []}
    for who in ("Otherflex", "Flexco"):
        staged = world.call(who, world.b, "PUT", f"/switch-transfers/{switch_id}", json=bundle)
        assert staged.status_code == 403 and staged.json()["code"] == "POL-001", staged.text
        active = world.call(who, world.b, "POST", f"/switch-transfers/{switch_id}/activation")
        assert active.status_code == 403 and active.json()["code"] == "POL-001"


def test_POL_075_SWITCH_VAL_009_a_hostile_node_cannot_push_records(world: World) -> None:
    """A's node, with its own `switch:transfer` token, still cannot hand B's node records
    for an organisation B's node does not hold, records of another holder, or records B's
    node already holds; an activation names a staged switch (SWITCH-404)."""
    a = world.a
    token = world.local.trust.client_credentials(
        a.node_id, a.data_dir / "client.pem", a.data_dir / "client.key", world.b.url,
        "switch:transfer").json()["access_token"]
    own = world.call("Otherflex", world.b, "GET", "/assets?limit=1").json()["items"][0]

    def put(**changes: Any) -> httpx.Response:
        switch_id = str(uuid.uuid4())
        body = {"switch_request": f"https://id.fmar.uk/switch-request/{switch_id}",
                "switch_id": switch_id, "kind": "asset",
                "from_organisation": world.org("Flexco"),
                "to_organisation": world.org("Otherflex"), "records": [], **changes}
        with world.local.client(a.data_dir / "client.pem", a.data_dir / "client.key") as c:
            return c.put(f"{world.b.url}/switch-transfers/{switch_id}", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)

    for changes in ({"to_organisation": world.org("Thirdflex")},
                    {"from_organisation": world.org("Otherflex")}):
        refused = put(**changes)
        assert refused.status_code == 403 and refused.json()["code"] == "POL-075", refused.text
    graph = (f'<{own["id"]}> <https://id.fmar.uk/def/fmar#organisation> '
             f'<https://id.fmar.uk/org/{world.org("Flexco")}> .')
    held = put(records=[{"iri": own["id"], "version": 1, "graph": graph, "versions": {},
                         "audit": ""}])
    assert held.status_code == 409 and held.json()["code"] == "SWITCH-VAL-009", held.text
    assert put(records="x").json()["code"] == "SWITCH-IN-001"
    # SWITCH-VAL-002: records of the kind (a UUID IRI) and of the former holder only
    odd = put(records=[{"iri": "https://id.fmar.uk/asset/../category/BESS", "version": 1,
                        "graph": graph, "versions": {}, "audit": ""}])
    assert odd.status_code == 422 and odd.json()["code"] == "SWITCH-VAL-002", odd.text
    other = f"https://id.fmar.uk/asset/{uuid.uuid4()}"
    not_flexco = put(records=[{"iri": other, "version": 1, "versions": {}, "audit": "",
                               "graph": f"<{other}> <https://id.fmar.uk/def/fmar#organisation> "
                               f"<https://id.fmar.uk/org/{world.org('Thirdflex')}> ."}])
    assert not_flexco.status_code == 422 and not_flexco.json()["code"] == "SWITCH-VAL-002"
    broken = put(records=[{"iri": other, "version": 1, "versions": {}, "audit": "not rdf",
                           "graph": graph.replace(own["id"], other)}])
    assert broken.status_code == 400 and broken.json()["code"] == "SWITCH-IN-001", broken.text
    with world.local.client(a.data_dir / "client.pem", a.data_dir / "client.key") as c:
        missing = c.post(f"{world.b.url}/switch-transfers/{uuid.uuid4()}/activation",
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert missing.status_code == 404 and missing.json()["code"] == "SWITCH-404"


def test_SWITCH_VAL_010_a_taker_without_a_node_is_rejected_and_the_assets_stay(
        world: World) -> None:
    iri = world.take_asset()
    made = world.request_switch([iri], who="Thirdflex")
    assert made.status_code == 201, made.text
    switch_id = made.json()["SwitchId"]
    deadline = time.monotonic() + WAIT
    done = made.json()
    while done["State"] not in ("completed", "rejected"):  # the requester reads it
        assert time.monotonic() < deadline, done
        time.sleep(0.5)
        done = world.call("Thirdflex", world.a, "GET", f"/switch-requests/{switch_id}").json()
    assert done["State"] == "rejected" and "SWITCH-VAL-010" in done["Reason"]
    on_a = world.call("Flexco", world.a, "GET", f"/assets/{world.asset_id(iri)}")
    assert on_a.status_code == 200, on_a.text
    # not frozen any more: A changes it
    patched = world.call("Flexco", world.a, "PATCH", f"/assets/{world.asset_id(iri)}",
                         json={"AssetName": "Kept"},
                         headers={"If-Match": on_a.headers["ETag"],
                                  "Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text


def fmar(world: World, who: str, *args: str) -> subprocess.CompletedProcess:
    m = world.local.members[who]
    env = clean_env(FMAR_TRUST_URL=world.local.issuer, FMAR_CA_BUNDLE=str(world.local.ca_bundle),
                    FMAR_CLIENT_ID=m.app_id, FMAR_CLIENT_CERT=str(m.cert),
                    FMAR_CLIENT_KEY=str(m.key))
    return subprocess.run([sys.executable, "-m", "node", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_fmar_switch_request_list_show_withdraw(world: World) -> None:
    iri = world.take_asset()
    made = fmar(world, "Otherflex", "switch", "request", iri, "--node", world.a.url,
                "--from", world.org("Flexco"), "--consent", "CONSENT-CLI-1")
    assert made.returncode == 0, made.stderr
    switch_id = json.loads(made.stdout)["SwitchId"]
    listed = fmar(world, "Flexco", "switch", "list", "--node", world.a.url)
    assert listed.returncode == 0 and switch_id in listed.stdout
    # a third party is refused with the node's code, on one line
    hidden = fmar(world, "Thirdflex", "switch", "show", switch_id, "--node", world.a.url)
    assert hidden.returncode != 0 and "SWITCH-404" in hidden.stderr
    withdrawn = fmar(world, "Otherflex", "switch", "withdraw", switch_id, "--node", world.a.url)
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert json.loads(withdrawn.stdout)["State"] == "withdrawn"
    again = fmar(world, "Otherflex", "switch", "withdraw", switch_id, "--node", world.a.url)
    assert again.returncode != 0 and "SWITCH-VAL-008" in again.stderr
    objected = fmar(world, "Flexco", "switch", "object", switch_id, "--reason", "no",
                    "--node", world.a.url)
    assert objected.returncode != 0 and "SWITCH-VAL-00" in objected.stderr  # 006 or 008


# ---------------------------------------------------------------- crashes


A_STEPS = ["accepted", "prepared", "stage-sent", "staged", "committed", "activate-sent"]
B_STEPS = ["import-staged", "import-activated"]


@pytest.mark.parametrize("step", A_STEPS)
def test_kill_of_a_at_each_step_then_restart_moves_once(world: World, step: str) -> None:
    iri = world.take_asset()
    world.restart(world.a, crash_at=step)
    made = world.request_switch([iri])
    assert made.status_code == 201, made.text
    world.wait_exit(world.a)
    world.restart(world.a)  # the runner resumes the hand-over at start
    done = world.wait_state(made.json()["SwitchId"], "completed", "rejected")
    assert done["State"] == "completed", done
    world.assert_moved(iri)


@pytest.mark.parametrize("step", B_STEPS)
def test_kill_of_b_at_each_step_then_restart_moves_once(world: World, step: str) -> None:
    iri = world.take_asset()
    world.restart(world.b, crash_at=step)
    made = world.request_switch([iri])
    assert made.status_code == 201, made.text
    switch_id = made.json()["SwitchId"]
    world.wait_exit(world.b)
    # B is down mid hand-over: the asset is held once (frozen on A, or on neither node while
    # the tombstone waits for B's activation), and A cannot change it (SWITCH-409)
    state = world.state(switch_id)["State"]
    asset_id = world.asset_id(iri)
    on_a = world.call("Flexco", world.a, "PATCH", f"/assets/{asset_id}",
                      json={"AssetName": "changed mid hand-over"},
                      headers={"If-Match": "*", "Content-Type": "application/merge-patch+json"})
    if state in ("transferring", "staged"):
        assert on_a.status_code == 409 and on_a.json()["code"] == "SWITCH-409", on_a.text
    else:
        assert state == "committed" and on_a.status_code == 410, (state, on_a.text)
    world.restart(world.b)
    done = world.wait_state(switch_id, "completed", "rejected")
    assert done["State"] == "completed", done
    world.assert_moved(iri)
