"""Events across real processes: a node run as `fmar serve` (its own process, its own
store, its webhooks signed with a certificate from our CA), webhook receivers on loopback
verifying with node/events/verify.py, as an FSP would (issue 14: tests across real
processes)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from node.identity import StaticTokenAuthenticator
from tests.harness.processes import ServedNode, free_port
from tests.webhooks import NodeIdentity, Receiver, federation_ca, node_identity

SCOPES = ["assets:read", "assets:write", "audit:read", "validation:write"]
WHO = {
    "dno": ("DNO-UKPN", ["DNO"], ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]),
    "fsp": ("FSP-ACME", ["FSP"], []),
    "fsp2": ("FSP-OTHER", ["FSP"], []),
}
LIMIT_TYPES = ["connection-limit.created", "connection-limit.changed", "connection-limit.deleted"]
FAST_RETRIES = {"FMAR_EVENTS_RETRY_BASE": "0.2", "FMAR_EVENTS_RETRY_MAX": "1",
                "FMAR_EVENTS_MAX_ATTEMPTS": "1000", "FMAR_EVENTS_POLL": "0.2"}


def token(who: str) -> str:
    return f"events-token-{who}"


def write_tokens(path: Path) -> Path:
    path.write_text(json.dumps([
        {"token_sha256": StaticTokenAuthenticator.hash_token(token(who)), "subject": who,
         "organisation_id": org, "roles": roles, "scopes": SCOPES, "dno_areas": areas}
        for who, (org, roles, areas) in WHO.items()]))
    return path


class DnoNode:
    """The DNO's node as its own process; restartable on the same data directory."""

    def __init__(self, folder: Path, identity: NodeIdentity):
        self.data, self.tokens = folder / "data", write_tokens(folder / "tokens.json")
        self.env = {**identity.env(), **FAST_RETRIES}
        self.served: ServedNode | None = None
        self.start()

    def start(self) -> None:
        self.served = ServedNode(self.data, self.tokens, env=self.env)

    @property
    def process(self) -> ServedNode:
        assert self.served is not None
        return self.served

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.process.url, timeout=60,
                            headers={"Authorization": f"Bearer {token(who)}"})

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.process.wait(30)

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()

    def subscribe(self, who: str, url: str, types: list[str] = LIMIT_TYPES) -> str:
        with self.client(who) as c:
            made = c.post("/subscriptions", json={"url": url, "types": types})
        assert made.status_code == 201, made.text
        return made.json()["id"]

    def set_limit(self, org: str = "FSP-ACME") -> dict:
        with self.client("dno") as c:
            made = c.post("/connection-limits", json={
                "AssetId": str(uuid.uuid4()), "OrganisationId": org,
                "DNOConnection": "UKPN_EPN", "LimitType": "FIRM",
                "ValidFrom": "2026-01-01", "ExportLimit": 6000.0})
        assert made.status_code == 201, made.text
        return made.json() | {"etag": made.headers["etag"]}


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> NodeIdentity:
    folder = tmp_path_factory.mktemp("ca")
    return node_identity(federation_ca(folder), folder / "node")


@pytest.fixture
def dno(tmp_path: Path, identity: NodeIdentity) -> Iterator[DnoNode]:
    node = DnoNode(tmp_path, identity)
    yield node
    node.stop()


def test_POL_040_a_dno_sets_a_limit_and_only_the_entitled_fsps_receiver_gets_it_once(
        dno, identity):
    acme = Receiver(free_port(), identity.anchors()).start()
    other = Receiver(free_port(), identity.anchors()).start()
    try:
        dno.subscribe("fsp", acme.url)
        dno.subscribe("fsp2", other.url)
        limit = dno.set_limit("FSP-ACME")
        [event] = acme.wait_for(1)
        assert event["type"] == "connection-limit.created" and event["record"] == limit["id"]
        # a control: FSP-OTHER's receiver works, and gets its own limit only
        own = dno.set_limit("FSP-OTHER")
        [theirs] = other.wait_for(1)
        assert theirs["record"] == own["id"]
        time.sleep(2)  # time for any duplicate or stray delivery to arrive
        assert [r.event["record"] for r in acme.received if r.event] == [limit["id"]]
        assert [r.event["record"] for r in other.received if r.event] == [own["id"]]
        assert not [r for r in acme.received + other.received if r.rejected]
        with dno.client("fsp2") as c:  # nor is it in FSP-OTHER's feed
            feed = c.get("/events").json()["items"]
        assert limit["id"] not in {i["record"] for i in feed} and own["id"] in {
            i["record"] for i in feed}
    finally:
        acme.stop()
        other.stop()


def test_a_receiver_down_for_a_while_gets_every_event_in_order_when_it_is_back(dno, identity):
    receiver = Receiver(free_port(), identity.anchors())  # not started: down
    dno.subscribe("fsp", receiver.url)
    limit = dno.set_limit()
    path, etag = f"/connection-limits/{limit['LimitId']}", limit["etag"]
    with dno.client("dno") as c:
        for kw in (5000, 4000):
            changed = c.put(path, headers={"If-Match": etag}, json={
                "AssetId": limit["AssetId"], "OrganisationId": "FSP-ACME",
                "DNOConnection": "UKPN_EPN", "LimitType": "FIRM",
                "ValidFrom": "2026-01-01", "ExportLimit": kw})
            assert changed.status_code == 200, changed.text
            etag = changed.headers["etag"]
        assert c.delete(path, headers={"If-Match": etag}).status_code == 204
    time.sleep(3)  # several failed attempts while it is down
    receiver.start()
    try:
        events = receiver.wait_for(4)
        time.sleep(1)
        events = receiver.events()
        assert [(e["type"], e["version"]) for e in events] == [
            ("connection-limit.created", 1), ("connection-limit.changed", 2),
            ("connection-limit.changed", 3), ("connection-limit.deleted", 4)]
        sequences = [int(e["sequence"]) for e in events]
        assert sequences == sorted(sequences) and len(set(sequences)) == 4
    finally:
        receiver.stop()


def test_a_node_killed_between_commit_and_delivery_delivers_after_restart(dno, identity):
    receiver = Receiver(free_port(), identity.anchors())  # down: nothing can be delivered
    subscription = dno.subscribe("fsp", receiver.url)
    limit = dno.set_limit()
    with dno.client("fsp") as c:  # committed: it is in the outbox (and the feed)
        assert limit["id"] in {i["record"] for i in c.get("/events").json()["items"]}
    dno.kill()  # kill -9: no shutdown of any kind
    receiver.start()
    try:
        time.sleep(1)
        assert receiver.received == []  # nobody delivers while the node is down
        dno.start()
        [event] = receiver.wait_for(1)
        assert event["record"] == limit["id"] and event["type"] == "connection-limit.created"
        with dno.client("fsp") as c:  # the cursor was persisted
            assert c.get(f"/subscriptions/{subscription}").json()["cursor"] == event["sequence"]
        # a restart numbers new events after the old ones
        later = dno.set_limit()
        [_, second] = receiver.wait_for(2)
        assert second["record"] == later["id"]
        assert int(second["sequence"]) == int(event["sequence"]) + 1
    finally:
        receiver.stop()


def test_EVT_VER_005_a_captured_webhook_replayed_to_the_receiver_is_rejected(dno, identity):
    receiver = Receiver(free_port(), identity.anchors()).start()
    try:
        dno.subscribe("fsp", receiver.url)
        dno.set_limit()
        receiver.wait_for(1)
        captured = receiver.received[0]
        # an attacker who saw the request sends it again, byte for byte
        httpx.post(receiver.url, content=captured.body, headers=captured.headers)
        assert receiver.received[-1].rejected == "EVT-VER-005"
        forged = captured.body.replace(b"connection-limit.created", b"connection-limit.deleted")
        httpx.post(receiver.url, content=forged, headers={**captured.headers,
                                                          "webhook-id": str(uuid.uuid4())})
        assert receiver.received[-1].rejected == "EVT-VER-002"
        assert len(receiver.events()) == 1
    finally:
        receiver.stop()
