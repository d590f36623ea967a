"""The market pages (issue 16, after issues 9-12): an FSP's market units, eligibility,
qualification applications and XLSX upload; a system operator's qualification queue; a
DNO's connection limits. Their routers and navigation lines, added in portal/app.py."""

from __future__ import annotations

from portal.pages import (
    bulk_xlsx,
    connection_limits,
    eligibility,
    market_units,
    qualifications,
    queue,
)

FSP = ("FSP", "Aggregator", "AssetOwner", "Platform")
ROUTERS = (market_units.router, eligibility.router, qualifications.router, queue.router,
           connection_limits.router, bulk_xlsx.router)
NAV_ITEMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/bulk-xlsx", "XLSX upload", FSP),
    ("/market-units", "Market units", ("FSP", "Aggregator")),
    ("/eligibility", "Eligibility", ("FSP", "Aggregator")),
    ("/qualification-applications", "Qualification", ("FSP", "Aggregator")),
    ("/qualification-queue", "Qualification queue", ("NESO", "DNO", "IDNO")),
    ("/connection-limits", "Connection limits", ("DNO", "IDNO")),
)
