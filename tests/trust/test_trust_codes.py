"""The remaining error codes, so that every code in docs/trust.md has a test."""

from __future__ import annotations

import pytest
from joserfc import jwt
from sqlmodel import Session
from test_trust_refusals import assert_refused, claims_of

from trust.client.credentials import make_key_and_csr
from trust.client.verifier import TokenVerifier, VerifierConfig
from trust.server import directory
from trust.server.db import make_engine, migrate
from trust.server.errors import ApiError
from trust.server.schemas import Contact, OrganisationIn


def test_AUTH_014_trust_framework_unreachable(federation, members):
    token = members.fsp.access_token(members.fsp_node.url)
    verifier = TokenVerifier(VerifierConfig(issuer="https://127.0.0.1:1",
                                            audience=members.fsp_node.url,
                                            ca_bundle=federation.ca_bundle))
    with pytest.raises(ApiError) as err:
        verifier.verify(token)
    assert (err.value.status, err.value.code) == (503, "AUTH-014")


def test_AUTH_015_missing_claims(federation, members):
    token = members.fsp.access_token(members.fsp_node.url)
    stripped = {k: v for k, v in claims_of(token).items() if k != "org_id"}
    key = federation.signing_key()
    forged = jwt.encode({"alg": "ES256", "kid": key.kid}, stripped, key)
    resp = members.fsp_node.call("GET", "/whoami", forged, members.fsp.cert, members.fsp.key)
    assert_refused(resp, 401, "AUTH-015")


def test_AUTH_016_revoked_user_token_and_AUTH_030_machine_token_at_the_admin_api(federation,
                                                                                members):
    member = federation.register_member("Revokeco", ["FSP"])
    user_token = member.token()
    machine = federation.client_credentials(member.app_id, member.cert, member.key,
                                            federation.issuer).json()["access_token"]
    with federation.client(token=machine) as c:
        assert_refused(c.get(f"/api/orgs/{member.org_id}"), 401, "AUTH-030")
    with federation.client() as c:
        c.post("/revoke", data={"token": user_token, "client_id": federation.state["cli_client_id"]})
    with federation.client(token=user_token) as c:
        assert_refused(c.get(f"/api/orgs/{member.org_id}"), 401, "AUTH-016")


def test_CA_003_no_certificate_for_a_suspended_organisation(federation):
    member = federation.register_member("Pausedco", ["FSP"])
    _, csr = make_key_and_csr()
    with federation.client(token=federation.operator_token()) as c:
        c.post(f"/api/orgs/{member.org_id}/status", json={"status": "Suspended"})
        resp = c.post(f"/api/apps/{member.app_id}/certificates", json={"csr_pem": csr.decode()})
    assert_refused(resp, 409, "CA-003")
    with member.api() as c:  # its own admin's token no longer works on the directory API
        assert_refused(c.get(f"/api/orgs/{member.org_id}"), 401, "AUTH-030")


def test_CA_002_DIR_006_POL_103_unknown_things_and_other_members(federation, members):
    with members.fsp.api() as c:
        assert_refused(c.post("/api/certificates/abcdef/revoke"), 404, "CA-002")
        assert_refused(c.get(f"/api/orgs/{members.dno.org_id}"), 403, "POL-103")
    with federation.client() as c:
        assert_refused(c.get("/api/members/FMAR-ORG-NOPE"), 404, "DIR-006")


def test_DIR_011_short_password_in_the_domain_function(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as session:
        org = directory.register_organisation(session, OrganisationIn(
            legal_name="P Ltd", roles=["FSP"], email="p@p.example",
            primary_contact=Contact(first_name="P", last_name="Q", email="p@p.example")))
        with pytest.raises(ApiError) as err:
            directory.add_user(session, org.id, "u@p.example", "U", "viewer", "short")
    assert err.value.code == "DIR-011"
    engine.dispose()
