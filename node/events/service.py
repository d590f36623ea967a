"""The node's events service: its subscriptions, the feed and the delivery worker, opened
with the node (node/api/services.py) and stopped with it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.events import feed
from node.events.delivery import Delivery, DeliverySettings
from node.events.signing import WebhookSigner
from node.events.subscriptions import Subscription, Subscriptions, check_cursor
from node.identity import Caller
from node.records.unit import UnitOfWork

logger = logging.getLogger("fmar.events")


@dataclass
class Events:
    unit: UnitOfWork
    subscriptions: Subscriptions
    delivery: Delivery

    @classmethod
    def open(cls, unit: UnitOfWork, settings: DeliverySettings, key: Path | None = None,
             cert: Path | None = None, ca_bundle: Path | None = None) -> Events:
        signer = None
        if key and cert:
            try:
                signer = WebhookSigner.from_files(key, cert, ca_bundle)
            except (OSError, ValueError) as error:  # delivery says so, unsigned
                logger.error("Webhooks cannot be signed with %s: %s", key, error)
        subscriptions = Subscriptions(unit)
        events = cls(unit, subscriptions, Delivery(unit.outbox, subscriptions, signer, settings,
                                                   ca_bundle))
        events.delivery.start()
        return events

    def close(self) -> None:
        self.delivery.stop()

    def feed(self, caller: Caller, after: Any, limit: int,
             types: tuple[str, ...] | None) -> feed.Page:
        return feed.page(self.unit.outbox, caller, check_cursor(after), limit, types)

    def subscribe(self, caller: Caller, body: Any) -> Subscription:
        feed.policy.event_reader(caller)
        subscription = self.subscriptions.create(caller, body)
        self.delivery.wake()
        return subscription

    def replay(self, caller: Caller, subscription_id: str, cursor: Any) -> Subscription:
        feed.policy.event_reader(caller)
        found = self.subscriptions.replay(caller, subscription_id, check_cursor(cursor))
        self.delivery.replayed(found.id)
        return found
