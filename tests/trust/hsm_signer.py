"""A stand-in HSM for the tests: FMAR_TRUST_SIGNER=tests.trust.hsm_signer:factory.

Its "token" is the directory beside the trust service's data directory (`<data>.hsm`): one
P-256 key per purpose and kid, never in the data directory or the database, never under
the KEK, and made only when the trust framework asks to create it. Every signature it
makes is appended to `signatures.log` there (purpose, kid, SHA-256 of the signed bytes),
so a test sees what was signed through it, from any process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trust.server import keystore
from trust.server.config import TrustSettings


def token_dir(settings: TrustSettings) -> Path:
    return settings.data_dir.with_name(f"{settings.data_dir.name}.hsm")


@dataclass
class RecordingSigner:
    """Signs with a key of the stand-in HSM and records each signature."""

    kid: str
    purpose: str
    key: ec.EllipticCurvePrivateKey
    log: Path
    alg: str = "ES256"

    def sign(self, data: bytes) -> bytes:
        signature = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        with self.log.open("a") as out:
            out.write(f"{self.purpose} {self.kid} {hashlib.sha256(data).hexdigest()}\n")
        return signature

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        return keystore.public_jwk(self.public_key(), self.kid, self.alg)


def factory(purpose: str, kid: str, *, create: bool,
            settings: TrustSettings) -> RecordingSigner:
    """The `SignerFactory` of the stand-in HSM."""
    base = token_dir(settings)
    path = base / f"{purpose}-{kid}.pem"
    if create:
        if path.exists():
            raise FileExistsError(f"the HSM already holds {purpose} key {kid}")
        key = ec.generate_private_key(ec.SECP256R1())
        keystore.write_secret(path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    elif not path.exists():
        raise LookupError(f"the HSM holds no {purpose} key {kid}")
    loaded = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return RecordingSigner(kid, purpose, loaded, base / "signatures.log")


def other_key_factory(purpose: str, kid: str, *, create: bool,
                      settings: TrustSettings) -> RecordingSigner:
    """A misconfigured HSM: a fresh key each time, never the one that was certified."""
    return RecordingSigner(kid, purpose, ec.generate_private_key(ec.SECP256R1()),
                           token_dir(settings) / "signatures.log")
