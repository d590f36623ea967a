"""Anchoring nodes' audit chains: each node publishes its signed audit head (sequence,
hash, time) here, where it is kept append-only (AUD-ANC-001..004).

A head is a compact JWS (ES256) signed with the node's client key, its certificate in
`x5c`; it is accepted only from a valid certificate this trust framework issued to that
node (AUD-ANC-002). A node cannot rewind (a lower sequence, AUD-ANC-003) nor overwrite
(the same sequence with another hash, AUD-ANC-004) what it published: so a node that
later removes its newest audit entries is found out by `fmar audit verify`
(node/audit_anchor.py). Rows are only ever inserted. Reading a node's last head is
public, like the directory: a head is a count and a hash, and anyone may witness it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from common.http_errors import error_responses
from common.openapi import content
from trust.server.certs import valid_by_thumbprint
from trust.server.errors import ApiError
from trust.server.models import Node, NodeStatus, utcnow
from trust.server.web import tx

HASH = re.compile(r"^[0-9a-f]{64}$")
MAX_JWS = 16_384


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"
    __table_args__ = (UniqueConstraint("node_id", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(foreign_key="node.id", index=True, max_length=40)
    sequence: int
    hash: str = Field(max_length=64)
    time: str = Field(max_length=40)  # the node's time of its head
    published_at: datetime = Field(default_factory=utcnow)
    cert_serial: str = Field(max_length=64)
    jws: str


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _unsigned("The head is not a compact JWS.") from None


def _unsigned(message: str) -> ApiError:
    return ApiError(403, "AUD-ANC-002", message)


def verified_head(session: Session, jws: str) -> tuple[Node, dict[str, Any], str]:
    """The node and the head a compact JWS signs; AUD-ANC-002 unless it is signed by a
    valid client certificate of that active node, issued here."""
    parts = jws.split(".") if len(jws) <= MAX_JWS else []
    if len(parts) != 3 or not all(parts):
        raise _unsigned("The head is not a compact JWS.")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
        raise _unsigned("The head's JWS header or claims cannot be read.") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256" \
            or not isinstance(claims, dict):
        raise _unsigned("The head is an ES256 JWS of a JSON object.")
    thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=")
    row = valid_by_thumbprint(session, thumbprint.decode())
    if row is None or row.kind != "client" or row.node_id is None:
        raise _unsigned("The head is not signed with a valid node certificate of this "
                        "trust framework.")
    raw, key = _b64(parts[2]), cert.public_key()
    if len(raw) != 64 or not isinstance(key, ec.EllipticCurvePublicKey):
        raise _unsigned("The head's signature is not ES256.")
    try:
        key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                        int.from_bytes(raw[32:], "big")),
                   f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _unsigned("The head's signature does not verify.") from None
    node = session.get(Node, row.node_id)
    if node is None or node.status != NodeStatus.ACTIVE or claims.get("node") != node.id:
        raise _unsigned("The head names another node than the one that signed it, or the "
                        "node is not active.")
    sequence, digest, time = claims.get("sequence"), claims.get("hash"), claims.get("time")
    if (not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0
            or not isinstance(digest, str) or not HASH.match(digest)
            or not isinstance(time, str) or len(time) > 40):
        raise ApiError(422, "AUD-ANC-002", "A head is {node, sequence (≥ 0), hash (64 hex), "
                       "time}.")
    return node, claims, row.serial


def latest(session: Session, node_id: str) -> AuditHead | None:
    return session.exec(select(AuditHead).where(AuditHead.node_id == node_id)
                        .order_by(col(AuditHead.sequence).desc()).limit(1)).first()


def publish(session: Session, jws: str) -> tuple[AuditHead, bool]:
    """Append the head (True) or find it already published (False); never rewinds
    (AUD-ANC-003) or overwrites (AUD-ANC-004)."""
    node, claims, serial = verified_head(session, jws)
    last = latest(session, node.id)
    if last is not None:
        if claims["sequence"] < last.sequence:
            raise ApiError(409, "AUD-ANC-003", f"Node {node.id} published sequence "
                           f"{last.sequence}; a head may not go back to {claims['sequence']}.",
                           {"published": last.sequence})
        if claims["sequence"] == last.sequence:
            if claims["hash"] != last.hash:
                raise ApiError(409, "AUD-ANC-004", f"Node {node.id} published another hash "
                               f"for sequence {last.sequence}; a head is never overwritten.",
                               {"published": last.hash})
            return last, False
    head = AuditHead(node_id=node.id, sequence=claims["sequence"], hash=claims["hash"],
                     time=claims["time"], cert_serial=serial, jws=jws)
    session.add(head)
    try:
        session.flush()
    except IntegrityError:  # a concurrent publication of the same sequence
        raise ApiError(409, "AUD-ANC-004", "This sequence was just published.") from None
    return head, True


def head_json(head: AuditHead) -> dict[str, Any]:
    return {"node": head.node_id, "sequence": head.sequence, "hash": head.hash,
            "time": head.time, "published_at": head.published_at.isoformat(),
            "jws": head.jws}


router = APIRouter(tags=["audit anchoring"])


class HeadIn(BaseModel):
    jws: str = PydanticField(max_length=MAX_JWS, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
                     description="Compact ES256 JWS of {node, sequence, hash, time}; `x5c` is "
                     "the node's client certificate")


@router.post("/api/audit-heads", status_code=201, summary="Publish a node's signed audit head",
             description="The signature is the authentication: a head not signed by a valid "
             "client certificate of the node it names is refused (403 AUD-ANC-002). 201: "
             "appended; 200: this head was already published; 409: a rewind (AUD-ANC-003) or "
             "an overwrite (AUD-ANC-004).",
             responses={200: content("application/json"),
                        **error_responses(400, 403, 409, 422)})
def post_head(request: Request, body: HeadIn) -> JSONResponse:
    with tx(request) as session:
        head, created = publish(session, body.jws)
        answer = head_json(head)
    return JSONResponse(answer, status_code=201 if created else 200)


@router.get("/api/audit-heads/{node_id}/history",
            summary="Every head a node published, oldest first (public)",
            responses={200: content("application/json"), **error_responses(404)})
def get_history(request: Request, node_id: str) -> dict[str, Any]:
    """All of them, so a chain rewritten and then grown past its last published head is
    still found at an earlier one (AUD-ANC-006)."""
    with tx(request) as session:
        heads = session.exec(select(AuditHead).where(AuditHead.node_id == node_id)
                             .order_by(col(AuditHead.sequence))).all()
        if not heads:
            raise ApiError(404, "AUD-ANC-001", f"Node {node_id} has published no audit head.")
        return {"node": node_id, "heads": [head_json(h) for h in heads]}


@router.get("/api/audit-heads/{node_id}", summary="A node's last published audit head (public)",
            responses={200: content("application/json"), **error_responses(404)})
def get_head(request: Request, node_id: str) -> dict[str, Any]:
    with tx(request) as session:
        head = latest(session, node_id)
        if head is None:
            raise ApiError(404, "AUD-ANC-001", f"Node {node_id} has published no audit head.")
        return head_json(head)
