"""The node's `Authenticator` backed by the trust framework (trust.client.verifier)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from common.web import bearer_token
from node import policy
from node.config import NodeSettings
from node.identity import Caller
from trust.client.verifier import TokenVerifier, VerifierConfig


def caller_from_claims(claims: dict[str, Any], unbound: bool = False) -> Caller:
    act = claims.get("act")
    scope = claims.get("scope", "")
    return Caller(
        subject=str(claims["sub"]),
        organisation_id=str(claims["org_id"]),
        roles=frozenset(claims.get("roles") or []),
        scopes=frozenset(scope.split() if isinstance(scope, str) else scope),
        dno_areas=frozenset(claims.get("dno_areas") or []),
        actor=str(act["sub"]) if isinstance(act, dict) and "sub" in act else None,
        delegation=str(claims["delegation"]) if claims.get("delegation") else None,
        unbound=unbound,
    )


def verifier_config(settings: NodeSettings) -> VerifierConfig:
    """The token verifier's settings (docs/operator.md: FMAR_TRUST_ISSUER, FMAR_NODE_URL and
    FMAR_CA_BUNDLE are needed; FMAR_UNBOUND_ROUTES is read by
    node.policy.parse_unbound_routes)."""
    issuer, bundle = settings.trust_issuer, settings.ca_bundle
    if issuer is None or bundle is None or not settings.node_url_given:
        missing = [name for name, given in (("FMAR_TRUST_ISSUER", issuer),
                                            ("FMAR_NODE_URL", settings.node_url_given),
                                            ("FMAR_CA_BUNDLE", bundle)) if not given]
        raise ValueError(f"set {', '.join(missing)} to verify trust-framework tokens")
    return VerifierConfig(
        issuer=issuer, audience=settings.node_url, ca_bundle=bundle, client_cert=settings.client_cert,
        client_key=settings.client_key, status_ttl=settings.trust_status_ttl,
        revocation_ttl=settings.revocation_ttl, require_binding=settings.require_binding,
        unbound_user_tokens=settings.unbound_user_tokens,
        unbound_routes=policy.parse_unbound_routes(settings.unbound_routes) or None,
        trusted_proxies=settings.trusted_proxies,
    )


class TrustAuthenticator:
    """Verifies trust-framework access tokens on the real TLS connection of the request."""

    def __init__(self, config: VerifierConfig, verifier: TokenVerifier | None = None):
        self.verifier = verifier or TokenVerifier(config)

    @classmethod
    def from_settings(cls, settings: NodeSettings) -> TrustAuthenticator:
        return cls(verifier_config(settings))

    def authenticate(self, request: Request) -> Caller:
        token = bearer_token(request)
        cert = self.verifier.client_certificate(request)
        claims = self.verifier.verify(token, cert)
        caller = caller_from_claims(claims, unbound=self.verifier.accepted_unbound(claims))
        policy.check_unbound_route(caller, request.method, request.url.path,
                                   self.verifier.config.unbound_routes)
        return caller
