"""Bulk upload of an XLSX workbook: read in the portal (openpyxl) into the same CSV the
node takes (POST /assets/bulk), and reported exactly as a CSV upload (portal/pages/bulk.py
result page and error report)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from portal import web
from portal.nodes import Answer
from portal.pages.bulk import MODES, keep_report
from portal.xlsx import NotAWorkbook, to_csv

router = APIRouter()


# A problem found after the upload is shown on the form's page, reached by a redirect (so
# that the progress bar's script, which follows redirects, shows it too).
PROBLEMS = {"PORTAL-021": "PORTAL-021: this file is not an XLSX workbook (save it as .xlsx "
            "from your spreadsheet, with the column names in the first row of the first "
            "sheet)."}


def _form(request: Request, status: int = 200, problem: str = "") -> Response:
    return web.render(request, "fsp/bulk_xlsx.html", status, title="Bulk upload (XLSX)",
                      modes=MODES, problem=problem)


@router.get("/bulk-xlsx")
def xlsx_page(request: Request, problem: str = "") -> Response:
    web.signed_in(request)
    return _form(request, problem=PROBLEMS.get(problem, ""))


@router.post("/bulk-xlsx")
async def xlsx_upload(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    upload = form.get("file")
    mode = str(form.get("mode") or "store-valid")
    if not isinstance(upload, UploadFile) or not upload.filename or mode not in MODES:
        return _form(request, 400, "PORTAL-020: choose an XLSX file (and a mode) to upload.")
    try:
        text = await run_in_threadpool(to_csv, upload.file)
    except NotAWorkbook:
        return web.redirect(request, "/bulk-xlsx?problem=PORTAL-021")

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.upload_csv(iter([text]), mode)

    answer = await run_in_threadpool(send)
    return web.redirect(request, f"/bulk/{keep_report(session, upload.filename, mode, answer)}")


