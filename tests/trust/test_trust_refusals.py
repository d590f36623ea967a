"""Every refusal of a node endpoint, over real TLS on loopback, with its stable code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import time
from urllib.parse import quote, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.harness.processes import free_port
from trust.server.ca import init_ca, make_key_and_csr


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def forge(federation, base_token: str, key=None, **changes) -> str:
    """A token like `base_token` with changed claims, signed with the trust framework's key
    (or `key`)."""
    claims = {**claims_of(base_token), **changes}
    signing = key or federation.signing_key()
    return jwt.encode({"alg": "ES256", "kid": signing.kid, "typ": "at+jwt"}, claims, signing)


@pytest.fixture()
def fsp_token(members) -> str:
    return members.fsp.access_token(members.fsp_node.url)


def call(members, token, cert=True, method="GET", path="/assets"):
    fsp = members.fsp
    return members.fsp_node.call(method, path, token, fsp.cert if cert else None,
                                 fsp.key if cert else None)


def assert_refused(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code, body
    assert body["message"]


def test_valid_bound_token_is_accepted(members, fsp_token):
    resp = call(members, fsp_token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["organisation_id"] == members.fsp.org_id
    assert resp.json()["roles"] == ["FSP"]


def test_AUTH_001_no_token(members):
    assert_refused(call(members, None), 401, "AUTH-001")


def test_AUTH_002_garbage_token(members):
    assert_refused(call(members, "not-a-jwt"), 401, "AUTH-002")


def test_AUTH_002_unknown_key(members, federation, fsp_token):
    stranger = ECKey.generate_key("P-256", {"kid": "unknown-kid"})
    assert_refused(call(members, forge(federation, fsp_token, key=stranger)), 401, "AUTH-002")


def test_AUTH_003_expired(members, federation, fsp_token):
    now = int(time.time())
    token = forge(federation, fsp_token, iat=now - 900, nbf=now - 900, exp=now - 300)
    assert_refused(call(members, token), 401, "AUTH-003")


def test_AUTH_004_not_yet_valid(members, federation, fsp_token):
    now = int(time.time())
    token = forge(federation, fsp_token, nbf=now + 300, exp=now + 600)
    assert_refused(call(members, token), 401, "AUTH-004")


def test_AUTH_005_wrong_audience(members):
    token = members.fsp.access_token(members.dno_node.url)  # a real token, for another node
    assert_refused(call(members, token), 401, "AUTH-005")


def test_AUTH_006_wrong_issuer(members, federation, fsp_token):
    token = forge(federation, fsp_token, iss="https://evil.example")
    assert_refused(call(members, token), 401, "AUTH-006")


def test_AUTH_007_bad_signature(members, federation, fsp_token):
    real_kid = federation.signing_key().kid
    impostor = ECKey.generate_key("P-256", {"kid": real_kid})  # same kid, other key
    assert_refused(call(members, forge(federation, fsp_token, key=impostor)), 401, "AUTH-007")
    head, _, sig = fsp_token.split(".")
    tampered_body = b64(json.dumps({**claims_of(fsp_token), "roles": ["NESO"]}).encode())
    assert_refused(call(members, f"{head}.{tampered_body}.{sig}"), 401, "AUTH-007")


def test_AUTH_008_alg_none(members, fsp_token):
    head = b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    body = fsp_token.split(".")[1]
    assert_refused(call(members, f"{head}.{body}."), 401, "AUTH-008")


def test_AUTH_008_hs256_signed_with_the_public_key(members, federation, fsp_token):
    public = federation.signing_key()
    head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": public.kid}).encode())
    body = fsp_token.split(".")[1]
    for secret in (public.as_pem(private=False),
                   json.dumps(public.as_dict(private=False)).encode()):
        sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
        assert_refused(call(members, f"{head}.{body}.{sig}"), 401, "AUTH-008")


def test_AUTH_009_token_bound_to_another_certificate(members, fsp_token):
    other = members.fsp2
    resp = members.fsp_node.call("GET", "/assets", fsp_token, other.cert, other.key)
    assert_refused(resp, 401, "AUTH-009")


def test_AUTH_009_bound_token_without_certificate(members, fsp_token):
    assert_refused(call(members, fsp_token, cert=False), 401, "AUTH-009")


def test_AUTH_009_header_from_untrusted_client_is_ignored(members, fsp_token):
    pem = members.fsp.cert.read_text()
    resp = members.fsp_node.call("GET", "/assets", fsp_token,
                                 headers={"x-client-cert": quote(pem)})
    assert_refused(resp, 401, "AUTH-009")


@pytest.fixture(scope="module")
def stranger_cert(tmp_path_factory):
    """A client certificate from a CA the federation does not know."""
    base = tmp_path_factory.mktemp("stranger")
    other = init_ca(base / "ca", b"stranger-key-encryption-key", name="Stranger")
    key_pem, csr = make_key_and_csr()
    cert = other.sign_csr(csr, kind="client", subject_url="https://stranger.example/a/x",
                          roles=["FSP"])
    from cryptography.hazmat.primitives.serialization import Encoding

    (base / "cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (base / "key.pem").write_bytes(key_pem)
    return base / "cert.pem", base / "key.pem"


@pytest.fixture(scope="module")
def proxied_node(members):
    """A node of the FSP behind a TLS-terminating proxy on 127.0.0.1."""
    node = members.fsp.start_node(free_port(), trusted_proxies=["127.0.0.1"])
    yield node
    node.stop()


def test_AUTH_009_x_forwarded_for_cannot_impersonate_the_trusted_proxy(members):
    """uvicorn rewrites the client address from X-Forwarded-For sent from 127.0.0.1; the
    verifier looks at the real TCP peer instead."""
    node = members.fsp.start_node(free_port(), trusted_proxies=["10.9.9.9"])
    try:
        token = members.fsp.access_token(node.url)
        headers = {"x-client-cert": quote(members.fsp.cert.read_text()),
                   "x-forwarded-for": "10.9.9.9"}
        assert_refused(node.call("GET", "/assets", token, headers=headers), 401, "AUTH-009")
    finally:
        node.stop()


def tls_request(url: str, ca_bundle, cert=None, key=None, *, version=None) -> bytes:
    """One HTTP/1.1 request over a raw TLS socket: the first bytes of the answer, or b""
    when the server ends the connection without one (a TLS alert or a close)."""
    split = urlsplit(url)
    context = ssl.create_default_context(cafile=str(ca_bundle))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    if version is not None:
        context.minimum_version = context.maximum_version = version
    with socket.create_connection((split.hostname, split.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=split.hostname) as tls:
        try:
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {split.netloc}\r\n"
                        "Connection: close\r\n\r\n".encode())
            return tls.recv(64)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            if isinstance(exc, ssl.SSLError) and exc.reason not in (
                    "TLSV1_ALERT_UNKNOWN_CA", "UNEXPECTED_EOF_WHILE_READING"):
                raise
            return b""


def test_AUTH_010_unknown_ca_refused_in_the_tls_handshake(members, stranger_cert):
    """A client certificate from another CA ends the connection in the TLS handshake,
    before any HTTP exchange (so there is no HTTP code to assert). Controls: the same
    exchange without a client certificate, and with the member's certificate from the
    federation CA, both get an HTTP answer."""
    node = members.fsp_node
    with_member_cert = tls_request(node.url, node.ca_bundle, members.fsp.cert, members.fsp.key)
    without_cert = tls_request(node.url, node.ca_bundle)
    assert with_member_cert.startswith(b"HTTP/1.1 ") and without_cert.startswith(b"HTTP/1.1 ")
    assert tls_request(node.url, node.ca_bundle, *stranger_cert) == b""


def test_AUTH_010_unknown_ca_forwarded_by_a_trusted_proxy(members, proxied_node,
                                                         stranger_cert):
    token = members.fsp.access_token(proxied_node.url)
    header = {"x-client-cert": quote(stranger_cert[0].read_text())}
    assert_refused(proxied_node.call("GET", "/assets", token, headers=header), 401, "AUTH-010")


def test_trusted_proxy_forwarded_certificate_is_accepted(members, proxied_node):
    token = members.fsp.access_token(proxied_node.url)
    header = {"x-client-cert": quote(members.fsp.cert.read_text())}
    resp = proxied_node.call("GET", "/assets", token, headers=header)
    assert resp.status_code == 200, resp.text
    other = {"x-client-cert": quote(members.fsp2.cert.read_text())}
    assert_refused(proxied_node.call("GET", "/assets", token, headers=other), 401, "AUTH-009")


def poll(fn, until, timeout: float = 8.0):
    deadline = time.time() + timeout
    while True:
        resp = fn()
        if until(resp) or time.time() > deadline:
            return resp
        time.sleep(0.3)


def test_AUTH_011_revoked_certificate(members, federation):
    fsp = members.fsp
    cert, key = fsp.certificate(fsp.app_id)
    token = fsp.access_token(members.fsp_node.url, cert=cert, key=key)
    assert members.fsp_node.call("GET", "/assets", token, cert, key).status_code == 200
    serial = (cert.parent / "serial").read_text()
    with fsp.api() as c:
        assert c.post(f"/api/certificates/{serial}/revoke").status_code == 200
    resp = poll(lambda: members.fsp_node.call("GET", "/assets", token, cert, key),
                lambda r: r.status_code == 401)
    assert_refused(resp, 401, "AUTH-011")
    # and the token endpoint refuses the revoked certificate at once
    refused = federation.client_credentials(fsp.app_id, cert, key, members.fsp_node.url)
    assert_refused(refused, 401, "AUTH-021")


def test_AUTH_012_suspended_organisation(members, federation):
    member = federation.register_member("Suspendco", ["FSP"])
    token = member.access_token(members.fsp_node.url)
    ok = members.fsp_node.call("GET", "/assets", token, member.cert, member.key)
    assert ok.status_code == 200, ok.text
    with federation.client(token=federation.operator_token()) as c:
        resp = c.post(f"/api/orgs/{member.org_id}/status",
                      json={"status": "Suspended", "reason": "test"})
        assert resp.status_code == 200, resp.text
    # the node's status cache lives 2 s in these tests; poll() gives up after 8 s
    resp = poll(lambda: members.fsp_node.call("GET", "/assets", token, member.cert, member.key),
                lambda r: r.status_code == 401)
    assert_refused(resp, 401, "AUTH-012")
    refused = federation.client_credentials(member.app_id, member.cert, member.key,
                                            members.fsp_node.url)
    assert_refused(refused, 401, "AUTH-025")


def test_POL_001_scope_the_client_does_not_hold(members):
    token = members.fsp.access_token(members.fsp_node.url, scope="assets:read")
    assert call(members, token).status_code == 200
    resp = call(members, token, method="POST")
    assert_refused(resp, 403, "POL-001")
    assert resp.json()["details"] == {"missing_scopes": ["assets:write"]}


def test_AUTH_022_client_cannot_request_a_scope_its_roles_do_not_give(members, federation):
    resp = federation.client_credentials(members.dno.app_id, members.dno.cert, members.dno.key,
                                         members.fsp_node.url, "categories:write")
    assert_refused(resp, 400, "AUTH-022")
    assert resp.json()["error"] == "invalid_scope"


def test_AUTH_010_a_server_certificate_is_not_a_client_certificate(members, proxied_node):
    token = members.fsp.access_token(proxied_node.url)
    server_pem = (proxied_node.base / "server.pem").read_text()
    resp = proxied_node.call("GET", "/assets", token, headers={"x-client-cert": quote(server_pem)})
    assert_refused(resp, 401, "AUTH-010")
