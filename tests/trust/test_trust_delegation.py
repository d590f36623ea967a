"""UC-05.04: a third-party platform acts for an FSP under a delegation in the trust
framework's directory. Real trust service, a real node of the FSP, real TLS; the refusals
and the attacks of a hostile platform or node are kept here."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from test_trust_exchange import exchange, relay_token
from test_trust_refusals import assert_refused, claims_of, forge

from common import http_client as http
from tests.harness.directory import start_real_node
from tests.harness.processes import ROOT, free_port

ASSET = json.loads((ROOT / "examples" / "asset.json").read_text())
REVOCATION_BOUND = 2 * 2 + 1  # 2 × FMAR_REVOCATION_TTL of the node, plus one fetch


@pytest.fixture(scope="module")
def real_node(federation, members):
    node = start_real_node(federation, members.fsp, free_port(),
                           env={"FMAR_REVOCATION_TTL": "2"})
    yield node
    node.stop()


@pytest.fixture(scope="module")
def platform(federation):
    """A marketplace: a member with the Platform role, its application and certificate."""
    return federation.register_member("Marketplace", ["Platform"])


def later(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def grant(member, platform, nodes, scopes=("assets:read", "assets:write"), expires=None,
          as_member=None):
    body = {"platform_app_id": platform.app_id, "scopes": list(scopes), "nodes": nodes,
            "expires_at": expires or later()}
    with (as_member or member).api() as c:
        return c.post(f"/api/orgs/{member.org_id}/delegations", json=body)


def delegated(federation, platform, delegation: str, audience: str, scope: str = "",
              **extra: str):
    data = {"grant_type": "client_credentials", "client_id": platform.app_id,
            "delegation": delegation, "audience": audience, **extra}
    if scope:
        data["scope"] = scope
    with federation.client(platform.cert, platform.key) as c:
        return c.post("/token", data=data)


def token_of(resp) -> str:
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def send(node, platform, token, method, path, body=None):
    h = {"Authorization": f"Bearer {token}"}
    if body is not None:
        h["Content-Type"] = "application/json"
    with http.client(ca_bundle=node.ca_bundle, cert=platform.cert, key=platform.key,
                     timeout=60) as c:
        return c.request(method, f"{node.url}{path}", headers=h,
                         content=json.dumps(body).encode() if body is not None else None)


def asset_for(member) -> dict:
    return {**ASSET, "OrganisationId": member.org_id,
            "SerialNumber": f"DEL-{secrets.token_hex(4)}"}


# ---------------------------------------------------------------- the delegation record

def test_DEL_001_only_the_fsps_own_admin_grants_and_revokes(federation, members, platform,
                                                            real_node):
    fsp = members.fsp
    # the platform cannot delegate to itself, nor another member, nor the operator
    assert_refused(grant(fsp, platform, [real_node.url], as_member=platform), 403, "DEL-001")
    assert_refused(grant(fsp, platform, [real_node.url], as_member=members.fsp2), 403,
                   "DEL-001")
    with federation.client(token=federation.operator_token()) as c:
        body = {"platform_app_id": platform.app_id, "scopes": ["assets:read"],
                "nodes": [real_node.url], "expires_at": later()}
        assert_refused(c.post(f"/api/orgs/{fsp.org_id}/delegations", json=body), 403,
                       "DEL-001")
    made = grant(fsp, platform, [real_node.url], scopes=["assets:read"])
    assert made.status_code == 201, made.text
    with platform.api() as c:
        assert_refused(c.post(f"/api/delegations/{made.json()['id']}/revoke"), 403, "DEL-001")


def test_DEL_002_to_005_what_a_delegation_may_state(members, platform, real_node):
    fsp = members.fsp
    own_app = fsp.create_app("Flexco second app")
    bad_platform = type(platform)(**{**platform.__dict__, "app_id": own_app["id"]})
    assert_refused(grant(fsp, bad_platform, [real_node.url]), 422, "DEL-002")  # its own app
    assert_refused(grant(fsp, platform, [real_node.url], scopes=["validation:write"]), 422,
                   "DEL-003")  # a scope the FSP does not hold itself
    assert_refused(grant(fsp, platform, ["https://127.0.0.1:1"]), 422, "DEL-004")
    assert_refused(grant(fsp, platform, [real_node.url], expires=later(-60)), 422, "DEL-005")
    assert_refused(grant(fsp, platform, [real_node.url], expires=later(400 * 86400)), 422,
                   "DEL-005")


def test_DEL_008_only_the_two_parties_see_a_delegation(members, platform, real_node):
    fsp = members.fsp
    made = grant(fsp, platform, [real_node.url], scopes=["assets:read"]).json()
    with platform.api() as c:
        seen = c.get(f"/api/orgs/{platform.org_id}/delegations").json()
    assert made["id"] in [d["id"] for d in seen]
    with members.fsp2.api() as c:
        assert_refused(c.get(f"/api/orgs/{fsp.org_id}/delegations"), 403, "DEL-008")


def test_DEL_006_an_unknown_delegation_is_not_revoked(members):
    with members.fsp.api() as c:
        assert_refused(c.post("/api/delegations/DEL-NONE/revoke"), 404, "DEL-006")


# ---------------------------------------------------------------- acting for the FSP

def test_platform_registers_an_asset_for_the_fsp_and_the_audit_shows_both(
        federation, members, platform, real_node):
    fsp = members.fsp
    made = grant(fsp, platform, [real_node.url])
    assert made.status_code == 201, made.text
    delegation = made.json()["id"]
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    claims = claims_of(token)
    assert (claims["sub"], claims["org_id"], claims["delegation"]) == (fsp.org_id, fsp.org_id,
                                                                     delegation)
    assert claims["act"] == {"sub": platform.app_id, "org_id": platform.org_id}
    assert claims["aud"] == real_node.url and "cnf" in claims
    created = send(real_node, platform, token, "POST", "/assets", asset_for(fsp))
    assert created.status_code == 201, created.text
    assert created.json()["OrganisationId"] == fsp.org_id
    # the FSP reads its audit trail (audit:read was not delegated)
    audit = real_node.call("GET", f"/assets/{created.json()['AssetId']}/audit",
                           fsp.access_token(real_node.url), fsp.cert, fsp.key)
    assert audit.status_code == 200, audit.text
    entry = audit.json()[0] if isinstance(audit.json(), list) else audit.json()["entries"][0]
    assert entry["organisation"] == fsp.org_id
    assert entry["on_behalf_of"] == platform.app_id  # the platform, beside the FSP


def test_POL_001_a_write_outside_the_delegated_scope_is_refused(federation, members, platform,
                                                                real_node):
    fsp = members.fsp
    delegation = grant(fsp, platform, [real_node.url], scopes=["assets:read"]).json()["id"]
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    assert send(real_node, platform, token, "GET", "/assets").status_code == 200
    assert_refused(send(real_node, platform, token, "POST", "/assets", asset_for(fsp)), 403,
                   "POL-001")


def test_AUTH_054_a_platform_cannot_ask_for_more_than_was_delegated(federation, members,
                                                                   platform, real_node):
    delegation = grant(members.fsp, platform, [real_node.url],
                       scopes=["assets:read"]).json()["id"]
    assert_refused(delegated(federation, platform, delegation, real_node.url,
                             scope="assets:read assets:write"), 400, "AUTH-054")


def test_POL_090_a_platform_does_not_use_the_nodes_admin_routes(federation, members, platform,
                                                                real_node):
    delegation = grant(members.fsp, platform, [real_node.url]).json()["id"]
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    assert_refused(send(real_node, platform, token, "GET", "/admin/active-records"), 403,
                   "POL-090")


# ---------------------------------------------------------------- revocation and expiry

def test_AUTH_056_revocation_takes_effect_within_the_bound(federation, members, platform,
                                                           real_node):
    fsp = members.fsp
    delegation = grant(fsp, platform, [real_node.url]).json()["id"]
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    assert send(real_node, platform, token, "GET", "/assets").status_code == 200
    with fsp.api() as c:
        revoked = c.post(f"/api/delegations/{delegation}/revoke")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["tokens_revoked"] >= 1 and not revoked.json()["active"]
        assert_refused(c.post(f"/api/delegations/{delegation}/revoke"), 409, "DEL-007")
    # no new token, and the one issued is replayed in vain once the node's copy is renewed
    assert_refused(delegated(federation, platform, delegation, real_node.url), 400, "AUTH-052")
    time.sleep(REVOCATION_BOUND)
    assert_refused(send(real_node, platform, token, "POST", "/assets", asset_for(fsp)), 401,
                   "AUTH-056")
    # even a token the revocation missed (a new jti) is refused: the delegation is listed
    fresh = forge(federation, token, jti=secrets.token_urlsafe(16))
    assert_refused(send(real_node, platform, fresh, "GET", "/assets"), 401, "AUTH-056")


def test_AUTH_052_an_expired_delegation_is_refused(federation, members, platform, real_node):
    delegation = grant(members.fsp, platform, [real_node.url], expires=later(4)).json()["id"]
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    assert claims_of(token)["exp"] <= time.time() + 5  # never outlives the delegation
    time.sleep(5)
    assert_refused(delegated(federation, platform, delegation, real_node.url), 400, "AUTH-052")


def test_AUTH_051_a_platform_with_no_delegation_is_refused(federation, members, platform,
                                                           real_node):
    fsp = members.fsp
    other = federation.register_member("Othermarket", ["Platform"])
    delegation = grant(fsp, platform, [real_node.url]).json()["id"]
    # another platform presents a delegation it was not given, or one that does not exist
    assert_refused(delegated(federation, other, delegation, real_node.url), 400, "AUTH-051")
    assert_refused(delegated(federation, other, "DEL-NONE", real_node.url), 400, "AUTH-051")
    # with its own token, a platform does not write the FSP's records
    own = other.access_token(real_node.url)
    refused = send(real_node, other, own, "POST", "/assets", asset_for(fsp))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] in ("POL-002", "POL-030")


# ---------------------------------------------------------------- attacks

def test_AUTH_051_a_delegation_is_not_used_for_another_fsp(federation, members, platform,
                                                           real_node):
    fsp, other_fsp = members.fsp, members.fsp2
    delegation = grant(fsp, platform, [real_node.url]).json()["id"]
    assert_refused(delegated(federation, platform, delegation, real_node.url,
                             org_id=other_fsp.org_id), 400, "AUTH-051")
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    refused = send(real_node, platform, token, "POST", "/assets", asset_for(other_fsp))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] in ("POL-002", "POL-030")


def test_AUTH_053_a_delegation_is_not_used_at_another_node(federation, members, platform,
                                                           real_node):
    delegation = grant(members.fsp, platform, [real_node.url]).json()["id"]
    assert_refused(delegated(federation, platform, delegation, members.fsp_node.url), 400,
                   "AUTH-053")
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    refused = members.fsp_node.call("GET", "/assets", token, platform.cert, platform.key)
    assert_refused(refused, 401, "AUTH-005")


def test_AUTH_057_a_node_relay_never_becomes_a_delegation(federation, members, platform,
                                                          real_node):
    fsp, relay = members.fsp, members.fsp_node
    delegation = grant(fsp, platform, [real_node.url]).json()["id"]
    # a node cannot get a delegated token with its own certificate ...
    data = {"grant_type": "client_credentials", "client_id": relay.node_id,
            "delegation": delegation, "audience": real_node.url}
    with federation.client(relay.client_cert, relay.client_key) as c:
        assert_refused(c.post("/token", data=data), 400, "AUTH-050")
    # ... nor exchange (relay) a platform's delegated token
    token = token_of(delegated(federation, platform, delegation, real_node.url))
    assert_refused(exchange(federation, relay, token, real_node.url), 400, "AUTH-043")
    # a relayed token that claims a delegation is refused at the node
    relayed = exchange(federation, relay, relay_token(fsp, relay), real_node.url)
    claimed = forge(federation, token_of(relayed), delegation=delegation)
    refused = real_node.call("GET", "/assets", claimed, relay.client_cert, relay.client_key)
    assert_refused(refused, 401, "AUTH-057")
    # and a platform cannot have its delegated token relayed (may_act)
    assert_refused(delegated(federation, platform, delegation, real_node.url,
                             may_act=real_node.url), 400, "AUTH-055")


def test_AUTH_058_a_withdrawn_platform_is_refused_at_the_node(federation, members, real_node):
    fsp = members.fsp
    gone = federation.register_member("Goneplatform", ["Platform"])
    delegation = grant(fsp, gone, [real_node.url]).json()["id"]
    token = token_of(delegated(federation, gone, delegation, real_node.url))
    assert send(real_node, gone, token, "GET", "/assets").status_code == 200
    federation.set_status(f"/api/orgs/{gone.org_id}/status", "Suspended")
    time.sleep(2 * 2 + 1)  # 2 × FMAR_TRUST_STATUS_TTL of the real node
    assert_refused(send(real_node, gone, token, "GET", "/assets"), 401, "AUTH-058")


# ---------------------------------------------------------------- the `fmar` commands

def test_DEL_001_the_fsps_admin_delegates_and_revokes_with_fmar(federation, members, platform,
                                                                 real_node, tmp_path):
    from test_trust_cli import fmar, login, output

    fsp = members.fsp
    home = tmp_path / "flexco-admin"
    login(federation.issuer, federation.ca_bundle, home, fsp.email, fsp.password)
    made = fmar("org", "delegate", fsp.org_id, "--platform", platform.app_id,
                "--scope", "assets:read", "--node", real_node.url, "--days", "30", home=home)
    delegation = output(made)
    assert delegation["scopes"] == ["assets:read"] and delegation["active"]
    listed = fmar("org", "delegations", fsp.org_id, home=home)
    assert delegation["id"] in listed.stdout
    ended = output(fmar("org", "undelegate", delegation["id"], home=home))
    assert ended["status"] == "revoked" and not ended["active"]
    again = fmar("org", "undelegate", delegation["id"], home=home, check=False)
    assert again.exit_code == 1 and "DEL-007" in again.output
