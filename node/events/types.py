"""Event types: `<kind>.<what happened>`, one per (kind, action).

A kind whose actions are not listed here gets `<kind>.<action>`; list new ones here (or
call `register`) so subscribers can name them (EVT-IN-003 accepts only known types).
"""

from __future__ import annotations

import re

TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$")

_BY_ACTION: dict[tuple[str, str], str] = {
    ("asset", "register"): "asset.registered",
    ("asset", "update"): "asset.changed",
    ("asset", "patch"): "asset.changed",
    ("asset", "set-validation-status"): "asset.validation-status-changed",
    ("asset", "deregister"): "asset.deregistered",
    ("asset", "dispute-status"): "asset.disputed",  # data: the dispute's state
    ("asset", "suspend"): "asset.suspended",
    ("category", "create-category"): "category.created",
    ("category", "update-category"): "category.changed",
    ("category", "deprecate-category"): "category.deprecated",
    ("connection-limit", "create-connection-limit"): "connection-limit.created",
    ("connection-limit", "update-connection-limit"): "connection-limit.changed",
    ("connection-limit", "delete-connection-limit"): "connection-limit.deleted",
    ("switch-request", "request-switch"): "switch.requested",
    ("switch-request", "object-switch"): "switch.objected",
    ("switch-request", "withdraw-switch"): "switch.withdrawn",
    # every later step (accepted, transferring, ..., completed): `data.state` says which
    ("switch-request", "advance-switch"): "switch.state-changed",
    ("asset", "switch-in"): "asset.switched-in",
    # on the new holder's node: the unit is now its FSP's (data: organisation, former,
    # switch_request); the operators' nodes move their outcomes (node/events/inbox.py)
    ("market-unit", "switch-in"): "market-unit.switched-in",
    ("market-unit-membership", "switch-in"): "market-unit-membership.switched-in",
    # on an operator's node: an outcome or a grid prequalification now names the unit's
    # new FSP (POL-096)
    ("qualification", "follow-switch-qualification"): "qualification.fsp-changed",
    ("grid-prequalification", "follow-switch-grid-prequalification"):
        "grid-prequalification.fsp-changed",
    # a unit's members changed (data.material, data.reason when material)
    ("market-unit", "recompute-market-unit"): "market-unit.composition-changed",
}
KNOWN: set[str] = set(_BY_ACTION.values())


def register(kind: str, action: str, event_type: str) -> str:
    """Name the event of a kind's action (new kinds call this where they are declared)."""
    if not TYPE_RE.match(event_type):
        raise ValueError(f"event type {event_type!r} is not `kind.what`")
    _BY_ACTION[(kind, action)] = event_type
    KNOWN.add(event_type)
    return event_type


_PAST = {"create": "created", "update": "changed", "delete": "deleted"}


def event_type(kind: str, action: str) -> str:
    """The type of the event a kind's action emits; a generic kind's action
    `<verb>-<kind>` (node/records/kind.py `action`) is `<kind>.<verb in the past>`."""
    found = _BY_ACTION.get((kind, str(action)))
    if found:
        return found
    verb = str(action).removesuffix(f"-{kind}")
    past = _PAST.get(verb) or (verb + "d" if verb.endswith("e") else verb + "ed")
    return register(kind, str(action), f"{kind}.{past}")
