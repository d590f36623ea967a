"""Certificate authority: three separate hierarchies (IB1 member-identity-digital-certificates
/1.0 and directory-issued-server-tls-certificates/1.0), each an offline P-384 root and a
P-256 issuer, signing ECDSA P-256 leaves from CSRs:

- `client`: mTLS identities of applications and nodes (CN, SAN URI = directory URL);
- `signing`: signatures over data at rest (provenance records);
- `server`: short-lived TLS server certificates (24 h at most, renewed by the nodes).

The roots' keys are used only at `init` (and to regenerate an issuer); `fmar trust ca
export-root-keys` moves them out of the data directory, and issuing needs only the issuers'
keys. Layout: `ca/<kind>/{root.pem,root.key,issuer.pem,issuer.key,chain.pem}` and
`ca/chain.pem`, the three chains together (the bundle every participant trusts)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.roles import role_iri
from trust.client import der
from trust.client.certificates import MEMBER_OID, ROLE_OID
from trust.client.credentials import write_secret
from trust.server import keystore
from trust.server.config import TrustSettings
from trust.server.errors import ApiError
from trust.server.keystore import FileSigner, Signer

KINDS = ("client", "signing", "server")  # client first: chain.pem starts with its issuer
LEAF_DAYS = {"client": 365, "signing": 365, "server": 1}
SERVER_MAX = timedelta(hours=24)  # directory-issued-server-tls-certificates/1.0
ROOT_DAYS = 9132  # about 25 years, the IB1 root profile
# Issuer validity = the longest leaf + the period after which the issuer is regenerated
# (RFC 5280 path validation: a leaf never outlives its issuer).
REGENERATE_DAYS = {"client": 365, "signing": 365, "server": 365}
ISSUER_EKU = {"client": [ExtendedKeyUsageOID.CLIENT_AUTH],
              "server": [ExtendedKeyUsageOID.SERVER_AUTH], "signing": None}
# The ib1Roles of a certificate of the operator's own clients, which hold no member role.
OPERATOR_ROLE = "https://id.fmar.uk/def/code/OrganisationRole/TrustFrameworkOperator"


def _now() -> datetime:
    return datetime.now(UTC)


def _name(common_name: str, org: str = "FMAR Trust Framework") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, kek: bytes) -> None:
    write_secret(path, keystore.seal(key, kek))


def _ski(key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


@dataclass
class Hierarchy:
    """One PKI hierarchy: its root certificate, its issuer and the issuer's key."""

    kind: str
    root: x509.Certificate
    issuer: x509.Certificate
    signer: Signer  # the issuer CA's key

    @property
    def chain_pem(self) -> bytes:
        return (self.issuer.public_bytes(serialization.Encoding.PEM)
                + self.root.public_bytes(serialization.Encoding.PEM))


@dataclass
class CertificateAuthority:
    hierarchies: dict[str, Hierarchy]
    crl_url: str | None = None

    # The client hierarchy, which issues the mTLS identities (and once issued everything).
    @property
    def root(self) -> x509.Certificate:
        return self.hierarchies["client"].root

    @property
    def issuer(self) -> x509.Certificate:
        return self.hierarchies["client"].issuer

    @property
    def signer(self) -> Signer:
        return self.hierarchies["client"].signer

    def of(self, kind: str) -> Hierarchy:
        if kind not in self.hierarchies:
            raise ApiError(422, "CA-001", f"Unknown certificate kind {kind!r}.")
        return self.hierarchies[kind]

    @property
    def chain_pem(self) -> bytes:
        """Every hierarchy's issuer and root (client first); a hierarchy shared by a legacy
        single-root directory is listed once."""
        seen: list[bytes] = []
        for kind in KINDS:
            pem = self.hierarchies[kind].chain_pem
            if pem not in seen:
                seen.append(pem)
        return b"".join(seen)

    def crl_url_of(self, kind: str) -> str | None:
        if self.crl_url is None:
            return None
        return self.crl_url if kind == "client" else f"{self.crl_url}/{kind}"

    def sign_csr(self, csr_pem: str | bytes, *, kind: str, subject_url: str | None = None,
                 organisation: str | None = None, country: str = "GB",
                 roles: list[str] | None = None, member_url: str | None = None,
                 dns_names: list[str] | None = None, days: int | None = None,
                 lifetime: timedelta | None = None) -> x509.Certificate:
        """Sign a CSR with the issuer of `kind`'s hierarchy: only its public key is used;
        subject and extensions are the CA's.

        Client and signing certificates (IB1 profile): C, O = the member, CN and SAN URI =
        the application's directory URL, ib1Roles (one or more role IRIs, DSI-PKI-010) and
        ib1Member. Server certificates: CN and SAN = the DNS names (or IP addresses) only,
        for 24 hours at most."""
        hierarchy = self.of(kind)
        key = _csr_key(csr_pem)
        now = _now()
        life = lifetime or timedelta(days=days or LEAF_DAYS[kind])
        if kind == "server":
            life = min(life, SERVER_MAX)
        not_after = min(now + life, hierarchy.issuer.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .issuer_name(hierarchy.issuer.subject)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_ski(key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                hierarchy.signer.public_key()), critical=False)
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
            iris = [role_iri(r) if "://" not in r else r for r in roles or []]
            if not iris:
                raise ApiError(422, "DSI-PKI-010", "A client or signing certificate carries "
                               "one role at least (ib1Roles): give the application a role.")
            attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
            if organisation:
                attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]))
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject_url[:64]))
            builder = builder.subject_name(x509.Name(attrs)).add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(subject_url)]),
                critical=False)
            builder = builder.add_extension(x509.UnrecognizedExtension(
                ROLE_OID, der.sequence_of_utf8(iris)), critical=False)
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
        crl_url = self.crl_url_of(kind)
        if crl_url and kind != "server":  # a 24-hour certificate is not revoked, it lapses
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(crl_url)], None, None, None)]),
                critical=False)
        return keystore.sign_certificate(builder, hierarchy.signer)

    def crl(self, revoked: list[tuple[int, datetime]], next_update_minutes: int = 60,
            kind: str = "client") -> x509.CertificateRevocationList:
        hierarchy = self.of(kind)
        now = _now()
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(hierarchy.issuer.subject)
                   .last_update(now - timedelta(minutes=1))
                   .next_update(now + timedelta(minutes=next_update_minutes)))
        for serial, at in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(at).build())
        return keystore.sign_crl(builder, hierarchy.signer)


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


ISSUER_KID = "issuer"  # the client issuer's kid at an external signer (others: issuer-<kind>)
TITLES = {"client": "Client", "signing": "Signing", "server": "Server"}


def _kid(kind: str) -> str:
    return ISSUER_KID if kind == "client" else f"{ISSUER_KID}-{kind}"


def _make_root(kind: str, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A root of the CA/B Forum root profile: P-384, 9132 days, no path length."""
    now = _now()
    key = ec.generate_private_key(ec.SECP384R1())
    subject = _name(f"{name} {TITLES[kind]} CA")
    root = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(_ski(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    return root, key


def make_issuer(kind: str, name: str, root: x509.Certificate,
                root_key: ec.EllipticCurvePrivateKey,
                public: ec.EllipticCurvePublicKey) -> x509.Certificate:
    """An issuer (CA/B subordinate profile, P-256) for `public`, signed by the root's key."""
    now = _now()
    days = LEAF_DAYS[kind] + REGENERATE_DAYS[kind]
    builder = (
        x509.CertificateBuilder().subject_name(_name(f"{name} {TITLES[kind]} Issuer"))
        .issuer_name(root.subject).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=days), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(_ski(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root_key.public_key()), critical=False)
    )
    usages = ISSUER_EKU[kind]
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(root_key, hashes.SHA384())


def _init_hierarchy(folder: Path, kind: str, kek: bytes, name: str,
                    settings: TrustSettings | None) -> Hierarchy:
    folder.mkdir(parents=True, exist_ok=True)
    root, root_key = _make_root(kind, name)
    if settings is not None and settings.signer:
        signer: Signer = keystore.external_signer(settings, keystore.CA_ISSUER, _kid(kind),
                                                  create=True)
    else:
        issuer_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(folder / "issuer.key", issuer_key, kek)
        signer = FileSigner(_kid(kind), issuer_key)
    issuer = make_issuer(kind, name, root, root_key, signer.public_key())
    _write_key(folder / "root.key", root_key, kek)
    (folder / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (folder / "issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    hierarchy = Hierarchy(kind, root, issuer, signer)
    (folder / "chain.pem").write_bytes(hierarchy.chain_pem)
    return hierarchy


def init_ca(ca_dir: Path, kek: bytes, name: str = "FMAR",
            settings: TrustSettings | None = None) -> CertificateAuthority:
    """Create the three hierarchies (once); keys are written 0600, encrypted with the KEK.
    With an external signer (`settings.signer`) the issuer keys are made by it instead."""
    ca_dir.mkdir(parents=True, exist_ok=True)
    if (ca_dir / "chain.pem").exists():
        return load_ca(ca_dir, kek, settings=settings)
    ca = CertificateAuthority({kind: _init_hierarchy(ca_dir / kind, kind, kek, name, settings)
                               for kind in KINDS})
    (ca_dir / "chain.pem").write_bytes(ca.chain_pem)
    return ca


def regenerate_issuer(ca_dir: Path, kind: str, kek: bytes, root_key_file: Path,
                      name: str = "FMAR") -> Hierarchy:
    """A new issuer key and certificate for `kind`, signed with the root key brought back
    from offline storage for the occasion (`root_key_file`, sealed with the KEK). The old
    issuer stays in chain.pem while its certificates live. Not with an external signer."""
    folder = ca_dir / kind
    root = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
    root_key = keystore.unseal(root_key_file.read_bytes(), kek)
    if root_key.public_key() != root.public_key():
        raise keystore.KeyStoreError("KEY-003", f"{root_key_file} is not the key of the "
                                     f"{kind} root.")
    old = (folder / "issuer.pem").read_bytes()
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer = make_issuer(kind, name, root, root_key, issuer_key.public_key())
    _write_key(folder / "issuer.key", issuer_key, kek)
    (folder / "issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    hierarchy = Hierarchy(kind, root, issuer, FileSigner(_kid(kind), issuer_key))
    (folder / "chain.pem").write_bytes(hierarchy.chain_pem + old)
    bundle = (ca_dir / "chain.pem").read_bytes()
    (ca_dir / "chain.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM)
                                       + bundle if old in bundle else bundle)
    return hierarchy


def export_root_keys(ca_dir: Path, to: Path) -> list[Path]:
    """Move the roots' sealed keys out of the data directory to `to` (offline storage, e.g.
    removable media); returns the files written. Issuing needs only the issuers' keys."""
    to.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        source = ca_dir / kind / "root.key"
        if source.exists():
            target = to / f"{kind}-root.key"
            write_secret(target, source.read_bytes())
            source.unlink()
            written.append(target)
    return written


def _load_hierarchy(folder: Path, kind: str, kek: bytes | None,
                    settings: TrustSettings | None) -> Hierarchy:
    issuer = x509.load_pem_x509_certificate((folder / "issuer.pem").read_bytes())
    kid = _kid(kind) if folder.name == kind else ISSUER_KID
    if settings is not None and settings.signer:
        signer = keystore.external_signer(settings, keystore.CA_ISSUER, kid, create=False)
    elif (folder / "issuer.key").exists() and kek is not None:
        signer = FileSigner(kid, keystore.unseal((folder / "issuer.key").read_bytes(), kek))
    else:
        raise keystore.KeyStoreError("KEY-003", f"No {folder / 'issuer.key'}: the issuer CA "
                                     "key is held by an external signer; set "
                                     f"{keystore.SIGNER_ENV} to its factory.")
    if signer.public_key() != issuer.public_key():
        raise keystore.KeyStoreError("KEY-003", "The issuer CA's signer holds another key "
                                     f"than the one certified in {folder / 'issuer.pem'}.")
    root = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
    return Hierarchy(kind, root, issuer, signer)


def load_ca(ca_dir: Path, kek: bytes | None, crl_url: str | None = None,
            settings: TrustSettings | None = None) -> CertificateAuthority:
    """The CA of `ca_dir`: each hierarchy signs through a FileSigner over its sealed issuer
    key, or through the external signer of `settings.signer`; either must hold the key of
    its issuer.pem (KEY-003). No root key is read. A directory of an older version (one
    root and issuer in `ca/` itself) serves all three kinds from that one hierarchy."""
    if not (ca_dir / "client").is_dir() and (ca_dir / "issuer.pem").exists():
        legacy = _load_hierarchy(ca_dir, "client", kek, settings)
        return CertificateAuthority({kind: legacy for kind in KINDS}, crl_url=crl_url)
    return CertificateAuthority({kind: _load_hierarchy(ca_dir / kind, kind, kek, settings)
                                 for kind in KINDS}, crl_url=crl_url)
