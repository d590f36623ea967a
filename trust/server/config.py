"""Settings of the trust service, read from the environment or given explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    return Path(os.environ.get("FMAR_TRUST_DATA", "var/trust")).resolve()


@dataclass
class TrustSettings:
    """Where the trust service keeps its state and how it names itself."""

    data_dir: Path = field(default_factory=default_data_dir)
    # The public base URL (issuer); directory URLs are built under it.
    issuer: str = "https://127.0.0.1:8443"
    database_url: str | None = None
    access_token_ttl: int = 300  # seconds, never above 600
    key_rotation_days: int = 30
    # The key-encryption key of the signing and CA keys (trust.keystore): a passphrase, or a
    # file holding one; FMAR_TRUST_KEK / FMAR_TRUST_KEK_FILE when neither is given.
    kek: str | None = field(default=None, repr=False)
    kek_file: Path | None = None
    # An external signer (HSM, KMS) for the token-signing and issuer CA keys: a factory
    # `package.module:factory` (trust.keystore.SignerFactory); None: keys sealed with the KEK.
    signer: str | None = field(
        default_factory=lambda: os.environ.get("FMAR_TRUST_SIGNER", "").strip() or None)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.kek_file = Path(self.kek_file).resolve() if self.kek_file else None
        self.issuer = self.issuer.rstrip("/")
        self.access_token_ttl = min(self.access_token_ttl, 600)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'trust.db'}"

    def key_encryption_key(self) -> bytes:
        from trust.server.keystore import read_kek

        return read_kek(self.kek, self.kek_file)

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @classmethod
    def from_env(cls) -> TrustSettings:
        return cls(
            data_dir=default_data_dir(),
            issuer=os.environ.get("FMAR_TRUST_ISSUER", "https://127.0.0.1:8443"),
            database_url=os.environ.get("FMAR_TRUST_DATABASE_URL") or None,
        )

    def member_url(self, org_id: str) -> str:
        return f"{self.issuer}/m/{org_id}"

    def application_url(self, app_id: str) -> str:
        return f"{self.issuer}/a/{app_id}"

    def node_url(self, node_id: str) -> str:
        return f"{self.issuer}/n/{node_id}"
