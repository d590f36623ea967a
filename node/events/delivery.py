"""Webhook delivery from the outbox, on a thread of the node process.

For each subscription, in order: the next event after its cursor that it wants and may
receive (POL-040) is POSTed, signed (node/events/signing.py). A 2xx answer moves the
cursor (persisted in the store, so a restarted node, even after `kill -9`, resumes where
it was: at-least-once delivery, the same `webhook-id` on every attempt). Anything else is
retried after `retry_base * 2**(attempt-1)` seconds (at most `retry_max`); after
`max_attempts` the event becomes a dead letter and the cursor moves on. Events of one
subscription are delivered strictly in order.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from node.events.feed import entitled
from node.events.model import Event
from node.events.outbox import Outbox
from node.events.signing import WebhookSigner
from node.events.subscriptions import Subscription, Subscriptions

logger = logging.getLogger("fmar.events")
BATCH = 100  # events sent to one subscription before the others get their turn
SCAN = 5_000


@dataclass(frozen=True)
class DeliverySettings:
    retry_base: float = 2.0
    retry_max: float = 3600.0
    max_attempts: int = 8
    poll: float = 1.0
    timeout: float = 10.0


@dataclass
class _Retry:
    attempts: int = 0
    next_try: float = 0.0


def _trusted(ca_bundle: Path | None) -> ssl.SSLContext:
    """The public CAs, and the federation's CA when given: another node's inbox
    (POST /inbox/events) serves a certificate of the federation CA."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


class Delivery:
    def __init__(self, outbox: Outbox, subscriptions: Subscriptions,
                 signer: WebhookSigner | None, settings: DeliverySettings,
                 ca_bundle: Path | None = None):
        self.outbox, self.subscriptions = outbox, subscriptions
        self.signer, self.settings, self.ca_bundle = signer, settings, ca_bundle
        self._retries: dict[str, _Retry] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        outbox.on_commit(self._wake.set)

    def start(self) -> None:
        if self.signer is None:
            logger.warning("Webhooks are sent unsigned: no FMAR_CLIENT_KEY/FMAR_CLIENT_CERT "
                           "(receivers that verify them, node/events/verify.py, refuse them).")
        self._thread = threading.Thread(target=self._run, name="fmar-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout + 5)

    def wake(self) -> None:
        self._wake.set()

    def replayed(self, subscription_id: str) -> None:
        """A replay starts afresh: no backoff left from earlier failures."""
        self._retries.pop(subscription_id, None)
        self._wake.set()

    def _run(self) -> None:
        with httpx.Client(timeout=self.settings.timeout, follow_redirects=False,
                          verify=_trusted(self.ca_bundle)) as http:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self.tick(http)
                except Exception:  # a store or programming error: log, keep the thread
                    logger.exception("event delivery failed; retrying")
                self._wake.wait(self.settings.poll)

    def tick(self, http: httpx.Client) -> None:
        for subscription in self.subscriptions.all():
            if self._stop.is_set():
                return
            self._deliver(http, subscription)

    def _deliver(self, http: httpx.Client, subscription: Subscription) -> None:
        retry = self._retries.setdefault(subscription.id, _Retry())
        if time.monotonic() < retry.next_try:
            return
        subscriber = subscription.subscriber()
        for _ in range(BATCH):
            cursor = self.subscriptions.cursor(subscription)
            last = self.outbox.window(cursor, SCAN)  # decided before the scan
            pending = next((e for e in self.outbox.after(cursor, last)
                            if entitled(subscriber, e, subscription.types)), None)
            if pending is None:  # nothing for it up to `last`: skip what it does not want
                if last > cursor:
                    self.subscriptions.advance(subscription, cursor, last)
                return
            error = self._post(http, subscription, pending)
            if error is None:
                retry.attempts = 0
                self.subscriptions.advance(subscription, cursor, pending.sequence)
                continue
            retry.attempts += 1
            if retry.attempts >= self.settings.max_attempts:
                logger.warning("event %s to subscription %s: dead letter after %d attempts "
                               "(%s)", pending.sequence, subscription.id, retry.attempts, error)
                self.subscriptions.advance(subscription, cursor, pending.sequence, {
                    "sequence": pending.sequence, "id": pending.id, "type": pending.type,
                    "attempts": retry.attempts, "error": error, "time": pending.time})
                retry.attempts = 0
                continue
            delay = min(self.settings.retry_base * 2 ** (retry.attempts - 1),
                        self.settings.retry_max)
            retry.next_try = time.monotonic() + delay
            return

    def _post(self, http: httpx.Client, subscription: Subscription,
              event: Event) -> str | None:
        """None when the endpoint took it (2xx), else why not."""
        body = json.dumps(event.as_json(), separators=(",", ":")).encode()
        headers = {"content-type": "application/json"}
        if self.signer is not None:
            headers.update(self.signer.headers(event.id, int(time.time()), body))
        else:
            headers.update({"webhook-id": event.id, "webhook-timestamp": str(int(time.time()))})
        try:
            response = http.post(subscription.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
