"""Node settings, from arguments or FMAR_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from node.placement import static_holds


@dataclass(frozen=True)
class NodeSettings:
    data_dir: Path | None = None  # None: in-memory store (tests only)
    sparql_url: str | None = None  # external SPARQL 1.1 server instead of embedded Oxigraph
    tokens_file: Path | None = None  # static bearer tokens (single-node development)
    name: str = "fmar-node"
    workers: int = 2  # validation worker processes for bulk uploads
    trust_issuer: str | None = None  # verify trust-framework tokens (see node/trust_auth.py)
    # organisations whose records a static-token node holds (FMAR_HOLDS); None: those of
    # the tokens file with an asset-owner role. Ignored with a trust framework (directory).
    holds: frozenset[str] | None = None
    max_body_bytes: int = 1_000_000
    max_bulk_bytes: int = 512_000_000  # CSV and NDJSON, streamed
    max_rdf_bulk_bytes: int = 20_000_000  # Turtle is parsed whole (about 30x its size in memory)

    @classmethod
    def from_env(cls, **overrides: object) -> NodeSettings:
        env = os.environ
        values: dict[str, object] = {
            "data_dir": Path(env["FMAR_DATA_DIR"]) if env.get("FMAR_DATA_DIR") else None,
            "sparql_url": env.get("FMAR_SPARQL_URL") or None,
            "tokens_file": Path(env["FMAR_TOKENS_FILE"]) if env.get("FMAR_TOKENS_FILE") else None,
            "name": env.get("FMAR_NODE_NAME", "fmar-node"),
            "workers": int(env.get("FMAR_WORKERS", "2")),
            "trust_issuer": env.get("FMAR_TRUST_ISSUER") or None,
            "holds": static_holds(env),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
