"""Event routes (thin): the pull feed, subscriptions, dead letters and replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict, JsonValue

from common.http_errors import error_responses
from common.openapi import secured
from node import policy
from node.api import services as deps
from node.events import types as event_types
from node.events.service import Events
from node.events.subscriptions import check_types
from node.identity import Caller, current_caller

router = APIRouter(tags=["events"])
CallerDep = Annotated[Caller, Depends(current_caller)]
EventsDep = Annotated[Events, Depends(deps.events)]
_CURSOR: JsonDict = {"type": "string", "pattern": "^[0-9]{0,18}$"}
_KNOWN: list[JsonValue] = [*sorted(event_types.KNOWN)]  # the types declared at start
_ONE_TYPE = "(" + "|".join(str(t).replace(".", "[.]") for t in _KNOWN) + ")"
_TYPE_LIST: JsonDict = {"type": "string", "pattern": f"^{_ONE_TYPE}(,{_ONE_TYPE})*$"}


class EventOut(BaseModel):
    id: str = Field(description="The event's UUID: the webhook-id, the same on every retry")
    sequence: str = Field(description="Its place in this node's outbox: a feed cursor")
    type: str = Field(description="e.g. connection-limit.created, asset.changed")
    kind: str
    record: str = Field(description="The record's IRI")
    version: int
    time: str
    data: dict[str, Any] = Field(description="e.g. `changed` field names and `material`")


class EventPage(BaseModel):
    items: list[EventOut]
    count: int
    next: str = Field(description="The cursor to ask with next (`after`)")


class SubscriptionIn(BaseModel):
    """A webhook endpoint and the event types it receives."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["url", "types"], "additionalProperties": False,
        "examples": [{"url": "https://fsp.example/fmar/events",
                      "types": ["connection-limit.created", "connection-limit.changed"]}]})

    url: Any = Field(None, description="https (http only to a loopback address), without "
                     "user name or password", json_schema_extra={
                         "type": "string", "maxLength": 2000,
                         "pattern": "^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"})
    types: Any = Field(None, description="Event types", json_schema_extra={
        "type": "array", "minItems": 1, "maxItems": 50, "items": {"enum": _KNOWN}})


class SubscriptionOut(BaseModel):
    id: str
    organisation: str
    url: str
    types: list[str]
    created: str
    cursor: str | None = None


class DeadLetter(BaseModel):
    sequence: str
    id: str
    type: str
    attempts: str
    error: str
    time: str


SUBSCRIPTION_SCOPE = secured("assets:read")


@router.get("/events", summary="The events the caller may read, after a cursor",
            description="In outbox order. An event appears only to parties entitled to read "
            "its record (POL-040). Ask again with `after` = `next`.",
            openapi_extra=SUBSCRIPTION_SCOPE, response_model=EventPage,
            responses=error_responses(400, 401, 403, 422))
def event_feed(
    caller: CallerDep, events: EventsDep,
    after: Annotated[str | None, Query(description="A cursor (`next`)",
                                       json_schema_extra=_CURSOR)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    types: Annotated[str | None, Query(description="Comma-separated event types",
                                       json_schema_extra=_TYPE_LIST)] = None,
) -> JSONResponse:
    wanted = check_types([t.strip() for t in types.split(",")]) if types is not None else None
    return JSONResponse(events.feed(caller, after, limit, wanted).as_json())


def _subscription(events: Events, found: Any) -> dict[str, Any]:
    return {**found.as_json(), "cursor": str(events.subscriptions.cursor(found))}


@router.post("/subscriptions", status_code=201, summary="Subscribe a webhook endpoint",
             description="Events of the given types that the caller's organisation may read "
             "(POL-040) are POSTed to `url`, signed with the node's key (Standard Webhooks "
             "headers, a detached JWS; docs/api.md). The subscription belongs to the "
             "caller's organisation.",
             openapi_extra=SUBSCRIPTION_SCOPE, response_model=SubscriptionOut,
             responses=error_responses(400, 401, 403, 409, 422, 503))
def subscribe(caller: CallerDep, events: EventsDep, body: SubscriptionIn) -> JSONResponse:
    found = events.subscribe(caller, body.model_dump(exclude_unset=True))
    return JSONResponse(_subscription(events, found), status_code=201,
                        headers={"Location": f"/subscriptions/{found.id}"})


@router.get("/subscriptions", summary="The caller's organisation's subscriptions",
            openapi_extra=SUBSCRIPTION_SCOPE, responses=error_responses(401, 403))
def list_subscriptions(caller: CallerDep, events: EventsDep) -> JSONResponse:
    _reader(caller)
    items = [_subscription(events, s) for s in events.subscriptions.of(caller)]
    return JSONResponse({"items": items, "count": len(items)})


def _reader(caller: Caller) -> None:
    policy.event_reader(caller)  # POL-001: assets:read


@router.get("/subscriptions/{subscription_id}", summary="One subscription",
            openapi_extra=SUBSCRIPTION_SCOPE, response_model=SubscriptionOut,
            responses=error_responses(401, 403, 404))
def read_subscription(subscription_id: str, caller: CallerDep,
                      events: EventsDep) -> JSONResponse:
    _reader(caller)
    return JSONResponse(_subscription(events, events.subscriptions.get(caller,
                                                                       subscription_id)))


@router.delete("/subscriptions/{subscription_id}", status_code=204,
               summary="Remove a subscription (its cursor and dead letters go with it)",
               openapi_extra=SUBSCRIPTION_SCOPE, response_class=Response,
               responses=error_responses(401, 403, 404, 503))
def delete_subscription(subscription_id: str, caller: CallerDep, events: EventsDep) -> Response:
    _reader(caller)
    events.subscriptions.delete(caller, subscription_id)
    return Response(status_code=204)


@router.get("/subscriptions/{subscription_id}/dead-letters",
            summary="Events given up on after the last retry",
            openapi_extra=SUBSCRIPTION_SCOPE, responses=error_responses(401, 403, 404))
def dead_letters(subscription_id: str, caller: CallerDep, events: EventsDep) -> JSONResponse:
    _reader(caller)
    items = events.subscriptions.dead_letters(caller, subscription_id)
    return JSONResponse({"items": items, "count": len(items)})


@router.post("/subscriptions/{subscription_id}/replay",
             summary="Deliver again every event after a cursor",
             description="Moves the subscription's cursor to `from` (0: the first event) and "
             "clears its dead letters; events are sent again with their own ids.",
             openapi_extra=SUBSCRIPTION_SCOPE, response_model=SubscriptionOut,
             responses=error_responses(400, 401, 403, 404, 503))
def replay(subscription_id: str, caller: CallerDep, events: EventsDep,
           start: Annotated[str | None, Query(alias="from", description="A cursor",
                                              json_schema_extra=_CURSOR)] = None
           ) -> JSONResponse:
    found = events.replay(caller, subscription_id, start)
    return JSONResponse(_subscription(events, found))
