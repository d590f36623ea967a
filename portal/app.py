"""The portal's FastAPI application: its pages, its own static files, the security
headers and the sign-in redirect for pages that need a signed-in person."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from portal import web
from portal.config import PortalSettings
from portal.pages import (
    assets,
    auth,
    bulk,
    categories,
    events,
    federation,
    markets,
    products,
    reports,
)
from portal.security import SecurityHeaders
from portal.sessions import SessionStore

ROUTERS = (auth.router, assets.router, bulk.router, federation.router, categories.router,
           products.router, events.router, reports.router, *markets.ROUTERS)

# The navigation: (path, label, roles that see it; empty = everyone signed in). A page of a
# new record kind adds its router to ROUTERS and its line here.
NAV_ITEMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/", "Home", ()),
    ("/assets", "Assets", ("FSP", "Aggregator", "AssetOwner", "Platform", "DNO", "IDNO",
                           "NESO", "MarketFacilitator")),
    ("/assets/new", "Register an asset", ("FSP", "Aggregator", "AssetOwner", "Platform")),
    ("/bulk", "Bulk upload", ("FSP", "Aggregator", "AssetOwner", "Platform")),
    ("/federation", "Federated search", ("NESO", "DNO", "IDNO", "MarketFacilitator", "FSP",
                                         "Aggregator")),
    ("/aggregate", "Aggregates", ("Regulator", "NESO", "DNO", "MarketFacilitator")),
    ("/categories", "Categories", ("MarketFacilitator", "NESO", "DNO", "FSP")),
    ("/products", "Products", ("MarketFacilitator", "NESO", "DNO", "IDNO", "FSP")),
    ("/events", "Events", ()),
    ("/reports", "Reports", ("Regulator", "MarketFacilitator", "NESO", "DNO")),
    *markets.NAV_ITEMS,
)


def nav_for(roles: list[str]) -> list[tuple[str, str]]:
    return [(path, label) for path, label, who in NAV_ITEMS
            if not who or set(who) & set(roles)]


def without_rule(message: str, rule: str | None) -> str:
    """A SHACL message without its leading "[RULE-ID] " (the page shows the ID already)."""
    prefix = f"[{rule}] "
    return message[len(prefix):] if rule and message.startswith(prefix) else message


def create_app(settings: PortalSettings) -> FastAPI:
    app = FastAPI(title="FMAR portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.sessions = SessionStore(settings.session_seconds, settings.database_url,
                                      settings.session_key)
    web.TEMPLATES.env.globals["nav_for"] = nav_for
    web.TEMPLATES.env.filters["without_rule"] = without_rule
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")),
              name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(web.SignInNeeded)
    async def sign_in_needed(request: Request, exc: web.SignInNeeded) -> Response:
        return web.redirect(request, web.sign_in_url(exc.next_path, exc.expired))

    @app.exception_handler(web.CsrfRefused)
    async def csrf_refused(request: Request, exc: web.CsrfRefused) -> Response:
        return web.page_not_allowed(request)

    app.add_middleware(SecurityHeaders, settings=settings)
    return app
