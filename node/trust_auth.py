"""The node's `Authenticator` backed by the trust framework (trust.client.verifier)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request

from common.web import bearer_token
from node import policy
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
        unbound=unbound,
    )


def config_from_env(env: Mapping[str, str] | None = None) -> VerifierConfig:
    """The verifier settings of a node from FMAR_* variables:

    FMAR_TRUST_ISSUER (trust framework URL), FMAR_NODE_URL (this node's URL, the
    token audience), FMAR_CA_BUNDLE (federation CA chain), optionally
    FMAR_TRUSTED_PROXIES (comma-separated addresses), FMAR_REQUIRE_BINDING (1, the default,
    or 0), FMAR_UNBOUND_USER_TOKENS (1: accept people's short-lived unbound tokens, for a
    node behind a browser portal), FMAR_UNBOUND_ROUTES (where those tokens may be used:
    `read`, the default, and `METHOD /path` items; node.policy.parse_unbound_routes),
    FMAR_TRUST_STATUS_TTL and FMAR_REVOCATION_TTL (seconds),
    FMAR_CLIENT_CERT and FMAR_CLIENT_KEY.
    """
    env = os.environ if env is None else env
    missing = [k for k in ("FMAR_TRUST_ISSUER", "FMAR_NODE_URL", "FMAR_CA_BUNDLE") if not env.get(k)]
    if missing:
        raise ValueError(f"set {', '.join(missing)} to verify trust-framework tokens")
    proxies = frozenset(p.strip() for p in env.get("FMAR_TRUSTED_PROXIES", "").split(",")
                        if p.strip())
    return VerifierConfig(
        issuer=env["FMAR_TRUST_ISSUER"].rstrip("/"), audience=env["FMAR_NODE_URL"].rstrip("/"),
        ca_bundle=Path(env["FMAR_CA_BUNDLE"]),
        client_cert=Path(env["FMAR_CLIENT_CERT"]) if env.get("FMAR_CLIENT_CERT") else None,
        client_key=Path(env["FMAR_CLIENT_KEY"]) if env.get("FMAR_CLIENT_KEY") else None,
        status_ttl=float(env.get("FMAR_TRUST_STATUS_TTL", "30")),
        revocation_ttl=float(env.get("FMAR_REVOCATION_TTL", "5")),
        require_binding=env.get("FMAR_REQUIRE_BINDING", "1") not in ("0", "false", "no"),
        unbound_user_tokens=env.get("FMAR_UNBOUND_USER_TOKENS", "0") in ("1", "true", "yes"),
        unbound_routes=policy.parse_unbound_routes(env.get("FMAR_UNBOUND_ROUTES", "")) or None,
        trusted_proxies=proxies,
    )


class TrustAuthenticator:
    """Verifies trust-framework access tokens on the real TLS connection of the request."""

    def __init__(self, config: VerifierConfig, verifier: TokenVerifier | None = None):
        self.verifier = verifier or TokenVerifier(config)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrustAuthenticator:
        return cls(config_from_env(env))

    def authenticate(self, request: Request) -> Caller:
        token = bearer_token(request)
        cert = self.verifier.client_certificate(request)
        claims = self.verifier.verify(token, cert)
        caller = caller_from_claims(claims, unbound=self.verifier.accepted_unbound(claims))
        policy.check_unbound_route(caller, request.method, request.url.path,
                                   self.verifier.config.unbound_routes)
        return caller
