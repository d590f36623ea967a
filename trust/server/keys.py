"""ES256 keys that sign tokens, with rotation: a retired key stays in the JWKS until its
overlap window ends, so tokens it signed keep verifying until then.

The private keys are stored encrypted with the KEK (trust.server.keystore) and used only
through a `Signer`; with FMAR_TRUST_SIGNER set, new keys are made and held by that external
signer (an HSM, a KMS) and the table keeps only their `kid`."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, col, select

from trust.server import keystore
from trust.server.config import TrustSettings
from trust.server.keystore import FileSigner, Signer
from trust.server.models import SigningKey, utcnow

MAX_TOKEN_TTL = 600
DEFAULT_OVERLAP = MAX_TOKEN_TTL + 60  # every token of the old key has expired by then

_SIGNERS: dict[str, Signer] = {}  # kid -> signer over the decrypted key, per process
_LOCK = threading.Lock()


def _new_key(session: Session, settings: TrustSettings) -> SigningKey:
    kid = secrets.token_urlsafe(12)
    if settings.signer:  # made and held by the external signer
        signer = keystore.external_signer(settings, keystore.TOKEN_KEYS, kid, create=True)
        row = SigningKey(kid=kid, private_pem=f"{keystore.EXTERNAL_PREFIX}{settings.signer}")
        with _LOCK:
            _SIGNERS[kid] = signer
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        row = SigningKey(kid=kid, private_pem=keystore.seal(key, settings.key_encryption_key()).decode())
    session.add(row)
    session.flush()
    return row


def is_external(row: SigningKey) -> bool:
    return row.private_pem.startswith(keystore.EXTERNAL_PREFIX)


def signer_of(row: SigningKey, settings: TrustSettings) -> Signer:
    """The Signer of a stored key, made once per process: a FileSigner over the sealed
    key, or the external signer's (FMAR_TRUST_SIGNER) for a key it holds."""
    with _LOCK:
        signer = _SIGNERS.get(row.kid)
        if signer is None:
            if is_external(row):
                signer = keystore.external_signer(settings, keystore.TOKEN_KEYS, row.kid,
                                                  create=False)
            else:
                key = keystore.unseal(row.private_pem, settings.key_encryption_key())
                signer = FileSigner(row.kid, key)
            _SIGNERS[row.kid] = signer
        return signer


def current_key(session: Session, settings: TrustSettings) -> SigningKey:
    """The key to sign with now; rotates when the active key is older than
    `settings.key_rotation_days`."""
    active = session.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None))
                          .order_by(col(SigningKey.created_at).desc())).first()
    if (active is not None
            and _aware(active.created_at) > utcnow() - timedelta(days=settings.key_rotation_days)):
        return active
    return rotate(session, settings)


def rotate(session: Session, settings: TrustSettings,
           overlap_seconds: int = DEFAULT_OVERLAP) -> SigningKey:
    """Retire the active key(s) and start a new one. A retired key stays published (and
    its tokens valid) for `overlap_seconds`; 0 withdraws it at once (a compromised key)."""
    kek = None if settings.signer else settings.key_encryption_key()
    now = utcnow()
    for row in session.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None))):
        if kek is not None and not is_external(row):
            keystore.unseal(row.private_pem, kek)  # KEY-001 before sealing a key nobody can open
        row.retired_at = now
        row.expires_at = now + timedelta(seconds=max(0, overlap_seconds))
        session.add(row)
    return _new_key(session, settings)


def published_keys(session: Session) -> list[SigningKey]:
    now = utcnow()
    rows = session.exec(select(SigningKey).order_by(col(SigningKey.created_at)))
    return [r for r in rows if r.expires_at is None or _aware(r.expires_at) > now]


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def public_jwks(session: Session, settings: TrustSettings) -> list[dict[str, Any]]:
    """The published keys; a retired one carries `exp`, the end of its overlap, after which
    verifiers drop it even from their caches."""
    out = []
    for row in published_keys(session):
        jwk = signer_of(row, settings).public_jwk()
        if row.expires_at is not None:
            jwk["exp"] = int(_aware(row.expires_at).timestamp())
        out.append(jwk)
    return out


def jwks(session: Session, settings: TrustSettings) -> dict:
    return {"keys": public_jwks(session, settings)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def sign(session: Session, settings: TrustSettings, claims: dict, typ: str = "at+jwt") -> str:
    """A compact JWS (RFC 7515) of `claims`, signed by the current key's Signer."""
    signer = signer_of(current_key(session, settings), settings)
    signing_input = f"{_segment({'alg': signer.alg, 'kid': signer.kid, 'typ': typ})}." \
                    f"{_segment(claims)}"
    signature = keystore.jws_signature(signer, signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"
