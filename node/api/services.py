"""The node's services: built once from the settings when the app starts (its lifespan),
handed to routes as FastAPI dependencies, and closed when it stops.

    services = Services.open(NodeSettings())     # or let create_app's lifespan do it
    ...
    await services.aclose()
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

from common import http_client as trust_http
from common.errors import Unavailable
from node.audit_anchor import AuditAnchor, open_anchor
from node.config import NodeSettings
from node.events.delivery import DeliverySettings
from node.events.inbox import Inbox
from node.events.service import Events
from node.federation.duplicates import DuplicateIndex, FederationKeys, open_index
from node.federation.engine import Engine
from node.federation.products import use_remote_register
from node.federation.tokens import ClientCredentialsTokens, TokenCache
from node.identity import Authenticator, StaticTokenAuthenticator
from node.index.listing import open_index as open_listing_index
from node.kinds.consents import ConsentPolicy, switch_guard
from node.kinds.disputes import deadlines
from node.placement import Placement, placement_for
from node.provenance.node import Provenance, open_provenance
from node.query.execute import Executor, Limits
from node.query.service import QueryService, disclosure_key
from node.register import Register
from node.store import open_store
from node.switching.holders import HolderCheck
from node.switching.peer import Peers, PeerUnavailable
from node.switching.runner import Runner
from node.switching.service import Switching

DUPLICATES_SCOPE = "duplicates:query"


def default_authenticator(settings: NodeSettings) -> Authenticator:
    """Trust-framework tokens when an issuer is configured, else static tokens (or none)."""
    if settings.trust_issuer:
        from node.trust_auth import TrustAuthenticator

        return TrustAuthenticator.from_settings(settings)
    if settings.tokens_file is None:
        return StaticTokenAuthenticator({})  # refuses every token
    return StaticTokenAuthenticator.from_file(settings.tokens_file)


@dataclass
class Federation:
    """What a node's federated calls share across requests: one kept-alive mTLS client,
    the cache of exchanged tokens, this node's own tokens (duplicate checks) and the
    executor of gather joins (its concurrency cap holds across requests)."""

    settings: NodeSettings
    http: httpx.AsyncClient
    exchanged: TokenCache
    joins: Executor
    _own: dict[tuple[str, str], ClientCredentialsTokens] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: NodeSettings) -> Federation:
        http = trust_http.async_client(ca_bundle=settings.ca_bundle, cert=settings.client_cert,
                                       key=settings.client_key,
                                       timeout=settings.node_deadline + 1)
        joins = Executor(Limits(timeout=settings.sparql_timeout, max_rows=1_000_000,
                                concurrent=settings.sparql_concurrent,
                                memory_mb=settings.sparql_memory_mb))
        return cls(settings, http, TokenCache(), joins)

    def own_tokens(self) -> ClientCredentialsTokens | None:
        """This node's own tokens (duplicate checks at other nodes), kept across requests;
        None when it is not in a federation."""
        trust_url, client_id = self.settings.trust_url, self.settings.client_id
        if not (trust_url and client_id):
            return None
        key = (trust_url, client_id)
        if key not in self._own:
            self._own[key] = ClientCredentialsTokens(trust_url, client_id, DUPLICATES_SCOPE)
        return self._own[key]

    def engine(self, tokens: Any) -> Engine:
        return Engine(self.http, tokens, self.settings.node_deadline, executor=self.joins,
                      max_quads=self.settings.federation_max_quads)

    async def aclose(self) -> None:
        await self.http.aclose()
        self.joins.close()


def _die() -> None:
    """Test hook FMAR_JOURNAL_CRASH_AT=journal: exit as kill -9 would (no clean-up)."""
    logging.getLogger(__name__).warning("FMAR_JOURNAL_CRASH_AT=journal: exiting now")
    os._exit(137)


@dataclass
class Services:
    settings: NodeSettings
    authenticator: Authenticator
    placement: Placement
    register: Register
    query: QueryService
    duplicates: DuplicateIndex
    federation: Federation
    events: Events
    switching: Switching
    switch_runner: Runner
    inbox: Inbox
    provenance: Provenance | None = None  # None: no signing key or trust framework
    anchor: AuditAnchor | None = None  # publishes the audit head (node/audit_anchor.py)

    @classmethod
    def open(cls, settings: NodeSettings,
             authenticator: Authenticator | None = None) -> Services:
        authenticator = authenticator or default_authenticator(settings)
        register = Register(open_store(settings.data_dir, settings.sparql_url),
                            workers=settings.workers,
                            material_change_share=settings.material_change_share,
                            consent=ConsentPolicy(frozenset(settings.consent_categories),
                                                  settings.consent_max_kw))
        register.disputes.deadlines = deadlines(settings.dispute_days, settings.dispute_seconds)
        if settings.journal_crash_at == "journal":
            register.unit.between_writes.append(_die)
        index = None
        if settings.listing_index:
            index = open_listing_index(settings.data_dir, register.store,
                                       lambda: register.unit.audit.sequence)
            register.unit.after_commit.append(index.after_write)
            register.assets.index = index
        keys = FederationKeys(settings)
        placement = placement_for(settings.holds, authenticator, settings.placement_ttl)
        duplicates = open_index(register.store, keys, register.commit_hooks)
        switching = Switching(register.unit, settings, placement,
                              on_moved=duplicates.invalidate)
        switching.stage_guards.append(switch_guard(register.consents))
        use_remote_register(register.product_register, settings)  # qualification's products
        inbox = Inbox(register.qualifications, settings.ca_bundle,
                      _hosts(switching.peers), confirm=HolderCheck(settings),
                      followers=(register.grid_prequalifications,))
        services = cls(settings, authenticator, placement, register,
                   QueryService(register.store, Limits.of(settings),
                                disclosure_key=disclosure_key(settings.data_dir), index=index),
                   duplicates, Federation.open(settings),
                   Events.open(register.unit, DeliverySettings(
                       settings.events_retry_base, settings.events_retry_max,
                       settings.events_max_attempts, settings.events_poll,
                       settings.events_timeout),
                       settings.client_key, settings.client_cert, settings.ca_bundle),
                   switching, Runner(switching, settings.switch_poll_seconds), inbox)
        signer = services.events.delivery.signer
        services.provenance = open_provenance(_signing_signer(settings), settings.trust_url,
                                              settings.node_url, _anchors(settings),
                                              settings.ca_bundle)
        services.anchor = open_anchor(register.unit, signer, settings)
        return services

    def start(self) -> None:
        """Background work: resume unfinished switch hand-overs, then watch for due ones."""
        self.switch_runner.start()
        if self.anchor is not None:
            self.anchor.start()

    async def aclose(self) -> None:
        self.switch_runner.stop()
        if self.anchor is not None:
            self.anchor.stop()
        self.events.close()  # before the store it reads
        await self.federation.aclose()
        self.query.close()  # stops its query workers
        if self.register.assets.index is not None:
            self.register.assets.index.close()
        self.register.close()
        close = getattr(self.placement, "close", None)
        if close is not None:
            close()


# FastAPI dependencies: `Annotated[Register, Depends(register)]` in a route.
def services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def settings(request: Request) -> NodeSettings:
    return services(request).settings


def register(request: Request) -> Register:
    return services(request).register


def query_service(request: Request) -> QueryService:
    return services(request).query


def provenance(request: Request) -> Provenance | None:
    return services(request).provenance


def _signing_signer(settings: NodeSettings) -> Any:
    """The node's signing certificate and key (FMAR_SIGNING_CERT/KEY), which sign its
    provenance records; None (no records, PROV-012) without them or if they cannot be read."""
    from node.events.signing import WebhookSigner

    if not (settings.signing_cert and settings.signing_key):
        return None
    try:
        return WebhookSigner.from_files(settings.signing_key, settings.signing_cert,
                                        settings.ca_bundle)
    except (OSError, ValueError) as error:
        logging.getLogger("fmar.provenance").error("Provenance cannot be signed with %s: %s",
                                                   settings.signing_key, error)
        return None


def _anchors(settings: NodeSettings) -> list[Any]:
    from node.events.verify import load_anchors

    try:
        return load_anchors(settings.ca_bundle) if settings.ca_bundle else []
    except (OSError, ValueError):
        return []


def federation(request: Request) -> Federation:
    return services(request).federation


def events(request: Request) -> Events:
    return services(request).events


def duplicate_index(request: Request) -> DuplicateIndex:
    return services(request).duplicates


def switching(request: Request) -> Switching:
    return services(request).switching


def inbox(request: Request) -> Inbox:
    return services(request).inbox


def _hosts(peers: Peers) -> Callable[[str, str], bool]:
    """Whether a node's member holds an organisation (the trust directory), for the
    inbox; INBOX-008 while the directory cannot be reached."""
    def hosts(operator: str, organisation: str) -> bool:
        try:
            return peers.hosts(operator, organisation)
        except PeerUnavailable:
            raise Unavailable("INBOX-008", "The trust directory cannot be reached to check "
                              "the sending node: try again.") from None
    return hosts
