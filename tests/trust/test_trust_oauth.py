"""The OAuth 2.0 / OIDC issuer: positive flows and token-endpoint refusals."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from test_trust_refusals import assert_refused, claims_of, poll, tls_request

from common.tls import pem_to_der
from trust.client.certificates import x5t_s256
from trust.client.credentials import DEVICE_CODE, make_key_and_csr
from trust.client.verifier import unverified_header


def test_metadata_advertises_bound_tokens_and_mtls_aliases(federation):
    with federation.client() as c:
        meta = c.get("/.well-known/oauth-authorization-server").json()
        oidc = c.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == federation.issuer
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert meta["mtls_endpoint_aliases"]["token_endpoint"] == f"{federation.issuer}/token"
    assert set(meta["token_endpoint_auth_methods_supported"]) >= {"tls_client_auth",
                                                                  "private_key_jwt"}
    assert "client_secret_basic" not in meta["token_endpoint_auth_methods_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert oidc["jwks_uri"] == meta["jwks_uri"]


def test_client_credentials_over_mtls_gives_a_bound_short_token(members):
    dno = members.dno
    token = dno.access_token(members.fsp_node.url)
    claims = claims_of(token)
    assert claims["iss"] and claims["sub"] == dno.app_id and claims["aud"] == members.fsp_node.url
    assert 0 < claims["exp"] - claims["iat"] <= 600 and claims["jti"]
    assert claims["org_id"] == dno.org_id and claims["roles"] == ["DNO"]
    assert claims["dno_areas"] == ["UKPN_EPN", "UKPN_SPN"]
    assert "assets:read" in claims["scope"].split() and "categories:write" not in claims["scope"]
    assert claims["cnf"]["x5t#S256"] == x5t_s256(pem_to_der(dno.cert.read_text()))
    resp = members.fsp_node.call("GET", "/whoami", token, dno.cert, dno.key)
    assert resp.status_code == 200, resp.text
    assert resp.json()["dno_areas"] == ["UKPN_EPN", "UKPN_SPN"]


def assertion(member, key_path, audience, jti=None, kid=None) -> str:
    key = ECKey.import_key(key_path.read_bytes())
    now = int(time.time())
    header = {"alg": "ES256", **({"kid": kid} if kid else {})}
    return jwt.encode(header, {"iss": member.app_id, "sub": member.app_id, "aud": audience,
                               "iat": now, "exp": now + 60,
                               "jti": jti or secrets.token_urlsafe(8)}, key)


def test_private_key_jwt(members, federation):
    fsp = members.fsp
    _, key = fsp.certificate(fsp.app_id, kind="signing")
    form = {"grant_type": "client_credentials", "audience": members.fsp_node.url,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_id": fsp.app_id}
    signed = assertion(fsp, key, f"{federation.issuer}/token")
    with federation.client() as c:  # no client certificate: the key proves the client
        resp = c.post("/token", data={**form, "client_assertion": signed})
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
        assert "cnf" not in claims_of(token)
        replay = c.post("/token", data={**form, "client_assertion": signed})
        assert_refused(replay, 401, "AUTH-026")
        long_jti = assertion(fsp, key, f"{federation.issuer}/token", jti="j" * 300)
        assert c.post("/token", data={**form, "client_assertion": long_jti}).status_code == 200
        assert_refused(c.post("/token", data={**form, "client_assertion": long_jti}), 401,
                       "AUTH-026")
        stranger = ECKey.generate_key("P-256")
        forged = jwt.encode({"alg": "ES256"}, {**claims_of(signed), "jti": "x1"}, stranger)
        assert_refused(c.post("/token", data={**form, "client_assertion": forged}), 401,
                       "AUTH-026")
    # Unbound: a node refuses it by default (AUTH-047), with or without a certificate.
    assert_refused(members.fsp_node.call("GET", "/assets", token), 401, "AUTH-047")
    assert_refused(members.fsp_node.call("GET", "/assets", token, fsp.cert, fsp.key), 401,
                   "AUTH-047")
    # The same assertion sent over mTLS gives a bound token, which the node accepts.
    with federation.client(fsp.cert, fsp.key) as c:
        signed = assertion(fsp, key, f"{federation.issuer}/token")
        bound = c.post("/token", data={**form, "client_assertion": signed})
    assert bound.status_code == 200, bound.text
    ok = members.fsp_node.call("GET", "/assets", bound.json()["access_token"], fsp.cert, fsp.key)
    assert ok.status_code == 200, ok.text


def test_AUTH_020_machine_client_without_credentials(members, federation):
    with federation.client() as c:
        resp = c.post("/token", data={"grant_type": "client_credentials",
                                      "client_id": members.fsp.app_id})
    assert_refused(resp, 401, "AUTH-020")
    assert resp.json()["error"] == "invalid_client"


def test_AUTH_023_audience_must_be_a_registered_node(members, federation):
    resp = federation.client_credentials(members.fsp.app_id, members.fsp.cert, members.fsp.key,
                                         "https://127.0.0.1:1")
    assert_refused(resp, 400, "AUTH-023")


def test_AUTH_031_unsupported_grant(federation):
    with federation.client() as c:
        assert_refused(c.post("/token", data={"grant_type": "password"}), 400, "AUTH-031")


def test_user_login_with_pkce_and_par(members, federation):
    resp = federation.login(members.fsp.email, members.fsp.password,
                            nonce="nonce-123", resource=members.fsp_node.url,
                            scope="openid assets:read")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    with federation.client() as c:
        keyset = KeySet.import_key_set(c.get("/.well-known/jwks.json").json())
    id_token = jwt.decode(body["id_token"], keyset, algorithms=["ES256"]).claims
    assert id_token["nonce"] == "nonce-123" and id_token["aud"] == federation.state["cli_client_id"]
    assert id_token["email"] == members.fsp.email
    assert body["scope"] == "assets:read"
    # A person's unbound token: refused by a node by default (AUTH-047); see
    # test_trust_exchange.py for a node configured for a browser portal.
    assert_refused(members.fsp_node.call("GET", "/assets", body["access_token"]), 401,
                   "AUTH-047")


def test_AUTH_028_pkce_verifier_must_match(members, federation):
    resp = federation.login(members.fsp.email, members.fsp.password,
                            verifier="not-the-verifier")
    assert_refused(resp, 400, "AUTH-028")


def test_wrong_password_shows_the_login_page_again(members, federation):
    resp = federation.login(members.fsp.email, "wrong-password")
    assert resp.status_code == 401 and "not recognised" in resp.text


def test_device_authorization_grant(members, federation):
    cid = federation.state["cli_client_id"]
    with federation.client() as c:
        start = c.post("/device_authorization", data={"client_id": cid}).json()
        poll = {"grant_type": DEVICE_CODE, "device_code": start["device_code"], "client_id": cid}
        pending = c.post("/token", data=poll)
        assert_refused(pending, 400, "AUTH-027")
        assert pending.json()["error"] == "authorization_pending"
        page = c.get("/device", params={"user_code": start["user_code"]})
        assert page.status_code == 200 and "user_code" in page.text
        approved = c.post("/device", data={"user_code": start["user_code"],
                                           "email": members.dno.email,
                                           "password": members.dno.password})
        assert approved.status_code == 200, approved.text
        time.sleep(start["interval"])
        done = c.post("/token", data=poll)
        assert done.status_code == 200, done.text
        assert claims_of(done.json()["access_token"])["org_id"] == members.dno.org_id
        again = c.post("/token", data=poll)
        assert again.status_code == 400


def test_introspection_and_revocation(members, federation):
    fsp = members.fsp
    token = fsp.access_token(members.fsp_node.url)
    node = members.fsp_node  # introspection is for nodes (AUTH-062)
    with federation.client(node.client_cert, node.client_key) as c:
        seen = c.post("/introspect", data={"token": token, "client_id": node.node_id}).json()
        assert seen["active"] is True and seen["org_id"] == fsp.org_id
    with federation.client(fsp.cert, fsp.key) as c:
        assert c.post("/revoke", data={"token": token, "client_id": fsp.app_id}).status_code == 200
    with federation.client(node.client_cert, node.client_key) as c:
        gone = c.post("/introspect", data={"token": token, "client_id": node.node_id}).json()
        assert gone == {"active": False}


def test_signing_key_rotation_keeps_old_tokens_valid(members, federation):
    fsp = members.fsp
    old = fsp.access_token(members.fsp_node.url)
    subprocess.run([sys.executable, "-m", "trust", "trust", "keys", "rotate", "signing",
                    "--data", str(federation.data)], check=True, capture_output=True)
    new = fsp.access_token(members.fsp_node.url)
    old_kid, new_kid = unverified_header(old)["kid"], unverified_header(new)["kid"]
    assert old_kid != new_kid
    with federation.client() as c:
        kids = {k["kid"] for k in c.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= kids
    # the node refetches the JWKS for an unknown kid at most every 0.5 s: poll for the new key
    resp = poll(lambda: members.fsp_node.call("GET", "/assets", new, fsp.cert, fsp.key),
                lambda r: r.status_code == 200)
    assert resp.status_code == 200, resp.text
    resp = members.fsp_node.call("GET", "/assets", old, fsp.cert, fsp.key)
    assert resp.status_code == 200, resp.text


def test_certificate_renewal_revokes_the_old_one(members, federation):
    fsp = members.fsp
    cert, key = fsp.certificate(fsp.app_id)
    serial = (cert.parent / "serial").read_text()
    new_key, csr = make_key_and_csr()
    with fsp.api() as c:
        resp = c.post(f"/api/certificates/{serial}/renew", json={"csr_pem": csr.decode()})
    assert resp.status_code == 201, resp.text
    new_cert = cert.parent / "renewed.pem"
    new_cert.write_text(resp.json()["pem"])
    (cert.parent / "renewed.key").write_bytes(new_key)
    assert resp.json()["serial"] != serial
    ok = federation.client_credentials(fsp.app_id, new_cert, cert.parent / "renewed.key",
                                       members.fsp_node.url)
    assert ok.status_code == 200, ok.text
    old = federation.client_credentials(fsp.app_id, cert, key, members.fsp_node.url)
    assert_refused(old, 401, "AUTH-021")


def test_certificates_are_published_by_serial(members, federation):
    serial = (members.fsp.cert.parent / "serial").read_text()
    with federation.client() as c:
        resp = c.get(f"/ca/certificates/{serial}")
        missing = c.get("/ca/certificates/abcdef")
    assert resp.status_code == 200 and resp.text == members.fsp.cert.read_text()
    assert resp.headers["x-certificate-status"] == "valid"
    assert_refused(missing, 404, "CA-002")


def test_public_client_cannot_introspect(members, federation):
    token = members.fsp.access_token(members.fsp_node.url)
    with federation.client() as c:
        resp = c.post("/introspect", data={"token": token,
                                           "client_id": federation.state["cli_client_id"]})
    assert_refused(resp, 403, "AUTH-062")


def test_client_id_may_be_the_application_directory_url(members, federation):
    """IB1: the client_id is the directory URL in the client certificate."""
    fsp = members.fsp
    resp = federation.client_credentials(f"{federation.issuer}/a/{fsp.app_id}", fsp.cert,
                                         fsp.key, members.fsp_node.url)
    assert resp.status_code == 200, resp.text
    assert claims_of(resp.json()["access_token"])["sub"] == fsp.app_id
    other = federation.client_credentials(f"{federation.issuer}/a/{members.dno.app_id}",
                                          fsp.cert, fsp.key, members.fsp_node.url)
    assert_refused(other, 401, "AUTH-021")


@pytest.mark.parametrize("server", ["trust", "node"])
def test_servers_speak_tls_13_only(federation, members, server):
    """A TLS 1.2 client is refused in the TLS handshake (before any HTTP request is sent),
    by the trust service and by a node (both serve with common.tls); TLS 1.3 is the
    control. asyncio's TLS server closes the connection without sending its alert, so
    the client sees an EOF in the handshake (or the protocol_version alert, elsewhere)."""
    import ssl

    url = federation.issuer if server == "trust" else members.fsp_node.url
    answer = tls_request(url, federation.ca_bundle, version=ssl.TLSVersion.TLSv1_3)
    assert answer.startswith(b"HTTP/1.1 ")
    with pytest.raises(ssl.SSLError) as refused:
        tls_request(url, federation.ca_bundle, version=ssl.TLSVersion.TLSv1_2)
    assert refused.value.reason in ("UNEXPECTED_EOF_WHILE_READING",
                                    "TLSV1_ALERT_PROTOCOL_VERSION"), refused.value


def test_AUTH_032_repeated_failed_logins_lock_the_account_for_a_while(federation):
    member = federation.register_member("Lockco", ["FSP"])
    for _ in range(5):
        assert federation.login(member.email, "wrong-password").status_code == 401
    locked = federation.login(member.email, member.password)
    assert locked.status_code == 429 and "AUTH-032" in locked.text
