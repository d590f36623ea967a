"""The node's inbox: signed webhooks from other nodes' subscriptions (`POST /inbox/events`).

A system operator's node subscribes, on each FSP's node, to
`market-unit.composition-changed`; this is where those events arrive. The webhook itself
is the credential (no bearer token: the sending node signs with its own key):

- INBOX-001: not a signed webhook (headers missing or malformed);
- INBOX-002: forged: the signature does not verify, its certificate does not chain to the
  federation's CA (the trust framework's), or the body is not the event signed;
- INBOX-003: stale: `webhook-timestamp` outside the tolerance;
- INBOX-004: replayed: a `webhook-id` already received (kept for twice the tolerance,
  beyond which INBOX-003 refuses it anyway; handling is idempotent besides);
- INBOX-005: the signing node does not hold the unit's FSP (its member is not the FSP
  named by the outcomes or grid prequalifications held here for the unit, nor listed as
  hosting it);
- INBOX-006: not an FMAR event, or a material change that names no market unit;
- INBOX-007: this node cannot verify webhooks (no federation CA configured): it
  refuses them all (401: a sender does not retry what will never be accepted).

A material composition change sends the operator's own granted outcomes for the unit to
`reassessment_required` (`Qualifications.on_material_change`).

A unit switch (`market-unit.switched-in`, sent by the new holder's node when the hand-over
completes) makes the records here that name the unit's former FSP name the new one, once
this node has confirmed the move itself: every kind an operator's node holds for a unit
(`followers`: NESO's or a DNO's qualification outcomes, a DNO's grid prequalifications),
each by its `follow_switch` (`StatefulRecords`, POL-096):

- INBOX-009: the notice names a market unit, its new FSP (`data.organisation`) and its
  former one (`data.former`);
- INBOX-010: the signing node holds the new FSP (its member is, or hosts, it);
- nothing here names the former FSP for the unit: nothing to confirm, nothing moves;
- INBOX-011: both holders' nodes confirm it, asked by this node with its own token
  (node/switching/holders.py): the former's answers with its tombstone naming the new
  FSP, the new one's holds the unit for it. The notifier's word alone moves nothing, and
  no caller's rights are lent: a hostile FSP cannot take another's outcomes or grid
  prequalifications with a forged notice (the former holder's node never wrote that
  tombstone);
- INBOX-012: a node to confirm with cannot be reached now (503: the sender retries; nothing
  moved, so the retry finds the same records).

Other events are acknowledged and ignored.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableSet, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from common.errors import BadInput, Conflict, Denied, Unauthenticated
from common.vocab import FMAR, ORG_BASE
from node.events.verify import DEFAULT_TOLERANCE, WebhookRejected, load_anchors, verify_webhook
from node.kinds.qualifications import Qualifications, StatefulRecords

COMPOSITION_CHANGED = "market-unit.composition-changed"
SWITCHED_IN = "market-unit.switched-in"
UNIT_IRI = re.compile(r"^https://id\.fmar\.uk/market-unit/[0-9a-f]{8}-[0-9a-f]{4}-"
                      r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ORG_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CODES = {"EVT-VER-001": "INBOX-001", "EVT-VER-002": "INBOX-002", "EVT-VER-003": "INBOX-002",
          "EVT-VER-004": "INBOX-003", "EVT-VER-005": "INBOX-004"}


class _Seen(MutableSet[str]):
    """Webhook ids received lately (a set for `verify_webhook`), forgotten after `keep`."""

    def __init__(self, keep: float):
        self.keep, self._at = keep, dict[str, float]()

    def __contains__(self, item: object) -> bool:
        return item in self._at

    def add(self, item: str) -> None:
        now = time.monotonic()
        self._at = {k: t for k, t in self._at.items() if now - t < self.keep}
        self._at[item] = now

    def discard(self, item: str) -> None:
        self._at.pop(item, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


class Inbox:
    def __init__(self, qualifications: Qualifications, ca_bundle: Path | None,
                 hosts: Callable[[str, str], bool], tolerance: float = DEFAULT_TOLERANCE,
                 confirm: Callable[[str, str, str], None] | None = None,
                 followers: Sequence[StatefulRecords] = ()):
        """`confirm(unit, former, new)`: raises unless the holders' nodes confirm a unit's
        move (INBOX-011, node/switching/holders.py); without it no switch is followed.
        `followers`: the kinds besides the outcomes whose records for a unit name its FSP
        and follow it to a new one (grid prequalifications)."""
        self.qualifications, self.hosts, self.tolerance = qualifications, hosts, tolerance
        self.followers: tuple[StatefulRecords, ...] = (qualifications, *followers)
        self.confirm = confirm
        self._anchors: list[x509.Certificate] | None = \
            load_anchors(ca_bundle) if ca_bundle else None
        self._seen = _Seen(2 * tolerance)
        self._lock = threading.Lock()

    def receive(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        if not self._anchors:  # a signed webhook it cannot verify is refused, not retried
            raise Unauthenticated("INBOX-007", "This node has no federation CA to verify "
                                  "webhooks with (FMAR_CA_BUNDLE): it accepts none.")
        with self._lock:  # one webhook at a time: a replay racing its original is refused
            try:
                verified = verify_webhook(headers, body, self._anchors,
                                          tolerance=self.tolerance, seen=self._seen)
            except WebhookRejected as rejected:
                code = _CODES.get(rejected.code, "INBOX-002")
                if code == "INBOX-004":
                    raise Conflict(code, rejected.message) from None
                raise Unauthenticated(code, rejected.message) from None
            try:
                return self._act(verified.event, _organisation(verified.member))
            except Exception:
                self._seen.discard(str(verified.event.get("id")))  # refused: may come again
                raise

    def _act(self, event: dict[str, Any], sender: str) -> dict[str, Any]:
        kind, record, data = event.get("type"), event.get("record"), event.get("data")
        if not isinstance(kind, str) or not isinstance(record, str) or \
                not isinstance(data, dict):
            raise BadInput("INBOX-006", "A webhook's body is an FMAR event: type, record, "
                           "data.")
        if kind == SWITCHED_IN:
            return {"id": event["id"], "type": kind, "reassessed": [],
                    "moved": self._switched(record, data, sender)}
        if kind != COMPOSITION_CHANGED or data.get("material") is not True:
            return {"id": event["id"], "type": kind, "reassessed": []}
        fsps = self._fsps_of(record)
        strangers = sorted(f for f in fsps if not self.hosts(sender, f))
        if strangers:
            raise Denied("INBOX-005", "The signing node does not hold this unit's FSP: only "
                         "the FSP's node tells of its units' changes.",
                         {"sender": sender, "organisation": strangers[0]})
        reason = str(data.get("reason") or "material change")
        try:
            moved = self.qualifications.on_material_change(record, reason)
        except BadInput as bad:
            raise BadInput("INBOX-006", "A material change names a market unit by its IRI.",
                           bad.details) from None
        return {"id": event["id"], "type": kind, "reassessed": moved}

    def _switched(self, unit_iri: str, data: dict[str, Any], sender: str) -> list[str]:
        """A unit's new holder's node says the unit is its FSP's now: the records here (of
        every follower kind) naming the former FSP name the new one, once both holders'
        nodes confirmed it."""
        new, former = data.get("organisation"), data.get("former")
        if not UNIT_IRI.match(unit_iri) or not isinstance(new, str) or \
                not isinstance(former, str) or not ORG_ID.match(new) or \
                not ORG_ID.match(former) or new == former:
            raise BadInput("INBOX-009", "A unit switch notice names the market unit by its "
                           "IRI, its new FSP (data.organisation) and its former one "
                           "(data.former).", {"unit": unit_iri[:200]})
        if not self.hosts(sender, new):
            raise Denied("INBOX-010", "The signing node does not hold the FSP it says now "
                         "holds the unit.", {"sender": sender, "organisation": new})
        if former not in self._fsps_of(unit_iri):
            return []  # nothing here names the former FSP: nothing to follow
        if self.confirm is None:
            raise Denied("INBOX-011", "This node cannot confirm a unit's move (no trust "
                         "framework): its records stay as they are.", {"organisation": new})
        self.confirm(unit_iri, former, new)
        switch = str(data.get("switch_request") or "")[:200]
        why = (f"The unit switched from {former} to {new}"
               + (f" ({switch})" if switch else "") + ", confirmed by both FSPs' nodes.")
        return [iri for kind in self.followers
                for iri in kind.follow_switch(unit_iri, former, new, why)]

    def _fsps_of(self, unit_iri: str) -> set[str]:
        """The FSPs named by the records held here for the unit, of every follower kind
        (outcomes, grid prequalifications)."""
        if not unit_iri.startswith("https://") or any(c in unit_iri for c in '<>"{}|\\^` '):
            raise BadInput("INBOX-006", "A material change names a market unit by its IRI.",
                           {"unit": unit_iri[:200]})
        classes = " ".join(f"<{kind.kind.rdf_class}>" for kind in self.followers)
        query = (f"SELECT DISTINCT ?o WHERE {{ GRAPH ?r {{ ?r a ?class ; "
                 f"<{FMAR.forUnit}> <{unit_iri}> ; <{FMAR.organisation}> ?o }} "
                 f"VALUES ?class {{ {classes} }} }}")
        return {row["o"].value.removeprefix(ORG_BASE)
                for row in self.qualifications.store.select(query)}


def _organisation(member: str | None) -> str:
    """The organisation ID a certificate's member names (its last path segment)."""
    return (member or "").rstrip("/").rsplit("/", 1)[-1]

