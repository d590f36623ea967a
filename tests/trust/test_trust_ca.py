"""The certificate authority, without a server."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trust.client import der
from trust.client.certificates import ROLE_OID, member_of, roles_of, san_uris
from trust.client.credentials import make_key_and_csr
from trust.server.ca import init_ca, load_ca
from trust.server.errors import ApiError

KEK = b"test-key-encryption-key"


@pytest.fixture()
def ca(tmp_path):
    return init_ca(tmp_path / "ca", KEK)


def test_leaf_names_and_ib1_extensions(ca):
    key_pem, csr = make_key_and_csr("whatever-the-client-asks")
    cert = ca.sign_csr(csr, kind="client", subject_url="https://tf.example/a/APP-1",
                       organisation="Flexco Ltd", roles=["FSP", "Aggregator"],
                       member_url="https://tf.example/m/ORG-1")
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "https://tf.example/a/APP-1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Flexco Ltd"
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "GB"
    assert san_uris(cert) == ["https://tf.example/a/APP-1"]
    assert roles_of(cert) == ["FSP", "Aggregator"]
    raw = cert.extensions.get_extension_for_oid(ROLE_OID).value.value
    assert der.decode_sequence_of_utf8(raw)[0] == "https://id.fmar.uk/def/code/OrganisationRole/FSP"
    assert member_of(cert) == "https://tf.example/m/ORG-1"
    assert not cert.extensions.get_extension_for_oid(ROLE_OID).critical
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(ca.issuer)
    ca.issuer.verify_directly_issued_by(ca.root)
    # only the CSR's public key is used: the private key never reached the CA
    private = serialization.load_pem_private_key(key_pem, None)
    assert private.public_key().public_numbers() == cert.public_key().public_numbers()


def test_server_certificate_names_only_the_host(ca):
    _, csr = make_key_and_csr()
    cert = ca.sign_csr(csr, kind="server", dns_names=["node.example", "127.0.0.1"])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node.example"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["node.example"]
    assert san_uris(cert) == [] and roles_of(cert) == [] and member_of(cert) is None
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_csr_with_another_curve_is_refused(ca):
    key = ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
           .sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ApiError) as err:
        ca.sign_csr(csr, kind="client", subject_url="https://tf.example/a/x")
    assert err.value.code == "CA-001"


def test_garbage_csr_is_refused(ca):
    with pytest.raises(ApiError) as err:
        ca.sign_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST"
                    b"-----\n", kind="client", subject_url="https://tf.example/a/x")
    assert err.value.code == "CA-001"


def test_crl_lists_revoked_serials_and_is_signed_by_the_issuer(ca):
    from datetime import UTC, datetime

    crl = ca.crl([(1234, datetime.now(UTC))])
    assert crl.is_signature_valid(ca.issuer.public_key())
    assert crl.get_revoked_certificate_by_serial_number(1234) is not None
    assert crl.get_revoked_certificate_by_serial_number(99) is None


def test_init_is_idempotent_and_keys_are_private(tmp_path):
    first = init_ca(tmp_path / "ca", KEK)
    again = init_ca(tmp_path / "ca", KEK)
    assert first.root.fingerprint(hashes.SHA256()) == again.root.fingerprint(hashes.SHA256())
    assert oct((tmp_path / "ca" / "client" / "issuer.key").stat().st_mode & 0o777) == "0o600"
    assert load_ca(tmp_path / "ca", KEK).issuer == first.issuer


def test_der_round_trip():
    long_value = "r" * 300
    assert der.decode_sequence_of_utf8(der.sequence_of_utf8(["FSP", long_value])) == [
        "FSP", long_value]
    assert der.decode_utf8(der.utf8_string("https://x/m/1")) == "https://x/m/1"


def test_node_verifier_settings_from_environment(tmp_path):
    from node.config import NodeSettings
    from node.trust_auth import verifier_config

    def verifier_from(env: dict[str, str]):  # type: ignore[no-untyped-def]
        return verifier_config(NodeSettings(**env))

    env = {"FMAR_TRUST_ISSUER": "https://tf.example/", "FMAR_NODE_URL": "https://n.example",
           "FMAR_CA_BUNDLE": str(tmp_path / "chain.pem"), "FMAR_TRUSTED_PROXIES": "10.0.0.1, ::1",
           "FMAR_REQUIRE_BINDING": "1"}
    cfg = verifier_from(env)
    assert cfg.issuer == "https://tf.example" and cfg.audience == "https://n.example"
    assert cfg.trusted_proxies == frozenset({"10.0.0.1", "::1"}) and cfg.require_binding
    defaults = verifier_from({k: v for k, v in env.items() if k != "FMAR_REQUIRE_BINDING"})
    assert defaults.require_binding and not defaults.unbound_user_tokens  # bound by default
    assert defaults.revocation_ttl == 5
    portal = verifier_from({**env, "FMAR_REQUIRE_BINDING": "0",
                              "FMAR_UNBOUND_USER_TOKENS": "1"})
    assert not portal.require_binding and portal.unbound_user_tokens
    with pytest.raises(ValueError, match="FMAR_NODE_URL"):
        verifier_from({k: v for k, v in env.items() if k != "FMAR_NODE_URL"})
