"""Anchoring the audit chain: the node publishes its signed audit head (sequence, hash,
time) to the trust framework every FMAR_AUDIT_ANCHOR_INTERVAL seconds, where it is kept
append-only (trust/server/audit_heads.py). `fmar audit verify` then checks the local
chain against the last published head, so removing the newest entries (which the chain
alone cannot show) is found (AUD-ANC-005), and so is a chain rewritten from an earlier
point, even one grown past the last head since (AUD-ANC-006: every published head is
checked).

The head is a compact ES256 JWS with the node's client certificate in `x5c`, signed by
the node's one signer (node/events/signing.py, as webhooks and provenance records).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from common import http_client
from node.audit import newest_entry, now_iso
from node.config import NodeSettings
from node.events.signing import WebhookSigner
from node.records.unit import UnitOfWork
from node.store.base import RecordStore

logger = logging.getLogger("fmar.audit")


def signed_head(signer: WebhookSigner, node_id: str, sequence: int, digest: str) -> str:
    claims = {"node": node_id, "sequence": sequence, "hash": digest, "time": now_iso()}
    return signer.compact(json.dumps(claims, separators=(",", ":")).encode())


@dataclass
class Publisher:
    """Publishes heads of one node to the trust framework (mTLS with the node's certificate;
    the JWS is what authenticates the head)."""

    signer: WebhookSigner
    node_id: str
    trust_url: str
    ca_bundle: Path | None
    cert: Path | None = None
    key: Path | None = None

    def publish(self, sequence: int, digest: str) -> dict[str, Any]:
        """The published head (the trust framework's answer); raises `AnchorError` with the
        trust framework's code when it refuses (a rewind or an overwrite)."""
        with http_client.client(ca_bundle=self.ca_bundle, cert=self.cert, key=self.key,
                                timeout=10) as http:
            response = http.post(f"{self.trust_url}/api/audit-heads", json={
                "jws": signed_head(self.signer, self.node_id, sequence, digest)})
        body = response.json()
        if response.status_code >= 300:
            raise AnchorError(str(body.get("code", "AUD-ANC-002")),
                              str(body.get("message", body)))
        return dict(body)


class AnchorError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class AuditAnchor:
    """The node's publishing thread: publishes the head when it moved, every interval."""

    def __init__(self, unit: UnitOfWork, publisher: Publisher, interval: float):
        self.unit, self.publisher, self.interval = unit, publisher, interval
        self.published: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish_now(self) -> dict[str, Any] | None:
        with self.unit.lock:  # the head as committed: never a sequence with another's hash
            head = (self.unit.audit.sequence, self.unit.audit.head_hash)
        if head == self.published:
            return None
        answer = self.publisher.publish(*head)
        self.published = head
        return answer

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_now()
            except AnchorError as refused:  # a rewind or overwrite: someone must look
                logger.error("The trust framework refused the audit head: %s", refused)
            except (httpx.HTTPError, ValueError) as error:
                logger.warning("The audit head could not be published: %s", error)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def open_anchor(unit: UnitOfWork, signer: WebhookSigner | None,
                settings: NodeSettings) -> AuditAnchor | None:
    """The publishing thread of a node in a federation with a signing key (None else)."""
    if (signer is None or settings.audit_anchor_interval <= 0 or not settings.trust_url
            or not settings.client_id):
        return None
    return AuditAnchor(unit, Publisher(signer, settings.client_id, settings.trust_url,
                                             settings.ca_bundle, settings.client_cert,
                                             settings.client_key),
                       settings.audit_anchor_interval)


# ------------------------------------------------------------------ checking


def published_heads(trust_url: str, node_id: str,
                    ca_bundle: Path | None) -> list[dict[str, Any]]:
    """Every head the node published, oldest first (none: an empty list)."""
    with http_client.client(ca_bundle=ca_bundle, timeout=30) as http:
        response = http.get(f"{trust_url}/api/audit-heads/{node_id}/history")
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return list(response.json()["heads"])


def check_signed(published: dict[str, Any], node_id: str,
                 anchors: Sequence[x509.Certificate]) -> dict[str, Any]:
    """The claims of a published head, once its JWS is checked: signed by a certificate
    chaining to the trust framework's CA, for this node (AUD-ANC-007)."""
    from node.events.verify import WebhookRejected, verify_compact

    try:
        _, payload = verify_compact(str(published["jws"]), anchors)
        claims = json.loads(payload)
    except (WebhookRejected, ValueError, KeyError, TypeError) as problem:
        raise AnchorError("AUD-ANC-007", f"The published head's signature does not verify: "
                          f"{problem}") from None
    if not isinstance(claims, dict) or claims.get("node") != node_id:
        raise AnchorError("AUD-ANC-007", "The published head is not this node's.")
    return claims


def check_against(journal: RecordStore, heads: Sequence[dict[str, Any]]) -> list[str]:
    """Problems of the local chain against the published heads (their checked claims):
    entries removed after one was published (AUD-ANC-005) or the entry at its sequence not
    the one published (AUD-ANC-006: the chain rewritten, even if it grew again since)."""
    from common.vocab import AUDIT_BASE, FMAR
    from node.audit import AUDIT_GRAPH
    from node.ntriples import term_value

    newest = newest_entry(journal)
    local = newest[0] if newest else 0
    problems: list[str] = []
    for head in heads:
        sequence, digest = int(head["sequence"]), str(head["hash"])
        if sequence == 0:
            continue
        if local < sequence:
            problems.append(f"AUD-ANC-005: the chain ends at entry {local}, but entry "
                            f"{sequence} was published on {head.get('time')}: entries were "
                            "removed")
            break  # every later head says the same
        found = list(journal.select(
            f"SELECT ?hash WHERE {{ GRAPH <{AUDIT_GRAPH}> {{ <{AUDIT_BASE}{sequence}> "
            f"<{FMAR.entryHash}> ?hash }} }}"))
        if not found or term_value(found[0]["hash"]) != digest:
            problems.append(f"AUD-ANC-006: entry {sequence} is not the one published on "
                            f"{head.get('time')}: the chain was rewritten")
    return problems
