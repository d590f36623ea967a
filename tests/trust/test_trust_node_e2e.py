"""Done means: an FSP registers an asset on its (real) node; the DNO of the asset's area
reads it but cannot change it; another FSP and another DNO cannot see it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, free_port
from test_trust_refusals import assert_refused
from trust_helpers import NodeProcess

from trust import http

ASSET = json.loads((ROOT / "examples" / "asset.json").read_text())  # in SSEN_SEPD


@pytest.fixture(scope="module")
def real_node(federation, members):
    fsp, port = members.fsp, free_port()
    url = f"https://127.0.0.1:{port}"
    node_id = fsp.register_node(url)
    base = federation.work / f"realnode-{port}"
    fsp.node_certificate(node_id, "server", base)
    cfg = {"issuer": federation.issuer, "audience": url, "ca_bundle": str(federation.ca_bundle),
           "server_cert": str(base / "server.pem"), "server_key": str(base / "server.key"),
           "port": port, "data_dir": str(base / "data")}
    (base / "config.json").write_text(json.dumps(cfg))
    with open(base / "node.log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests/trust/realnode.py"),
                                 str(base / "config.json")], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
    node = NodeProcess(url, node_id, proc, base, federation.ca_bundle)
    node.wait(timeout=60)
    yield node
    node.stop()


def send(node, member, method, path, body=None, headers=None):
    """A request with the member's bound token, over mTLS with its certificate."""
    token = member.access_token(node.url)
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    content = json.dumps(body).encode() if body is not None else None
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    with http.client(ca_bundle=node.ca_bundle, cert=member.cert, key=member.key,
                     timeout=60) as c:
        return c.request(method, f"{node.url}{path}", content=content, headers=h)


def test_fsp_registers_and_only_the_right_parties_read_or_change(federation, members,
                                                                  real_node):
    southern = federation.register_member("Southco", ["DNO"], dno_areas=["SSEN_SEPD"])
    fsp = members.fsp
    created = send(real_node, fsp, "POST", "/assets", {**ASSET, "OrganisationId": fsp.org_id})
    assert created.status_code == 201, created.text
    path = f"/assets/{created.json()['AssetId']}"
    etag = created.headers["etag"]
    # the DNO of the asset's licence area reads it ...
    read = send(real_node, southern, "GET", path)
    assert read.status_code == 200, read.text
    # ... but cannot change it
    change = send(real_node, southern, "PATCH", path, {"AssetName": "renamed"},
                  {"If-Match": etag, "Content-Type": "application/merge-patch+json"})
    assert change.status_code == 403, change.text
    # a DNO of other areas and another FSP do not see it; the other FSP cannot write it
    assert send(real_node, members.dno, "GET", path).status_code == 404
    assert send(real_node, members.fsp2, "GET", path).status_code == 404
    foreign = send(real_node, members.fsp2, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id})
    assert foreign.status_code == 403, foreign.text
    # the owner changes it with its own token
    mine = send(real_node, fsp, "PATCH", path, {"AssetName": "Didcot battery one"},
                {"If-Match": etag, "Content-Type": "application/merge-patch+json"})
    assert mine.status_code == 200, mine.text
    # and a token without a client certificate binding is refused by the real node too
    token = fsp.access_token(real_node.url)
    no_cert = real_node.call("GET", path, token)
    assert_refused(no_cert, 401, "AUTH-009")


def test_POL_021_a_relayed_token_cannot_change_records_on_the_real_node(federation, members,
                                                                         real_node):
    """The hostile relay: a DNO asks a node to relay for it; the node's exchanged token
    reads on the real node but cannot PATCH an asset or set its validation status, even
    though the DNO itself may set that status (issue 7, item 1)."""
    from test_trust_exchange import as_node, exchange, relay_token

    fsp, relay = members.fsp, members.fsp_node
    southern = federation.register_member("Southrelay", ["DNO"], dno_areas=["SSEN_SEPD"])
    created = send(real_node, fsp, "POST", "/assets", {**ASSET, "OrganisationId": fsp.org_id})
    assert created.status_code == 201, created.text
    path = f"/assets/{created.json()['AssetId']}"
    etag = created.headers["etag"]

    def relayed(member, writes: str) -> str:
        subject = relay_token(member, relay,
                              scope=f"assets:read {writes} sparql:query federation:query")
        resp = exchange(federation, relay, subject, real_node.url)
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    dno_token, owner_token = relayed(southern, "validation:write"), relayed(fsp, "assets:write")
    read = as_node(relay, "GET", real_node, path, dno_token)
    assert read.status_code == 200, read.text  # control: a relayed token reads
    with http.client(ca_bundle=real_node.ca_bundle, cert=relay.client_cert,
                     key=relay.client_key, timeout=60) as c:
        for token, method, sub, body in (
                (dno_token, "PUT", "/validation-status", {"status": "Verified"}),
                (owner_token, "PATCH", "", {"AssetName": "renamed by a relay"})):
            resp = c.request(method, f"{real_node.url}{path}{sub}", json=body,
                             headers={"Authorization": f"Bearer {token}", "If-Match": etag,
                                      "Content-Type": "application/merge-patch+json"
                                      if method == "PATCH" else "application/json"})
            assert_refused(resp, 403, "POL-021")
    # control: the DNO's own token sets the status
    own = send(real_node, southern, "PUT", f"{path}/validation-status", {"status": "Verified"},
               {"If-Match": etag})
    assert own.status_code == 200, own.text
