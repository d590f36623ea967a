"""Bulk upload of a CSV to the node (POST /assets/bulk), with a result page and a
downloadable CSV error report (one line per violation)."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from portal import web
from portal.forms import field_of
from portal.nodes import Answer
from portal.sessions import Session

router = APIRouter()
CHUNK = 64 * 1024
MODES = ("store-valid", "all-or-nothing")


def error_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """One row per violation: row number, field, rule, message."""
    rows = []
    for err in report.get("errors", []) or []:
        violations = err.get("violations") or [err]
        for v in violations:
            path = str(v.get("path") or v.get("field") or "")
            rows.append({"row": str(err.get("row", "")), "field": field_of(path) or path,
                         "rule": str(v.get("rule") or v.get("code") or ""),
                         "message": str(v.get("message") or "")})
    return rows


def as_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["row", "field", "rule", "message"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@router.get("/bulk")
def bulk_page(request: Request) -> Response:
    web.signed_in(request)
    return web.render(request, "bulk.html", title="Bulk upload", modes=MODES)


@router.post("/bulk")
async def bulk_upload(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    upload = form.get("file")
    mode = str(form.get("mode") or "store-valid")
    if not isinstance(upload, UploadFile) or not upload.filename or mode not in MODES:
        return web.render(request, "bulk.html", 400, title="Bulk upload", modes=MODES,
                          problem="Choose a CSV file (and a mode) to upload.")

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.upload_csv(chunks_of(upload), mode)

    answer = await run_in_threadpool(send)
    return web.redirect(request, f"/bulk/{keep_report(session, upload.filename, mode, answer)}")


def chunks_of(upload: UploadFile) -> Iterator[bytes]:
    """The uploaded file (spooled by the server) again from its start, in blocks."""
    upload.file.seek(0)
    while block := upload.file.read(CHUNK):
        yield block


def keep_report(session: Session, filename: str, mode: str, answer: Answer,
                **extra: Any) -> str:
    """The node's per-row report of an upload, kept in the session (its summary, failing
    rows and their CSV) under a new id, which the result page and the download name."""
    body, report = report_of(answer)
    rows = error_rows(report)
    report_id = secrets.token_urlsafe(12)
    session.reports[report_id] = {**extra, "csv": as_csv(rows), "rows": rows, "summary": {
        "file": filename, "status": answer.status, "mode": mode,
        "received": report.get("received"), "stored": report.get("stored"),
        "rejected": report.get("rejected"),
        "code": body.get("code"), "message": body.get("message")}}
    return report_id


def report_of(answer: Answer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The node's answer to an upload and its per-row report (the body itself, or the
    error's details when nothing was stored)."""
    body: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
    report = body if "received" in body else body.get("details")
    return body, report if isinstance(report, dict) else {}


@router.get("/bulk/{report_id}")
def bulk_result(request: Request, report_id: str) -> Response:
    session = web.signed_in(request)
    report = session.reports.get(report_id)
    if report is None:
        return web.render(request, "error.html", 404, title="No such report",
                          code="PORTAL-404", message="This report is not in your session.")
    return web.render(request, "bulk_result.html", title="Bulk upload result",
                      summary=report["summary"], rows=report["rows"], report_id=report_id)


@router.get("/bulk/{report_id}/errors.csv")
def bulk_errors(request: Request, report_id: str) -> Response:
    session = web.signed_in(request)
    report = session.reports.get(report_id)
    if report is None:
        return web.render(request, "error.html", 404, title="No such report",
                          code="PORTAL-404", message="This report is not in your session.")
    return Response(report["csv"], media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="fmar-bulk-errors-{report_id}.csv"'})
