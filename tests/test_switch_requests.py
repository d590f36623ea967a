"""The switch request kind on one node (node/switching/record.py): its field table gives
the API's models, and every version written is checked first against
shapes/switch_request.ttl by the one validator. The hand-over itself runs across real
processes in tests/federation/test_switching.py and test_unit_switching.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from common.errors import Invalid
from node.records.status import Action
from node.records.unit import SYSTEM
from node.switching.record import SWITCH_BASE, SWITCH_TABLE, SwitchRecord
from node.switching.states import SYSTEM as BY_SYSTEM
from node.switching.states import State
from tests.assets import bess
from tests.conftest import RunningNode


def _record(**changes: Any) -> SwitchRecord:
    switch_id = str(uuid.uuid4())
    rec = SwitchRecord(SWITCH_BASE + switch_id, "FSP-ACME", "FSP-OTHER", "asset",
                       (f"https://id.fmar.uk/asset/{uuid.uuid4()}",), "CONSENT-1",
                       "requested", "2026-12-14T09:00:00Z", created="2026-11-30T09:00:00Z")
    return rec.moved(**changes)


def _refused(rec: SwitchRecord) -> Invalid:
    with pytest.raises(Invalid) as refused:
        rec.checked(1, "2026-11-30T09:00:00Z")
    return refused.value


def _request(node: RunningNode) -> dict[str, Any]:
    with node.client("fsp") as fsp:
        made = fsp.post("/assets", json=bess())
        assert made.status_code == 201, made.text
    with node.client("fsp2") as other:
        r = other.post("/switch-requests", json={
            "From": "FSP-ACME", "Records": [made.json()["AssetId"]],
            "ConsentReference": "CONSENT-1"})
        assert r.status_code == 201, r.text
        return dict(r.json())


def test_a_conforming_request_passes_its_shape() -> None:
    assert "<https://id.fmar.uk/def/fmar#switchState>" in _record().checked(1, "2026-11-30T09:00:00Z")


def test_SWITCH_VAL_030_a_request_is_in_one_known_state() -> None:
    refused = _refused(_record(state="finished"))
    assert refused.code == "SWITCH-VAL-030" and "[SWITCH-VAL-030]" in refused.message


def test_SWITCH_VAL_031_a_request_states_when_its_notice_ends() -> None:
    assert _refused(_record(notice_ends="in two weeks")).code == "SWITCH-VAL-031"


def test_SWITCH_VAL_032_a_switch_moves_records_to_another_organisation() -> None:
    refused = _refused(_record(requester="FSP-ACME"))
    assert refused.code == "SWITCH-VAL-032"
    assert "From and To differ" in refused.message


def test_SWITCH_VAL_033_the_switch_id_is_a_uuid() -> None:
    assert _refused(_record(iri=SWITCH_BASE + "not-a-uuid")).code == "SWITCH-VAL-033"


def test_SWITCH_VAL_034_the_target_node_is_an_https_url(node: RunningNode) -> None:
    """On the write path: a hand-over step naming a target node that is no https URL is
    refused before anything is stored."""
    made = _request(node)
    switching = node.app.state.services.switching
    rec = switching._read(made["id"])
    accepted = switching._move(SYSTEM, rec, State.ACCEPTED, BY_SYSTEM, Action.ADVANCE_SWITCH)
    with pytest.raises(Invalid) as refused:
        switching._move(SYSTEM, accepted, State.TRANSFERRING, BY_SYSTEM,
                        Action.ADVANCE_SWITCH, target_node="http://node.example/")
    assert refused.value.code == "SWITCH-VAL-034"
    assert switching._read(made["id"]).version == accepted.version  # nothing stored
    with node.client("fsp2") as other:
        shown = other.get(f"/switch-requests/{made['SwitchId']}").json()
    assert shown["State"] == "accepted" and "TargetNode" not in shown


def test_the_api_models_come_from_the_field_table(node: RunningNode) -> None:
    with node.client("fsp") as anyone:
        schemas = anyone.get("/openapi.json").json()["components"]["schemas"]
    sent, shown = schemas["SwitchRequestIn"], schemas["SwitchRequestOut"]
    table = {f.name: f for f in SWITCH_TABLE.fields}
    assert sorted(sent["properties"]) == sorted(["From", "RecordKind", "Records",
                                                 "ConsentReference"])
    assert set(table) <= set(shown["properties"])
    for name, prop in sent["properties"].items():
        assert prop["description"] == table[name].doc
    made = _request(node)
    assert set(made) - {"id", "SwitchId", "Version", "Created", "Modified"} <= set(table)


def test_every_field_of_the_table_is_in_the_ontology_with_its_json_name() -> None:
    from rdflib import Graph, Literal

    from common.vocab import FMAR, ONTOLOGY_FILE

    ontology = Graph().parse(ONTOLOGY_FILE)
    for f in SWITCH_TABLE.fields:
        assert (f.predicate, None, None) in ontology, f.name
        if f.predicate != FMAR.organisation:  # From: the holder, as every record names it
            assert (f.predicate, FMAR.elexonName, Literal(f.name)) in ontology, f.name
