"""The inbox route in process (node/events/inbox.py): a node without a federation CA
cannot verify webhooks and says so (INBOX-007); its OpenAPI names the signature as the
route's credential. Signed webhooks across real nodes: tests/federation/test_operator_inbox.py."""

from __future__ import annotations


def test_INBOX_007_a_node_without_a_federation_ca_refuses_webhooks(node):
    with node.client(None) as c:
        refused = c.post("/inbox/events", content=b'{"id": "x"}',
                         headers={"webhook-id": "x", "webhook-timestamp": "1",
                                  "webhook-signature": "v1jws,a..b"})
    assert refused.status_code == 401 and refused.json()["code"] == "INBOX-007", refused.text


def test_the_inbox_is_secured_by_the_webhook_signature_in_openapi(node):
    with node.client(None) as c:
        doc = c.get("/openapi.json").json()
    operation = doc["paths"]["/inbox/events"]["post"]
    assert operation["security"] == [{"webhookSignature": []}]
    assert doc["components"]["securitySchemes"]["webhookSignature"]["name"] == \
        "webhook-signature"
    assert {"400", "401", "403", "409", "503"} <= set(operation["responses"])
