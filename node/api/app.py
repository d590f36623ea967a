"""Build the node's FastAPI application."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline

from node.api import admin, assets, categories, connection_limits
from node.api import catalogue as catalogue_api
from node.api import federation as federation_api
from node.api import sparql as sparql_api
from node.api.http import TURTLE
from node.config import NodeSettings
from common.http_errors import install_error_handlers
from node.federation.duplicates import duplicate_check_scope
from node.identity import Authenticator, StaticTokenAuthenticator
from common.openapi import NODE_SCOPES, content, install_openapi
from node.placement import placement_for
from node.register import Register
from node.store import open_store
from common.vocab import ONTOLOGY_FILE
from common.ratelimit import RateLimitMiddleware

logger = logging.getLogger("fmar.node")


def default_authenticator(settings: NodeSettings) -> Authenticator:
    """Trust-framework tokens when an issuer is configured, else static tokens (or none)."""
    if settings.trust_issuer:
        from node.trust_auth import TrustAuthenticator

        return TrustAuthenticator.from_env()
    if settings.tokens_file is None:
        return StaticTokenAuthenticator({})  # refuses every token
    return StaticTokenAuthenticator.from_file(settings.tokens_file)


def create_app(
    settings: NodeSettings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    settings = settings or NodeSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if duplicate_check_scope() == "node":
            logger.warning("Duplicate detection (ARM-DUP-001) covers this node only: no "
                           "federation key (set FMAR_FEDERATION_KEY or the trust framework "
                           "settings for the federation-wide check).")
        yield
        if getattr(app.state, "query_service", None) is not None:
            app.state.query_service.close()  # stops its query workers
        app.state.register.close()

    app = FastAPIOffline(  # Swagger UI from local assets, no CDN
        title=f"FMAR node ({settings.name})",
        version="0.1.0",
        description="A participant's node of the Flexibility Market Asset Register: asset "
        "records as RDF named graphs, validated with SHACL. Every endpoint except discovery "
        "needs an access token (see each operation's security). Errors, including 404 for an "
        "unknown path and 405 (with `Allow`) for a method a path does not take, are JSON "
        "`ErrorBody` with a stable `code` (see docs/rules.md).",
        lifespan=lifespan,
    )
    install_openapi(app, token_url=f"{settings.trust_issuer}/token" if settings.trust_issuer
                    else None, scopes=NODE_SCOPES)
    app.state.settings = settings
    app.state.authenticator = authenticator or default_authenticator(settings)
    app.state.placement = placement_for(settings.holds, app.state.authenticator)
    app.state.register = Register(
        open_store(settings.data_dir, settings.sparql_url), workers=settings.workers
    )
    install_error_handlers(app)
    app.add_middleware(RateLimitMiddleware)  # FMAR_RATE_* (trust/ratelimit.py)

    @app.middleware("http")
    async def server_timing(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.2f}"
        return response

    app.include_router(assets.router)
    app.include_router(categories.router)
    app.include_router(connection_limits.router)
    app.include_router(admin.router)
    app.include_router(sparql_api.router)
    app.include_router(federation_api.router)
    app.include_router(catalogue_api.router)

    @app.get("/health", tags=["discovery"], summary="Liveness",
             responses={200: content("application/json", schema={"type": "object"})})
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "node": settings.name,
                             # "node": the federation-wide duplicate check is off
                             "duplicate_check": duplicate_check_scope()})

    @app.get("/ontology", tags=["discovery"], summary="The FMAR ontology (Turtle)",
             response_class=Response, responses={200: content(TURTLE)})
    def ontology() -> Response:
        return Response(ONTOLOGY_FILE.read_text(), media_type="text/turtle")

    @app.get("/shapes", tags=["discovery"], summary="The SHACL shapes this node validates with",
             response_class=Response, responses={200: content(TURTLE)})
    def shapes(request: Request) -> Response:
        return Response(request.app.state.register.catalogue.shapes_turtle(),
                        media_type="text/turtle")

    return app
