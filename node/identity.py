"""Who is calling: the one seam through which every handler learns its caller.

A request is authenticated by exactly one `Authenticator`, chosen when the app is
built. Handlers receive a verified `Caller` through the `current_caller`
dependency and never look at headers or tokens themselves; permission decisions
are made in `node.policy` from the `Caller`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fastapi import Request

from common.http_errors import ApiError
from common.web import bearer_token

LOG = logging.getLogger("fmar.access")


@dataclass(frozen=True)
class Caller:
    """A verified caller: the organisation it acts for, its roles and scopes."""

    subject: str
    organisation_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    # Licence areas (DNO codes) for a DNO caller; empty for everyone else.
    dno_areas: frozenset[str] = field(default_factory=frozenset)
    # The party a relaying node acts for (RFC 8693 `act`), if any; for a platform acting
    # under a delegation (UC-05.04), the platform's application.
    actor: str | None = None
    # The delegation a platform acts under (the token's `delegation` claim): the caller
    # then writes as its organisation, within the delegated scopes, and is no relay.
    delegation: str | None = None
    # A person's token accepted without a certificate binding (a portal node's): it is
    # used on the read routes only, or those the node lists (node.policy, AUTH-047).
    unbound: bool = False

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def relayed(self) -> bool:
        """A node relaying for its caller (`act` without a delegation): it only reads."""
        return self.actor is not None and self.delegation is None


class Authenticator(Protocol):
    def authenticate(self, request: Request) -> Caller:
        """Return the verified caller or raise `ApiError` (401/403)."""
        ...


class StaticTokenAuthenticator:
    """Bearer tokens from a local file, for a node run without a trust framework.

    The file maps the SHA-256 of each token to a caller, so the file never holds
    a usable secret. It exists for single-node development and the first demo;
    a node in a federation verifies trust-framework JWTs instead.
    """

    def __init__(self, callers_by_token_hash: dict[str, Caller]):
        self._callers = callers_by_token_hash

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def from_file(cls, path: Path) -> StaticTokenAuthenticator:
        entries = json.loads(path.read_text())
        return cls(
            {
                entry["token_sha256"]: Caller(
                    subject=entry["subject"],
                    organisation_id=entry["organisation_id"],
                    roles=frozenset(entry.get("roles", [])),
                    scopes=frozenset(entry.get("scopes", [])),
                    dno_areas=frozenset(entry.get("dno_areas", [])),
                )
                for entry in entries
            }
        )

    def asset_owner_organisations(self) -> frozenset[str]:
        """The organisations of the tokens that may hold assets: what a static-token node
        holds unless FMAR_HOLDS says otherwise (node/placement.py)."""
        from node.policy import ASSET_OWNER_ROLES  # policy imports Caller from here

        return frozenset(c.organisation_id for c in self._callers.values()
                         if c.roles & ASSET_OWNER_ROLES)

    def authenticate(self, request: Request) -> Caller:
        digest = self.hash_token(bearer_token(request))
        for known, caller in self._callers.items():
            if hmac.compare_digest(known, digest):
                return caller
        raise ApiError(
            401,
            "AUTH-002",
            "The access token is not recognised.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def current_caller(request: Request) -> Caller:
    """FastAPI dependency: the verified caller of this request. A relayed caller (a token
    with `act`) is checked against the routes it may use (node.policy, POL-021)."""
    from node import policy  # policy imports Caller from here

    authenticator: Authenticator = request.app.state.authenticator
    caller = authenticator.authenticate(request)
    policy.check_relayed_route(caller, request.method, request.url.path)
    if caller.delegation is not None:  # a platform acting for the organisation
        LOG.info("delegated %s %s for %s by %s under %s", request.method, request.url.path,
                 caller.organisation_id, caller.actor, caller.delegation)
    elif caller.actor is not None:  # who asked, and which node relayed it
        LOG.info("relayed %s %s for %s (%s) by %s", request.method, request.url.path,
                 caller.subject, caller.organisation_id, caller.actor)
    return caller
