"""Duplicate detection without revealing MPANs (building blocks).

A registering node asks the federation whether any node already holds an asset with
the same import or export MPAN and serial number. What travels is a keyed hash,
HMAC-SHA256 over ("import"|"export", MPAN, serial number) with a federation key, never
the values; a node answers with the holder organisation of any matching record.

Registration (`POST /assets` and bulk) checks before storing and refuses a duplicate
with ARM-DUP-001 naming the holder organisation. With the federation key (from the trust
framework over mTLS, or FMAR_FEDERATION_KEY; `FederationKeys`) the check covers every node; without it a
node still refuses duplicates of its own records (hashed with a key of its own, which
never leaves the process), and `GET /health` and the start-up log say the check is local.

Key rotation: during an overlap the trust framework hands out the new key and the old
one, and "the key" of this module is that list (current first): a node hashes and
indexes under every key it holds, so a node that still has only the old key keeps
matching. Fetched keys are refreshed every FMAR_FEDERATION_KEY_TTL seconds (300) and
when a retired key's overlap ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from common.http_errors import ApiError
from common.vocab import FMAR, ORG_BASE
from node.config import NodeSettings

MAX_TOKENS = 1000


class FederationKeys:
    """The federation key(s) for duplicate detection, current first: FMAR_FEDERATION_KEY
    (hex, several separated by commas), else fetched from the trust framework over mutual
    TLS when the node is configured for federation (trust URL, client id, certificate and
    key), and refetched as the module says. One per node process (node/api/services.py)."""

    def __init__(self, settings: NodeSettings):
        self.settings = settings
        self._fetched: tuple[list[bytes], float] | None = None  # keys, refresh after
        self._lock = threading.Lock()
        self._local = [secrets.token_bytes(32)]  # never leaves the process

    def configured(self) -> bool:
        """Whether this node has (or can fetch) the federation key, without fetching it."""
        s = self.settings
        return bool(s.federation_key or (s.trust_url and s.client_id and s.client_cert))

    def scope(self) -> str:
        """"federation" when duplicates are refused across every node, else "node"."""
        return "federation" if self.configured() else "node"

    def current(self) -> list[bytes] | None:
        """The federation key(s), or None when this node does not check across nodes."""
        if self.settings.federation_key:
            return _parse_keys(self.settings.federation_key)
        if not self.configured():
            return None
        with self._lock:
            if self._fetched is None or time.monotonic() > self._fetched[1]:
                self._fetched = _fetch_key(self.settings)
            return self._fetched[0]

    def check_key(self) -> tuple[list[bytes], bool]:
        """The key registration hashes with, and whether the check is federation-wide:
        the federation key, or this process's own key (the check then covers this node)."""
        key = self.current()
        return (key, True) if key is not None else (self._local, False)


def _parse_keys(raw: str) -> list[bytes]:
    try:
        keys = [bytes.fromhex(part.strip()) for part in raw.split(",")]
    except ValueError:
        keys = []
    if not keys or any(len(key) < 16 for key in keys):
        raise ApiError(503, "FED-008", "No federation key for duplicate detection on this node.")
    return keys


def _fetch_key(settings: NodeSettings) -> tuple[list[bytes], float]:
    """The keys the trust framework hands out, and when to ask again."""
    from common import http_client as trust_http

    try:
        with trust_http.client(ca_bundle=settings.ca_bundle, cert=settings.client_cert,
                               key=settings.client_key, base_url=settings.trust_url or "") as c:
            response = c.post("/api/federation-key", data={"client_id": settings.client_id})
        response.raise_for_status()
        body = response.json()
        entries = body.get("keys") or [{"key": body["key"], "expires_at": None}]
        keys = [bytes.fromhex(entry["key"]) for entry in entries]
    except Exception as exc:  # noqa: BLE001 - any failure: this node cannot check, say so
        raise ApiError(503, "FED-008", "The federation key for duplicate detection could not "
                       "be fetched from the trust framework.", {"error": str(exc)[:200]}) from None
    ttl = settings.federation_key_ttl
    now = datetime.now(UTC)
    for entry in entries:  # ask again when an overlap ends, to drop the retired key
        if entry.get("expires_at"):
            left = (datetime.fromisoformat(entry["expires_at"]) - now).total_seconds()
            ttl = min(ttl, max(left, 0.0))
    return keys, time.monotonic() + ttl


def normalise(value: Any) -> str:
    return "".join(str(value).split()).upper()


def tokens_for(key: bytes | list[bytes], import_mpan: Any, export_mpan: Any,
               serial: Any) -> list[str]:
    """Keyed hashes of an asset's (MPAN, serial) pairs, under each key when given several;
    none without a serial number."""
    if not serial:
        return []
    keys = [key] if isinstance(key, bytes) else key
    out: list[str] = []
    for kind, mpan in (("import", import_mpan), ("export", export_mpan)):
        if mpan:
            message = f"fmar-dup-v1|{kind}|{normalise(mpan)}|{normalise(serial)}".encode()
            out.extend(hmac.new(k, message, hashlib.sha256).hexdigest() for k in keys)
    return out


class DuplicateIndex:
    """token -> holder organisation, for the records on this node (rebuilt every `ttl` s)."""

    def __init__(self, store: Any, keys: FederationKeys, ttl: float = 5.0):
        self.store, self.keys, self.ttl = store, keys, ttl
        self._index: dict[str, str] = {}
        self._key: list[bytes] = []  # the key(s) the index was built with
        self._until = 0.0
        self._lock = threading.Lock()

    def _build(self, key: list[bytes]) -> dict[str, str]:
        query = (f"SELECT ?org ?imp ?exp ?serial WHERE {{ GRAPH ?a {{ ?a <{FMAR.organisation}> ?org ;"
                 f" <{FMAR.serialNumber}> ?serial . OPTIONAL {{ ?a <{FMAR.importMPAN}> ?imp }} "
                 f"OPTIONAL {{ ?a <{FMAR.exportMPAN}> ?exp }} }} "
                 f'FILTER STRSTARTS(STR(?a), "https://id.fmar.uk/asset/") }}')
        index = {}
        for s in self.store.select(query):
            org = s["org"].value
            org = org.removeprefix(ORG_BASE)
            for token in tokens_for(key, s["imp"].value if s["imp"] else None,
                                    s["exp"].value if s["exp"] else None, s["serial"].value):
                index[token] = org
        return index

    def add(self, organisation: str, import_mpan: Any, export_mpan: Any, serial: Any) -> None:
        """Index a record just stored, so the next check sees it before any rebuild."""
        key, _ = self.keys.check_key()
        with self._lock:
            if key != self._key:
                return  # the next lookup rebuilds the index with this key
            for token in tokens_for(key, import_mpan, export_mpan, serial):
                self._index[token] = organisation

    def invalidate(self) -> None:
        """Records left or arrived (a switch): rebuild on the next lookup."""
        with self._lock:
            self._until = 0.0

    def _lookup(self, key: list[bytes], tokens: list[str]) -> list[dict[str, str]]:
        with self._lock:
            if key != self._key or time.monotonic() > self._until:
                self._index = self._build(key)
                self._key = key
                self._until = time.monotonic() + self.ttl
            index = self._index
        return [{"token": t, "holder": index[t]} for t in tokens if t in index]

    def matches(self, tokens: Sequence[object]) -> list[dict[str, str]]:
        """The answer to another node's enquiry: needs the federation key."""
        key = self.keys.current()
        if key is None:
            raise ApiError(503, "FED-008", "No federation key for duplicate detection on this node.")
        hashes = [t for t in tokens[:MAX_TOKENS] if isinstance(t, str) and len(t) == 64]
        if len(hashes) != len(tokens):
            raise ApiError(400, "FED-IN-007", f"tokens: up to {MAX_TOKENS} hex HMAC-SHA256 "
                           "values.")
        return self._lookup(key, hashes)

    def local_matches(self, tokens: list[str]) -> dict[str, str]:
        """token -> holder among this node's records, hashed with `check_key()`'s key."""
        key, _ = self.keys.check_key()
        return {m["token"]: m["holder"] for m in self._lookup(key, tokens)}


def index_of(app: Any) -> DuplicateIndex:
    """The node's duplicate index (node/api/services.py), kept up to date by the register's
    commits."""
    return app.state.services.duplicates


def open_index(store: Any, keys: FederationKeys, commit_hooks: list[Any]) -> DuplicateIndex:
    """A duplicate index over `store`, told of every record the register commits."""
    index = DuplicateIndex(store, keys)
    commit_hooks.append(
        lambda organisation, props: index.add(organisation, *_mpans_and_serial(props)))
    return index


def _mpans_and_serial(props: Any) -> tuple[Any, Any, Any]:
    from node.kinds.asset_records import mpans_and_serial

    return mpans_and_serial(props)
