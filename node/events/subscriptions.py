"""Subscriptions: a party's webhook endpoint and the event types it wants, kept as node
state (`urn:fmar:subscription:{id}`, outside the record graphs), with its delivery cursor
and its dead letters.

A subscription belongs to the caller's organisation: another organisation neither sees
nor removes it (EVT-404). It keeps the subscriber's rights as they were when it was made
(roles, licence areas), and POL-040 judges each event with them.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from common.errors import BadInput, Conflict, NotFound
from node import ntriples
from node.audit import now_iso
from node.events import types as event_types
from node.events.model import EV
from node.identity import Caller
from node.ntriples import term_value
from node.records.unit import UnitOfWork
from node.store import GraphWrite

SUBSCRIPTION_BASE = "urn:fmar:subscription:"
MAX_URL = 2000
MAX_TYPES = 50
MAX_PER_ORGANISATION = 20
_LOOPBACK_NAMES = {"localhost"}


def subscription_iri(subscription_id: str) -> str:
    return f"{SUBSCRIPTION_BASE}{subscription_id}"


def _no_such() -> NotFound:
    return NotFound("EVT-404", "No such subscription.")


def check_url(url: Any) -> str:
    """EVT-IN-002: an absolute https URL (http only to a loopback address, for local
    tests), without user name or password, not to a private, link-local or reserved IP
    address, at most 2,000 characters. (A host name is not resolved here: a deployment
    sends webhooks through its egress proxy.)"""
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise BadInput("EVT-IN-002", "The endpoint `url` is an https URL of at most 2,000 "
                       "characters.")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password \
            or any(c.isspace() for c in url):
        raise BadInput("EVT-IN-002", "The endpoint `url` is an absolute https URL without "
                       "user name or password.", {"url": url[:200]})
    if parts.scheme == "http" and not _loopback(host):
        raise BadInput("EVT-IN-002", "Webhooks go over https; http is accepted only for a "
                       "loopback address (local tests).", {"url": url[:200]})
    address = _address(host)
    if address is not None and not address.is_loopback and not address.is_global:
        # The node posts from inside its operator's network: not to private addresses.
        raise BadInput("EVT-IN-002", "A webhook endpoint is not a private, link-local or "
                       "reserved address.", {"url": url[:200]})
    return url


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    address = _address(host)
    return host in _LOOPBACK_NAMES or (address is not None and address.is_loopback)


def check_types(value: Any) -> tuple[str, ...]:
    """EVT-IN-003: a non-empty list of known event types."""
    if not isinstance(value, list) or not value or len(value) > MAX_TYPES \
            or not all(isinstance(t, str) for t in value):
        raise BadInput("EVT-IN-003", "`types` is a non-empty list of event types.",
                       {"known": sorted(event_types.KNOWN)})
    unknown = sorted(set(value) - event_types.KNOWN)
    if unknown:
        raise BadInput("EVT-IN-003", f"Unknown event type {unknown[0]!r}.",
                       {"unknown": unknown, "known": sorted(event_types.KNOWN)})
    return tuple(sorted(set(value)))


def check_cursor(value: Any) -> int:
    """EVT-IN-004: a cursor is an event sequence number (0: from the start)."""
    if value is None or value == "":
        return 0
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise BadInput("EVT-IN-004", "A cursor is the `sequence` (or `next`) of an event: a "
                       "whole number.", {"cursor": text[:40]})
    return int(text)


@dataclass(frozen=True)
class Subscription:
    id: str
    organisation: str
    subject: str
    roles: frozenset[str]
    dno_areas: frozenset[str]
    url: str
    types: tuple[str, ...]
    created: str

    @property
    def iri(self) -> str:
        return subscription_iri(self.id)

    @property
    def cursor_graph(self) -> str:
        return f"{self.iri}:cursor"

    @property
    def dead_graph(self) -> str:
        return f"{self.iri}:dead-letters"

    def subscriber(self) -> Caller:
        """The subscriber's rights, as POL-040 judges them."""
        return Caller(self.subject, self.organisation, self.roles, frozenset({"assets:read"}),
                      self.dno_areas)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "organisation": self.organisation, "url": self.url,
                "types": list(self.types), "created": self.created}

    def ntriples(self) -> str:
        s, lit = f"<{self.iri}>", ntriples.string
        body = {"organisation": self.organisation, "subject": self.subject,
                "roles": sorted(self.roles), "dno_areas": sorted(self.dno_areas),
                "url": self.url, "types": list(self.types), "created": self.created}
        return "\n".join([
            f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{EV}Subscription> .",
            f"{s} <{EV}organisation> {lit(self.organisation)} .",
            f"{s} <{EV}endpoint> {lit(self.url)} .",
            f"{s} <{EV}subscription> {lit(json.dumps(body, sort_keys=True))} .",
        ])

    @classmethod
    def from_graph(cls, subscription_id: str, triples: list[Any]) -> Subscription | None:
        found = [term_value(t.object) for t in triples if t.predicate.value == f"{EV}subscription"]
        if not found:
            return None
        b = json.loads(found[0])
        return cls(subscription_id, b["organisation"], b["subject"], frozenset(b["roles"]),
                   frozenset(b["dno_areas"]), b["url"], tuple(b["types"]), b["created"])


class Subscriptions:
    """Subscriptions, their cursors and dead letters, in the node's store."""

    def __init__(self, unit: UnitOfWork):
        self.unit = unit
        self.store = unit.store
        self.cursor_lock = threading.Lock()  # the API's replay vs the delivery worker

    def create(self, caller: Caller, body: Any) -> Subscription:
        if not isinstance(body, dict):
            raise BadInput("EVT-IN-001", "A subscription is a JSON object with `url` and "
                           "`types`.")
        extra = sorted(set(body) - {"url", "types"})
        if extra:
            raise BadInput("EVT-IN-001", f"Unknown field {extra[0]!r}: a subscription has "
                           "`url` and `types`.", {"unknown": extra})
        url, kinds = check_url(body.get("url")), check_types(body.get("types"))
        subscription = Subscription(str(uuid.uuid4()), caller.organisation_id, caller.subject,
                                    caller.roles, caller.dno_areas, url, kinds, now_iso())
        # Starts at the newest event: a subscriber replays (or reads the feed) for older ones.
        with self.unit.lock:
            if len(self.of(caller)) >= MAX_PER_ORGANISATION:
                raise Conflict("EVT-409", f"An organisation has at most {MAX_PER_ORGANISATION} "
                               "subscriptions on a node: remove one first.",
                               {"limit": MAX_PER_ORGANISATION})
            cursor = self._cursor_write(subscription, self.unit.outbox.head)
            self.unit.write(caller, "create-subscription",
                            [GraphWrite(subscription.iri, subscription.ntriples()), cursor],
                            [(subscription.iri, 1)])
        return subscription

    def all(self) -> list[Subscription]:
        query = (f"SELECT ?s WHERE {{ GRAPH ?s {{ ?s a <{EV}Subscription> }} }}")
        found = (self._read(s["s"].value) for s in self.store.select(query))
        return sorted((s for s in found if s is not None), key=lambda s: s.created)

    def _read(self, iri: str) -> Subscription | None:
        return Subscription.from_graph(iri.removeprefix(SUBSCRIPTION_BASE),
                                       self.store.triples(iri))

    def of(self, caller: Caller) -> list[Subscription]:
        return [s for s in self.all() if s.organisation == caller.organisation_id]

    def get(self, caller: Caller, subscription_id: str) -> Subscription:
        """The caller's organisation's subscription; any other is "not found" (EVT-404)."""
        try:
            uuid.UUID(subscription_id)
        except ValueError:
            raise _no_such() from None
        found = self._read(subscription_iri(subscription_id))
        if found is None or found.organisation != caller.organisation_id:
            raise _no_such()
        return found

    def delete(self, caller: Caller, subscription_id: str) -> None:
        found = self.get(caller, subscription_id)
        with self.cursor_lock:
            self.unit.write(caller, "delete-subscription",
                            [GraphWrite(g, "") for g in (found.iri, found.cursor_graph,
                                                          found.dead_graph)],
                            [(found.iri, 2)], events=[])

    # ------------------------------------------------------------ cursors

    def cursor(self, subscription: Subscription) -> int:
        values = [term_value(t.object) for t in self.store.triples(subscription.cursor_graph)]
        return int(values[0]) if values else 0

    def _cursor_write(self, subscription: Subscription, cursor: int) -> GraphWrite:
        return GraphWrite(subscription.cursor_graph,
                          f'<{subscription.iri}> <{EV}cursor> "{cursor}"'
                          f"^^<http://www.w3.org/2001/XMLSchema#integer> .")

    def advance(self, subscription: Subscription, sent_from: int, cursor: int,
                dead: dict[str, Any] | None = None) -> bool:
        """Move the cursor from `sent_from` to `cursor` (with a dead letter), unless it was
        moved meanwhile (a replay) or the subscription went: then nothing changes."""
        with self.cursor_lock:
            if self._read(subscription.iri) is None or self.cursor(subscription) != sent_from:
                return False
            writes = [self._cursor_write(subscription, cursor)]
            if dead is not None:
                s = f"<{subscription.iri}:dead:{dead['sequence']}>"
                writes.append(GraphWrite(subscription.dead_graph, "\n".join(
                    f"{s} <{EV}{k}> {ntriples.string(str(v))} ." for k, v in dead.items()),
                    replace=False))
            self.store.write(writes)
            return True

    def replay(self, caller: Caller, subscription_id: str, cursor: int) -> Subscription:
        """Deliver again every event after `cursor` (its dead letters are cleared)."""
        found = self.get(caller, subscription_id)
        with self.cursor_lock:
            self.store.write([self._cursor_write(found, min(cursor, self.unit.outbox.head)),
                              GraphWrite(found.dead_graph, "")])
        return found

    def dead_letters(self, caller: Caller, subscription_id: str) -> list[dict[str, Any]]:
        found = self.get(caller, subscription_id)
        letters: dict[str, dict[str, Any]] = {}
        for t in self.store.triples(found.dead_graph):
            entry = letters.setdefault(term_value(t.subject), {})
            entry[t.predicate.value.removeprefix(EV)] = term_value(t.object)
        return sorted(letters.values(), key=lambda e: int(e.get("sequence", 0)))
