"""ES256 keys that sign tokens, with rotation: a retired key stays in the JWKS until its
last token has expired."""

from __future__ import annotations

import secrets
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import Session, select

from trust.models import SigningKey, utcnow

MAX_TOKEN_TTL = 600


def _new_key(session: Session) -> SigningKey:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    row = SigningKey(kid=secrets.token_urlsafe(12), private_pem=pem)
    session.add(row)
    session.flush()
    return row


def current_key(session: Session, rotation_days: int = 30) -> SigningKey:
    """The key to sign with now; rotates when the active key is older than `rotation_days`."""
    active = session.exec(select(SigningKey).where(SigningKey.retired_at.is_(None))
                          .order_by(SigningKey.created_at.desc())).first()
    if active is not None and active.created_at > utcnow() - timedelta(days=rotation_days):
        return active
    return rotate(session)


def rotate(session: Session) -> SigningKey:
    """Retire the active key(s) and start a new one."""
    now = utcnow()
    for row in session.exec(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        row.retired_at = now
        row.expires_at = now + timedelta(seconds=MAX_TOKEN_TTL + 60)
        session.add(row)
    return _new_key(session)


def published_keys(session: Session) -> list[SigningKey]:
    now = utcnow()
    rows = session.exec(select(SigningKey).order_by(SigningKey.created_at))
    return [r for r in rows if r.expires_at is None or r.expires_at > now]


def jwk_of(row: SigningKey) -> ECKey:
    return ECKey.import_key(row.private_pem, {"kid": row.kid, "use": "sig", "alg": "ES256"})


def jwks(session: Session) -> dict:
    return {"keys": [jwk_of(r).as_dict(private=False) for r in published_keys(session)]}


def sign(session: Session, claims: dict, typ: str = "at+jwt", rotation_days: int = 30) -> str:
    row = current_key(session, rotation_days)
    return jwt.encode({"alg": "ES256", "kid": row.kid, "typ": typ}, claims, jwk_of(row))
