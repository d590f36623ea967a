"""A DNO's connection limits: upload its book as a CSV (POST /connection-limits/bulk on
its node) with a per-row report and a downloadable error report, and the limits list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from portal import web
from portal.nodes import Answer
from portal.pages.bulk import MODES, chunks_of, keep_report, report_of
from portal.recordforms import error_of, items_of

router = APIRouter()
KIND = "connection-limits"  # the session's reports of this page


@router.get("/connection-limits")
def limits_page(request: Request) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get("/connection-limits", {"limit": "100"})
    return web.render(request, "operator/limits.html", title="Connection limits",
                      items=items_of(answer), error=error_of(answer), modes=MODES)


@router.post("/connection-limits")
async def upload_book(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    upload = form.get("file")
    mode = str(form.get("mode") or "store-valid")
    if not isinstance(upload, UploadFile) or not upload.filename or mode not in MODES:
        return web.render(request, "operator/limits.html", 400, title="Connection limits",
                          items=[], error={"code": "PORTAL-020", "message":
                                           "Choose a CSV file (and a mode) to upload."},
                          modes=MODES)

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", "/connection-limits/bulk", params={"mode": mode},
                             content=chunks_of(upload), headers={"Content-Type": "text/csv"})

    answer = await run_in_threadpool(send)
    _, report = report_of(answer)
    stored = [str(x.get("LimitId") if isinstance(x, dict) else x)
              for x in report.get("limits", []) or []]
    report_id = keep_report(session, upload.filename, mode, answer, kind=KIND, stored=stored)
    return web.redirect(request, f"/connection-limits/upload/{report_id}")


def _report(request: Request, report_id: str) -> dict[str, Any] | None:
    found = web.signed_in(request).reports.get(report_id)
    return found if found is not None and found.get("kind") == KIND else None


@router.get("/connection-limits/upload/{report_id}")
def upload_result(request: Request, report_id: str) -> Response:
    report = _report(request, report_id)
    if report is None:
        return web.render(request, "error.html", 404, title="No such report",
                          code="PORTAL-404", message="This report is not in your session.")
    return web.render(request, "operator/limits_result.html", title="Connection limits upload",
                      summary=report["summary"], rows=report["rows"], report_id=report_id,
                      stored=report["stored"])


@router.get("/connection-limits/upload/{report_id}/errors.csv")
def upload_errors(request: Request, report_id: str) -> Response:
    report = _report(request, report_id)
    if report is None:
        return web.render(request, "error.html", 404, title="No such report",
                          code="PORTAL-404", message="This report is not in your session.")
    return Response(report["csv"], media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="fmar-limit-errors-{report_id}.csv"'})
