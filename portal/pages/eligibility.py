"""An FSP's eligibility: the matrix of its units against every product in force
(GET /market-units/eligibility) and one unit's answer per product, each requirement met,
not met (with the unit's and the required values) or cannot tell. Outcomes are written
out in words and marked with a symbol, never by colour alone."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import web
from portal.recordforms import error_of

router = APIRouter()
# outcome or answer -> (symbol, words); the words are always shown
MARKS = {"eligible": ("✓", "Eligible"), "not eligible": ("✗", "Not eligible"),
         "cannot tell": ("?", "Cannot tell"), "met": ("✓", "Met"),
         "not met": ("✗", "Not met")}


def cell(outcome: str) -> dict[str, str]:
    symbol, words = MARKS.get(outcome, ("–", outcome or "No answer"))
    return {"symbol": symbol, "words": words, "css": outcome.replace(" ", "-")}


def matrix_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per unit: its ID and, per product code of the matrix, the outcome cell."""
    rows = []
    for unit in body.get("units", []) or []:
        by_code = {p.get("product_code"): p for p in unit.get("products", []) or []}
        rows.append({"unit_id": unit.get("unit_id"), "capability": unit.get("capability"),
                     "cells": [cell(str((by_code.get(code) or {}).get("outcome", "")))
                               for code in body.get("products", []) or []]})
    return rows


@router.get("/eligibility")
def matrix(request: Request, on: str = "") -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get("/market-units/eligibility", {"on": on} if on else None)
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    return web.render(request, "fsp/eligibility.html", title="Eligibility matrix",
                      products=body.get("products", []), rows=matrix_rows(body),
                      on=body.get("on", on), sources=body.get("sources") or {},
                      error=error_of(answer))


@router.get("/eligibility/{unit_id}")
def one_unit(request: Request, unit_id: str, on: str = "") -> Response:
    session = web.signed_in(request)
    with web.node_of(request, session) as node:
        answer = node.get(f"/market-units/{quote(unit_id, safe='')}/eligibility",
                          {"on": on} if on else None)
    body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    products = [{**p, "cell": cell(str(p.get("outcome", ""))),
                 "requirements": [{**r, "cell": cell(str(r.get("answer", "")))}
                                  for r in p.get("requirements", []) or []]}
                for p in body.get("products", []) or []]
    return web.render(request, "fsp/unit_eligibility.html", title="Eligibility of a unit",
                      unit_id=unit_id, products=products, on=body.get("on", on),
                      capability=body.get("capability"), error=error_of(answer))
