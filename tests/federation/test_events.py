"""Events in a real federation: the DNO's node (trust-framework tokens, TLS, its client
certificate issued by the directory's CA) signs its webhooks, and an FSP's receiver on
loopback verifies them against the federation CA bundle with node/events/verify.py."""

from __future__ import annotations

import uuid

from node.events.verify import load_anchors
from tests.harness.processes import free_port
from tests.webhooks import Receiver


def test_POL_040_the_dno_node_signs_a_limit_event_the_fsp_verifies_against_the_directory(fed):
    dno = fed.local.nodes["dno"]
    receiver = Receiver(free_port(), load_anchors(fed.local.ca_bundle)).start()
    other = Receiver(free_port(), load_anchors(fed.local.ca_bundle)).start()
    try:
        for who, hook in (("Flexco", receiver), ("Otherflex", other)):
            with fed.http(who) as c:
                made = c.post(f"{dno.url}/subscriptions",
                              json={"url": hook.url, "types": ["connection-limit.created"]},
                              headers={"authorization": f"Bearer {fed.token(who, 'dno')}"})
            assert made.status_code == 201, made.text
            assert made.json()["organisation"] == fed.member(who).org_id
        flexco = fed.member("Flexco").org_id
        with fed.http("Gridco") as c:
            limit = c.post(f"{dno.url}/connection-limits", json={
                "AssetId": str(uuid.uuid4()), "OrganisationId": flexco,
                "DNOConnection": "UKPN_EPN", "LimitType": "FIRM",
                "ValidFrom": "2026-01-01", "ExportLimit": 250.0},
                headers={"authorization": f"Bearer {fed.token('Gridco', 'dno')}"})
        assert limit.status_code == 201, limit.text
        [event] = receiver.wait_for(1)
        assert event["record"] == limit.json()["id"]
        [got] = [r for r in receiver.received if r.event]
        assert got.rejected is None
        # Signed by the DNO node's own certificate, which names its member.
        from cryptography import x509

        from node.events.verify import verify_webhook

        verified = verify_webhook(got.headers, got.body, load_anchors(fed.local.ca_bundle),
                                  now=int(got.headers["webhook-timestamp"]))
        node_cert = x509.load_pem_x509_certificate((dno.data_dir / "client.pem").read_bytes())
        assert verified.certificate == node_cert
        assert verified.member and verified.member.endswith(fed.member("Gridco").org_id)
        assert all(r.event is None or r.event["record"] != event["record"]
                   for r in other.received)  # Otherflex is not entitled
    finally:
        receiver.stop()
        other.stop()
