"""The pull feed: the events a caller may read (POL-040), in order, after a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node import policy
from node.events.model import Event
from node.events.outbox import Outbox
from node.identity import Caller

SCAN = 5_000  # events looked at per page at most: a caller entitled to few still progresses


@dataclass
class Page:
    events: list[Event]
    next: int  # the cursor to ask with next time (the last event looked at)

    def as_json(self) -> dict[str, Any]:
        return {"items": [e.as_json() for e in self.events], "count": len(self.events),
                "next": str(self.next)}


def entitled(caller: Caller, event: Event, types: tuple[str, ...] | None) -> bool:
    return (types is None or event.type in types) and policy.may_receive_event(
        caller, event.facts, event.kind)


def page(outbox: Outbox, caller: Caller, after: int, limit: int,
         types: tuple[str, ...] | None = None) -> Page:
    policy.event_reader(caller)
    found, cursor = [], after
    for event in outbox.after(after, outbox.window(after, SCAN)):
        cursor = event.sequence
        if entitled(caller, event, types):
            found.append(event)
            if len(found) == limit:
                break
    return Page(found, cursor)
