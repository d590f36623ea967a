"""RATE-001 for relayed requests: a node presents its own certificate for every caller it
relays for, so the trust framework and the other nodes count its requests per (node,
subject). One member relaying many queries through a node drains only its own bucket
there; another member's queries through the same node go on (found by a hostile review:
the node's one bucket was shared by everyone it relayed for)."""

from __future__ import annotations

from typing import Any

from examples.generate import assets
from tests.harness.federation import LocalFederation, Member
from tests.harness.processes import RATE_LIMITS_OFF


def test_RATE_001_a_member_relaying_through_a_node_drains_only_its_own_bucket(tmp_path):
    # the trust framework's per-client limit of /token: the default burst (60), refilled
    # slowly (0.2/s, not the default 5/s) so that a slow machine cannot refill it during
    # the 25 relays; per-source limits off, as attacker, victim and relay are different
    # hosts in a real federation
    trust_env = {**RATE_LIMITS_OFF, "FMAR_RATE_TOKEN_CLIENT": "60:0.2"}
    local = LocalFederation(tmp_path, node_env=dict(RATE_LIMITS_OFF), trust_env=trust_env)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        other = local.register_member("Otherflex", ["FSP"])
        third = local.register_member("Thirdflex", ["FSP"])
        nodes = {"a": local.add_node("a", flexco), "b": local.add_node("b", other),
                 "c": local.add_node("c", third)}
        local.load_assets(nodes["a"], list(assets(5, flexco.org_id, seed=1)))
        local.start_nodes()
        relay = nodes["a"].url

        def federated(member: Member) -> dict[str, Any]:
            token = local.access_token(member, relay, may_act=True)  # a fresh token each time
            with local.client(member.cert, member.key) as c:
                answer = c.get(f"{relay}/federation/assets",
                               headers={"Authorization": f"Bearer {token}"}, timeout=60)
            assert answer.status_code == 200, answer.text
            return answer.json()

        def codes(answer: dict[str, Any]) -> set[str | None]:
            return {n.get("code") for n in answer["nodes"]}

        before = federated(flexco)
        assert not before["partial"], before["nodes"]
        # the attacker relays 25 queries with fresh tokens: 3 exchanges each, 75 > 60
        last = [federated(other) for _ in range(25)][-1]
        assert "RATE-001" in codes(last), last["nodes"]  # its own bucket is empty ...
        after = federated(flexco)  # ... the victim's, through the same node, is not
        assert not after["partial"] and "RATE-001" not in codes(after), after["nodes"]
        assert {n["status"] for n in after["nodes"]} == {"answered"}
    finally:
        local.stop()
