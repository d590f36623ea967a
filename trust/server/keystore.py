"""Private keys at rest, and the one seam that signs with them (`Signer`).

- Secret files are created with mode 0600 (`write_secret`), never chmod-ed afterwards.
- The token-signing keys (in the database) and the CA keys (files) are stored as PKCS#8
  PEM encrypted with the key-encryption key (KEK), `BestAvailableEncryption` of
  `cryptography`. The KEK is a passphrase from FMAR_TRUST_KEK or, better, the file named
  by FMAR_TRUST_KEK_FILE (kept apart from the data directory and its backups).
- Token issuing and the CA sign through `Signer` only: `kid`, `alg`, `sign(data)` and
  the public key. `FileSigner` (a key sealed with the KEK) is the default; a deployment
  that keeps its keys in an HSM or KMS (PKCS#11) names a factory of its own Signers in
  FMAR_TRUST_SIGNER (`external_signer`); nothing else changes.

Errors: KEY-001 (no KEK, or the wrong one), KEY-002 (a stored key is not encrypted),
KEY-003 (the configured signer cannot be loaded, fails, or holds another key).
"""

from __future__ import annotations

import base64
import importlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from trust.client.credentials import write_secret

if TYPE_CHECKING:
    from trust.server.config import TrustSettings

KEK_ENV, KEK_FILE_ENV = "FMAR_TRUST_KEK", "FMAR_TRUST_KEK_FILE"
MIN_KEK_LENGTH = 16
ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_CURVES: dict[str, tuple[type[ec.EllipticCurve], type[hashes.SHA256 | hashes.SHA384], int]] = {
    "ES256": (ec.SECP256R1, hashes.SHA256, 32), "ES384": (ec.SECP384R1, hashes.SHA384, 48)}


class KeyStoreError(Exception):
    """A key cannot be used: no KEK, the wrong KEK, or a key stored in the clear."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def new_kek_file(path: Path) -> None:
    """A new random KEK in `path` (0600), unless the file exists."""
    if not path.exists():
        write_secret(path, secrets.token_urlsafe(32).encode())


def read_kek(kek: str | None = None, kek_file: Path | None = None) -> bytes:
    """The KEK: given, or from FMAR_TRUST_KEK, or from the file (FMAR_TRUST_KEK_FILE)."""
    kek = kek or os.environ.get(KEK_ENV) or None
    file = kek_file or (Path(os.environ[KEK_FILE_ENV]) if os.environ.get(KEK_FILE_ENV) else None)
    if kek is None and file is not None:
        try:
            kek = file.read_text().strip()
        except OSError as exc:
            raise KeyStoreError("KEY-001", f"The KEK file {file} cannot be read: "
                                f"{exc.strerror}.") from None
    if not kek:
        raise KeyStoreError("KEY-001", f"No key-encryption key: set {KEK_FILE_ENV} (a file "
                            f"readable only by the service) or {KEK_ENV}.")
    if len(kek) < MIN_KEK_LENGTH:
        raise KeyStoreError("KEY-001", f"The KEK must have at least {MIN_KEK_LENGTH} "
                            "characters.")
    return kek.encode()


def seal(key: PrivateKeyTypes, kek: bytes) -> bytes:
    """The key as encrypted PKCS#8 PEM."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(kek))


def unseal(pem: bytes | str, kek: bytes) -> ec.EllipticCurvePrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    if not data.lstrip().startswith(ENCRYPTED_PEM):
        raise KeyStoreError("KEY-002", "A stored private key is not encrypted; re-encrypt it "
                            "with `fmar trust keys encrypt`.")
    try:
        key = serialization.load_pem_private_key(data, kek)
    except (ValueError, TypeError):
        raise KeyStoreError("KEY-001", "The key-encryption key does not open the stored "
                            "private key.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError("KEY-002", "A stored private key is not an EC key.")
    return key


@runtime_checkable
class Signer(Protocol):
    """Signs with a private key the caller never sees (a file, an HSM or a KMS)."""

    kid: str
    alg: str  # JOSE name: ES256 (P-256, SHA-256) or ES384

    def sign(self, data: bytes) -> bytes:
        """The DER-encoded ECDSA signature of `data` (hashed per `alg`)."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def public_jwk(self) -> dict[str, Any]: ...


@dataclass
class FileSigner:
    """A Signer over a private key decrypted in memory (from a sealed PEM)."""

    kid: str
    key: ec.EllipticCurvePrivateKey
    alg: str = "ES256"

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(_CURVES[self.alg][1]()))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.public_key(), self.kid, self.alg)


# ---------------------------------------------------------------- external signers

SIGNER_ENV = "FMAR_TRUST_SIGNER"
# What the `signingkey` table stores instead of a sealed PEM for a key that the external
# signer holds: this prefix and the factory's name.
EXTERNAL_PREFIX = "external:"
TOKEN_KEYS, CA_ISSUER = "token", "ca"  # the purposes a factory is asked for


class SignerFactory(Protocol):
    """FMAR_TRUST_SIGNER=package.module:factory names one of these.

    `purpose` is "token" (a token-signing key; `kid` is new at each rotation) or "ca" (the
    issuer CA's key; `kid` is "issuer"). `create` is True when the trust framework starts
    that key (`fmar trust init`, a rotation): make it (ES256, P-256) and return its Signer;
    False when it uses a key made before: return its Signer, or raise if it does not
    exist. The returned Signer's `kid` is `kid`."""

    def __call__(self, purpose: str, kid: str, *, create: bool,
                 settings: TrustSettings) -> Signer: ...


def signer_factory(spec: str) -> SignerFactory:
    """The factory named `package.module:attribute` (KEY-003 if it cannot be imported)."""
    module, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attribute) if attribute else None
    except (ImportError, AttributeError) as exc:
        raise KeyStoreError("KEY-003", f"{SIGNER_ENV}={spec}: {exc}.") from None
    if not callable(factory):
        raise KeyStoreError("KEY-003", f"{SIGNER_ENV}={spec} does not name a callable "
                            "(package.module:factory).")
    return factory


def external_signer(settings: TrustSettings, purpose: str, kid: str, *,
                    create: bool) -> Signer:
    """The Signer that the configured factory gives for `purpose` and `kid`, checked."""
    spec = settings.signer or ""
    if not spec:
        raise KeyStoreError("KEY-003", f"The {purpose} key {kid} is held by an external "
                            f"signer; set {SIGNER_ENV} to its factory.")
    try:
        signer: object = signer_factory(spec)(purpose, kid, create=create, settings=settings)
    except KeyStoreError:
        raise
    except Exception as exc:  # whatever the HSM library raises
        raise KeyStoreError("KEY-003", f"The signer {spec} failed for the {purpose} key "
                            f"{kid}: {exc!r}.") from exc
    if not isinstance(signer, Signer) or signer.kid != kid or signer.alg != "ES256":
        raise KeyStoreError("KEY-003", f"The signer {spec} did not return an ES256 Signer "
                            f"with kid {kid!r} for the {purpose} key.")
    return signer


def alg_of(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    return "ES384" if key.curve.name == "secp384r1" else "ES256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePublicKey, kid: str, alg: str) -> dict[str, Any]:
    size = _CURVES[alg][2]
    numbers = key.public_numbers()
    return {"kty": "EC", "crv": "P-256" if alg == "ES256" else "P-384",
            "x": _b64(numbers.x.to_bytes(size, "big")), "y": _b64(numbers.y.to_bytes(size, "big")),
            "kid": kid, "use": "sig", "alg": alg}


def jws_signature(signer: Signer, signing_input: bytes) -> bytes:
    """The JWS form (R || S, RFC 7518 3.4) of the signer's DER signature."""
    r, s = decode_dss_signature(signer.sign(signing_input))
    size = _CURVES[signer.alg][2]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# X.509 through a Signer. `cryptography` signs certificates only with a key object it holds,
# so the to-be-signed part is built by it (signed with a throw-away key of the same
# algorithm) and the signature is then replaced by the Signer's: the outer DER is
# SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }.

def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _header_size(data: bytes, pos: int = 0) -> tuple[int, int]:
    """(header size, content size) of the DER element at `pos`."""
    n = data[pos + 1]
    if not n & 0x80:
        return 2, n
    size = n & 0x7F
    return 2 + size, int.from_bytes(data[pos + 2:pos + 2 + size], "big")


_THROWAWAY: dict[str, ec.EllipticCurvePrivateKey] = {}


def _resign(draft_der: bytes, tbs: bytes, signer: Signer) -> bytes:
    head, _ = _header_size(draft_der)
    body = draft_der[head:]
    if not body.startswith(tbs):
        raise ValueError("unexpected DER layout")
    rest = body[len(tbs):]
    alg_head, alg_size = _header_size(rest)
    algorithm = rest[:alg_head + alg_size]
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signer.sign(tbs)))


def _draft_key(signer: Signer) -> tuple[ec.EllipticCurvePrivateKey,
                                        hashes.SHA256 | hashes.SHA384]:
    curve, digest, _ = _CURVES[signer.alg]
    if signer.alg not in _THROWAWAY:
        _THROWAWAY[signer.alg] = ec.generate_private_key(curve())
    return _THROWAWAY[signer.alg], digest()


def sign_certificate(builder: x509.CertificateBuilder, signer: Signer) -> x509.Certificate:
    draft = builder.sign(*_draft_key(signer))
    der = _resign(draft.public_bytes(serialization.Encoding.DER), draft.tbs_certificate_bytes,
                  signer)
    return x509.load_der_x509_certificate(der)


def sign_crl(builder: x509.CertificateRevocationListBuilder,
             signer: Signer) -> x509.CertificateRevocationList:
    draft = builder.sign(*_draft_key(signer))
    der = _resign(draft.public_bytes(serialization.Encoding.DER), draft.tbs_certlist_bytes,
                  signer)
    return x509.load_der_x509_crl(der)
