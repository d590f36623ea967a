"""Events: an outbox written with every change, a pull feed, subscriptions and signed
webhooks (docs/design.md, "Events").

A kind emits an event in one line, inside its write through the unit of work:

    unit.write(caller, action, writes, records, events=[draft(KIND, action, record)])

or not at all: `UnitOfWork.write` and `change` derive the default event of a kind and
action (node/events/types.py) when they are not given one.
"""

from node.events.model import Event, EventDraft, UploadEvent, draft

__all__ = ["Event", "EventDraft", "UploadEvent", "draft"]
