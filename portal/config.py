"""The portal's settings, from FMAR_PORTAL_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PortalSettings:
    trust_url: str  # the trust framework (issuer)
    ca_bundle: str  # the federation CA, to verify the trust framework and the nodes
    client_id: str  # the portal's application id at the trust framework
    public_url: str  # where browsers reach the portal (its /callback is registered)
    entry_node: str = ""  # preselected on the sign-in page for members without a node
    session_seconds: int = 3600  # an idle session is forgotten after this
    # the access token is renewed (refresh grant) when it has this many seconds left
    renew_before: int = 30
    database_url: str = ""  # the shared session store (empty: in memory, one process)
    session_key: str = ""  # Fernet key sealing the stored sessions (needed with a database)

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/callback"

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies need https; plain http is accepted only on loopback (tests, demo),
        where the browser never sends the cookie over a network (docs/portal.md)."""
        return urlsplit(self.public_url).scheme == "https"

    @classmethod
    def from_env(cls) -> PortalSettings:
        def need(name: str) -> str:
            value = os.environ.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is not set")
            return value

        settings = cls(trust_url=need("FMAR_PORTAL_TRUST_URL").rstrip("/"),
                       ca_bundle=need("FMAR_PORTAL_CA_BUNDLE"),
                       client_id=need("FMAR_PORTAL_CLIENT_ID"),
                       public_url=need("FMAR_PORTAL_URL").rstrip("/"),
                       entry_node=os.environ.get("FMAR_PORTAL_ENTRY_NODE", "").rstrip("/"),
                       session_seconds=int(os.environ.get("FMAR_PORTAL_SESSION_SECONDS",
                                                          "3600")),
                       renew_before=int(os.environ.get("FMAR_PORTAL_RENEW_BEFORE", "30")),
                       database_url=os.environ.get("FMAR_PORTAL_DATABASE_URL", "").strip(),
                       session_key=os.environ.get("FMAR_PORTAL_SESSION_KEY", "").strip())
        if settings.database_url and not settings.session_key:
            raise ConfigError("FMAR_PORTAL_SESSION_KEY is not set (a Fernet key: python -c "
                              "'import portal.session_db as s; print(s.new_key())')")
        parts = urlsplit(settings.public_url)
        if parts.scheme != "https" and parts.hostname not in LOOPBACK:
            raise ConfigError("FMAR_PORTAL_URL must be https:// (plain http only on loopback)")
        return settings
