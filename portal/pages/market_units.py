"""An FSP's market units on its node: the list, a unit's page (members, capability,
history), creating a unit, and adding or ending a membership on a date. Every SHACL
violation is shown at its field with its rule ID."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal import web
from portal.forms import BOOL_CHOICES, FormField
from portal.nodes import Answer
from portal.recordforms import body_of, error_of, items_of, place

router = APIRouter()

UNIT_FIELDS: tuple[FormField, ...] = (
    FormField("Name", "Unit name"),
    FormField("OrganisationId", "Organisation ID", hint="Your organisation's ID"),
    FormField("UnitType", "Unit type", hint="SPU (one connection point) or SPG (a group)"),
    FormField("ConnectionMPAN", "Connection MPAN", hint="SPU: 13 digits"),
    FormField("SitePostcode", "Site postcode", hint="SPU: instead of an MPAN"),
    FormField("LocationScope", "Location scope", hint="SPG: GSPGroup, DNOArea or "
              "ConstraintZone"),
    FormField("GSPGroup", "GSP group", hint="SPG by GSP group, e.g. _J"),
    FormField("DNOArea", "DNO licence area", hint="SPG by licence area, e.g. SSEN_SEPD"),
    FormField("ConstraintZone", "Constraint zone"),
    FormField("FullDeliveryTimeSeconds", "Full delivery time (s)", "number"),
    FormField("SustainedDurationMinutes", "Sustained duration (min)", "number"),
    FormField("Direction", "Direction", hint="Up, Down or Both"),
    FormField("BMRegistered", "Registered in the Balancing Mechanism", "bool"),
)
MEMBER_FIELDS: tuple[FormField, ...] = (
    FormField("AssetId", "Asset ID", hint="One of your assets on this node"),
    FormField("ValidFrom", "Member from", "date"),
    FormField("ValidTo", "Member until (optional, exclusive)", "date"),
)


def _unit_path(unit_id: str, tail: str = "") -> str:
    return f"/market-units/{quote(unit_id, safe='')}{tail}"


@router.get("/market-units")
def list_units(request: Request) -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get("/market-units", {"limit": "100"})
    return web.render(request, "fsp/units.html", title="Market units",
                      items=items_of(answer), error=error_of(answer))


def _new_page(request: Request, values: dict[str, str], answer: Answer | None = None,
              status: int = 200) -> Response:
    by_field, other = place(answer, UNIT_FIELDS)
    return web.render(request, "fsp/unit_new.html", status, title="Create a market unit",
                      fields=UNIT_FIELDS, bool_choices=BOOL_CHOICES, values=values,
                      by_field=by_field, other=other,
                      error=error_of(answer) if answer is not None else None)


@router.get("/market-units/new")
def new_unit(request: Request) -> Response:
    session = web.signed_in(request)
    return _new_page(request, {"OrganisationId": str(session.org.get("id") or ""),
                               "UnitType": "SPU"})


@router.post("/market-units/new")
async def create_unit(request: Request) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    values = {f.name: str(form.get(f.name) or "") for f in UNIT_FIELDS}

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", "/market-units", json=body_of(UNIT_FIELDS, values))

    answer = await run_in_threadpool(send)
    if answer.ok and isinstance(answer.body, dict):
        return web.redirect(request, _unit_path(str(answer.body.get("UnitId", "")),
                                                "?created=1"))
    return _new_page(request, values, answer, answer.status)


def _unit_page(request: Request, unit_id: str, member_values: dict[str, str] | None = None,
               member_answer: Answer | None = None, status: int = 200,
               notice: str = "") -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        unit = node.get(_unit_path(unit_id))
        if not unit.ok:
            return web.render(request, "error.html", unit.status, title="Market unit",
                              code=unit.error.get("code"), message=unit.error.get("message"))
        members = node.get(_unit_path(unit_id, "/members"), {"all": "true"})
        capability = node.get(_unit_path(unit_id, "/capability"))
        history = node.get(_unit_path(unit_id, "/history"))
    by_field, other = place(member_answer, MEMBER_FIELDS)
    record: dict[str, Any] = unit.body if isinstance(unit.body, dict) else {}
    versions = history.body.get("versions", history.body.get("items", [])) \
        if history.ok and isinstance(history.body, dict) else []
    return web.render(request, "fsp/unit.html", status, title=record.get("Name") or unit_id,
                      unit=record, unit_id=unit_id, members=items_of(members),
                      members_error=error_of(members),
                      capability=capability.body if capability.ok else None,
                      versions=versions if isinstance(versions, list) else [],
                      fields=MEMBER_FIELDS, bool_choices=BOOL_CHOICES,
                      values=member_values or {}, by_field=by_field, other=other,
                      error=error_of(member_answer) if member_answer is not None else None,
                      notice=notice)


@router.get("/market-units/{unit_id}")
def show_unit(request: Request, unit_id: str, created: str = "", done: str = "") -> Response:
    notice = "The unit was created." if created else (done and "Saved.")
    return _unit_page(request, unit_id, notice=notice)


@router.post("/market-units/{unit_id}/members")
async def add_member(request: Request, unit_id: str) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    values = {f.name: str(form.get(f.name) or "") for f in MEMBER_FIELDS}

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", _unit_path(unit_id, "/members"),
                             json=body_of(MEMBER_FIELDS, values))

    answer = await run_in_threadpool(send)
    if answer.ok:
        return web.redirect(request, _unit_path(unit_id, "?done=added"))
    return await run_in_threadpool(_unit_page, request, unit_id, values, answer,
                                   answer.status)


@router.post("/market-units/{unit_id}/members/{membership_id}/end")
async def end_member(request: Request, unit_id: str, membership_id: str) -> Response:
    session = web.signed_in(request)
    form = await web.posted(request)
    valid_to = str(form.get("ValidTo") or "").strip()

    def send() -> Answer:
        with web.node_of(request, session) as node:
            return node.call("POST", _unit_path(
                unit_id, f"/members/{quote(membership_id, safe='')}/end"),
                json={"ValidTo": valid_to or None})

    answer = await run_in_threadpool(send)
    if answer.ok:
        return web.redirect(request, _unit_path(unit_id, "?done=ended"))
    return await run_in_threadpool(_unit_page, request, unit_id, None, answer, answer.status)
