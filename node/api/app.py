"""Build the node's FastAPI application."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline

from common.http_errors import install_error_handlers
from common.openapi import content, install_openapi
from common.ratelimit import RateLimitMiddleware, RateLimits
from common.roles import NODE_SCOPES
from common.vocab import ONTOLOGY_FILE
from common.web import TURTLE, ServerTiming
from node.api import (
    admin,
    assets,
    categories,
    connection_limits,
    consents,
    disputes,
    eligibility,
    market_units,
    products,
    qualifications,
    switching,
)
from node.api import catalogue as catalogue_api
from node.api import events as events_api
from node.api import federation as federation_api
from node.api import inbox as inbox_api
from node.api import reports as reports_api
from node.api import services as deps
from node.api import sparql as sparql_api
from node.api.services import Services
from node.config import NodeSettings
from node.identity import Authenticator
from node.register import Register

logger = logging.getLogger("fmar.node")


def create_app(
    settings: NodeSettings | None = None, authenticator: Authenticator | None = None,
    services: Services | None = None,
) -> FastAPI:
    """The node's app. Its services are opened when it starts and closed when it stops;
    give `services` already open (the demo loads data first) to have the app use them
    and close them."""
    settings = services.settings if services else settings or NodeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = services or Services.open(settings, authenticator)
        running.start()  # resumes unfinished switch hand-overs (node/switching/)
        # what start-up built (ontology, shapes, services) lives as long as the node: kept
        # out of the collector's full passes, which otherwise walk it during every large
        # answer (a regulator's report part: about a third of its time)
        gc.collect()
        gc.freeze()
        app.state.services = running
        # read by modules that take them from the app rather than as dependencies
        app.state.register = running.register
        app.state.authenticator = running.authenticator
        app.state.placement = running.placement
        if running.duplicates.keys.scope() == "node":
            logger.warning("Duplicate detection (ARM-DUP-001) covers this node only: no "
                           "federation key (set FMAR_FEDERATION_KEY or the trust framework "
                           "settings for the federation-wide check).")
        try:
            yield
        finally:
            await running.aclose()

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
    install_error_handlers(app)
    app.add_middleware(RateLimitMiddleware,  # FMAR_RATE_* (common/ratelimit.py)
                       limits=RateLimits.from_env(settings.rate_limit_env()))

    app.add_middleware(ServerTiming)

    app.include_router(assets.router)
    app.include_router(categories.router)
    app.include_router(connection_limits.router)
    app.include_router(consents.router)
    app.include_router(products.router)
    app.include_router(events_api.router)
    app.include_router(eligibility.router)  # before /market-units/{id}
    app.include_router(market_units.router)
    for qualification_router in qualifications.ROUTERS:
        app.include_router(qualification_router)
    app.include_router(admin.router)
    app.include_router(sparql_api.router)
    app.include_router(federation_api.router)
    app.include_router(reports_api.router)
    app.include_router(catalogue_api.router)
    app.include_router(switching.router)
    app.include_router(disputes.router)
    app.include_router(inbox_api.router)

    @app.get("/health", tags=["discovery"], summary="Liveness",
             responses={200: content("application/json", schema={"type": "object"})})
    def health(running: Annotated[Services, Depends(deps.services)]) -> JSONResponse:
        return JSONResponse({"status": "ok", "node": settings.name,
                             # "node": the federation-wide duplicate check is off
                             "duplicate_check": running.duplicates.keys.scope()})

    @app.get("/ontology", tags=["discovery"], summary="The FMAR ontology (Turtle)",
             response_class=Response, responses={200: content(TURTLE)})
    def ontology() -> Response:
        return Response(ONTOLOGY_FILE.read_text(), media_type="text/turtle")

    @app.get("/shapes", tags=["discovery"], summary="The SHACL shapes this node validates with",
             response_class=Response, responses={200: content(TURTLE)})
    def shapes(register: Annotated[Register, Depends(deps.register)]) -> Response:
        return Response(register.catalogue.shapes_turtle(), media_type="text/turtle")

    return app
