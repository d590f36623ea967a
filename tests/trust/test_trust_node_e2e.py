"""Done means: an FSP registers an asset on its (real) node; the DNO of the asset's area
reads it but cannot change it; another FSP and another DNO cannot see it."""

from __future__ import annotations

import json
import time

import pytest
from test_trust_refusals import assert_refused

from tests.harness.directory import start_real_node
from tests.harness.processes import ROOT, free_port
from common import http_client as http

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
    assert read.json()["AssetId"] == created.json()["AssetId"]
    # ... but cannot change it (it holds no assets:write scope)
    change = send(real_node, southern, "PATCH", path, {"AssetName": "renamed"},
                  {"If-Match": etag, "Content-Type": "application/merge-patch+json"})
    assert_refused(change, 403, "POL-001")
    # a DNO of other areas and another FSP do not see it; the other FSP cannot write it
    assert_refused(send(real_node, members.dno, "GET", path), 404, "ARM-404")
    assert_refused(send(real_node, members.fsp2, "GET", path), 404, "ARM-404")
    foreign = send(real_node, members.fsp2, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id, "SerialNumber": "E2E-FOREIGN"})
    assert_refused(foreign, 403, "POL-030")  # this node does not hold the other FSP's records
    foreign_change = send(real_node, members.fsp2, "PATCH", path, {"AssetName": "mine now"},
                          {"If-Match": etag, "Content-Type": "application/merge-patch+json"})
    assert_refused(foreign_change, 403, "POL-030")  # refused before the asset is looked up
    # the owner changes it with its own token
    mine = send(real_node, fsp, "PATCH", path, {"AssetName": "Didcot battery one"},
                {"If-Match": etag, "Content-Type": "application/merge-patch+json"})
    assert mine.status_code == 200, mine.text
    assert mine.json()["AssetName"] == "Didcot battery one"
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
    created = send(real_node, fsp, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id, "SerialNumber": "E2E-RELAY"})
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
def test_POL_004_status_changes_on_the_real_node(federation, members, real_node):
    """The validation status is set by the asset's DNO (not one of another area), never
    by its own FSP; a stale
    If-Match is refused; the DNO's change is the control that succeeds."""
    southern = federation.register_member("Southstat", ["DNO"], dno_areas=["SSEN_SEPD"])
    fsp = members.fsp
    created = send(real_node, fsp, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id, "SerialNumber": "E2E-STATUS"})
    assert created.status_code == 201, created.text
    path = f"/assets/{created.json()['AssetId']}/validation-status"
    etag = created.headers["etag"]
    own = send(real_node, fsp, "PUT", path, {"status": "Verified"}, {"If-Match": etag})
    assert_refused(own, 403, "POL-001")  # an FSP's token never carries validation:write
    assert own.json()["details"] == {"missing_scopes": ["validation:write"]}
    other_area = send(real_node, members.dno, "PUT", path, {"status": "Verified"},
                      {"If-Match": etag})
    assert_refused(other_area, 404, "ARM-404")  # it may not read the asset either
    # an organisation that is an FSP and a DNO (of other areas) may not verify its own asset
    both = federation.register_member("Bothco", ["FSP", "DNO"], dno_areas=["UKPN_EPN"])
    with both.api() as c:  # Bothco asks the FSP's node to hold its records (POL-030) ...
        hosted = c.post(f"/api/orgs/{both.org_id}/hosting", json={"host_org_id": fsp.org_id})
    assert hosted.status_code == 201, hosted.text
    with fsp.api() as c:  # ... and the FSP accepts
        accepted = c.post(f"/api/orgs/{both.org_id}/hosting/{fsp.org_id}/accept")
    assert accepted.status_code == 200, accepted.text
    deadline = time.monotonic() + 60  # the node learns of the hosting within its TTL
    while True:
        own_asset = send(real_node, both, "POST", "/assets",
                         {**ASSET, "OrganisationId": both.org_id, "SerialNumber": "E2E-BOTH"})
        if own_asset.json().get("code") != "POL-030" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert own_asset.status_code == 201, own_asset.text
    self_verify = send(real_node, both, "PUT",
                       f"/assets/{own_asset.json()['AssetId']}/validation-status",
                       {"status": "Verified"}, {"If-Match": own_asset.headers["etag"]})
    assert_refused(self_verify, 403, "POL-004")
    bad_status = send(real_node, southern, "PUT", path, {"status": "Approved"}, {"If-Match": etag})
    assert_refused(bad_status, 422, "ARM-VS-001")
    verified = send(real_node, southern, "PUT", path, {"status": "Verified"}, {"If-Match": etag})
    assert verified.status_code == 200, verified.text
    assert verified.json()["ValidationStatus"] == "Verified"
    stale = send(real_node, southern, "PUT", path, {"status": "Query", "reason": "MPAN unknown"},
                 {"If-Match": etag})
    assert_refused(stale, 412, "ARM-412")


def test_writes_refused_on_the_real_node(federation, members, real_node):
    """Writes through the real node's routes (not the stub): scope, organisation, body."""
    fsp = members.fsp
    dno_write = send(real_node, members.dno, "POST", "/assets",
                     {**ASSET, "OrganisationId": members.dno.org_id, "SerialNumber": "E2E-DNO"})
    assert_refused(dno_write, 403, "POL-001")
    invalid = send(real_node, fsp, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id, "SerialNumber": "E2E-BAD",
                    "ImportMPAN": None})
    assert_refused(invalid, 422, "ARM-VAL")
    assert {v["rule"] for v in invalid.json()["details"]["violations"]} == {"ARM-VAL-033"}
    unknown = send(real_node, fsp, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id, "Colour": "blue"})
    assert_refused(unknown, 400, "ARM-IN-002")
    created = send(real_node, fsp, "POST", "/assets",
                   {**ASSET, "OrganisationId": fsp.org_id, "SerialNumber": "E2E-WRITE"})
    assert created.status_code == 201, created.text
    path = f"/assets/{created.json()['AssetId']}"
    stale = send(real_node, fsp, "PUT", path, {**ASSET, "OrganisationId": fsp.org_id},
                 {"If-Match": '"stale.v0"'})
    assert_refused(stale, 412, "ARM-412")
    no_if_match = send(real_node, fsp, "DELETE", path)
    assert no_if_match.status_code == 200 and no_if_match.json()["RegistrationStatus"] == "Deregistered"
    foreign_delete = send(real_node, members.fsp2, "DELETE", path)
    assert_refused(foreign_delete, 403, "POL-030")
