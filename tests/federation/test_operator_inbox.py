"""The operator's node acting on a material change, across real processes: NESO's node
subscribes (as `make demo` does) to the FSP node's `market-unit.composition-changed`
events; the FSP changes its unit materially and NESO's outcome for the unit goes to
`reassessment_required` with no call by anyone. Unsigned, forged, stale, replayed and
misdirected webhooks to NESO's inbox change nothing (INBOX-001..005).

Trust framework, the FSP's node, another FSP's node and NESO's node, over TLS."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from examples.generate import assets
from node.events.signing import WebhookSigner
from tests.harness.federation import LocalFederation, NodeProc
from tests.harness.processes import RATE_LIMITS_OFF

AREA = "ENWL"
WAIT = 120.0


class Inbox:
    def __init__(self, local: LocalFederation, unit_id: str, loose: list[str],
                 outcome: str):
        self.local, self.unit_id, self.loose, self.outcome = local, unit_id, loose, outcome

    def node(self, name: str) -> NodeProc:
        return self.local.nodes[name]

    @property
    def unit_iri(self) -> str:
        return f"https://id.fmar.uk/market-unit/{self.unit_id}"

    def call(self, who: str, node: str, method: str, path: str, **kw: Any) -> httpx.Response:
        m, url = self.local.members[who], self.node(node).url
        token = self.local.access_token(m, url)
        with self.local.client(m.cert, m.key) as c:
            return c.request(method, f"{url}{path}", timeout=60,
                             headers={"Authorization": f"Bearer {token}"}, **kw)

    def outcome_state(self) -> str:
        r = self.call("Neso", "neso", "GET", f"/qualifications/{self.outcome.rsplit('/', 1)[-1]}")
        assert r.status_code == 200, r.text
        return str(r.json()["State"])

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.local.post_webhook(self.node("neso"), body, headers)

    def signer(self, node: str) -> WebhookSigner:
        signer: WebhookSigner = self.local.webhook_signer(self.node(node))
        return signer

    def event(self, material: bool = True, record: str | None = None) -> tuple[str, bytes]:
        webhook_id = str(uuid.uuid4())
        return webhook_id, json.dumps({
            "id": webhook_id, "sequence": "1", "type": "market-unit.composition-changed",
            "kind": "market-unit", "record": record or self.unit_iri, "version": 9,
            "time": "2026-11-30T05:00:00Z",
            "data": {"changed": ["Capability"], "material": material,
                     "reason": "forged"}}).encode()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbox]:
    local = LocalFederation(tmp_path_factory.mktemp("inbox"),
                            node_env={"FMAR_EVENTS_POLL": "0.2", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        neso = local.register_member("Neso", ["NESO"])
        fsp = local.add_node("fsp_a", flexco)
        local.add_node("fsp_b", otherflex)
        neso_node = local.add_node("neso", neso)
        rows = list(assets(6, flexco.org_id, seed=51, dnos=[AREA]))
        iris = local.load_assets(fsp, rows)
        (unit_id,) = local.load_market_units(fsp, [(
            {"Name": "Portfolio", "UnitType": "SPG", "LocationScope": "DNOArea",
             "DNOArea": AREA}, [(iris[0].rsplit("/", 1)[-1], "2025-04-01")])])
        _, outcome = local.load_qualification(fsp, neso_node, unit_id)
        local.subscribe_inbox(fsp, neso_node)  # as `make demo` does
        local.start_nodes()
        yield Inbox(local, unit_id, iris[1:], outcome)
    finally:
        local.stop()


def test_INBOX_001_an_unsigned_webhook_is_refused(inbox: Inbox) -> None:
    _, body = inbox.event()
    refused = inbox.post(body, {})
    assert refused.status_code == 401 and refused.json()["code"] == "INBOX-001", refused.text
    assert inbox.outcome_state() == "prequalified"


def test_INBOX_002_a_forged_webhook_changes_nothing(inbox: Inbox) -> None:
    webhook_id, body = inbox.event()
    stamp = int(time.time())
    # signed by the FSP's node, then the body changed on the way
    genuine = inbox.signer("fsp_a").headers(webhook_id, stamp, body)
    tampered = body.replace(b'"forged"', b'"tampered"')
    r = inbox.post(tampered, genuine)
    assert r.status_code == 401 and r.json()["code"] == "INBOX-002", r.text
    # signed by a key the trust framework never certified
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fsp_a")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2099, 1, 1, tzinfo=UTC))
            .sign(key, hashes.SHA256()))
    r = inbox.post(body, WebhookSigner(key, (cert,)).headers(webhook_id, stamp, body))
    assert r.status_code == 401 and r.json()["code"] == "INBOX-002", r.text
    assert inbox.outcome_state() == "prequalified"


def test_INBOX_003_a_stale_webhook_is_refused(inbox: Inbox) -> None:
    webhook_id, body = inbox.event()
    old = int(time.time()) - 3600
    r = inbox.post(body, inbox.signer("fsp_a").headers(webhook_id, old, body))
    assert r.status_code == 401 and r.json()["code"] == "INBOX-003", r.text
    assert inbox.outcome_state() == "prequalified"


def test_INBOX_004_a_replayed_webhook_is_refused(inbox: Inbox) -> None:
    webhook_id, body = inbox.event(material=False)  # acknowledged, changes nothing
    headers = inbox.signer("fsp_a").headers(webhook_id, int(time.time()), body)
    first = inbox.post(body, headers)
    assert first.status_code == 200 and first.json()["reassessed"] == [], first.text
    again = inbox.post(body, headers)
    assert again.status_code == 409 and again.json()["code"] == "INBOX-004", again.text


def test_INBOX_005_another_fsps_node_cannot_speak_for_the_unit(inbox: Inbox) -> None:
    webhook_id, body = inbox.event()
    r = inbox.post(body, inbox.signer("fsp_b").headers(webhook_id, int(time.time()), body))
    assert r.status_code == 403 and r.json()["code"] == "INBOX-005", r.text
    assert inbox.outcome_state() == "prequalified"


def test_INBOX_006_a_material_change_names_a_unit(inbox: Inbox) -> None:
    webhook_id, body = inbox.event(record="https://id.fmar.uk/asset/x> } DROP ALL {")
    r = inbox.post(body, inbox.signer("fsp_a").headers(webhook_id, int(time.time()), body))
    assert r.status_code == 400 and r.json()["code"] == "INBOX-006", r.text


def test_a_material_change_on_the_fsps_node_sends_nesos_outcome_to_reassessment(
        inbox: Inbox) -> None:
    assert inbox.outcome_state() == "prequalified"
    added = inbox.call("Flexco", "fsp_a", "POST", f"/market-units/{inbox.unit_id}/members",
                       json={"AssetId": inbox.loose[0].rsplit("/", 1)[-1],
                             "ValidFrom": "2025-04-01"})
    assert added.status_code == 201, added.text
    unit = inbox.call("Flexco", "fsp_a", "GET", f"/market-units/{inbox.unit_id}").json()
    assert unit["MaterialChangeReason"], unit  # the FSP's node judged it material
    deadline = time.monotonic() + WAIT
    while inbox.outcome_state() != "reassessment_required":
        assert time.monotonic() < deadline, (inbox.node("fsp_a").log_text()[-3000:]
                                             + inbox.node("neso").log_text()[-3000:])
        time.sleep(0.5)
    history = inbox.call("Neso", "neso", "GET",
                         f"/qualifications/{inbox.outcome.rsplit('/', 1)[-1]}/history")
    assert history.status_code == 200, history.text
    assert "Material change" in json.dumps(history.json()["versions"][-1])
