"""The regulator's dashboard: the node's reports (/reports), each run across the
federation with its tables (a suppressed cell says "Suppressed" in words, not only by
shading), its charts (SVG fetched by the portal with the person's token and served from
the portal's own origin, so the CSP's img-src 'self' holds) and its CSV and XLSX."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web

router = APIRouter()
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHART = re.compile(r"^([A-Za-z0-9_-]{1,64})\.svg$")
SHOWN_ROWS = 200  # per table on the page; the downloads hold every row
DOWNLOADS = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _missing(request: Request, what: str) -> Response:
    return web.render(request, "error.html", 404, title="Report", code="PORTAL-041",
                      message=f"No such {what}.")


@router.get("/reports")
def reports(request: Request) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get("/reports")
    items = answer.body if answer.ok and isinstance(answer.body, list) else []
    return web.render(request, "reports.html", title="Reports", items=items,
                      error=None if answer.ok else answer.error)


def cell_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """A table's cells then its margins, each with its group's values in dimension order."""
    dims = table.get("group_by") or []
    out = []
    for margin, cells in ((False, table.get("cells") or []), (True, table.get("margins") or [])):
        for cell in cells:
            if isinstance(cell, dict):
                found = cell.get("group")
                group: dict[str, Any] = found if isinstance(found, dict) else {}
                out.append({**cell, "margin": margin,
                            "values": [str(group.get(d) if group.get(d) is not None else "All")
                                       .rsplit("/", 1)[-1] for d in dims]})
    return out


@router.get("/reports/{name}")
async def report(request: Request, name: str) -> Response:
    session = web.signed_in(request)
    if not NAME.match(name):
        return _missing(request, "report")

    def run() -> Any:
        with web.node_of(request, session) as node:
            return node.get(f"/reports/{name}/run")

    answer = await run_in_threadpool(run)
    result = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    tables = {k: {**t, "rows": cell_rows(t)} for k, t in (result.get("tables") or {}).items()
              if isinstance(t, dict)}
    for t in tables.values():
        t["total_rows"], t["rows"] = len(t["rows"]), t["rows"][:SHOWN_ROWS]
    charts = (result.get("definition") or {}).get("charts") or []
    return web.render(request, "report.html", answer.status if not answer.ok else 200,
                      title=str(result.get("title") or name), name=name, result=result,
                      tables=tables, charts=[c for c in charts if isinstance(c, dict)],
                      error=None if answer.ok else answer.error)


@router.get("/reports/{name}/charts/{file}")
async def chart(request: Request, name: str, file: str) -> Response:
    """The node's SVG, served from the portal (image/svg+xml, under the portal's CSP)."""
    session = web.signed_in(request)
    if not NAME.match(name) or not CHART.match(file):
        return Response(status_code=404)

    def fetch() -> tuple[int, bytes, str]:
        with web.node_of(request, session) as node:
            return node.fetch(f"/reports/{name}/charts/{quote(file)}")

    status, body, media = await run_in_threadpool(fetch)
    if status != 200 or not media.startswith("image/svg+xml"):
        return Response(status_code=502 if status == 200 else status)
    return Response(body, media_type="image/svg+xml")


@router.get("/reports/{name}/download.{fmt}")
async def download(request: Request, name: str, fmt: str) -> Response:
    session = web.signed_in(request)
    if not NAME.match(name) or fmt not in DOWNLOADS:
        return _missing(request, "download")

    def fetch() -> tuple[int, bytes, str]:
        with web.node_of(request, session) as node:
            return node.fetch(f"/reports/{name}/run", {"format": fmt})

    status, body, _ = await run_in_threadpool(fetch)
    if status != 200:
        return web.render(request, "error.html", status, title="Report", code="PORTAL-042",
                          message=f"The node did not give the {fmt.upper()} (HTTP {status}).")
    return Response(body, media_type=DOWNLOADS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
