"""Signing webhooks with the node's key, following the Standard Webhooks conventions.

Headers: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
(Unix seconds of this attempt) and `webhook-signature: v1jws,<JWS>`. The JWS is compact
and detached (RFC 7515 appendix F): `<header>..<signature>`, ES256 with the node's
client key (FMAR_CLIENT_KEY), over the Standard Webhooks signed content
`{webhook-id}.{webhook-timestamp}.{body}`. Its protected header carries the certificate
chain (`x5c`: the node's certificate, then the issuing CA's) and `kid` (the certificate's
RFC 8705 thumbprint), so a receiver checks it against the federation's CA
(node/events/verify.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

SCHEME = "v1jws"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_content(webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def _thumbprint(cert: x509.Certificate) -> str:
    return b64url(cert.fingerprint(hashes.SHA256()))


@dataclass(frozen=True)
class WebhookSigner:
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # the node's certificate first

    @classmethod
    def from_files(cls, key_path: Path, cert_path: Path,
                   ca_bundle: Path | None = None) -> WebhookSigner:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{key_path}: webhooks are signed with an ECDSA P-256 key")
        chain = list(x509.load_pem_x509_certificates(cert_path.read_bytes()))
        if ca_bundle is not None:  # the issuing CAs, not the root the receiver trusts
            chain += [c for c in x509.load_pem_x509_certificates(ca_bundle.read_bytes())
                      if c.issuer != c.subject and c not in chain]
        return cls(key, tuple(chain))

    def header(self) -> dict[str, object]:
        return {"alg": "ES256", "kid": _thumbprint(self.chain[0]),
                "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                        for c in self.chain]}

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def raw_signature(self, data: bytes) -> bytes:
        """ES256 over `data`, as JWS encodes it (r || s, 64 bytes): the one signing
        primitive of the node (webhooks, provenance records, audit heads)."""
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign(self, content: bytes) -> str:
        """A compact detached JWS of `content`: `<header>..<signature>`."""
        protected = b64url(json.dumps(self.header(), separators=(",", ":")).encode())
        raw = self.raw_signature(f"{protected}.{b64url(content)}".encode())
        return f"{protected}..{b64url(raw)}"

    def compact(self, payload: bytes) -> str:
        """A compact (attached) JWS of `payload`, with the same header."""
        protected = b64url(json.dumps(self.header(), separators=(",", ":")).encode())
        body = b64url(payload)
        return f"{protected}.{body}.{b64url(self.raw_signature(f'{protected}.{body}'.encode()))}"

    def headers(self, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        stamp = str(timestamp)
        jws = self.sign(signed_content(webhook_id, stamp, body))
        return {"webhook-id": webhook_id, "webhook-timestamp": stamp,
                "webhook-signature": f"{SCHEME},{jws}"}
