"""The holder's side of a dispute: a notice from the opener's node, verified before it
changes anything (POL-087, DISP-VAL-013..015, 017).

A notice names only the dispute's IRI. The holder's node asks the directory for the
sender's node, reads the dispute *there* with its own token, and acts only if the dispute
exists, was opened by the sender's organisation (or one it hosts) and names a record held
here for the dispute's holder, and that the opener may read it (a hostile node storing
a dispute its organisation could not have opened is refused). A forged notice (a dispute the sender's node does not hold)
changes nothing. Effect: on an asset, `Assets.dispute_status` (Query naming the dispute
while it is active; on resolution the status before it, or Query with the reason when
upheld). Other kinds are verified and acknowledged without a status: they have none yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.errors import BadInput, Invalid
from node import policy
from node.identity import Caller
from node.kinds.assets import Assets
from node.kinds.disputes import DISPUTE, kind_of
from node.records.kind import KINDS, UUID
from node.store import RecordStore


class DisputeNotices:
    def __init__(self, assets: Assets, store: RecordStore,
                 fetch: Callable[[str, str], Any], node_of: Callable[[str], str],
                 hosts: Callable[[str, str], bool], member: Callable[[str], Caller]):
        """`fetch(node_url, path)`: a GET at another node with this node's own token (its
        JSON; raises on a refusal); `node_of(org)`: the directory's node of an organisation;
        `hosts(operator, org)`: whether the directory lists the operator as hosting org;
        `member(org)`: a reader with that member's roles and licence areas (directory)."""
        self.assets, self.store = assets, store
        self.fetch, self.node_of, self.hosts, self.member = fetch, node_of, hosts, member

    def receive(self, caller: Caller, body: Any) -> dict[str, Any]:
        policy.check_dispute_notice(caller)
        iri = body.get("Dispute") if isinstance(body, dict) and set(body) == {"Dispute"} \
            else None
        if not isinstance(iri, str) or not iri.startswith(DISPUTE.iri_base) or \
                not UUID.match(DISPUTE.record_id(iri)):
            raise BadInput("DISP-IN-005", 'A dispute notice is {"Dispute": "<dispute IRI>"}.')
        sender = caller.organisation_id
        try:
            item = self.fetch(self.node_of(sender), f"/disputes/{DISPUTE.record_id(iri)}")
        except LookupError:
            item = None
        if not isinstance(item, dict) or item.get("id") != iri:
            raise Invalid("DISP-VAL-013", "The sender's node holds no such dispute: the notice "
                          "is refused and nothing changed.", {"dispute": iri})
        opener = str(item.get("OrganisationId") or "")
        if opener != sender and not self.hosts(sender, opener):
            raise Invalid("DISP-VAL-014", "The dispute was not opened by the sender's "
                          "organisation (or one its node hosts).", {"dispute": iri})
        record, holder = str(item.get("Record") or ""), str(item.get("Holder") or "")
        kind = kind_of(record)
        found = KINDS[kind].read(record, self.store.triples(record)) if kind else None
        if found is None or KINDS[str(kind)].facts_of(found).organisation != holder:
            raise Invalid("DISP-VAL-015", "The disputed record is not held on this node for "
                          "the dispute's holder.", {"dispute": iri, "record": record})
        if not policy.may_read(self.member(opener), KINDS[str(kind)].facts_of(found),
                               str(kind)):
            raise Invalid("DISP-VAL-017", "The dispute's opener may not read the record (its "
                          "read rule, with the opener's roles and licence areas in the trust "
                          "directory): the notice changes nothing.", {"dispute": iri})
        state = str(item.get("State") or "")
        answer: dict[str, Any] = {"Dispute": iri, "State": state, "Record": record}
        if kind == "asset":
            asset = self.assets.dispute_status(record.rsplit("/", 1)[-1], caller, iri, state,
                                               item.get("Reason"))
            answer["ValidationStatus"] = asset.validation_status
        return answer
