"""Settings of the trust service: one object, read once from FMAR_* environment variables
(or given). Each field names its variable (`validation_alias`); docs/operator.md lists them
in its trust table, and tests/test_settings.py keeps the two in step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from common.settings import SettingsBase, split_commas

DEFAULT_ISSUER = "https://127.0.0.1:8443"


class TrustSettings(SettingsBase):
    """Where the trust service keeps its state and how it names itself."""

    data_dir: Path = Field(Path("var/trust"), validation_alias="FMAR_TRUST_DATA")
    # The public base URL (issuer); directory URLs are built under it.
    issuer: str = Field(DEFAULT_ISSUER, validation_alias="FMAR_TRUST_ISSUER")
    database_url: str | None = Field(None, validation_alias="FMAR_TRUST_DATABASE_URL")
    # seconds, never above 600
    access_token_ttl: int = Field(300, validation_alias="FMAR_TRUST_ACCESS_TOKEN_TTL")
    # A user session's refresh tokens (rotated at each use): one lives this many seconds
    # unused; the session ends this many seconds after sign-in, whatever the use.
    refresh_token_ttl: int = Field(3600, validation_alias="FMAR_TRUST_REFRESH_TOKEN_TTL")
    session_max_age: int = Field(43200, validation_alias="FMAR_TRUST_SESSION_MAX_AGE")
    key_rotation_days: int = Field(30, validation_alias="FMAR_TRUST_KEY_ROTATION_DAYS")
    # The key-encryption key of the signing and CA keys (trust.keystore): a passphrase, or a
    # file holding one.
    kek: str | None = Field(None, repr=False, validation_alias="FMAR_TRUST_KEK")
    kek_file: Path | None = Field(None, validation_alias="FMAR_TRUST_KEK_FILE")
    # An external signer (HSM, KMS) for the token-signing and issuer CA keys: a factory
    # `package.module:factory` (trust.keystore.SignerFactory); None: keys sealed with the KEK.
    signer: str | None = Field(None, validation_alias="FMAR_TRUST_SIGNER")
    # rate limits (trust/ratelimit.py): `burst:per-second` or `off`
    rate_token_source: str = Field("120:10", validation_alias="FMAR_RATE_TOKEN_SOURCE")
    rate_token_client: str = Field("60:5", validation_alias="FMAR_RATE_TOKEN_CLIENT")
    rate_api_source: str = Field("600:100", validation_alias="FMAR_RATE_API_SOURCE")
    rate_api_client: str = Field("300:50", validation_alias="FMAR_RATE_API_CLIENT")
    trusted_proxies: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), validation_alias="FMAR_TRUSTED_PROXIES")
    # failed logins of one account from one source before a lock-out, its first length
    # (doubling) and its longest, in seconds
    login_max_failures: int = Field(5, validation_alias="FMAR_LOGIN_MAX_FAILURES")
    login_lock_seconds: float = Field(30.0, validation_alias="FMAR_LOGIN_LOCK_SECONDS")
    login_lock_max: float = Field(900.0, validation_alias="FMAR_LOGIN_LOCK_MAX")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _set(cls, value: Any) -> Any:
        value = split_commas(value)
        return frozenset(value) if isinstance(value, tuple) else value

    @field_validator("signer", mode="before")
    @classmethod
    def _signer(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _normalise(self) -> TrustSettings:
        self.data_dir = self.data_dir.resolve()
        self.kek_file = self.kek_file.resolve() if self.kek_file else None
        self.issuer = self.issuer.rstrip("/")
        self.access_token_ttl = min(self.access_token_ttl, 600)
        return self

    @classmethod
    def from_env(cls) -> TrustSettings:
        return cls()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'trust.db'}"

    def key_encryption_key(self) -> bytes:
        from trust.server.keystore import read_kek

        return read_kek(self.kek, self.kek_file)

    def rate_limit_env(self) -> dict[str, str]:
        """The rate-limit settings in the form common.ratelimit reads them."""
        return {"FMAR_RATE_TOKEN_SOURCE": self.rate_token_source,
                "FMAR_RATE_TOKEN_CLIENT": self.rate_token_client,
                "FMAR_RATE_API_SOURCE": self.rate_api_source,
                "FMAR_RATE_API_CLIENT": self.rate_api_client,
                "FMAR_TRUSTED_PROXIES": ",".join(sorted(self.trusted_proxies))}

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    def member_url(self, org_id: str) -> str:
        return f"{self.issuer}/m/{org_id}"

    def application_url(self, app_id: str) -> str:
        return f"{self.issuer}/a/{app_id}"

    def node_url(self, node_id: str) -> str:
        return f"{self.issuer}/n/{node_id}"

    def client_url(self, client_id: str) -> str:
        """The directory URL of a client (an application, or a node by its NODE- id): the
        URI in its certificate's SAN, and the `client_id` of its tokens (IB1 OAuth)."""
        if client_id.startswith(("https://", "http://")):
            return client_id
        return self.node_url(client_id) if client_id.startswith("NODE-") \
            else self.application_url(client_id)
