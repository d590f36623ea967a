"""Across the federation, through the person's node with their own token (the node relays
it: the token carries `may_act` naming that node): a system operator's federated search
with each node's status, the regulator's aggregates with suppressed cells marked, and the
categories list. Extension points for the record kinds being built are listed at the end."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import web
from portal.trust import TrustClient

router = APIRouter()
SEARCH_FILTERS = ("category", "dno", "connection_type", "min_capacity")
GROUPS = ("category", "dno", "connection_type")
IDS = ("https://id.fmar.uk/def/code/", "https://id.fmar.uk/org/")
MEASURES = ("count", "sum", "avg", "min", "max")


def node_rows(request: Request, answer_body: Any) -> list[dict[str, Any]]:
    """Each node's status (`nodes` of a federation answer: node, status, ms, rows, code,
    message), with the organisation that runs it (from the public directory)."""
    nodes = answer_body.get("nodes") if isinstance(answer_body, dict) else None
    rows = [n for n in nodes or [] if isinstance(n, dict)]
    if rows:
        try:
            names = {n.url: n.org_name for n in TrustClient(web.settings_of(request)).nodes()}
        except httpx.HTTPError:
            names = {}
        rows = [{**n, "organisation": names.get(str(n.get("node", "")).rstrip("/"))}
                for n in rows]
    return rows


def short(value: Any) -> Any:
    """A code or organisation IRI as its code (BESS, UKPN_EPN, FMAR-ORG-...)."""
    if isinstance(value, str) and value.startswith(IDS):
        return value.rsplit("/", 1)[-1]
    return value


@router.get("/federation")
def federated_search(request: Request) -> Response:
    session = web.signed_in(request)
    chosen = {k: request.query_params.get(k, "").strip() for k in SEARCH_FILTERS}
    asked = any(chosen.values()) or request.query_params.get("go") == "1"
    answer = None
    if asked:
        params = {k: v for k, v in chosen.items() if v}
        params["limit"] = "200"
        with web.node_of(request, session) as node:
            answer = node.get("/federation/assets", params)
    body = answer.body if answer is not None and answer.ok else {}
    rows = [{k: short(v.get("value")) for k, v in b.items()}
            for b in body.get("results", {}).get("bindings", [])] if body else []
    columns = [c for c in body.get("head", {}).get("vars", []) if c != "asset"] if body else []
    return web.render(request, "federation.html", title="Federated search", chosen=chosen,
                      asked=asked, rows=rows, columns=columns, nodes=node_rows(request, body),
                      partial=body.get("partial") if body else None,
                      error=answer.error if answer is not None and not answer.ok else None)


@router.get("/aggregate")
def aggregate(request: Request, group_by: str = "category") -> Response:
    session = web.signed_in(request)
    groups = [g for g in group_by.split(",") if g in GROUPS] or ["category"]
    with web.node_of(request, session) as node:
        answer = node.get("/federation/aggregate", {"group_by": ",".join(groups)})
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    cells = body.get("cells", []) if body else []
    measures = [m for m in MEASURES if any(m in c for c in cells)]
    total = sum(float(c["sum"]) for c in cells if isinstance(c.get("sum"), int | float))
    return web.render(request, "aggregate.html", title="Aggregates", cells=cells,
                      groups=groups, measures=measures, nodes=node_rows(request, body), body=body,
                      total=total,
                      all_groups=GROUPS, error=None if answer.ok else answer.error)


# Extension points: the pages of the record kinds being built elsewhere (market units,
# qualifications, products, events, connection limits) go here as routers of their own,
# listed in portal.app.ROUTERS and linked from the navigation in templates/base.html
# (NAV_ITEMS in portal.app); each calls its node routes with web.node_of(...).
