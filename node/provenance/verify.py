"""Verifying a provenance record (the client's side, and a relaying node's before it adds
its receipts). Every failure raises `ProvenanceRejected` with a stable rule ID:

- PROV-001: the container is malformed (its keys, a step that is not base64 JSON);
- PROV-002: a signature element is malformed (version 0, serial, UTC time, signature);
- PROV-003: the certificate of a signature's serial is missing from `certificates`, or the
  certificate listed under a serial has another serial;
- PROV-004: a signing certificate does not chain to the trust framework's CA, or was not
  valid when it signed;
- PROV-005: a signature does not verify (a step altered, removed, added or reordered);
- PROV-006: a step refers to a step that is not before it (transfer `of`, receipt
  `transfer`, process `inputs`, `permissions`), an id repeats, or `origins` is not the
  list of origin steps;
- PROV-007: a receipt is signed by another party than the one the transfer went to;
- PROV-008: a digest does not match the answer the record came with;
- PROV-009: the record's last transfer is not to the party checking it;
- PROV-013: a step is signed by another member's certificate than the node it names (or
  than the node that was asked);
- PROV-020: a certificate of the trust framework signed, but not a signing certificate of
  its Signing hierarchy (a client or server certificate);
- PROV-021: the signing certificate is revoked (the Signing issuer's CRL), or that CRL
  cannot be read or does not verify.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID

from node.events.verify import WebhookRejected, check_chain
from node.provenance.record import (
    DIGEST,
    PROVENANCE_KEY,
    VERSION,
    content_of,
    decode_step,
    digest,
    serial_of,
    signature_data,
)

KEYS = {PROVENANCE_KEY, "origins", "steps", "certificates"}
REFERS = {"transfer": ("of", {"origin", "process", "receipt"}),
          "receipt": ("transfer", {"transfer"})}


class ProvenanceRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class SignedStep:
    step: dict[str, Any]
    serial: str
    signed_at: str
    signer: str  # the signing certificate's directory URL (SAN URI)
    member: str | None  # its ib1Member
    depth: int  # 0: signed by the party that sent the record; 1: a step it relied on, ...

    @property
    def names(self) -> set[str]:
        return {self.signer, *([self.member] if self.member else [])}


def _is_signing_issuer(cert: x509.Certificate) -> bool:
    """An issuer CA of the Signing hierarchy: a CA, not a root, and (unlike the client and
    server issuers) without extended key usage."""
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
    try:
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        return False
    except x509.ExtensionNotFound:
        return ca and cert.subject != cert.issuer


def signing_anchors(anchors: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Of the trust framework's bundle, the Signing hierarchy only (its issuer and root, what
    `/ca/signing/chain.pem` holds); a single-hierarchy bundle is kept whole."""
    issuers = [c for c in anchors if _is_signing_issuer(c)]
    roots = {i.issuer for i in issuers}
    kept = [c for c in anchors if c in issuers or (c.subject in roots and c.subject == c.issuer)]
    return kept or list(anchors)


def revoked_serials(crl_der: bytes, anchors: Sequence[x509.Certificate]) -> frozenset[int]:
    """The serials the Signing issuer's CRL (`/ca/crl/signing`) revokes, once its signature
    is checked against a Signing issuer of `anchors`; else PROV-021."""
    try:
        crl = x509.load_der_x509_crl(crl_der)
    except ValueError:
        raise ProvenanceRejected("PROV-021", "The signing CRL cannot be read.") from None
    for issuer in signing_anchors(anchors):
        key = issuer.public_key()
        if issuer.subject == crl.issuer and isinstance(key, ec.EllipticCurvePublicKey) \
                and crl.is_signature_valid(key):
            return frozenset(r.serial_number for r in crl)
    raise ProvenanceRejected("PROV-021", "The signing CRL is not signed by the trust "
                             "framework's Signing issuer.")


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _certificate(record: dict[str, Any], serial: str) -> tuple[x509.Certificate,
                                                               list[x509.Certificate]]:
    entry = record["certificates"].get(serial)
    if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
        raise ProvenanceRejected("PROV-003", f"No certificate for serial {serial} in the "
                                 "record.")
    try:
        cert = x509.load_pem_x509_certificate(entry[0].encode())
        issuers = [x509.load_pem_x509_certificate(record["certificates"][str(s)][0].encode())
                   for s in entry[1:] if str(s) in record["certificates"]]
    except (ValueError, TypeError, KeyError, IndexError):
        raise ProvenanceRejected("PROV-003", f"The certificate of serial {serial} cannot be "
                                 "read.") from None
    if serial_of(cert) != serial:
        raise ProvenanceRejected("PROV-003", f"The certificate listed under serial {serial} "
                                 f"has serial {serial_of(cert)}.")
    return cert, issuers


def _signed_at(text: Any) -> datetime:
    try:
        if not isinstance(text, str) or not text.endswith("Z"):
            raise ValueError
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise ProvenanceRejected("PROV-002", "A signing time is not an ISO 8601 UTC time "
                                 "ending in Z.") from None


def _check_signing_certificate(cert: x509.Certificate, issuers: list[x509.Certificate],
                               anchors: Sequence[x509.Certificate], at: datetime,
                               serial: str, revoked: Collection[int] | None) -> None:
    """PROV-020: a signing certificate, of the Signing hierarchy (no client or server
    usage); PROV-021: not revoked (`revoked`: the Signing CRL's serials; None: the caller
    has no CRL and says so by not asking)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        tls = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH} & set(usages)
    except x509.ExtensionNotFound:
        tls = set()
    message = (f"The certificate of serial {serial} is not a signing certificate of the "
               "trust framework's Signing hierarchy.")
    if tls:
        raise ProvenanceRejected("PROV-020", message)
    try:
        check_chain(cert, issuers, signing_anchors(anchors), at)
    except WebhookRejected:
        raise ProvenanceRejected("PROV-020", message) from None
    if revoked is not None and cert.serial_number in revoked:
        raise ProvenanceRejected("PROV-021", f"The signing certificate of serial {serial} "
                                 "is revoked.")


def _check_signature(record: dict[str, Any], elements: list[Any], signature: Any,
                     anchors: Sequence[x509.Certificate], revoked: Collection[int] | None
                     ) -> tuple[x509.Certificate, str, str]:
    if (not isinstance(signature, list) or len(signature) != 4 or signature[0] != VERSION
            or not all(isinstance(s, str) for s in signature[1:])):
        raise ProvenanceRejected("PROV-002", "A signature element is [0, serial, time, "
                                 "signature].")
    _, serial, stamp, encoded = signature
    at = _signed_at(stamp)
    cert, issuers = _certificate(record, serial)
    try:
        check_chain(cert, issuers, anchors, at)
    except WebhookRejected as problem:
        raise ProvenanceRejected("PROV-004", f"The certificate of serial {serial}: "
                                 f"{problem.message}") from None
    _check_signing_certificate(cert, issuers, anchors, at, serial, revoked)
    key = cert.public_key()
    try:
        raw = _b64url(encoded)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64 or not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProvenanceRejected("PROV-005", f"The signature of serial {serial} is not "
                                 "ES256.")
    try:
        key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                        int.from_bytes(raw[32:], "big")),
                   signature_data(record[PROVENANCE_KEY], elements), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ProvenanceRejected("PROV-005", f"The signature of serial {serial} does not "
                                 "verify: the steps it signed were altered, removed or "
                                 "reordered.") from None
    return cert, serial, stamp


def _walk(record: dict[str, Any], items: Any, anchors: Sequence[x509.Certificate],
          depth: int, revoked: Collection[int] | None) -> list[SignedStep]:
    from trust.client.certificates import member_of, san_uris

    if not isinstance(items, list) or len(items) < 2:
        raise ProvenanceRejected("PROV-001", "A signed step list has steps and a signature.")
    elements, signature = items[:-1], items[-1]
    cert, serial, stamp = _check_signature(record, elements, signature, anchors, revoked)
    uris = san_uris(cert)
    try:
        member = member_of(cert)
    except (TypeError, ValueError):
        member = None
    found: list[SignedStep] = []
    for element in elements:
        if isinstance(element, list):
            found += _walk(record, element, anchors, depth + 1, revoked)
            continue
        try:
            step = decode_step(element)
        except (ValueError, TypeError, binascii.Error):
            raise ProvenanceRejected("PROV-001", "A step is not base64-encoded JSON.") from None
        found.append(SignedStep(step, serial, stamp, uris[0] if uris else "", member, depth))
    return found


def _earlier(seen: dict[str, SignedStep], signed: SignedStep, ref: Any, kinds: set[str],
             what: str) -> SignedStep:
    """The step `ref` names, which must be an earlier step of one of `kinds` (PROV-006)."""
    target = seen.get(ref) if isinstance(ref, str) else None
    if target is None or target.step.get("type") not in kinds:
        raise ProvenanceRejected("PROV-006", f"The {signed.step.get('type')} step "
                                 f"{signed.step.get('id')} refers ({what}) to {ref!r}, which "
                                 f"is not an earlier {'/'.join(sorted(kinds))} step.")
    return target


def _check_order(record: dict[str, Any], steps: list[SignedStep]) -> None:
    seen: dict[str, SignedStep] = {}
    for signed in steps:
        step = signed.step
        sid, kind = step.get("id"), step.get("type")
        if not isinstance(sid, str) or sid in seen:
            raise ProvenanceRejected("PROV-006", f"Step id {sid!r} is missing or repeated.")

        if kind in REFERS:
            field, kinds = REFERS[kind]
            target = _earlier(seen, signed, step.get(field), kinds, field)
            if kind == "receipt" and target.step.get("to") not in signed.names:
                raise ProvenanceRejected("PROV-007", f"Receipt {sid} is signed by "
                                         f"{signed.signer}, not by {target.step.get('to')}, "
                                         "to whom the data was transferred.")
        if kind == "process":
            for ref in step.get("inputs") or [None]:
                _earlier(seen, signed, ref, {"origin", "receipt", "process"}, "inputs")
        for ref in step.get("permissions") or []:
            _earlier(seen, signed, ref, {"permission"}, "permissions")
        if kind not in ("origin", "transfer", "receipt", "process", "permission"):
            raise ProvenanceRejected("PROV-001", f"Step {sid} has an unknown type {kind!r}.")
        seen[sid] = signed
    origins = [s.step["id"] for s in steps if s.step.get("type") == "origin"]
    if not origins or record.get("origins") != origins:
        raise ProvenanceRejected("PROV-006", "`origins` must list the record's origin steps, "
                                 "in order (at least one).")


def verify_record(record: Any, anchors: Sequence[x509.Certificate],
                  revoked: Collection[int] | None = None) -> list[SignedStep]:
    """Every step of the record in order, each with who signed it; raises otherwise.
    `revoked`: the serials of the Signing CRL (`revoked_serials`)."""
    if (not isinstance(record, dict) or set(record) != KEYS
            or not isinstance(record.get(PROVENANCE_KEY), str)
            or not isinstance(record.get("certificates"), dict)):
        raise ProvenanceRejected("PROV-001", "A provenance record has exactly "
                                 f"{', '.join(sorted(KEYS))}.")
    steps = _walk(record, record["steps"], anchors, 0, revoked)
    _check_order(record, steps)
    return steps


def check_answer(steps: list[SignedStep], answer: dict[str, Any],
                 node: str | None = None) -> None:
    """The answer is the one the record vouches for (PROV-008): the outermost signer's
    digest covers all of it (`node`: only that node's rows, for a record a node sent with
    its own part of an answer merged by the client), and every origin that names its node
    (`fmar:node`) covers that node's rows."""
    outer = [s for s in steps if s.depth == 0 and DIGEST in s.step]
    if not outer or outer[-1].step[DIGEST] != digest(content_of(answer, node)):
        raise ProvenanceRejected("PROV-008", "The answer does not match the digest its "
                                 "provenance record signed.")
    if "cells" in answer:
        return
    for s in steps:
        origin = s.step.get("fmar:node")
        if s.depth > 0 and s.step.get("type") == "origin" and isinstance(origin, str) \
                and s.step.get(DIGEST) != digest(content_of(answer, origin)):
            raise ProvenanceRejected("PROV-008", f"The rows attributed to {origin} are not "
                                     "the rows that node signed.")


def check_recipient(steps: list[SignedStep], names: set[str]) -> None:
    """PROV-009: the last transfer of the record is to the party checking it (a record made
    for someone else is not proof of this answer)."""
    transfers = [s for s in steps if s.depth == 0 and s.step.get("type") == "transfer"]
    if not transfers or transfers[-1].step.get("to") not in names:
        raise ProvenanceRejected("PROV-009", "The record's last transfer is not to you: it "
                                 "was made for another party.")


def check_signers(steps: list[SignedStep], nodes: Mapping[str, str],
                  outer: str | None = None) -> None:
    """PROV-013: every origin is signed by the node it names (`nodes`: node URL -> its
    directory URL, from the directory), and, when `outer` is given (the node that was
    asked), the record's own steps are signed by that node: a member cannot vouch for
    another member's data, nor pass off a record as another node's."""
    for s in steps:
        node = s.step.get("fmar:node")
        if s.step.get("type") == "origin" and (not isinstance(node, str)
                                               or nodes.get(node) not in s.names):
            raise ProvenanceRejected("PROV-013", f"The origin {s.step.get('id')} names node "
                                     f"{node} but is signed by {s.signer}.")
        if outer is not None and s.depth == 0 and outer not in s.names:
            raise ProvenanceRejected("PROV-013", f"The record is signed by {s.signer}, not "
                                     f"by the node asked ({outer}).")
