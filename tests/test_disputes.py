"""Disputes (node/kinds/disputes.py) on one node's real store: the shapes
(DISP-VAL-001..009), the state machine and its parties (DISP-VAL-010..012, 020..028), who
reads a dispute (POL-086), the asset's status while disputed (Assets.dispute_status), the
notice checks (DISP-VAL-013..015, POL-087) and the summary. Across real processes:
tests/federation/test_disputes_federated.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from common.errors import BadInput, Conflict, Denied, Invalid, NotFound
from node.identity import Caller
from node.inputs import properties_from_json
from node.kinds.dispute_notices import DisputeNotices
from node.kinds.disputes import (
    DISPUTE,
    TRANSITIONS,
    Found,
    deadlines,
    merge_summaries,
    now,
)
from node.register import Register
from node.store import open_store
from tests.assets import bess
from tests.conftest import CALLERS

FSP, DNO, MF, OTHER = CALLERS["fsp"], CALLERS["dno"], CALLERS["facilitator"], CALLERS["fsp2"]
NODE = Caller("node", "FSP-ACME", frozenset(), frozenset({"disputes:notify"}))


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Register:
    path: Path = tmp_path_factory.mktemp("disputes")
    reg = Register(open_store(path, None), workers=1)
    yield reg
    reg.close()


def asset(register: Register) -> Any:
    return register.assets.register_one(properties_from_json(bess("UKPN_EPN")), FSP)


def member(organisation: str) -> Caller:
    """The directory's view of a member (tests/conftest.py CALLERS)."""
    found = next(c for c in CALLERS.values() if c.organisation_id == organisation)
    return Caller("directory", organisation, found.roles, frozenset({"assets:read"}),
                  found.dno_areas)


def opened(register: Register, iri: str | None = None, by: Caller = DNO) -> Any:
    iri = iri or asset(register).iri
    return register.disputes.open({"Record": iri, "Grounds": "Capacity too high."}, by,
                                  Found(iri, "asset", "FSP-ACME", "https://fsp.example"))


def test_DISP_VAL_010_a_dispute_opens_open_with_a_deadline(register):
    d = opened(register)
    body = d.as_json()
    assert body["State"] == "open" and body["Holder"] == "FSP-ACME"
    assert body["OrganisationId"] == "DNO-UKPN" and body["Deadline"] > body["Created"][:19]
    with pytest.raises(BadInput) as e:
        register.disputes.create({"Record": body["Record"], "Grounds": "x"}, DNO)
    assert e.value.code == "DISP-IN-001"


def test_DISP_VAL_001_005_shapes_refuse_a_bad_record_and_empty_grounds(register):
    with pytest.raises(Invalid) as e:
        register.disputes.open({"Record": "x", "Grounds": ""}, DNO,
                               Found("https://id.fmar.uk/nothing/1", "asset", "FSP-ACME", ""))
    rules = {v["rule"] for v in e.value.details["violations"]}
    assert "DISP-VAL-001" in rules and "DISP-VAL-005" in rules


def test_DISP_IN_002_grounds_is_text(register):
    iri = asset(register).iri
    with pytest.raises(BadInput) as e:
        register.disputes.open({"Record": iri, "Grounds": 5}, DNO,
                               Found(iri, "asset", "FSP-ACME", ""))
    assert e.value.code == "DISP-IN-002"


def test_DISP_VAL_012_one_active_dispute_per_opener_and_record(register):
    d = opened(register)
    with pytest.raises(Invalid) as e:
        opened(register, d.as_json()["Record"])
    assert e.value.code == "DISP-VAL-012"
    opened(register, d.as_json()["Record"], by=MF)  # another party may


def test_DISP_VAL_011_put_changes_grounds_only_by_the_opener(register):
    """Also DISP-IN-003 (a kept field sent), DISP-428 (no If-Match), DISP-412 (stale)."""
    d = opened(register)
    with pytest.raises(Invalid):
        register.disputes.replace(d.record_id, {"State": "corrected"}, DNO, "*")
    with pytest.raises(Conflict) as e:
        register.disputes.replace(d.record_id, {"Grounds": "mine"}, FSP, "*")
    assert e.value.code == "DISP-VAL-011"
    with pytest.raises(BadInput) as e:
        register.disputes.replace(d.record_id, {"Grounds": "x", "Version": 9}, DNO, "*")
    assert e.value.code == "DISP-IN-003"
    with pytest.raises(Exception) as e:
        register.disputes.replace(d.record_id, {"Grounds": "x"}, DNO, None)
    assert getattr(e.value, "code", "") == "DISP-428"
    with pytest.raises(Exception) as e:
        register.disputes.replace(d.record_id, {"Grounds": "x"}, DNO, f'"{d.record_id}.v9"')
    assert getattr(e.value, "code", "") == "DISP-412"
    changed = register.disputes.replace(d.record_id, {"Grounds": "Rated 800 kW."}, DNO, d.etag)
    assert changed.as_json()["Grounds"] == "Rated 800 kW."


def test_DISP_VAL_020_022_024_026_the_holder_responds_the_opener_accepts(register):
    d = opened(register)
    with pytest.raises(Conflict) as e:
        register.disputes.transition(d.record_id, DNO, None, "responded", "x")
    assert e.value.code == "DISP-VAL-022" and e.value.details["rule"] == "DISP-VAL-024"
    with pytest.raises(Conflict) as e:
        register.disputes.transition(d.record_id, FSP, None, "corrected")
    assert e.value.code == "DISP-VAL-020"
    moved = register.disputes.transition(d.record_id, FSP, None, "responded", "Fixed in v2.")
    assert moved.as_json()["State"] == "responded"
    done = register.disputes.transition(d.record_id, DNO, None, "corrected")
    assert done.as_json()["State"] == "corrected"
    history = register.disputes.history(d.record_id, DNO)
    assert [v["record"]["State"] for v in history][-3:] in (
        ["open", "responded", "corrected"], ["corrected", "responded", "open"])


def test_DISP_VAL_021_a_response_needs_a_reason(register):
    d = opened(register)
    with pytest.raises(Conflict) as e:
        register.disputes.transition(d.record_id, FSP, None, "responded")
    assert e.value.code == "DISP-VAL-021"


def test_DISP_VAL_025_027_the_opener_withdraws_or_finds_it_upheld(register):
    d = opened(register)
    with pytest.raises(Conflict):
        register.disputes.transition(d.record_id, FSP, None, "withdrawn")
    assert register.disputes.transition(d.record_id, DNO, None, "withdrawn").as_json()[
        "State"] == "withdrawn"
    d = opened(register)
    register.disputes.transition(d.record_id, FSP, None, "responded", "It is right.")
    with pytest.raises(Conflict) as e:
        register.disputes.transition(d.record_id, DNO, None, "upheld")
    assert e.value.code == "DISP-VAL-021"
    assert register.disputes.transition(d.record_id, DNO, None, "upheld", "Not corrected.")\
        .as_json()["State"] == "upheld"


def test_DISP_VAL_023_028_escalation_after_the_deadline_and_the_facilitator_decides(register):
    d = opened(register)
    with pytest.raises(Conflict) as e:
        register.disputes.transition(d.record_id, DNO, None, "escalated", "No answer.")
    assert e.value.code == "DISP-VAL-023"
    later = now() + timedelta(days=11)
    up = register.disputes.transition(d.record_id, DNO, None, "escalated", "No answer.",
                                      at=later)
    assert up.as_json()["State"] == "escalated"
    with pytest.raises(Conflict) as e:
        register.disputes.transition(d.record_id, DNO, None, "corrected", "x")
    assert e.value.details["rule"] == "DISP-VAL-028"
    assert register.disputes.transition(d.record_id, MF, None, "upheld", "Capacity wrong.")\
        .as_json()["State"] == "upheld"
    d = opened(register)  # the facilitator escalates at any time
    assert register.disputes.transition(d.record_id, MF, None, "escalated", "Urgent.")\
        .as_json()["State"] == "escalated"


def test_POL_089_a_third_party_cannot_move_or_delete_a_dispute(register):
    d = opened(register)
    with pytest.raises(NotFound):
        register.disputes.transition(d.record_id, OTHER, None, "withdrawn")
    with pytest.raises((Denied, NotFound)):
        register.disputes.delete(d.record_id, DNO, "*")


def test_POL_086_the_parties_read_a_dispute_others_do_not(register):
    d = opened(register)
    assert register.disputes.read(d.record_id, FSP).iri == d.iri
    assert register.disputes.read(d.record_id, MF).iri == d.iri
    with pytest.raises(NotFound):
        register.disputes.read(d.record_id, OTHER)
    mine, _ = register.disputes.search(FSP, {"State": "open"}, limit=1000)
    assert d.iri in {r.iri for r in mine}
    theirs, _ = register.disputes.search(OTHER, limit=1000)
    assert d.iri not in {r.iri for r in theirs}


def test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node(register):
    a = asset(register)
    d = opened(register, a.iri)
    item = d.as_json()

    def notices(answer: Any, hosts: bool = False) -> DisputeNotices:
        def fetch(node: str, path: str) -> Any:
            if answer is None:
                raise LookupError(path)
            return answer
        return DisputeNotices(register.assets, register.store, fetch, lambda org: "https://n",
                              lambda op, org: hosts, member)

    sender = Caller("node", "DNO-UKPN", frozenset({"DNO"}), frozenset({"disputes:notify"}),
                    DNO.dno_areas)
    with pytest.raises(Invalid) as e:  # forged: the sender's node has no such dispute
        notices(None).receive(sender, {"Dispute": d.iri})
    assert e.value.code == "DISP-VAL-013"
    with pytest.raises(Invalid) as e:  # sent by another organisation's node
        notices(item).receive(NODE, {"Dispute": d.iri})
    assert e.value.code == "DISP-VAL-014"
    with pytest.raises(Invalid) as e:  # a record not held here for that holder
        notices({**item, "Holder": "FSP-OTHER"}).receive(sender, {"Dispute": d.iri})
    assert e.value.code == "DISP-VAL-015"
    hostile = Caller("node", "FSP-OTHER", frozenset({"FSP"}), frozenset({"disputes:notify"}))
    with pytest.raises(Invalid) as e:  # a dispute its opener could not have opened
        notices({**item, "OrganisationId": "FSP-OTHER"}).receive(hostile, {"Dispute": d.iri})
    assert e.value.code == "DISP-VAL-017"
    with pytest.raises(BadInput) as e:
        notices(item).receive(sender, {"Dispute": "https://id.fmar.uk/asset/x"})
    assert e.value.code == "DISP-IN-005"
    with pytest.raises(Denied) as e:  # a person's token, not a node's
        notices(item).receive(DNO, {"Dispute": d.iri})
    assert e.value.code == "POL-001"
    relayed = Caller("node", "DNO-UKPN", frozenset(), frozenset({"disputes:notify"}),
                     actor="someone")
    with pytest.raises(Denied) as e:
        notices(item).receive(relayed, {"Dispute": d.iri})
    assert e.value.code == "POL-087"
    # a true notice: Query naming the dispute, a correction keeps it, resolving restores
    register.assets.set_validation_status(a.asset_id, "Verified", None, DNO, None)
    assert notices(item).receive(sender, {"Dispute": d.iri})["ValidationStatus"] == "Query"
    shown = register.assets.read(a.asset_id, FSP).as_json()
    assert shown["Dispute"] == d.iri and shown["ValidationStatus"] == "Query"
    register.assets.patch(a.asset_id, {"GenCapacity": 450}, FSP,
                          register.assets.read(a.asset_id, FSP).etag)
    corrected = register.assets.read(a.asset_id, FSP).as_json()
    assert corrected["ValidationStatus"] == "Query" and corrected["Dispute"] == d.iri
    notices({**item, "State": "corrected"}).receive(sender, {"Dispute": d.iri})
    restored = register.assets.read(a.asset_id, FSP).as_json()
    assert restored["ValidationStatus"] == "Verified" and "Dispute" not in restored


def test_upheld_leaves_query_with_the_reason(register):
    a = asset(register)
    d = opened(register, a.iri)
    item = d.as_json()
    sender = Caller("node", "DNO-UKPN", frozenset({"DNO"}), frozenset({"disputes:notify"}),
                    DNO.dno_areas)
    notices = DisputeNotices(register.assets, register.store, lambda n, p: item,
                             lambda org: "https://n", lambda op, org: False, member)
    notices.receive(sender, {"Dispute": d.iri})
    item = {**item, "State": "upheld", "Reason": "Rated 800 kW, not 5 MW."}
    notices.receive(sender, {"Dispute": d.iri})
    shown = register.assets.read(a.asset_id, FSP).as_json()
    assert shown["ValidationStatus"] == "Query" and "800 kW" in shown["ValidationReason"]


def test_deadlines_are_configurable_and_the_summary_counts_by_state(register):
    assert deadlines()["open"] == timedelta(days=10)
    assert deadlines("responded=3")["responded"] == timedelta(days=3)
    assert deadlines(seconds=2)["escalated"] == timedelta(seconds=2)
    with pytest.raises(ValueError):
        deadlines("closed=1")
    summary = register.disputes.summary(MF)
    assert summary["by_state"]["open"]["0-9 days"] >= 1
    merged = merge_summaries([summary, summary])
    assert merged["by_state"]["open"]["0-9 days"] == 2 * summary["by_state"]["open"]["0-9 days"]
    assert set(TRANSITIONS) and DISPUTE.name == "dispute"


def test_the_demo_seeds_a_dispute_and_its_asset_shows_query(tmp_path):
    from node.demo import seed_dispute

    reg = Register(open_store(tmp_path, None), workers=1)
    try:
        a = asset(reg)
        seed_dispute(reg, "http://127.0.0.1:8000")
        seed_dispute(reg, "http://127.0.0.1:8000")  # once only
        disputes, _ = reg.disputes.search(MF, {}, 10, None)
        assert len(disputes) == 1 and disputes[0].as_json()["Record"] == a.iri
        shown = reg.assets.read(a.asset_id, FSP).as_json()
        assert shown["ValidationStatus"] == "Query" and shown["Dispute"] == disputes[0].iri
    finally:
        reg.close()


def test_DISP_IN_004_a_transition_names_its_state(register):
    d = opened(register)
    for to, reason in ((None, None), ("", None), ("responded", 5)):
        with pytest.raises(BadInput) as e:
            register.disputes.transition(d.record_id, FSP, None, to, reason)
        assert e.value.code == "DISP-IN-004"


def test_DISP_VAL_002_to_009_the_shapes_check_what_the_node_sets(register):
    iri = asset(register).iri
    bad = {"Record": iri, "RecordKind": "ledger", "OrganisationId": "bad org!",
           "Holder": "", "HolderNode": "ftp://x", "Grounds": "x" * 2001, "State": "closed",
           "Reason": "y" * 2001, "Deadline": "tomorrow"}
    with pytest.raises(Invalid) as e:
        register.disputes.create_from(properties_from_json(bad, table=DISPUTE.table), DNO)
    rules = {v["rule"] for v in e.value.details["violations"]}
    assert {f"DISP-VAL-00{n}" for n in range(2, 10)} <= rules, rules


def test_DISP_VAL_016_a_holder_does_not_dispute_its_own_record(register):
    iri = asset(register).iri
    with pytest.raises(Invalid) as e:
        register.disputes.open({"Record": iri, "Grounds": "Mine is wrong."}, FSP,
                               Found(iri, "asset", "FSP-ACME", ""))
    assert e.value.code == "DISP-VAL-016"


def test_POL_040_dispute_events_reach_both_parties_only(register):
    from node import policy

    d = opened(register)
    assert policy.may_receive_event(FSP, d.facts, "dispute")
    assert policy.may_receive_event(DNO, d.facts, "dispute")
    assert not policy.may_receive_event(OTHER, d.facts, "dispute")
