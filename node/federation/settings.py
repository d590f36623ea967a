"""Federation settings of a node, from FMAR_* environment variables.

FMAR_NODE_URL        this node's public base URL (as registered in the trust directory)
FMAR_TRUST_URL       the trust framework (issuer) URL
FMAR_CA_BUNDLE       the federation CA chain (PEM)
FMAR_CLIENT_ID       the node's id in the directory (NODE-…), for token exchange and duplicate checks
FMAR_CLIENT_CERT/KEY the node's client certificate (kind client) and key (mTLS)
FMAR_DATASET_TYPES   comma-separated dataset types this node serves (default Asset)
FMAR_NODE_DEADLINE   per-node deadline of a federated call, seconds (default 5)
FMAR_PUBLISHER       the member URL of the node's organisation (optional)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FederationSettings:
    node_url: str = "http://127.0.0.1:8700"
    trust_url: str | None = None
    ca_bundle: Path | None = None
    client_id: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    dataset_types: tuple[str, ...] = ("Asset",)
    node_deadline: float = 5.0
    publisher: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> FederationSettings:
        env = os.environ

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            node_url=env.get("FMAR_NODE_URL", "http://127.0.0.1:8700").rstrip("/"),
            trust_url=(env.get("FMAR_TRUST_URL") or env.get("FMAR_TRUST_ISSUER") or "").rstrip("/")
            or None,
            ca_bundle=path("FMAR_CA_BUNDLE"),
            client_id=env.get("FMAR_CLIENT_ID") or None,
            client_cert=path("FMAR_CLIENT_CERT"),
            client_key=path("FMAR_CLIENT_KEY"),
            dataset_types=tuple(t.strip() for t in env.get("FMAR_DATASET_TYPES", "Asset")
                                .split(",") if t.strip()),
            node_deadline=float(env.get("FMAR_NODE_DEADLINE", "5")),
            publisher=env.get("FMAR_PUBLISHER") or None,
        )


def settings_for(app: object) -> FederationSettings:
    state = app.state  # type: ignore[attr-defined]
    found = getattr(state, "federation_settings", None)
    if found is None:
        found = FederationSettings.from_env()
        state.federation_settings = found
    return found
