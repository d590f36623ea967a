"""Certificate authority: a root, an issuer, and ECDSA P-256 leaves signed from CSRs."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trust.client import der
from trust.server import keystore
from trust.server.config import TrustSettings
from trust.server.errors import ApiError
from trust.server.keystore import FileSigner, Signer
from common.roles import role_iri, role_name

ROLE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.62329.1.1")
MEMBER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.62329.1.3")
LEAF_DAYS = {"client": 365, "signing": 365, "server": 365}


def x5t_s256(cert_der: bytes) -> str:
    """RFC 8705 thumbprint: base64url SHA-256 of the DER certificate, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(cert_der).digest()).rstrip(b"=").decode()


def _now() -> datetime:
    return datetime.now(UTC)


def _name(common_name: str, org: str = "FMAR Trust Framework") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, kek: bytes) -> None:
    keystore.write_secret(path, keystore.seal(key, kek))


def _ski(key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


@dataclass
class CertificateAuthority:
    root: x509.Certificate
    issuer: x509.Certificate
    signer: Signer  # the issuer CA's key
    crl_url: str | None = None

    @property
    def chain_pem(self) -> bytes:
        return (self.issuer.public_bytes(serialization.Encoding.PEM)
                + self.root.public_bytes(serialization.Encoding.PEM))

    def sign_csr(self, csr_pem: str | bytes, *, kind: str, subject_url: str | None = None,
                 organisation: str | None = None, country: str = "GB",
                 roles: list[str] | None = None, member_url: str | None = None,
                 dns_names: list[str] | None = None, days: int | None = None) -> x509.Certificate:
        """Sign a CSR: only its public key is used; subject and extensions are the CA's.

        Client and signing certificates (IB1 profile): C, O = the member, CN and SAN URI =
        the application's directory URL, ib1Roles (role IRIs) and ib1Member. Server
        certificates: CN and SAN = the DNS names (or IP addresses) only.
        """
        if kind not in LEAF_DAYS:
            raise ApiError(422, "CA-001", f"Unknown certificate kind {kind!r}.")
        key = _csr_key(csr_pem)
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .issuer_name(self.issuer.subject)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days or LEAF_DAYS[kind]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_ski(key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.signer.public_key()), critical=False)
        )
        if kind == "server":
            names = list(dns_names or [])
            if not names:
                raise ApiError(422, "CA-001", "A server certificate needs a DNS name.")
            builder = builder.subject_name(x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [_general_name(n) for n in names]), critical=False)
        else:
            if not subject_url:
                raise ApiError(422, "CA-001", "A client or signing certificate names its "
                               "application.")
            attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
            if organisation:
                attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]))
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject_url[:64]))
            builder = builder.subject_name(x509.Name(attrs)).add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(subject_url)]),
                critical=False)
            builder = builder.add_extension(x509.UnrecognizedExtension(
                ROLE_OID, der.sequence_of_utf8([role_iri(r) for r in roles or []])),
                critical=False)
            if member_url:
                builder = builder.add_extension(
                    x509.UnrecognizedExtension(MEMBER_OID, der.utf8_string(member_url)),
                    critical=False)
        if kind == "signing":
            usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
        else:
            usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
            eku = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else \
                ExtendedKeyUsageOID.CLIENT_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        builder = builder.add_extension(usage, critical=True)
        if self.crl_url:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(self.crl_url)], None, None, None)]),
                critical=False)
        return keystore.sign_certificate(builder, self.signer)

    def crl(self, revoked: list[tuple[int, datetime]], next_update_minutes: int = 60) -> x509.CertificateRevocationList:
        now = _now()
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.issuer.subject)
                   .last_update(now - timedelta(minutes=1))
                   .next_update(now + timedelta(minutes=next_update_minutes)))
        for serial, at in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(at).build())
        return keystore.sign_crl(builder, self.signer)


def _csr_key(csr_pem: str | bytes) -> ec.EllipticCurvePublicKey:
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
    except ValueError as exc:
        raise ApiError(422, "CA-001", "The CSR is not a PEM certificate request.") from exc
    if not csr.is_signature_valid:
        raise ApiError(422, "CA-001", "The CSR signature is not valid.")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ApiError(422, "CA-001", "The CSR key must be ECDSA P-256.")
    return key


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _general_name(name: str) -> x509.GeneralName:
    """An IP address, or a host name of RFC 1123 labels (letters, digits, inner hyphens,
    1-63 characters each, 253 in all, no trailing dot, no wildcard); else CA-004."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    labels = name.lower().split(".")
    if (len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels)
            or labels[-1].isdigit()):
        raise ApiError(422, "CA-004", "A server certificate names IP addresses or host names "
                       "of RFC 1123 labels only.", {"name": name[:300]})
    return x509.DNSName(name.lower())


ISSUER_KID = "issuer"


def init_ca(ca_dir: Path, kek: bytes, name: str = "FMAR",
            settings: TrustSettings | None = None) -> CertificateAuthority:
    """Create a root and an issuer (once); their keys are written 0600 in `ca_dir`,
    encrypted with the KEK. With an external signer (`settings.signer`) the issuer key is
    made by it instead, and the issuer certificate is for its public key."""
    ca_dir.mkdir(parents=True, exist_ok=True)
    if (ca_dir / "issuer.pem").exists():
        return load_ca(ca_dir, kek, settings=settings)
    now = _now()
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = (
        x509.CertificateBuilder().subject_name(_name(f"{name} Root CA"))
        .issuer_name(_name(f"{name} Root CA")).public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(_ski(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA384())
    )
    if settings is not None and settings.signer:
        signer: Signer = keystore.external_signer(settings, keystore.CA_ISSUER, ISSUER_KID,
                                                  create=True)
    else:
        issuer_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(ca_dir / "issuer.key", issuer_key, kek)
        signer = FileSigner(ISSUER_KID, issuer_key)
    issuer = (
        x509.CertificateBuilder().subject_name(_name(f"{name} Issuer CA"))
        .issuer_name(root.subject).public_key(signer.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(_ski(signer.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA384())
    )
    _write_key(ca_dir / "root.key", root_key, kek)
    (ca_dir / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (ca_dir / "issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    ca = CertificateAuthority(root, issuer, signer)
    (ca_dir / "chain.pem").write_bytes(ca.chain_pem)
    return ca


def load_ca(ca_dir: Path, kek: bytes | None, crl_url: str | None = None,
            settings: TrustSettings | None = None) -> CertificateAuthority:
    """The CA of `ca_dir`, signing through a FileSigner over its sealed issuer key, or
    through the external signer of `settings.signer`; either must hold the key of
    issuer.pem (KEY-003)."""
    issuer = x509.load_pem_x509_certificate((ca_dir / "issuer.pem").read_bytes())
    if settings is not None and settings.signer:
        signer = keystore.external_signer(settings, keystore.CA_ISSUER, ISSUER_KID,
                                          create=False)
    elif (ca_dir / "issuer.key").exists() and kek is not None:
        signer = FileSigner(ISSUER_KID, keystore.unseal((ca_dir / "issuer.key").read_bytes(),
                                                        kek))
    else:
        raise keystore.KeyStoreError("KEY-003", f"No {ca_dir / 'issuer.key'}: the issuer CA "
                                     "key is held by an external signer; set "
                                     f"{keystore.SIGNER_ENV} to its factory.")
    if signer.public_key() != issuer.public_key():
        raise keystore.KeyStoreError("KEY-003", "The issuer CA's signer holds another key "
                                     "than the one certified in issuer.pem.")
    return CertificateAuthority(
        root=x509.load_pem_x509_certificate((ca_dir / "root.pem").read_bytes()),
        issuer=issuer, signer=signer, crl_url=crl_url)


def make_key_and_csr(common_name: str = "fmar-client") -> tuple[bytes, bytes]:
    """Client side of `fmar cert request`: a new P-256 key (PEM) and its CSR (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def roles_of(cert: x509.Certificate) -> list[str]:
    """Role names from the ib1Roles extension (which holds role IRIs)."""
    raw = _private_extension(cert, ROLE_OID)
    return [] if raw is None else [role_name(iri) for iri in der.decode_sequence_of_utf8(raw)]


def member_of(cert: x509.Certificate) -> str | None:
    raw = _private_extension(cert, MEMBER_OID)
    return None if raw is None else der.decode_utf8(raw)


def _private_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    """The DER value of an extension of ours (one cryptography does not parse), if present."""
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    if not isinstance(value, x509.UnrecognizedExtension):
        raise TypeError(f"The extension {oid.dotted_string} is not a private one")
    return value.value


def san_uris(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.UniformResourceIdentifier)
