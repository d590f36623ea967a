"""Done means: an FSP registers an asset on its (real) node; the DNO of the asset's area
reads it but cannot change it; another FSP and another DNO cannot see it."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, free_port
from test_trust_refusals import assert_refused
from trust_helpers import start_real_node

from trust import http

ASSET = json.loads((ROOT / "examples" / "asset.json").read_text())  # in SSEN_SEPD


@pytest.fixture(scope="module")
def real_node(federation, members):
    node = start_real_node(federation, members.fsp, free_port())
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
