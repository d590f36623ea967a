"""An operator's node confirming, itself, that a market unit changed FSP (INBOX-011).

A notice that a unit moved (`market-unit.switched-in`, signed by the new holder's node)
is a claim. Before its outcomes for the unit name the new FSP, the operator's node asks
both holders' nodes, found in the trust directory, with its own token (client
credentials, scope `units:verify`, its operator's own read rights, never the notifier's):

- the former holder's node must answer `GET /market-units/{id}/holder` with its
  tombstone, 410 SWITCH-410 naming the new holder: only that node can say that the FSP
  the outcomes name gave the unit up, and a hostile FSP cannot write another node's
  tombstone;
- the new holder's node must answer it with the unit, held for the new holder.

That route answers only a system operator's node (POL-097) and says only who holds the
unit.

Either disagreeing is INBOX-011 (403); a node or the directory not answering now is
INBOX-012 (503: the sending node retries the webhook later).
"""

from __future__ import annotations

from typing import Any

from common.errors import Denied, Unavailable
from node.config import NodeSettings
from node.identity import Caller
from node.kinds.market_units import MARKET_UNIT
from node.records import tombstone
from node.store import RecordStore
from node.switching.peer import PeerRefused, Peers, PeerUnavailable

VERIFY_SCOPE = "units:verify"
HOLDER_PATH = "/market-units/{}/holder"


class HolderCheck:
    def __init__(self, settings: NodeSettings, peers: Peers | None = None):
        self.peers = peers or Peers(settings, scope=VERIFY_SCOPE)

    def __call__(self, unit_iri: str, former: str, new: str) -> None:
        """Raise unless both nodes confirm that `unit_iri` moved from `former` to `new`."""
        unit_id = unit_iri.rsplit("/", 1)[-1]
        try:
            try:
                left = self.peers.node_of(former)
            except PeerRefused:
                raise _unconfirmed("The former FSP has no node in the trust directory.",
                                   former) from None
            gone = self._read(left, unit_id)
            details = gone.get("details")
            moved_to = details.get("organisation") if isinstance(details, dict) else None
            if gone.get("code") != "SWITCH-410" or moved_to != new:
                raise _unconfirmed("The former FSP's node does not say the unit moved to "
                                   "this FSP.", former)
            try:
                taken = self.peers.node_of(new)
            except PeerRefused:
                raise _unconfirmed("The new FSP has no node in the trust directory.",
                                   new) from None
            held = self._read(taken, unit_id)
            if held.get("id") != unit_iri or held.get("OrganisationId") != new:
                raise _unconfirmed("The new FSP's node does not hold the unit for it.", new)
        except PeerUnavailable as exc:
            raise Unavailable("INBOX-012", "A node (or the trust directory) needed to confirm "
                              "the unit's new holder cannot be reached now: try again.",
                              {"error": str(exc)[:200]}) from None

    def _read(self, node_url: str, unit_id: str) -> dict[str, Any]:
        """The node's answer for the unit, as this node: its JSON, 2xx or 4xx."""
        try:
            found = self.peers.call("GET", node_url, HOLDER_PATH.format(unit_id))
        except PeerRefused as refused:
            found = refused.body
        return dict(found) if isinstance(found, dict) else {}


def _unconfirmed(message: str, organisation: str) -> Denied:
    return Denied("INBOX-011", f"The unit's move is not confirmed: {message}",
                  {"organisation": organisation})


def holder_of(store: RecordStore, unit_id: str, reader: Caller) -> dict[str, Any]:
    """The answer of `GET /market-units/{id}/holder` here, after POL-097, to `reader` (the
    calling node's operator with the roles the directory lists): the unit's IRI and FSP
    when held here and it may read the unit (POL-003); 410 SWITCH-410 with where it moved
    when it moved from here and it could read it before (`tombstone.absent`); else
    MU-404."""
    from node import policy  # policy reads the record kinds; imported when first needed

    iri = MARKET_UNIT.iri_of(unit_id)
    record = MARKET_UNIT.read(iri, store.triples(iri))
    if record is None:
        raise tombstone.absent(MARKET_UNIT, store, iri, reader)
    facts = MARKET_UNIT.facts_of(record)
    if not policy.may_read(reader, facts, MARKET_UNIT.name):
        raise MARKET_UNIT.not_found()
    return {"id": iri, "OrganisationId": facts.organisation, "Version": record.version}


def directory_roles(peers: Peers, organisation: str) -> frozenset[str]:
    """The roles the trust directory lists for `organisation` (POL-097's input)."""
    try:
        roles = peers.member(organisation).get("roles") or []
    except PeerRefused:
        return frozenset()
    except PeerUnavailable:
        raise Unavailable("INBOX-012", "The trust directory cannot be reached to check the "
                          "calling node's operator: try again.") from None
    return frozenset(str(r) for r in roles)
