"""The trust service: one FastAPI app (directory, CA, OAuth issuer)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlmodel import Session, select

from common import http_client as http
from common.openapi import install_openapi
from common.ratelimit import LoginThrottle, RateLimitMiddleware, RateLimits
from common.roles import NODE_SCOPES
from common.tls import pem_to_der
from trust.client.certificates import x5t_s256
from trust.server import api_delegations, api_directory, api_oauth, api_pki, audit_heads, tokens
from trust.server.ca import load_ca
from trust.server.config import TrustSettings
from trust.server.db import make_engine
from trust.server.deregister import NodeUnreachable
from trust.server.errors import install_error_handlers
from trust.server.models import Application, Node, Organisation


def operator_files(settings: TrustSettings) -> tuple[str, str]:
    base = settings.data_dir / "operator"
    return str(base / "client.pem"), str(base / "client.key")


def http_probe(app: FastAPI):  # type: ignore[no-untyped-def]
    """Ask a node for an organisation's active records (contract in trust.server.deregister)."""
    settings: TrustSettings = app.state.settings

    def probe(node: Node, org_id: str) -> dict[str, Any]:
        cert, key = operator_files(settings)
        thumbprint = x5t_s256(pem_to_der(Path(cert).read_text()))  # nodes want bound tokens
        with Session(app.state.engine, expire_on_commit=False) as session:
            operator = session.exec(select(Organisation).where(Organisation.is_operator)).one()
            client = session.exec(select(Application).where(
                Application.org_id == operator.id, Application.kind == "machine")).first()
            token, _ = tokens.issue_access_token(
                session, settings, sub=client.id if client else operator.id, org=operator,
                roles=[], scopes={"trust:deregistration"}, audience=node.url,
                client_id=client.id if client else None, thumbprint=thumbprint)
            session.commit()
        try:
            with http.client(ca_bundle=settings.ca_dir / "chain.pem", cert=cert, key=key) as c:
                resp = c.get(f"{node.url}/admin/active-records", params={"org_id": org_id},
                             headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise NodeUnreachable(str(exc)) from exc
        if resp.status_code != 200:
            raise NodeUnreachable(f"HTTP {resp.status_code}")
        return resp.json()

    return probe


def create_app(settings: TrustSettings | None = None) -> FastAPI:
    """The trust service's app: its settings are read once here (or given); its database
    engine is disposed of when it stops."""
    settings = settings or TrustSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPIOffline(lifespan=lifespan, title="FMAR trust framework", version="0.1.0",
                         description="Directory, CA and OAuth 2.0 / OIDC issuer of the FMAR "
                         "federation. Public reads need nothing; administration needs a logged-in "
                         "user's token; the OAuth endpoints authenticate the client (mutual TLS or "
                         "private_key_jwt). Errors are JSON `ErrorBody` with a stable `code` (OAuth "
                         "endpoints add `error` and `error_description`); 405 carries `Allow`.")
    install_openapi(app, token_url=f"{settings.issuer}/token",
                    authorization_url=f"{settings.issuer}/authorize",
                    scopes={**NODE_SCOPES, "openid": "Sign in (OpenID Connect)"})
    app.state.settings = settings
    app.state.engine = make_engine(settings.db_url)
    app.state.ca = load_ca(settings.ca_dir, None if settings.signer
                           else settings.key_encryption_key(),
                           crl_url=f"{settings.issuer}/ca/crl", settings=settings)
    app.state.probe = http_probe(app)
    app.state.login_throttle = LoginThrottle(settings.login_max_failures,
                                             settings.login_lock_seconds, settings.login_lock_max)
    install_error_handlers(app)
    app.add_middleware(RateLimitMiddleware,  # FMAR_RATE_* (common/ratelimit.py)
                       limits=RateLimits.from_env(settings.rate_limit_env()))
    app.include_router(api_oauth.router)
    app.include_router(api_directory.router)
    app.include_router(api_delegations.router)
    app.include_router(api_pki.router)
    app.include_router(audit_heads.router)
    return app
