"""Pick the store backend from configuration."""

from __future__ import annotations

from pathlib import Path

from node.store.base import RecordStore
from node.store.embedded import EmbeddedStore
from node.store.remote import RemoteStore


def open_store(data_dir: Path | None, sparql_url: str | None = None,
               read_only: bool = False) -> RecordStore:
    """An external SPARQL server when `sparql_url` is set (see RemoteStore.from_url), else
    embedded Oxigraph. `read_only` opens the embedded store beside a running node (a
    snapshot as of now)."""
    if sparql_url:
        return RemoteStore.from_url(sparql_url)
    return EmbeddedStore(data_dir / "store" if data_dir else None, read_only=read_only)
