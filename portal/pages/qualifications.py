"""An FSP's qualification applications: apply for a product for one of its units
(POST /qualification-applications on its node), and see its applications with the
outcomes the system operators recorded on their own nodes (GET
/federation/records/qualifications: the node asks every node with the person's rights)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.forms import BOOL_CHOICES, FormField
from portal.nodes import Answer
from portal.pages.federation import node_rows
from portal.recordforms import body_of, error_of, items_of, place

router = APIRouter()

APPLICATION_FIELDS: tuple[FormField, ...] = (
    FormField("UnitId", "Market unit ID", hint="One of your units (its ID)"),
    FormField("Product", "Product code", hint="e.g. DC, DM, DR, QR"),
    FormField("ClaimedUpKW", "Upward capability claimed (kW)", "number"),
    FormField("ClaimedDownKW", "Downward capability claimed (kW)", "number"),
    FormField("Evidence", "Evidence", hint="A URL or document reference (required)"),
)


def _page(request: Request, values: dict[str, str], answer: Answer | None = None,
          status: int = 200, created: str = "") -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        listed = node.get("/qualification-applications", {"limit": "100"})
        outcomes = node.get("/federation/records/qualifications")
        products = node.get("/qualification-products")
    by_application: dict[str, list[dict[str, object]]] = {}
    for q in items_of(outcomes):
        by_application.setdefault(str(q.get("ApplicationId")), []).append(q)
    by_field, other = place(answer, APPLICATION_FIELDS)
    return web.render(request, "fsp/applications.html", status,
                      title="Qualification applications", applications=items_of(listed),
                      outcomes=by_application, products=items_of(products),
                      list_error=error_of(listed), outcomes_error=error_of(outcomes),
                      nodes=node_rows(request, outcomes.body if outcomes.ok else None),
                      fields=APPLICATION_FIELDS,
                      bool_choices=BOOL_CHOICES, values=values, by_field=by_field,
                      other=other, created=created,
                      error=error_of(answer) if answer is not None else None)


@router.get("/qualification-applications")
def applications(request: Request, unit: str = "", created: str = "") -> Response:
    return _page(request, {"UnitId": unit}, created=created)


@router.post("/qualification-applications")
async def apply(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    values = {f.name: str(form.get(f.name) or "") for f in APPLICATION_FIELDS}

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", "/qualification-applications",
                             json=body_of(APPLICATION_FIELDS, values))

    answer = await run_in_threadpool(send)
    if answer.ok and isinstance(answer.body, dict):
        return web.redirect(request, "/qualification-applications?created="
                            + str(answer.body.get("ApplicationId", "")))
    return await run_in_threadpool(_page, request, values, answer, answer.status)
