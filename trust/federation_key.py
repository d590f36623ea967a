"""The federation key for duplicate detection (keyed hashes of MPAN + serial number).

One random 256-bit key per federation, kept in the trust framework's data directory
(mode 0600) and handed only to applications of Active organisations that run a node,
over mutual TLS (`POST /api/federation-key`, tls_client_auth). Nodes use it to compare
keyed hashes instead of MPANs (node/federation/duplicates.py).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlmodel import Session, select

from trust.clientauth import AuthenticatedClient
from trust.config import TrustSettings
from trust.errors import ApiError
from trust.models import Node


def key_path(settings: TrustSettings) -> Path:
    return settings.data_dir / "federation.key"


def federation_key(settings: TrustSettings) -> str:
    """The key as hex, made on first use."""
    path = key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def key_for(session: Session, settings: TrustSettings, client: AuthenticatedClient) -> dict:
    """DIR-020: only a client authenticated with its certificate, of an organisation that
    runs an active node, gets the key."""
    if client.method != "tls_client_auth":
        raise ApiError(403, "DIR-020", "The federation key is given over mutual TLS only.")
    running = session.exec(
        select(Node).where(Node.org_id == client.org.id, Node.status == "active")
    ).first()
    if running is None:
        raise ApiError(403, "DIR-020", "Only organisations that run a node get the federation key.")
    return {"key": federation_key(settings), "purpose": "fmar-dup-v1"}
