"""Shared by the market unit, qualification and connection limit pages: a form's fields
turned into a JSON body, each SHACL violation placed at its field, and a node's answer
read as a list."""

from __future__ import annotations

from typing import Any

from portal.forms import FormField
from portal.nodes import Answer


def body_of(fields: tuple[FormField, ...], form: dict[str, Any]) -> dict[str, Any]:
    """Numbers that parse are sent as numbers, yes/no as booleans, the rest as typed (the
    node judges it); empty fields are left out."""
    body: dict[str, Any] = {}
    for f in fields:
        raw = str(form.get(f.name) or "").strip()
        if not raw:
            continue
        if f.kind == "number":
            try:
                body[f.name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                body[f.name] = raw
        elif f.kind == "bool" and raw in ("true", "false"):
            body[f.name] = raw == "true"
        else:
            body[f.name] = raw
    return body


def field_of(path: str, names: set[str]) -> str | None:
    """The field a violation's `path` names: the field name, or its property IRI's local
    name (fmar:unitType -> UnitType)."""
    if path in names:
        return path
    tail = path.rsplit("#", 1)[-1].rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower()
    for name in names:
        if tail in (name.lower(), name.replace("_", "").lower()):
            return name
    return None


def place(answer: Answer | None, fields: tuple[FormField, ...],
          ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The answer's violations by field, and those that name no field of the form. An
    error without violations (a policy refusal) is shown above the form by the page."""
    if answer is None or answer.ok:
        return {}, []
    names = {f.name for f in fields}
    by_field: dict[str, list[dict[str, Any]]] = {}
    other: list[dict[str, Any]] = []
    for v in answer.violations:
        name = field_of(str(v.get("path") or v.get("field") or ""), names)
        if name:
            by_field.setdefault(name, []).append(v)
        else:
            other.append(v)
    return by_field, other


def items_of(answer: Answer) -> list[dict[str, Any]]:
    body = answer.body if answer.ok else None
    items = body.get("items", []) if isinstance(body, dict) else body
    return [i for i in items or [] if isinstance(i, dict)]


def error_of(answer: Answer) -> dict[str, Any] | None:
    return None if answer.ok else answer.error
