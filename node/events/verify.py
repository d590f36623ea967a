"""Verifying a node's webhook on the receiving side: the code an FSP (or anyone receiving
FMAR events) runs before trusting one.

    anchors = load_anchors(Path("federation-ca.pem"))   # the trust framework's CA
    seen = set()                                         # or a persistent set of ids
    verified = verify_webhook(request.headers, body, anchors, seen=seen)
    verified.event["type"], verified.member             # what happened, which member's node

It checks, in order, and raises `WebhookRejected` with a stable code otherwise:

- EVT-VER-001: the Standard Webhooks headers are present and well formed;
- EVT-VER-004: `webhook-timestamp` is within `tolerance` seconds of now (an old message
  is a replay);
- EVT-VER-003: the certificate in the JWS header (`x5c`) chains to one of `anchors` and
  is valid now, and `kid` is its thumbprint;
- EVT-VER-002: the detached JWS (ES256) signs `{webhook-id}.{webhook-timestamp}.{body}`
  with that certificate's key, and the body's `id` is the `webhook-id` (else forged);
- EVT-VER-005: the `webhook-id` was not seen before (`seen`, when given): a retry of an
  event already processed is refused, so handling is idempotent.

Depends on `cryptography` (and `trust.client` to name the member).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping, MutableSet, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SCHEME = "v1jws"
DEFAULT_TOLERANCE = 300  # seconds, as Standard Webhooks recommends
MAX_CHAIN = 4


class WebhookRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Verified:
    event: dict[str, Any]
    certificate: x509.Certificate  # the sending node's certificate
    member: str | None  # the member it names (ib1Member), when present


def load_anchors(path: Path) -> list[x509.Certificate]:
    """The trusted CA certificates (PEM bundle), e.g. the federation's CA chain."""
    return list(x509.load_pem_x509_certificates(path.read_bytes()))


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise WebhookRejected("EVT-VER-001", "The signature is not base64url.") from None


def _headers(headers: Mapping[str, str]) -> tuple[str, str, list[str]]:
    lower = {k.lower(): v for k, v in headers.items()}
    webhook_id, stamp = lower.get("webhook-id"), lower.get("webhook-timestamp")
    signatures = [s.partition(",")[2] for s in (lower.get("webhook-signature") or "").split()
                  if s.startswith(SCHEME + ",")]
    if not webhook_id or not stamp or not stamp.isdigit() or not signatures:
        raise WebhookRejected("EVT-VER-001", "A webhook has webhook-id, webhook-timestamp "
                              f"(Unix seconds) and a `{SCHEME},<JWS>` webhook-signature.")
    return webhook_id, stamp, signatures


def _chain(header: dict[str, Any], anchors: Sequence[x509.Certificate],
           at: datetime) -> x509.Certificate:
    try:
        certs = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
                 for c in header["x5c"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise WebhookRejected("EVT-VER-003", "The JWS header has no readable certificate "
                              "chain (x5c).") from None
    if not certs or len(certs) > MAX_CHAIN:
        raise WebhookRejected("EVT-VER-003", "The JWS header has no certificate chain (x5c).")
    leaf = certs[0]
    if header.get("kid") != base64.urlsafe_b64encode(
            leaf.fingerprint(hashes.SHA256())).rstrip(b"=").decode():
        raise WebhookRejected("EVT-VER-003", "The JWS `kid` is not the thumbprint of its "
                              "certificate.")
    check_chain(leaf, certs[1:], anchors, at)
    return leaf


def check_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                anchors: Sequence[x509.Certificate], at: datetime) -> None:
    """`leaf` chains (through `intermediates`) to one of `anchors`, every certificate valid
    at `at`; else `WebhookRejected` EVT-VER-003."""
    current, candidates = leaf, [*intermediates, *anchors]
    for _ in range(MAX_CHAIN + 1):
        if not current.not_valid_before_utc <= at <= current.not_valid_after_utc:
            raise WebhookRejected("EVT-VER-003", "A certificate of the chain is not valid "
                                  "now (expired or not yet valid).")
        if current in anchors:
            return
        issuer = next((c for c in candidates if c.subject == current.issuer and c != current
                       and _issued(current, c)), None)
        if issuer is None:
            raise WebhookRejected("EVT-VER-003", "The signing certificate does not chain to "
                                  "a trusted CA.")
        current = issuer
    raise WebhookRejected("EVT-VER-003", "The certificate chain is too long.")


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _signature_ok(jws: str, content: bytes, anchors: Sequence[x509.Certificate],
                  at: datetime) -> x509.Certificate:
    protected, payload, signature = (jws.split(".") + ["", "", ""])[:3]
    if payload or not protected or not signature or jws.count(".") != 2:
        raise WebhookRejected("EVT-VER-001", "The signature is a detached compact JWS "
                              "(`<header>..<signature>`).")
    try:
        header = json.loads(_b64url(protected))
    except ValueError:
        raise WebhookRejected("EVT-VER-001", "The JWS header is not JSON.") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise WebhookRejected("EVT-VER-002", "The JWS is not ES256.")
    leaf = _chain(header, anchors, at)
    raw = _b64url(signature)
    key = leaf.public_key()
    if len(raw) != 64 or not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRejected("EVT-VER-002", "The signature does not verify.")
    signing_input = f"{protected}.".encode() + base64.urlsafe_b64encode(content).rstrip(b"=")
    try:
        key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                        int.from_bytes(raw[32:], "big")),
                   signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WebhookRejected("EVT-VER-002", "The signature does not verify: the webhook "
                              "was not sent as received by the node that signed it.") from None
    return leaf


def verify_webhook(headers: Mapping[str, str], body: bytes,
                   anchors: Sequence[x509.Certificate], *,
                   tolerance: float = DEFAULT_TOLERANCE, seen: MutableSet[str] | None = None,
                   now: float | None = None) -> Verified:
    """Check a received webhook (see the module's docstring); returns its event."""
    webhook_id, stamp, signatures = _headers(headers)
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance:
        raise WebhookRejected("EVT-VER-004", "The webhook's timestamp is outside the "
                              f"tolerance ({tolerance:.0f} s): an old message is a replay.")
    content = f"{webhook_id}.{stamp}.".encode() + body
    at = datetime.fromtimestamp(now, UTC)
    problem: WebhookRejected | None = None
    for jws in signatures:  # several while a node rolls its key over
        try:
            leaf = _signature_ok(jws, content, anchors, at)
            break
        except WebhookRejected as error:
            problem = problem or error
    else:
        assert problem is not None
        raise problem
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRejected("EVT-VER-002", "The body is not JSON.") from None
    if not isinstance(event, dict) or event.get("id") != webhook_id:
        raise WebhookRejected("EVT-VER-002", "The body's id is not the webhook-id.")
    if seen is not None:
        if webhook_id in seen:
            raise WebhookRejected("EVT-VER-005", "This webhook-id was received before: a "
                                  "replay (or a retry of an event already processed).")
        seen.add(webhook_id)
    return Verified(event, leaf, _member(leaf))


def _member(cert: x509.Certificate) -> str | None:
    from trust.client.certificates import member_of

    try:
        return member_of(cert)
    except (TypeError, ValueError):
        return None


def verify_compact(jws: str, anchors: Sequence[x509.Certificate],
                   at: datetime | None = None) -> tuple[x509.Certificate, bytes]:
    """An attached compact JWS signed like a webhook (ES256, `x5c` chaining to `anchors`):
    its certificate and payload, or `WebhookRejected`."""
    protected, _, rest = jws.partition(".")
    payload, _, signature = rest.partition(".")
    content = _b64url(payload)
    leaf = _signature_ok(f"{protected}..{signature}", content, anchors,
                         at or datetime.now(UTC))
    return leaf, content
