"""The node's side: the record it attaches to its own answer (permission, origin,
transfer), and the record a relaying node makes of the ones it received (their lists as
received, then its receipts, one process step for the merge and a transfer to its caller).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from common.http_errors import ApiError
from node.events.signing import WebhookSigner
from node.identity import Caller
from node.provenance.record import (
    DIGEST,
    FEDERATED_MERGE,
    ROWS,
    SCHEME_IRI,
    SOURCE_TYPE,
    Step,
    certificates_of,
    container,
    content_of,
    digest,
    encode_step,
    merged_certificates,
    new_id,
    now,
    sign_list,
)
from node.provenance.verify import (
    ProvenanceRejected,
    SignedStep,
    check_signers,
    revoked_serials,
    verify_record,
)
from trust.client.certificates import san_uris

PERMISSION_DAYS = 1
CRL_SECONDS = 60.0  # how long a fetched signing CRL is relied on


@dataclass
class SigningCrl:
    """The trust framework's Signing CRL (`/ca/crl/signing`), fetched when older than
    `ttl` seconds and checked against the Signing issuer; PROV-021 when it cannot be had
    (a record is then refused, not let through unchecked)."""

    trust_url: str
    ca_bundle: Path | None
    anchors: tuple[x509.Certificate, ...]
    ttl: float = CRL_SECONDS
    _cached: tuple[float, frozenset[int]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def serials(self) -> frozenset[int]:
        from common import http_client

        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            try:
                with http_client.client(ca_bundle=self.ca_bundle) as c:
                    resp = c.get(f"{self.trust_url}/ca/crl/signing")
            except Exception:  # noqa: BLE001 (any failure to fetch: refuse, said below)
                resp = None
            if resp is None or resp.status_code != 200:
                raise ProvenanceRejected("PROV-021", "The trust framework's signing CRL "
                                         "cannot be fetched.")
            serials = revoked_serials(resp.content, self.anchors)
            self._cached = (time.monotonic(), serials)
            return serials


@dataclass(frozen=True)
class Provenance:
    """Signs this node's steps with its signing certificate (of the trust framework's
    Signing hierarchy, provenance-records/1.0)."""

    signer: WebhookSigner
    trust_framework: str  # the trust framework's URL (its issuer)
    node_url: str
    anchors: tuple[x509.Certificate, ...]  # the trust framework's CA, to check what we relay
    crl: SigningCrl | None = None  # the Signing CRL, checked on what we relay

    @property
    def licence(self) -> str:
        return f"{self.node_url}/catalogue/licence"

    def directory_urls(self, targets: Sequence[Any]) -> dict[str, str]:
        """Node URL -> its directory URL (the SAN of its certificate), for the nodes found
        in the directory."""
        return {t.url: f"{self.trust_framework}/n/{t.name}" for t in targets if t.name}

    def recipient(self, caller: Caller) -> str:
        """The directory URL the answer goes to: the relaying node's, when a node relays
        for the caller (RFC 8693 `act`), else the calling member's."""
        if caller.actor:
            return f"{self.trust_framework}/n/{caller.actor}"
        return f"{self.trust_framework}/m/{caller.organisation_id}"

    def _permission(self, caller: Caller) -> Step:
        """The licence the answer is given under, for the party that asked: `account` is an
        opaque hash this node can match to its access log, never the token."""
        sid = new_id()
        account = hashlib.sha256(f"{sid}|{caller.subject}".encode()).hexdigest()[:32]
        expires = (datetime.now(UTC) + timedelta(days=PERMISSION_DAYS)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        return {"id": sid, "type": "permission", "timestamp": now(), "scheme": SCHEME_IRI,
                "account": account, "allows": {"licenses": [self.licence]}, "expires": expires}

    def for_answer(self, caller: Caller, path: str, params: Mapping[str, str],
                   answer: dict[str, Any]) -> dict[str, Any]:
        """The record of this node's own answer."""
        rows = content_of(answer)
        count = len(rows.get("cells", [])) if isinstance(rows, dict) else len(rows)
        return self._own(caller, path, params, digest(rows), count)

    def for_export(self, caller: Caller, path: str, params: Mapping[str, str],
                   body: bytes) -> dict[str, Any]:
        """The record of an export: its digest is the SHA-256 of the exact bytes sent."""
        return self._own(caller, path, params, hashlib.sha256(body).hexdigest(), None)

    def _own(self, caller: Caller, path: str, params: Mapping[str, str], rows_digest: str,
             count: int | None) -> dict[str, Any]:
        permission = self._permission(caller)
        origin = {"id": new_id(), "type": "origin", "timestamp": now(), "scheme": SCHEME_IRI,
                  "sourceType": SOURCE_TYPE, "origin": self.node_url,
                  "originLicense": self.licence, "external": False,
                  "permissions": [permission["id"]], "fmar:node": self.node_url,
                  DIGEST: rows_digest, **({ROWS: count} if count is not None else {})}
        transfer = {"id": new_id(), "type": "transfer", "timestamp": now(),
                    "scheme": SCHEME_IRI, "of": origin["id"], "to": self.recipient(caller),
                    "standard": f"{self.node_url}/openapi.json", "license": self.licence,
                    "service": self.node_url, "path": path, "parameters": dict(params),
                    "permissions": [permission["id"]]}
        steps = sign_list(self.signer, self.trust_framework,
                          [encode_step(s) for s in (permission, origin, transfer)])
        return container(self.trust_framework, steps, certificates_of(self.signer.chain))

    def _received(self, node: str, record: Any, nodes: Mapping[str, str]) -> list[SignedStep]:
        """A node's record, checked before it is relied on: it verifies, its origin is that
        node, signed by that node, and its transfer came to this node."""
        steps = verify_record(record, self.anchors, self.crl.serials() if self.crl else None)
        check_signers(steps, nodes, nodes.get(node))
        own = set(san_uris(self.signer.certificate))
        for s in steps:
            if s.depth == 0 and s.step.get("type") == "origin" \
                    and s.step.get("fmar:node") != node:
                raise ProvenanceRejected("PROV-006", f"The record from {node} names another "
                                         "node as its origin.")
        transfers = [s for s in steps if s.depth == 0 and s.step.get("type") == "transfer"]
        if not transfers or not all(t.step.get("to") in own for t in transfers):
            raise ProvenanceRejected("PROV-007", f"The record from {node} does not transfer "
                                     "to this node.")
        return transfers

    def for_relay(self, caller: Caller, path: str, params: Mapping[str, str],
                  answer: dict[str, Any], received: Mapping[str, Any],
                  nodes: Mapping[str, str]) -> dict[str, Any]:
        """The record of a federated answer: each node's record as received (checked), a
        receipt for each transfer, the merge as one process step, and the transfer to the
        caller, all signed by this node. A node's record that does not verify makes the
        whole answer fail (PROV-010): an answer is never vouched for in part."""
        included: list[Any] = []
        receipts: list[Step] = []
        for node, record in received.items():
            try:
                transfers = self._received(node, record, nodes)
            except ProvenanceRejected as problem:
                raise ApiError(502, "PROV-010", f"The provenance record of {node} was "
                               f"refused: {problem.message}", {"rule": problem.code,
                                                                "node": node}) from None
            included.append(record["steps"])
            receipts += [{"id": new_id(), "type": "receipt", "timestamp": now(),
                          "scheme": SCHEME_IRI, "transfer": t.step["id"]} for t in transfers]
        process = {"id": new_id(), "type": "process", "timestamp": now(),
                   "scheme": SCHEME_IRI, "inputs": [r["id"] for r in receipts],
                   "process": FEDERATED_MERGE, DIGEST: digest(content_of(answer))}
        transfer = {"id": new_id(), "type": "transfer", "timestamp": now(),
                    "scheme": SCHEME_IRI, "of": process["id"], "to": self.recipient(caller),
                    "license": self.licence, "service": self.node_url, "path": path,
                    "parameters": dict(params)}
        if not receipts:  # no node answered with a record: there is nothing to vouch for
            raise ApiError(502, "PROV-011", "No node answered with a provenance record.")
        steps = sign_list(self.signer, self.trust_framework,
                          [*included, *(encode_step(s) for s in (*receipts, process, transfer))])
        return container(self.trust_framework, steps, merged_certificates(
            received.values(), certificates_of(self.signer.chain)))


def open_provenance(signer: WebhookSigner | None, trust_framework: str | None, node_url: str,
                    anchors: Sequence[x509.Certificate],
                    ca_bundle: Path | None = None) -> Provenance | None:
    """`signer`: the node's signing certificate and key (FMAR_SIGNING_CERT/KEY); without
    one the node signs no records (PROV-012)."""
    if signer is None or not trust_framework:
        return None
    url = trust_framework.rstrip("/")
    return Provenance(signer, url, node_url, tuple(anchors),
                      SigningCrl(url, ca_bundle, tuple(anchors)))


def required(provenance: Provenance | None) -> Provenance:
    """PROV-012: a record was asked for but this node cannot sign one."""
    if provenance is None:
        raise ApiError(503, "PROV-012", "This node cannot sign provenance records (no "
                       "signing key and certificate, or no trust framework).")
    return provenance
