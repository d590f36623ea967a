"""The federation key for duplicate detection (keyed hashes of MPAN + serial number).

One random 256-bit key per federation at a time, kept in the trust framework's data
directory (`federation-keys.json`, created 0600) and handed only to applications of
Active organisations that run a node, over mutual TLS (`POST /api/federation-key`,
tls_client_auth). Nodes use it to compare keyed hashes instead of MPANs
(node/federation/duplicates.py).

`fmar trust keys rotate federation --overlap S` starts a new key; the old one is still
handed out (after the current one) until the overlap ends, so hashes made with it keep
matching: nodes hash and index under every key they were given.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from trust.server.clientauth import AuthenticatedClient
from trust.server.config import TrustSettings
from trust.server.errors import ApiError
from trust.server.keystore import write_secret
from trust.server.models import Node, NodeStatus

DEFAULT_OVERLAP = 24 * 3600  # a day: every node refetches well within it


def key_path(settings: TrustSettings) -> Path:
    return settings.data_dir / "federation-keys.json"


def _now() -> datetime:
    return datetime.now(UTC)


def _new() -> dict[str, Any]:
    return {"id": secrets.token_urlsafe(6), "key": secrets.token_hex(32),
            "created_at": _now().isoformat(), "expires_at": None}


def _load(settings: TrustSettings) -> list[dict[str, Any]]:
    path = key_path(settings)
    if path.exists():
        return json.loads(path.read_text())["keys"]
    legacy = settings.data_dir / "federation.key"  # one key, from before rotation existed
    keys = [{**_new(), "key": legacy.read_text().strip()}] if legacy.exists() else [_new()]
    _save(settings, keys)
    return keys


def _save(settings: TrustSettings, keys: list[dict[str, Any]]) -> None:
    write_secret(key_path(settings), json.dumps({"keys": keys}, indent=2).encode())


def federation_keys(settings: TrustSettings) -> list[dict[str, Any]]:
    """The keys in use, the current one first, then retired ones still in their overlap."""
    now = _now()
    return [k for k in _load(settings)
            if k["expires_at"] is None or datetime.fromisoformat(k["expires_at"]) > now]


def federation_key(settings: TrustSettings) -> str:
    """The current key as hex, made on first use."""
    return federation_keys(settings)[0]["key"]


def rotate(settings: TrustSettings, overlap_seconds: int = DEFAULT_OVERLAP) -> dict[str, Any]:
    """Start a new key; the previous ones are retired and handed out until the overlap
    ends (0: at once)."""
    until = (_now() + timedelta(seconds=max(0, overlap_seconds))).isoformat()
    keys = [{**k, "expires_at": k["expires_at"] or until} for k in federation_keys(settings)]
    new = _new()
    _save(settings, [new, *keys])
    return new


def key_for(session: Session, settings: TrustSettings, client: AuthenticatedClient) -> dict:
    """DIR-020: only a client authenticated with its certificate, of an organisation that
    runs an active node, gets the keys."""
    if client.method != "tls_client_auth":
        raise ApiError(403, "DIR-020", "The federation key is given over mutual TLS only.")
    running = session.exec(
        select(Node).where(Node.org_id == client.org.id, Node.status == NodeStatus.ACTIVE)
    ).first()
    if running is None:
        raise ApiError(403, "DIR-020", "Only organisations that run a node get the federation key.")
    keys = federation_keys(settings)
    return {"key": keys[0]["key"], "purpose": "fmar-dup-v1",
            "keys": [{"key": k["key"], "expires_at": k["expires_at"]} for k in keys]}
