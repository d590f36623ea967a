"""The node's settings: one object, read once from FMAR_* environment variables (or given).

Every field names its environment variable (`validation_alias`); docs/operator.md lists the
same variables in its node table, and tests/test_settings.py keeps the two in step. A
keyword argument wins over the environment: `NodeSettings(data_dir=..., workers=1)`.
Built once per process (`fmar serve`, or whoever calls `create_app`), never read again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from common.settings import Commas, SettingsBase, split_commas

DEFAULT_NODE_URL = "http://127.0.0.1:8700"


class NodeSettings(SettingsBase):
    model_config = SettingsConfigDict(frozen=True)

    # storage and process
    data_dir: Path | None = Field(None, validation_alias="FMAR_DATA_DIR")
    sparql_url: str | None = Field(None, validation_alias="FMAR_SPARQL_URL")
    tokens_file: Path | None = Field(None, validation_alias="FMAR_TOKENS_FILE")
    name: str = Field("fmar-node", validation_alias="FMAR_NODE_NAME")
    workers: int = Field(2, validation_alias="FMAR_WORKERS")
    # the listing and aggregation index (node/index/, docs/design.md); off: every listing
    # and aggregate runs over the record store (SPARQL)
    listing_index: bool = Field(True, validation_alias="FMAR_LISTING_INDEX")
    # a membership change moving a unit's capability by more than this share is material
    material_change_share: float = Field(0.1, ge=0, validation_alias="FMAR_MATERIAL_CHANGE_SHARE")
    max_body_bytes: int = Field(1_000_000, validation_alias="FMAR_MAX_BODY_BYTES")
    max_bulk_bytes: int = Field(512_000_000, validation_alias="FMAR_MAX_BULK_BYTES")
    # Turtle is parsed whole (about 30x its size in memory)
    max_rdf_bulk_bytes: int = Field(20_000_000, validation_alias="FMAR_MAX_RDF_BULK_BYTES")
    # organisations whose records a static-token node holds; None: those of the tokens file
    # with an asset-owner role. Ignored with a trust framework (the directory says).
    holds: Annotated[frozenset[str] | None, NoDecode] = Field(
        None, validation_alias="FMAR_HOLDS")
    # trust framework and this node's identity in it
    trust_issuer: str | None = Field(None, validation_alias="FMAR_TRUST_ISSUER")
    trust_url: str | None = Field(None, validation_alias="FMAR_TRUST_URL")  # default: issuer
    node_url: str = Field(DEFAULT_NODE_URL, validation_alias="FMAR_NODE_URL")
    ca_bundle: Path | None = Field(None, validation_alias="FMAR_CA_BUNDLE")
    client_id: str | None = Field(None, validation_alias="FMAR_CLIENT_ID")
    client_cert: Path | None = Field(None, validation_alias="FMAR_CLIENT_CERT")
    client_key: Path | None = Field(None, validation_alias="FMAR_CLIENT_KEY")
    # its signing certificate (Signing hierarchy) and key: provenance records
    signing_cert: Path | None = Field(None, validation_alias="FMAR_SIGNING_CERT")
    signing_key: Path | None = Field(None, validation_alias="FMAR_SIGNING_KEY")
    publisher: str | None = Field(None, validation_alias="FMAR_PUBLISHER")
    dataset_types: Commas = Field(("Asset",), validation_alias="FMAR_DATASET_TYPES")
    # token verification (node/trust_auth.py)
    trusted_proxies: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), validation_alias="FMAR_TRUSTED_PROXIES")
    require_binding: bool = Field(True, validation_alias="FMAR_REQUIRE_BINDING")
    unbound_user_tokens: bool = Field(False, validation_alias="FMAR_UNBOUND_USER_TOKENS")
    unbound_routes: str = Field("", validation_alias="FMAR_UNBOUND_ROUTES")
    trust_status_ttl: float = Field(30.0, validation_alias="FMAR_TRUST_STATUS_TTL")
    revocation_ttl: float = Field(5.0, validation_alias="FMAR_REVOCATION_TTL")
    placement_ttl: float = Field(10.0, validation_alias="FMAR_PLACEMENT_TTL")
    # seconds a read of the product register on the facilitator's node is kept
    # (qualification's product checks, node/federation/products.py)
    product_register_ttl: float = Field(60.0, ge=0,
                                        validation_alias="FMAR_PRODUCT_REGISTER_TTL")
    # SPARQL on this node (node/query/execute.py Limits)
    sparql_timeout: float = Field(10.0, validation_alias="FMAR_SPARQL_TIMEOUT")
    sparql_max_rows: int = Field(100_000, validation_alias="FMAR_SPARQL_MAX_ROWS")
    sparql_concurrent: int = Field(2, validation_alias="FMAR_SPARQL_CONCURRENT")
    sparql_memory_mb: int = Field(1024, validation_alias="FMAR_SPARQL_MEMORY_MB")
    # federation: relaying queries, duplicate checks
    node_deadline: float = Field(5.0, validation_alias="FMAR_NODE_DEADLINE")
    federation_max_quads: int = Field(50_000, validation_alias="FMAR_FEDERATION_MAX_QUADS")
    federation_nodes: Commas = Field((), validation_alias="FMAR_FEDERATION_NODES")
    federation_passthrough: bool = Field(False,
                                         validation_alias="FMAR_FEDERATION_PASSTHROUGH")
    federation_key: str | None = Field(None, repr=False,
                                       validation_alias="FMAR_FEDERATION_KEY")
    federation_key_ttl: float = Field(300.0, validation_alias="FMAR_FEDERATION_KEY_TTL")
    # events: webhook delivery from the outbox (node/events/delivery.py)
    events_retry_base: float = Field(2.0, validation_alias="FMAR_EVENTS_RETRY_BASE")
    events_retry_max: float = Field(3600.0, validation_alias="FMAR_EVENTS_RETRY_MAX")
    events_max_attempts: int = Field(8, validation_alias="FMAR_EVENTS_MAX_ATTEMPTS")
    events_poll: float = Field(1.0, validation_alias="FMAR_EVENTS_POLL")
    events_timeout: float = Field(10.0, validation_alias="FMAR_EVENTS_TIMEOUT")
    # audit anchoring: seconds between publications of the signed audit head to the trust
    # framework (node/audit_anchor.py); 0 turns it off
    audit_anchor_interval: float = Field(300.0, validation_alias="FMAR_AUDIT_ANCHOR_INTERVAL")
    # consumer consent (node/kinds/consents.py): the asset categories, at or below this
    # rated capacity (kW), whose connection points need a consent to register or switch
    consent_categories: Commas = Field((), validation_alias="FMAR_CONSENT_CATEGORIES")
    consent_max_kw: float = Field(100.0, ge=0, validation_alias="FMAR_CONSENT_MAX_KW")
    # switching (node/switching/): notice period, hand-over polling, a test hook
    switch_notice_days: int = Field(10, validation_alias="FMAR_SWITCH_NOTICE_DAYS")
    switch_notice_seconds: float | None = Field(None,
                                                validation_alias="FMAR_SWITCH_NOTICE_SECONDS")
    switch_poll_seconds: float = Field(30.0, validation_alias="FMAR_SWITCH_POLL_SECONDS")
    switch_crash_at: str | None = Field(None, validation_alias="FMAR_SWITCH_CRASH_AT")
    # a test hook: "journal" dies as kill -9 would between a change's journal write and its
    # record write (node/records/journal.py)
    journal_crash_at: str | None = Field(None, validation_alias="FMAR_JOURNAL_CRASH_AT")
    # disputes (node/kinds/disputes.py): days each state lasts before it may be escalated
    # (open, responded, escalated); FMAR_DISPUTE_SECONDS: one number of seconds for all (tests)
    dispute_days: str = Field("open=10,responded=10,escalated=20",
                              validation_alias="FMAR_DISPUTE_DAYS")
    dispute_seconds: float | None = Field(None, validation_alias="FMAR_DISPUTE_SECONDS")
    # records one hand-over moves, with a unit's memberships and members (SWITCH-VAL-022)
    switch_max_bundle: int = Field(2000, ge=1, validation_alias="FMAR_SWITCH_MAX_BUNDLE")
    # rate limits (trust/ratelimit.py), `burst:per-second` or `off`
    rate_api_source: str = Field("600:100", validation_alias="FMAR_RATE_API_SOURCE")
    rate_api_client: str = Field("300:50", validation_alias="FMAR_RATE_API_CLIENT")

    @field_validator("dataset_types", "federation_nodes", "consent_categories", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("holds", "trusted_proxies", mode="before")
    @classmethod
    def _set(cls, value: Any) -> Any:
        value = split_commas(value)
        return frozenset(value) if isinstance(value, tuple) else value

    @field_validator("holds", mode="after")
    @classmethod
    def _none_when_empty(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        return value or None

    @model_validator(mode="after")
    def _urls(self) -> NodeSettings:
        def bare(url: str | None) -> str | None:
            return url.rstrip("/") or None if url else None

        object.__setattr__(self, "trust_issuer", bare(self.trust_issuer))
        object.__setattr__(self, "trust_url", bare(self.trust_url) or self.trust_issuer)
        object.__setattr__(self, "node_url", bare(self.node_url) or DEFAULT_NODE_URL)
        object.__setattr__(self, "federation_nodes",
                           tuple(u.rstrip("/") for u in self.federation_nodes))
        return self

    @property
    def node_url_given(self) -> bool:
        """Whether FMAR_NODE_URL (or `node_url=`) was set: token verification needs it."""
        return "node_url" in self.model_fields_set

    @property
    def federated(self) -> bool:
        """Configured to act in the federation under its own identity."""
        return bool(self.trust_url and self.client_id)

    def rate_limit_env(self) -> dict[str, str]:
        """The rate-limit settings in the form common.ratelimit.RateLimits reads."""
        return {"FMAR_RATE_API_SOURCE": self.rate_api_source,
                "FMAR_RATE_API_CLIENT": self.rate_api_client,
                "FMAR_TRUSTED_PROXIES": ",".join(sorted(self.trusted_proxies))}
