"""The node's `Authenticator` backed by the trust framework (trust.verifier)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from node.identity import Caller, bearer_token, current_caller
from trust.verifier import TokenVerifier, VerifierConfig, require_scopes


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    act = claims.get("act")
    scope = claims.get("scope", "")
    return Caller(
        subject=str(claims["sub"]),
        organisation_id=str(claims["org_id"]),
        roles=frozenset(claims.get("roles") or []),
        scopes=frozenset(scope.split() if isinstance(scope, str) else scope),
        dno_areas=frozenset(claims.get("dno_areas") or []),
        actor=str(act["sub"]) if isinstance(act, dict) and "sub" in act else None,
    )


class TrustAuthenticator:
    """Verifies trust-framework access tokens on the real TLS connection of the request."""

    def __init__(self, config: VerifierConfig, verifier: TokenVerifier | None = None):
        self.verifier = verifier or TokenVerifier(config)

    def authenticate(self, request: Request) -> Caller:
        token = bearer_token(request)
        cert = self.verifier.client_certificate(request)
        return caller_from_claims(self.verifier.verify(token, cert))


def requires_scope(*scopes: str) -> Callable[..., Caller]:
    """FastAPI dependency: the caller, refused with 403 AUTH-013 without these scopes."""

    def dependency(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        require_scopes(caller.scopes, *scopes)
        return caller

    return dependency
