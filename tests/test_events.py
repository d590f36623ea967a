"""Events (issue 14, part 2) on a node served over loopback HTTP: the outbox written with
every change, the pull feed and its entitlement (POL-040), subscriptions (EVT-IN-*,
EVT-404), webhook delivery with retries, dead letters and replay, and the receiver's
verification (EVT-VER-*). The node killed between commit and delivery, and the other
cross-process cases, are in tests/test_events_process.py."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from node.config import NodeSettings
from node.events.signing import WebhookSigner
from node.events.verify import WebhookRejected, verify_webhook
from tests.assets import bess
from tests.conftest import RunningNode, start_node
from tests.harness.processes import free_port
from tests.webhooks import NodeIdentity, Receiver, body_of, federation_ca, node_identity

LIMIT_TYPES = ["connection-limit.created", "connection-limit.changed", "connection-limit.deleted"]
ASSET_TYPES = ["asset.registered", "asset.changed", "asset.validation-status-changed",
               "asset.deregistered"]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> NodeIdentity:
    folder = tmp_path_factory.mktemp("ca")
    return node_identity(federation_ca(folder), folder / "node")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, identity: NodeIdentity
         ) -> Iterator[RunningNode]:
    running = start_node(NodeSettings(
        data_dir=tmp_path_factory.mktemp("events-node"), workers=1,
        client_key=identity.key, client_cert=identity.cert, ca_bundle=identity.ca_bundle,
        events_retry_base=0.1, events_retry_max=0.5, events_max_attempts=3, events_poll=0.1))
    yield running
    running.stop()


def limit(org: str = "FSP-ACME", **changes) -> dict:
    return {"AssetId": str(uuid.uuid4()), "OrganisationId": org, "DNOConnection": "UKPN_EPN",
            "LimitType": "FIRM", "ValidFrom": "2026-01-01", "ExportLimit": 6000.0, **changes}


def feed(node: RunningNode, who: str, after: str = "0", **params) -> dict:
    with node.client(who) as c:
        response = c.get("/events", params={"after": after, "limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()


def head(node: RunningNode) -> str:
    return str(node.app.state.services.register.unit.outbox.head)  # type: ignore[attr-defined]


def subscribe(node: RunningNode, who: str, url: str, types: list[str]) -> dict:
    with node.client(who) as c:
        response = c.post("/subscriptions", json={"url": url, "types": types})
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- the outbox and the feed


def test_POL_040_the_feed_shows_a_limit_event_only_to_parties_entitled_to_read_it(node):
    start = head(node)
    with node.client("dno") as c:
        made = c.post("/connection-limits", json=limit())
    assert made.status_code == 201, made.text
    record = made.json()["id"]
    for who in ("fsp", "dno", "neso"):  # the holder, the DNO of the area, NESO
        items = feed(node, who, start, types="connection-limit.created")["items"]
        assert [(i["type"], i["record"], i["version"]) for i in items] == [
            ("connection-limit.created", record, 1)], who
    for who in ("fsp2", "regulator", "facilitator"):  # neither the feed entry ...
        page = feed(node, who, start)
        assert record not in {i["record"] for i in page["items"]}, who
        assert int(page["next"]) >= int(start) + 1  # ... yet its cursor moves on


def test_every_write_of_a_limit_is_one_event_in_order_with_the_changed_fields(node):
    start = head(node)
    with node.client("dno") as c:
        made = c.post("/connection-limits", json=limit()).json()
        path = f"/connection-limits/{made['LimitId']}"
        changed = c.put(path, json=limit(AssetId=made["AssetId"], ExportLimit=5000),
                        headers={"If-Match": f'"{made["LimitId"]}.v1"'})
        assert changed.status_code == 200, changed.text
        assert c.delete(path, headers={"If-Match": changed.headers["etag"]}).status_code == 204
    items = feed(node, "fsp", start, types=",".join(LIMIT_TYPES))["items"]
    assert [(i["type"], i["version"]) for i in items] == [
        ("connection-limit.created", 1), ("connection-limit.changed", 2),
        ("connection-limit.deleted", 3)]
    assert items[1]["data"] == {"changed": ["ExportLimit"], "material": True}
    sequences = [int(i["sequence"]) for i in items]
    assert sequences == sorted(sequences) and len({i["id"] for i in items}) == 3


def test_asset_events_carry_a_material_flag_and_the_changed_fields(node):
    start = head(node)
    with node.client("fsp") as c:
        made = c.post("/assets", json=bess(dno="UKPN_EPN"))
        assert made.status_code == 201, made.text
        path = f"/assets/{made.json()['AssetId']}"
        renamed = c.patch(path, json={"AssetName": "Renamed"},
                          headers={"If-Match": made.headers["etag"]})
        bigger = c.patch(path, json={"GenCapacity": 450},
                         headers={"If-Match": renamed.headers["etag"]})
        assert bigger.status_code == 200, bigger.text
    with node.client("dno") as c:
        assert c.put(f"{path}/validation-status", json={"status": "Verified"}).status_code == 200
    with node.client("fsp") as c:
        assert c.delete(path).status_code == 200
    items = feed(node, "fsp", start, types=",".join(ASSET_TYPES))["items"]
    assert [i["type"] for i in items] == ["asset.registered", "asset.changed", "asset.changed",
                                          "asset.validation-status-changed",
                                          "asset.deregistered"]
    assert items[1]["data"] == {"changed": ["AssetName"], "material": False}
    assert items[2]["data"] == {"changed": ["GenCapacity"], "material": True}
    assert items[3]["data"]["changed"] == ["ValidationStatus"]
    assert items[4]["data"]["changed"] == ["RegistrationStatus"]
    assert [i["version"] for i in items] == [1, 2, 3, 4, 5]
    assert not [i for i in feed(node, "fsp2", start)["items"] if i["kind"] == "asset"]


def test_a_bulk_upload_emits_one_event_per_record_in_the_same_commit(node):
    start = head(node)
    rows = [bess(dno="UKPN_EPN") for _ in range(5)]
    with node.client("fsp") as c:
        response = c.post("/assets/bulk", params={"mode": "all-or-nothing"},
                          content="\n".join(json.dumps(r) for r in rows),
                          headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code in (200, 201), response.text
    stored = {f"https://id.fmar.uk/asset/{a['AssetId']}"
              for a in response.json()["assets"]}
    items = feed(node, "dno", start, types="asset.registered")["items"]
    assert {i["record"] for i in items} == stored and len(items) == 5
    assert not feed(node, "fsp2", start, types="asset.registered")["items"]


def test_a_refused_write_emits_nothing(node):
    start = head(node)
    with node.client("fsp") as c:  # POL-008: not a DNO
        assert c.post("/connection-limits", json=limit()).status_code == 403
    with node.client("dno") as c:  # LIM-VAL
        assert c.post("/connection-limits", json=limit(ExportLimit=-1)).status_code == 422
    assert head(node) == start


def test_the_feed_pages_with_its_cursor(node):
    with node.client("dno") as c:
        for _ in range(3):
            assert c.post("/connection-limits", json=limit()).status_code == 201
    first = feed(node, "neso", "0", types="connection-limit.created")
    pages, after = [], "0"
    while True:
        with node.client("neso") as c:
            page = c.get("/events", params={"after": after, "limit": 2,
                                            "types": "connection-limit.created"}).json()
        if not page["items"]:
            break
        pages.append(page["items"])
        after = page["next"]
    assert all(len(p) <= 2 for p in pages)
    assert [i["id"] for p in pages for i in p] == [i["id"] for i in first["items"]]


@pytest.mark.parametrize("params, code", [
    ({"after": "-1"}, "EVT-IN-004"), ({"after": "abc"}, "EVT-IN-004"),
    ({"types": "asset.exploded"}, "EVT-IN-003"),
], ids=["EVT-IN-004-negative", "EVT-IN-004-text", "EVT-IN-003-unknown-type"])
def test_EVT_IN_feed_parameters_are_checked(node, params, code):
    with node.client("fsp") as c:
        refused = c.get("/events", params=params)
    assert (refused.status_code, refused.json()["code"]) == (400, code), refused.text


def test_POL_001_the_feed_and_subscriptions_need_assets_read(node):
    with node.client("trust_operator") as c:
        for response in (c.get("/events"), c.get("/subscriptions"),
                         c.post("/subscriptions", json={"url": "https://x.test/h",
                                                        "types": LIMIT_TYPES})):
            assert (response.status_code, response.json()["code"]) == (403, "POL-001")


# ---------------------------------------------------------------- subscriptions


@pytest.mark.parametrize("body, code", [
    ([1, 2], "REQ-001"),  # not an object: the framework's request check
    ({"url": "https://fsp.test/h", "types": LIMIT_TYPES, "secret": "x"}, "EVT-IN-001"),
    ({"url": "http://fsp.example/h", "types": LIMIT_TYPES}, "EVT-IN-002"),
    ({"url": "ftp://127.0.0.1/h", "types": LIMIT_TYPES}, "EVT-IN-002"),
    ({"url": "https://user:pw@fsp.test/h", "types": LIMIT_TYPES}, "EVT-IN-002"),
    ({"url": "/relative", "types": LIMIT_TYPES}, "EVT-IN-002"),
    ({"url": "https://169.254.169.254/latest", "types": LIMIT_TYPES}, "EVT-IN-002"),
    ({"url": "https://10.0.0.7/h", "types": LIMIT_TYPES}, "EVT-IN-002"),
    ({"url": "https://fsp.test/h", "types": []}, "EVT-IN-003"),
    ({"url": "https://fsp.test/h", "types": ["connection-limit.exploded"]}, "EVT-IN-003"),
    ({"url": "https://fsp.test/h"}, "EVT-IN-003"),
], ids=["REQ-001-not-an-object", "EVT-IN-001-unknown-field", "EVT-IN-002-plain-http",
        "EVT-IN-002-ftp", "EVT-IN-002-userinfo", "EVT-IN-002-relative",
        "EVT-IN-002-link-local", "EVT-IN-002-private",
        "EVT-IN-003-empty", "EVT-IN-003-unknown", "EVT-IN-003-missing"])
def test_EVT_IN_a_bad_subscription_is_refused_and_nothing_is_stored(node, body, code):
    with node.client("fsp2") as c:
        before = c.get("/subscriptions").json()["count"]
        refused = c.post("/subscriptions", json=body)
        after = c.get("/subscriptions").json()["count"]
    status = 422 if code == "REQ-001" else 400
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert refused.json()["message"] and after == before


def test_EVT_404_a_subscription_belongs_to_its_organisation(node):
    mine = subscribe(node, "fsp", "https://fsp.test/hook", LIMIT_TYPES)
    path = f"/subscriptions/{mine['id']}"
    assert mine["organisation"] == "FSP-ACME" and mine["cursor"] == head(node)
    with node.client("fsp2") as c:  # another organisation: as if it did not exist
        listed = c.get("/subscriptions").json()["items"]
        seen = c.get(path)
        deleted = c.delete(path)
        letters = c.get(f"{path}/dead-letters")
        replayed = c.post(f"{path}/replay", params={"from": "0"})
        garbage = c.get("/subscriptions/not-a-uuid")
    assert mine["id"] not in {s["id"] for s in listed}
    for response in (seen, deleted, letters, replayed, garbage):
        assert (response.status_code, response.json()["code"]) == (404, "EVT-404")
    with node.client("fsp_readonly") as c:  # the same organisation, another person
        assert c.get(path).status_code == 200
    with node.client("fsp") as c:
        assert c.delete(path).status_code == 204
        assert c.get(path).status_code == 404
        assert mine["id"] not in {s["id"] for s in c.get("/subscriptions").json()["items"]}


def test_EVT_409_an_organisation_has_a_bounded_number_of_subscriptions(node):
    from node.events.subscriptions import MAX_PER_ORGANISATION

    with node.client("regulator") as c:  # an organisation with none yet
        made = [c.post("/subscriptions", json={"url": f"https://ofgem.test/{n}",
                                                "types": LIMIT_TYPES})
                for n in range(MAX_PER_ORGANISATION)]
        assert all(m.status_code == 201 for m in made)
        refused = c.post("/subscriptions", json={"url": "https://ofgem.test/x",
                                                 "types": LIMIT_TYPES})
        assert (refused.status_code, refused.json()["code"]) == (409, "EVT-409")
        assert c.get("/subscriptions").json()["count"] == MAX_PER_ORGANISATION
        assert c.delete(f"/subscriptions/{made[0].json()['id']}").status_code == 204
        again = c.post("/subscriptions", json={"url": "https://ofgem.test/x",
                                               "types": LIMIT_TYPES})
        assert again.status_code == 201
        for m in [*made[1:], again]:
            c.delete(f"/subscriptions/{m.json()['id']}")


def test_category_events_are_public_and_derived_by_default(node):
    start = head(node)
    shape = """@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix fmar: <https://id.fmar.uk/def/fmar#> .
@prefix fshape: <https://id.fmar.uk/def/shapes#> .
@prefix acat: <https://id.fmar.uk/def/code/AssetCategory/> .
acat:HYDRO a fmar:AssetCategory, skos:Concept ; skos:notation "HYDRO" ;
  skos:prefLabel "Hydro"@en ; fmar:appliesTo "Gen" ; fmar:categoryShape fshape:Category_HYDRO .
fshape:Category_HYDRO a sh:NodeShape ; sh:targetClass acat:HYDRO ;
  sh:property [ fmar:ruleId "ARM-CAT-HYDRO-001" ; sh:path fmar:genCapacity ; sh:minCount 1 ;
    sh:message "[ARM-CAT-HYDRO-001] A hydro asset states its GenCapacity." ] .
"""
    with node.client("facilitator") as c:
        made = c.post("/categories", content=shape, headers={"Content-Type": "text/turtle"})
    assert made.status_code == 201, made.text
    for who in ("fsp", "fsp2", "regulator"):
        [event] = feed(node, who, start, types="category.created")["items"]
        assert event["record"] == "https://id.fmar.uk/category/HYDRO", who


# ---------------------------------------------------------------- delivery


def test_retries_end_in_a_dead_letter_and_a_replay_delivers_it_again(node, identity):
    receiver = Receiver(free_port(), identity.anchors(), status=500).start()
    try:
        sub = subscribe(node, "fsp", receiver.url, ["connection-limit.created"])
        with node.client("dno") as c:
            made = c.post("/connection-limits", json=limit()).json()
        path = f"/subscriptions/{sub['id']}"
        deadline = time.monotonic() + 60
        letters: list = []
        while not letters and time.monotonic() < deadline:
            with node.client("fsp") as c:
                letters = c.get(f"{path}/dead-letters").json()["items"]
            time.sleep(0.1)
        assert len(letters) == 1 and letters[0]["attempts"] == "3", letters
        assert letters[0]["type"] == "connection-limit.created"
        # three attempts, one webhook-id: a receiver deduplicates retries by it
        assert len(receiver.received) == 3 and len({r.id for r in receiver.received}) == 1
        assert receiver.received[0].id == letters[0]["id"]
        stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
        assert stamps == sorted(stamps)
        receiver.status = 200
        with node.client("fsp") as c:
            replay = c.post(f"{path}/replay", params={"from": str(int(letters[0]["sequence"]) - 1)})
            assert replay.status_code == 200, replay.text
        [event] = receiver.wait_for(1)
        assert event["record"] == made["id"] and event["id"] == letters[0]["id"]
        with node.client("fsp") as c:
            assert c.get(f"{path}/dead-letters").json()["items"] == []
            bad = c.post(f"{path}/replay", params={"from": "x"})
        assert (bad.status_code, bad.json()["code"]) == (400, "EVT-IN-004")
    finally:
        receiver.stop()
        with node.client("fsp") as c:
            c.delete(f"/subscriptions/{sub['id']}")


# ---------------------------------------------------------------- verification


def _signed(identity: NodeIdentity, event: dict, stamp: int | None = None) -> dict[str, str]:
    signer = WebhookSigner.from_files(identity.key, identity.cert, identity.ca_bundle)
    return signer.headers(event["id"], stamp or int(time.time()), body_of(event))


EVENT = {"id": str(uuid.uuid4()), "sequence": "7", "type": "connection-limit.created",
         "kind": "connection-limit", "record": "https://id.fmar.uk/connection-limit/x",
         "version": 1, "time": "2026-01-01T00:00:00Z", "data": {}}


def test_EVT_VER_a_genuine_webhook_verifies_against_the_root_ca(identity):
    verified = verify_webhook(_signed(identity, EVENT), body_of(EVENT), identity.anchors())
    assert verified.event == EVENT and verified.member == "https://directory.test/m/DNO-UKPN"


def test_EVT_VER_002_a_forged_body_or_signature_is_rejected(identity):
    headers = _signed(identity, EVENT)
    forged = {**EVENT, "record": "https://id.fmar.uk/connection-limit/other"}
    with pytest.raises(WebhookRejected) as changed:
        verify_webhook(headers, body_of(forged), identity.anchors())
    assert changed.value.code == "EVT-VER-002"
    other = {**EVENT, "id": str(uuid.uuid4())}  # a genuine signature of another event
    with pytest.raises(WebhookRejected) as moved:
        verify_webhook({**_signed(identity, other), "webhook-id": EVENT["id"]},
                       body_of(EVENT), identity.anchors())
    assert moved.value.code == "EVT-VER-002"


def test_EVT_VER_003_a_webhook_signed_outside_the_federation_is_rejected(identity, tmp_path):
    stranger = node_identity(federation_ca(tmp_path), tmp_path / "node")  # another CA
    with pytest.raises(WebhookRejected) as error:
        verify_webhook(_signed(stranger, EVENT), body_of(EVENT), identity.anchors())
    assert error.value.code == "EVT-VER-003"


def test_EVT_VER_004_and_005_a_replayed_webhook_is_rejected(identity):
    seen: set[str] = set()
    headers = _signed(identity, EVENT)
    verify_webhook(headers, body_of(EVENT), identity.anchors(), seen=seen)
    with pytest.raises(WebhookRejected) as again:  # the same message sent again
        verify_webhook(headers, body_of(EVENT), identity.anchors(), seen=seen)
    assert again.value.code == "EVT-VER-005"
    old = _signed(identity, EVENT, stamp=int(time.time()) - 3600)  # captured an hour ago
    with pytest.raises(WebhookRejected) as stale:
        verify_webhook(old, body_of(EVENT), identity.anchors())
    assert stale.value.code == "EVT-VER-004"


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_EVT_VER_001_a_webhook_without_its_headers_is_rejected(identity, drop):
    headers = {k: v for k, v in _signed(identity, EVENT).items() if k != drop}
    with pytest.raises(WebhookRejected) as error:
        verify_webhook(headers, body_of(EVENT), identity.anchors())
    assert error.value.code == "EVT-VER-001"


# ---------------------------------------------------------------- large uploads


def test_a_large_upload_commits_its_events_with_it_or_rolls_them_back(tmp_path, monkeypatch):
    from common.errors import DomainError
    from node.events.model import event_graph
    from node.identity import Caller
    from node.inputs import Row, properties_from_json
    from node.records import unit as unit_module
    from node.register import Register
    from node.store import StoreError
    from node.store.embedded import EmbeddedStore
    from tests.assets import heat_pump

    fsp = Caller("loader", "FSP-ACME", frozenset({"FSP"}),
                 frozenset({"assets:read", "assets:write"}))
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 10)  # the pending marker
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    outbox = register.unit.outbox
    start = outbox.head
    report = register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, 31)), fsp,
                                    all_or_nothing=True)
    assert report.stored == 30 and outbox.head == start + 30
    registered = [outbox.read(n) for n in range(start + 1, outbox.head + 1)]
    assert {e.record for e in registered if e} == {
        f"https://id.fmar.uk/asset/{a['AssetId']}" for a in report.assets}
    # The load fails after the spool (records, audit, events) went in: all of it goes.
    loaded = store.load_file

    def fails_after_loading(path, transactional=True):
        loaded(path, transactional)
        raise StoreError("the disk filled up")

    monkeypatch.setattr(store, "load_file", fails_after_loading)
    before = outbox.head
    with pytest.raises(DomainError):
        register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, 21)), fsp,
                               all_or_nothing=True)
    assert outbox.head == before and not store.triples(event_graph(before + 1))
    # nor is a single write after it taken for the failed upload's events (a load that
    # stores nothing: one that lands and then reports an error is committed, the record
    # store's applied marker says so, JRN-001)
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 5_000)

    def fails(path, transactional=True):
        raise StoreError("the disk filled up")

    monkeypatch.setattr(store, "load_file", fails)
    with pytest.raises(DomainError):
        register.register_bulk((Row(1, fields=heat_pump()),), fsp, all_or_nothing=True)
    one = register.assets.register_one(properties_from_json(heat_pump()), fsp)
    assert outbox.read(before + 1).record == one.iri
    before += 1
    monkeypatch.setattr(store, "load_file", loaded)
    register.register_bulk((Row(1, fields=heat_pump()),), fsp, all_or_nothing=True)
    assert outbox.head == before + 1  # numbered on, without a gap
    store.close()


def test_EVT_VER_006_an_upload_stores_one_events_graph_read_as_one_stable_event_per_record(
        tmp_path):
    from node.events.model import EV, EVENT_BASE
    from node.events.outbox import Outbox
    from node.identity import Caller
    from node.inputs import Row
    from node.register import Register
    from node.store.embedded import EmbeddedStore
    from tests.assets import heat_pump

    fsp = Caller("loader", "FSP-ACME", frozenset({"FSP"}),
                 frozenset({"assets:read", "assets:write"}))
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    outbox = register.unit.outbox
    start = outbox.head
    report = register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, 26)), fsp,
                                    all_or_nothing=True)
    assert report.stored == 25 and outbox.head == start + 25
    # one graph for the 25 events, not one each
    assert [g for g in store.graph_names() if g.startswith(EVENT_BASE)
            and int(g[len(EVENT_BASE):]) > start] == [f"{EVENT_BASE}{start + 1}"]
    assert any(t.predicate.value == f"{EV}count" for t in store.triples(f"{EVENT_BASE}{start + 1}"))
    events = [outbox.read(n) for n in range(start + 1, outbox.head + 1)]
    assert all(e is not None for e in events)
    assert sorted(e.record for e in events if e) == sorted(
        f"https://id.fmar.uk/asset/{a['AssetId']}" for a in report.assets)
    assert {(e.type, e.version, e.facts.organisation) for e in events if e} == {
        ("asset.registered", 1, "FSP-ACME")}
    assert len({e.id for e in events if e}) == 25
    # a later change does not alter the upload's events (facts of version 1), and the next
    # event is numbered on without a gap
    first = events[0]
    assert first is not None
    register.assets.patch(first.record.rsplit("/", 1)[-1], {"AssetName": "Renamed"}, fsp, "*")
    assert outbox.head == start + 26 and outbox.read(start + 26).record == first.record
    # read again by an outbox opened afresh (a restarted node): the same events, with the
    # same ids (the webhook-id a receiver deduplicates on)
    reopened = Outbox(store)
    assert reopened.head == start + 26
    assert [reopened.read(n) for n in range(start + 1, start + 26)] == events
    register.close()
