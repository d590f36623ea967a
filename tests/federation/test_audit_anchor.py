"""Anchoring the audit chain (issue 18, item 6): a node publishes its signed audit head to
the trust framework, which keeps it append-only; `fmar audit verify` checks the local chain
against every published head, so removing the newest entries, or rewriting the chain and
growing it again, is found. Real processes: the trust framework and one node."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common import http_client
from common.vocab import AUDIT_BASE
from examples.generate import assets
from node.audit import AUDIT_GRAPH
from node.audit_anchor import signed_head
from node.events.signing import WebhookSigner
from tests.harness.federation import LocalFederation, NodeProc
from tests.harness.processes import RATE_LIMITS_OFF, clean_env

FMAR = str(Path(sys.executable).parent / "fmar")


class AnchorFed:
    def __init__(self, local: LocalFederation):
        self.local = local
        self.node: NodeProc = local.nodes["fsp"]

    def verify(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = clean_env(FMAR_TRUST_URL=self.local.issuer, FMAR_CLIENT_ID=self.node.node_id,
                        FMAR_CA_BUNDLE=str(self.local.ca_bundle))
        return subprocess.run([FMAR, "audit", "verify", "--data-dir",
                               str(self.node.data_dir / "data"), *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    def http(self) -> httpx.Client:
        return http_client.client(ca_bundle=self.local.ca_bundle, timeout=10)

    def heads(self) -> list[dict[str, Any]]:
        with self.http() as http:
            response = http.get(f"{self.local.issuer}/api/audit-heads/{self.node.node_id}"
                                "/history")
        return [] if response.status_code == 404 else list(response.json()["heads"])

    def published(self, at_least: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            heads = self.heads()
            if heads and heads[-1]["sequence"] >= at_least:
                return heads[-1]
            time.sleep(0.3)
        raise AssertionError(f"no head at {at_least} published: {self.heads()}\n"
                             f"{self.node.log_text()}")

    def post(self, jws: str) -> httpx.Response:
        with self.http() as http:
            return http.post(f"{self.local.issuer}/api/audit-heads", json={"jws": jws})

    def restart(self) -> None:
        self.local.start_nodes()

    def signer(self) -> WebhookSigner:
        d = self.node.data_dir
        return WebhookSigner.from_files(d / "client.key", d / "client.pem", self.local.ca_bundle)


@pytest.fixture(scope="module")
def af(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnchorFed]:
    local = LocalFederation(tmp_path_factory.mktemp("anchor"),
                            node_env={"FMAR_AUDIT_ANCHOR_INTERVAL": "0.5", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        node = local.add_node("fsp", flexco)
        local.load_assets(node, list(assets(12, flexco.org_id, seed=3, dnos=["UKPN_EPN"])))
        local.start_nodes()
        yield AnchorFed(local)
    finally:
        local.stop()


def test_AUD_ANC_the_node_publishes_its_signed_head_and_verify_checks_against_it(af):
    head = af.published(12)
    assert head["node"] == af.node.node_id and len(head["hash"]) == 64
    claims = json.loads(httpx_b64(head["jws"].split(".")[1]))
    assert (claims["sequence"], claims["hash"]) == (head["sequence"], head["hash"])
    done = af.verify()
    assert done.returncode == 0, done.stderr
    assert f"published at sequence {head['sequence']}" in done.stdout


def httpx_b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _remove_newest(af: AnchorFed, count: int) -> None:
    def work(register: Any) -> None:
        newest = register.unit.audit.sequence
        for n in range(newest - count + 1, newest + 1):
            register.store.journal.update(f"DELETE WHERE {{ GRAPH <{AUDIT_GRAPH}> "
                                          f"{{ <{AUDIT_BASE}{n}> ?p ?o }} }}")

    LocalFederation._on_store(af.node, work)


def test_AUD_ANC_005_a_truncated_chain_fails_against_the_published_head(af):
    published = af.published(12)["sequence"]
    af.node.stop()
    _remove_newest(af, 3)
    alone = af.verify("--local-only")
    assert alone.returncode == 0, alone.stderr  # the chain alone cannot show it
    anchored = af.verify()
    assert anchored.returncode == 1, anchored.stdout
    assert "AUD-ANC-005" in anchored.stderr and f"entry {published}" in anchored.stderr


def test_AUD_ANC_003_and_006_a_rewritten_chain_grown_again_is_still_found(af):
    published = af.heads()[-1]["sequence"]
    # the node restarted on the truncated chain cannot publish its lower head
    af.restart()
    time.sleep(2)
    assert af.heads()[-1]["sequence"] == published
    assert "AUD-ANC-003" in af.node.log_text()
    af.node.stop()
    # the chain grows again past the published head, with other entries
    af.local.load_assets(af.node, list(assets(6, af.node.member.org_id, seed=4,
                                              dnos=["UKPN_EPN"])))
    af.restart()
    grown = af.published(published + 1)["sequence"]
    assert grown == published - 3 + 6
    done = af.verify()
    assert done.returncode == 1
    assert f"AUD-ANC-006: entry {published} is not the one published" in done.stderr


def test_AUD_ANC_002_003_004_a_published_head_is_never_rewound_or_overwritten(af, tmp_path):
    before = af.heads()
    top = before[-1]["sequence"] + 1000
    signer, node_id = af.signer(), af.node.node_id
    first = af.post(signed_head(signer, node_id, top, "a" * 64))
    assert first.status_code == 201, first.text
    assert af.post(signed_head(signer, node_id, top, "a" * 64)).status_code == 200
    overwrite = af.post(signed_head(signer, node_id, top, "b" * 64))
    assert (overwrite.status_code, overwrite.json()["code"]) == (409, "AUD-ANC-004")
    rewind = af.post(signed_head(signer, node_id, top - 1, "c" * 64))
    assert (rewind.status_code, rewind.json()["code"]) == (409, "AUD-ANC-003")
    # a member's application certificate (same CA, not this node's) cannot publish for it
    member = af.node.member
    app = WebhookSigner.from_files(member.key, member.cert, af.local.ca_bundle)
    forged = af.post(signed_head(app, node_id, top + 1, "d" * 64))
    assert (forged.status_code, forged.json()["code"]) == (403, "AUD-ANC-002")
    other = af.post(signed_head(signer, "NODE-OTHER", top + 1, "d" * 64))
    assert (other.status_code, other.json()["code"]) == (403, "AUD-ANC-002")
    tampered = signed_head(signer, node_id, top + 1, "e" * 64).split(".")
    tampered[1] = signed_head(signer, node_id, top + 2, "e" * 64).split(".")[1]
    bad = af.post(".".join(tampered))
    assert (bad.status_code, bad.json()["code"]) == (403, "AUD-ANC-002")
    garbage = af.post("a.b.c")
    assert (garbage.status_code, garbage.json()["code"]) == (403, "AUD-ANC-002")
    assert af.post("not a jws").status_code == 422  # not even the shape of a JWS
    after = af.heads()
    assert after[:len(before)] == before  # nothing earlier changed
    assert [h["sequence"] for h in after[len(before):]] == [top]
    assert after[-1]["hash"] == "a" * 64
    with af.http() as http:
        missing = http.get(f"{af.local.issuer}/api/audit-heads/NODE-NONE")
    assert (missing.status_code, missing.json()["code"]) == (404, "AUD-ANC-001")
