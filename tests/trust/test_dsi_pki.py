"""IB1 member-identity-digital-certificates/1.0 and directory-issued-server-tls-certificates
/1.0: the served chains and certificates, parsed with `cryptography` and checked field by
field against the specs' profiles (docs/trust.md, "PKI")."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import timedelta
from http.client import HTTPSConnection
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from test_trust_refusals import assert_refused

from common.roles import role_iri
from tests.harness import directory as helpers
from tests.harness.processes import ROOT, free_port
from trust.client import der
from trust.client.certificates import MEMBER_OID, ROLE_OID, san_uris
from trust.client.credentials import make_key_and_csr
from trust.server.ca import KINDS, OPERATOR_ROLE, init_ca, load_ca
from trust.server.errors import ApiError

KEK = b"test-key-encryption-key"
TITLES = {"client": "Client", "signing": "Signing", "server": "Server"}


def _chain(federation: helpers.Federation, kind: str) -> tuple[x509.Certificate,
                                                               x509.Certificate]:
    with federation.client() as c:
        resp = c.get(f"/ca/{kind}/chain.pem")
    assert resp.status_code == 200, resp.text
    issuer, root = x509.load_pem_x509_certificates(resp.content)
    return issuer, root


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ib1_roles(cert: x509.Certificate) -> list[str]:
    raw = cert.extensions.get_extension_for_oid(ROLE_OID).value
    assert isinstance(raw, x509.UnrecognizedExtension)
    assert raw.value != b"\x30\x00"  # never an empty SEQUENCE
    return der.decode_sequence_of_utf8(raw.value)


def test_DSI_PKI_001_client_signing_and_server_hierarchies_are_separate(federation):
    chains = {kind: _chain(federation, kind) for kind in KINDS}
    roots = {kind: root for kind, (_, root) in chains.items()}
    # three distinct roots, with distinct keys, each named after its hierarchy
    assert len({r.public_key().public_numbers() for r in roots.values()}) == 3  # type: ignore[union-attr]
    for kind, (issuer, root) in chains.items():
        assert _cn(root.subject).endswith(f"{TITLES[kind]} CA")
        assert _cn(issuer.subject).endswith(f"{TITLES[kind]} Issuer")
        assert _issued_by(issuer, root)
        assert not any(_issued_by(issuer, other) for k, other in roots.items() if k != kind)
    # the federation bundle holds the three chains, the client one first
    with federation.client() as c:
        bundle = x509.load_pem_x509_certificates(c.get("/ca/chain.pem").content)
    assert bundle[:2] == list(chains["client"])
    assert {cert.serial_number for cert in bundle} == {
        cert.serial_number for pair in chains.values() for cert in pair}
    with federation.client() as c:
        assert_refused(c.get("/ca/other/chain.pem"), 404, "DSI-PKI-001")


def test_DSI_PKI_002_roots_are_p384_for_9132_days_and_issuers_p256(federation):
    for kind in KINDS:
        issuer, root = _chain(federation, kind)
        key = root.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
        life = root.not_valid_after_utc - root.not_valid_before_utc
        assert timedelta(days=9132) <= life <= timedelta(days=9132, minutes=10)
        assert root.subject == root.issuer and _issued_by(root, root)
        basic = _ext(root, x509.BasicConstraints)
        assert basic.critical and basic.value.ca and basic.value.path_length is None
        usage = _ext(root, x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
        assert not usage.value.digital_signature
        ski = _ext(root, x509.SubjectKeyIdentifier).value
        # issuer: P-256, a subordinate CA of path length 0, its AKI the root's SKI
        ikey = issuer.public_key()
        assert isinstance(ikey, ec.EllipticCurvePublicKey) and ikey.curve.name == "secp256r1"
        ibasic = _ext(issuer, x509.BasicConstraints)
        assert ibasic.critical and ibasic.value.ca and ibasic.value.path_length == 0
        assert _ext(issuer, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
        _ext(issuer, x509.SubjectKeyIdentifier)
        # validity: a member certificate's plus the regeneration period
        ilife = issuer.not_valid_after_utc - issuer.not_valid_before_utc
        assert ilife >= timedelta(days=366 if kind == "server" else 730)


def _member_profile(cert: x509.Certificate, federation: helpers.Federation,
                    member: helpers.Member, app_url: str) -> None:
    """The IB1 client/signing profile: names, SAN, ib1Roles, ib1Member and the rest."""
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "GB"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert _cn(cert.subject) == app_url and san_uris(cert) == [app_url]
    assert _ib1_roles(cert) == [role_iri(r) for r in member.roles]
    member_ext = cert.extensions.get_extension_for_oid(MEMBER_OID).value
    assert isinstance(member_ext, x509.UnrecognizedExtension)
    assert der.decode_utf8(member_ext.value) == f"{federation.issuer}/m/{member.org_id}"
    basic = _ext(cert, x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    assert _ext(cert, x509.KeyUsage).critical
    _ext(cert, x509.SubjectKeyIdentifier)
    _ext(cert, x509.AuthorityKeyIdentifier)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=365) <= life <= timedelta(days=365, minutes=10)


def test_DSI_PKI_003_client_certificates_follow_the_ib1_profile(federation, members):
    fsp = members.fsp
    cert = x509.load_pem_x509_certificate(fsp.cert.read_bytes())
    _member_profile(cert, federation, fsp, f"{federation.issuer}/a/{fsp.app_id}")
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    issuers = {kind: _chain(federation, kind)[0] for kind in KINDS}
    assert _issued_by(cert, issuers["client"])
    assert not _issued_by(cert, issuers["signing"]) and not _issued_by(cert, issuers["server"])


def test_DSI_PKI_004_signing_certificates_chain_to_the_signing_root(federation, members):
    fsp = members.fsp
    path, _ = fsp.certificate(fsp.app_id, kind="signing")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    _member_profile(cert, federation, fsp, f"{federation.issuer}/a/{fsp.app_id}")
    usage = _ext(cert, x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    issuer, root = _chain(federation, "signing")
    assert _issued_by(cert, issuer) and _issued_by(issuer, root)
    assert not _issued_by(cert, _chain(federation, "client")[0])
    # a signing certificate is not a client identity: no token for it over mTLS
    assert_refused(federation.client_credentials(fsp.app_id, path, path.parent / "client.key",
                                                 members.fsp_node.url), 401, "AUTH-021")
    # its CRL is the signing issuer's: a revoked signing certificate is listed there only
    serial = (path.parent / "serial").read_text()
    with fsp.api() as c:
        assert c.post(f"/api/certificates/{serial}/revoke").status_code == 200
    with federation.client() as c:
        signing_crl = x509.load_der_x509_crl(c.get("/ca/crl/signing").content)
        client_crl = x509.load_der_x509_crl(c.get("/ca/crl").content)
    assert signing_crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert signing_crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert client_crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None


def test_DSI_PKI_005_ib1_roles_carry_role_urls_never_an_empty_sequence(federation, members):
    node = members.fsp_node  # a node's own client certificate: its organisation's roles
    cert = x509.load_pem_x509_certificate(Path(node.client_cert or "").read_bytes())
    assert _ib1_roles(cert) == [role_iri(r) for r in members.fsp.roles]
    assert san_uris(cert) == [f"{federation.issuer}/n/{node.node_id}"]
    # the operator's own client (an organisation without member roles): the operator role
    operator = x509.load_pem_x509_certificate(
        (federation.data / "operator" / "client.pem").read_bytes())
    assert _ib1_roles(operator) == [OPERATOR_ROLE]
    assert all(r.startswith("https://") for r in _ib1_roles(operator) + _ib1_roles(cert))


def test_DSI_PKI_010_no_client_or_signing_certificate_without_a_role(tmp_path):
    ca = init_ca(tmp_path / "ca", KEK)
    _, csr = make_key_and_csr()
    for kind in ("client", "signing"):
        with pytest.raises(ApiError) as refused:
            ca.sign_csr(csr, kind=kind, subject_url="https://tf.example/a/APP-1", roles=[])
        assert refused.value.code == "DSI-PKI-010"
    # control: with a role the same request is signed
    cert = ca.sign_csr(csr, kind="client", subject_url="https://tf.example/a/APP-1",
                       roles=["FSP"])
    assert _ib1_roles(cert) == [role_iri("FSP")]


def _served_certificate(url: str, ca_bundle: Path) -> x509.Certificate:
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(ca_bundle))
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der_bytes = tls.getpeercert(binary_form=True)
    assert der_bytes is not None
    return x509.load_der_x509_certificate(der_bytes)


def _server_profile(cert: x509.Certificate, host: str, issuer: x509.Certificate) -> None:
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert life <= timedelta(hours=24, minutes=5)  # 24 h, dated 5 minutes back for clocks
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(hours=23)
    assert _cn(cert.subject) == host
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert host in [str(v) for v in (*san.get_values_for_type(x509.DNSName),
                                     *san.get_values_for_type(x509.IPAddress))]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == []
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _ext(cert, x509.KeyUsage).value.digital_signature
    assert not _ext(cert, x509.BasicConstraints).value.ca
    _ext(cert, x509.SubjectKeyIdentifier)
    _ext(cert, x509.AuthorityKeyIdentifier)
    oids = {e.oid for e in cert.extensions}
    assert ROLE_OID not in oids and MEMBER_OID not in oids
    assert _issued_by(cert, issuer)


def test_DSI_PKI_006_server_certificates_are_short_lived_and_of_the_server_hierarchy(
        federation, members):
    server_issuer, _ = _chain(federation, "server")
    node = members.fsp_node
    _server_profile(_served_certificate(node.url, federation.ca_bundle), "127.0.0.1",
                    server_issuer)
    # the trust service's own TLS certificate too
    _server_profile(_served_certificate(federation.issuer, federation.ca_bundle), "127.0.0.1",
                    server_issuer)
    assert not _issued_by(_served_certificate(node.url, federation.ca_bundle),
                          _chain(federation, "client")[0])


def test_DSI_PKI_007_issuing_works_with_the_root_keys_offline(tmp_path):
    """`fmar trust init --export-root-keys` makes the hierarchies and moves the roots' keys
    away; the CA then issues all three kinds with its issuers' keys alone, chains verify;
    an issuer is regenerated with a root key brought back for the occasion."""
    data, offline = tmp_path / "trust", tmp_path / "offline"
    env = {**os.environ, "FMAR_TRUST_KEK": KEK.decode(), "FMAR_ADMIN_PASSWORD": "pw-0123456789"}
    done = subprocess.run([sys.executable, "-m", "trust", "trust", "init", "--data", str(data),
                           "--admin-email", "op@tf.example", "--export-root-keys",
                           str(offline)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert sorted(Path(p).name for p in state["root_keys"]) == [
        "client-root.key", "server-root.key", "signing-root.key"]
    assert not list((data / "ca").rglob("root.key"))  # nothing of a root key stays
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in offline.iterdir())
    ca = load_ca(data / "ca", KEK)
    _, csr = make_key_and_csr()
    for kind in KINDS:
        cert = ca.sign_csr(csr, kind=kind, subject_url="https://tf.example/a/APP-1",
                           roles=["FSP"], dns_names=["node.example"])
        hierarchy = ca.of(kind)
        assert _issued_by(cert, hierarchy.issuer) and _issued_by(hierarchy.issuer,
                                                                 hierarchy.root)
    # regenerating an issuer needs the root key back: refused with the wrong root's key
    old_issuer = ca.of("server").issuer
    wrong = subprocess.run([sys.executable, "-m", "trust", "trust", "ca", "new-issuer",
                            "server", "--root-key", str(offline / "client-root.key"),
                            "--data", str(data)], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert wrong.returncode == 2 and "KEY-003" in wrong.stderr
    again = subprocess.run([sys.executable, "-m", "trust", "trust", "ca", "new-issuer",
                            "server", "--root-key", str(offline / "server-root.key"),
                            "--data", str(data)], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    fresh = load_ca(data / "ca", KEK).of("server")
    assert fresh.issuer.serial_number != old_issuer.serial_number
    assert _issued_by(fresh.issuer, fresh.root) and fresh.root == ca.of("server").root
    cert = load_ca(data / "ca", KEK).sign_csr(csr, kind="server", dns_names=["node.example"])
    assert _issued_by(cert, fresh.issuer)
    bundle = x509.load_pem_x509_certificates((data / "ca" / "chain.pem").read_bytes())
    assert {fresh.issuer.serial_number, old_issuer.serial_number} <= {
        c.serial_number for c in bundle}  # the old issuer's certificates still verify


def _start_renewing_node(federation: helpers.Federation, member: helpers.Member,
                         port: int) -> helpers.TrustTestNode:
    url = f"https://127.0.0.1:{port}"
    node_id = member.register_node(url)
    base = federation.work / f"renewing-{port}"
    member.node_certificate(node_id, "server", base)
    client_cert, client_key = member.node_certificate(node_id, "client", base)
    cfg = {"issuer": federation.issuer, "audience": url, "ca_bundle": str(federation.ca_bundle),
           "server_cert": str(base / "server.pem"), "server_key": str(base / "server.key"),
           "port": port, "active_records": str(base / "active.json"),
           "renew": {"node_id": node_id, "client_cert": str(client_cert),
                     "client_key": str(client_key)}}
    return helpers.TrustTestNode.start("tests/trust/nodeapp.py", cfg, url, node_id, base,
                                       federation.ca_bundle, client_cert, client_key)


def _peer(conn: HTTPSConnection) -> x509.Certificate:
    assert isinstance(conn.sock, ssl.SSLSocket)
    der_bytes = conn.sock.getpeercert(binary_form=True)
    assert der_bytes is not None
    return x509.load_der_x509_certificate(der_bytes)


def test_DSI_PKI_020_a_serving_node_renews_its_server_certificate(federation, members):
    """The node renews its 24-hour certificate itself (SIGHUP: now) with its node client
    certificate; an open connection keeps working, a new one sees the new certificate."""
    fsp = members.fsp
    node = _start_renewing_node(federation, fsp, free_port())
    try:
        context = ssl.create_default_context(cafile=str(federation.ca_bundle))
        kept = HTTPSConnection("127.0.0.1", int(node.url.rsplit(":", 1)[1]), context=context,
                               timeout=10)
        kept.request("GET", "/docs")
        first = kept.getresponse()
        first.read()
        assert first.status == 200
        before = _peer(kept)
        files = node.base / "server.pem"
        assert x509.load_pem_x509_certificate(files.read_bytes()) == before
        os.kill(node.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while x509.load_pem_x509_certificate(files.read_bytes()) == before:
            assert time.monotonic() < deadline, (node.base / "node.log").read_text()[-2000:]
            time.sleep(0.2)
        renewed = x509.load_pem_x509_certificate(files.read_bytes())
        # the open connection carries on, with the certificate it started with
        kept.request("GET", "/docs")
        second = kept.getresponse()
        second.read()
        assert second.status == 200 and _peer(kept) == before
        kept.close()
        # a new connection gets the renewed certificate (loaded without a restart)
        seen = _served_certificate(node.url, federation.ca_bundle)
        assert seen == renewed != before and node.proc.poll() is None
        assert seen.public_key() != before.public_key()  # a new key too
        _server_profile(seen, "127.0.0.1", _chain(federation, "server")[0])
        # and TLS with it works end to end: an authenticated call
        token = fsp.access_token(node.url)
        assert node.call("GET", "/assets", token, fsp.cert, fsp.key).status_code == 200
    finally:
        node.stop()


def test_DSI_PKI_021_only_the_node_itself_renews_its_server_certificate(federation, members):
    node, fsp = members.fsp_node, members.fsp
    _, csr = make_key_and_csr()
    body = {"csr_pem": csr.decode()}
    path = f"/api/nodes/{node.node_id}/server-certificate"
    with federation.client() as c:  # no certificate
        assert_refused(c.post(path, json=body), 401, "AUTH-040")
    with federation.client(fsp.cert, fsp.key) as c:  # an application of the same member
        assert_refused(c.post(path, json=body), 401, "AUTH-021")
        assert_refused(c.post(f"/api/nodes/{fsp.app_id}/server-certificate", json=body), 401,
                       "DSI-PKI-021")
    other = members.dno_node  # another node's identity
    with federation.client(other.client_cert, other.client_key) as c:
        assert_refused(c.post(path, json=body), 401, "AUTH-021")
    with federation.client(node.client_cert, node.client_key) as c:  # control: the node
        resp = c.post(path, json=body)
    assert resp.status_code == 201, resp.text
    cert = x509.load_pem_x509_certificate(resp.json()["pem"].encode())
    _server_profile(cert, "127.0.0.1", _chain(federation, "server")[0])
    assert x509.load_pem_x509_certificates(resp.json()["chain_pem"].encode()) == list(
        _chain(federation, "server"))


def test_DSI_PKI_022_the_trust_service_renews_its_own_server_certificate(federation,
                                                                         tmp_path):
    from cryptography.hazmat.primitives import serialization

    from trust.server.bootstrap import settings_for
    from trust.server.selftls import renew_own
    from trust.server.service import create_app

    app = create_app(settings_for(federation.data))
    try:
        cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
        served = (federation.data / "tls" / "server.pem").read_bytes()
        cert_file.write_bytes(served)
        key_file.write_bytes((federation.data / "tls" / "server.key").read_bytes())
        assert not renew_own(app, cert_file, key_file)  # fresh: nothing to do
        assert cert_file.read_bytes() == served
        # a certificate with a third of its life left is renewed, for the same names
        key_pem, csr = make_key_and_csr()
        old = app.state.ca.sign_csr(csr, kind="server", dns_names=["127.0.0.1", "localhost"],
                                    lifetime=timedelta(seconds=30))
        cert_file.write_bytes(old.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key_pem)
        assert renew_own(app, cert_file, key_file)
        renewed = x509.load_pem_x509_certificate(cert_file.read_bytes())
        assert renewed.serial_number != old.serial_number
        assert renewed.public_key() != old.public_key()
        _server_profile(renewed, "127.0.0.1", _chain(federation, "server")[0])
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    finally:
        app.state.engine.dispose()
