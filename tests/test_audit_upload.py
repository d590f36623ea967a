"""One audit entry per bulk upload, committing to its records by a Merkle root (issue 8)."""

from __future__ import annotations

import pytest

from node import merkle
from node.audit import UPLOAD_BASE, entries, verify
from node.identity import Caller
from node.inputs import Row
from node.kinds.asset_records import ASSET_BASE
from node.records import unit as unit_module
from node.register import Register
from node.store import GraphWrite
from node.store.embedded import EmbeddedStore
from tests.assets import heat_pump

FSP = Caller("loader", "FSP-ACME", frozenset({"FSP"}),
             frozenset({"assets:read", "assets:write", "audit:read"}))


def upload(tmp_path, count: int = 12,
           workers: int = 1) -> tuple[EmbeddedStore, Register, list[str]]:
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=workers)
    report = register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, count + 1)),
                                    FSP, all_or_nothing=True)
    assert report.stored == count
    return store, register, [a["AssetId"] for a in report.assets]


@pytest.mark.parametrize("limit", [5_000, 5])  # one transaction, and the pending marker
def test_ARM_AUD_001_a_bulk_upload_is_one_audit_entry(tmp_path, monkeypatch, limit):
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", limit)
    store, _, ids = upload(tmp_path)
    [(entry, _)] = [e for e in entries(store) if e[0].merkle_root]
    assert entry.record == f"{UPLOAD_BASE}{entry.sequence}" and entry.version == len(ids)
    assert verify(store) == (len(entries(store)), [])


def test_ARM_AUD_001_records_built_in_the_workers_verify(tmp_path, monkeypatch):
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 5)
    store, register, ids = upload(tmp_path, count=30, workers=2)
    try:
        assert verify(store)[1] == []
        assert register.assets.read(ids[-1], FSP).version == 1
    finally:
        register.close()


def test_ARM_AUD_001_the_trail_of_one_asset_shows_its_upload_with_a_proof(tmp_path):
    _, register, ids = upload(tmp_path)
    trail = register.assets.audit_trail(ids[3], FSP)
    [covering] = [e for e in trail if "covers" in e]
    covers = covering["covers"]
    assert covers["record"] == f"{ASSET_BASE}{ids[3]}" and covers["version"] == 1
    assert covering["action"] == "register" and covering["agent"] == "loader"
    leaf = merkle.leaf(covers["record"], 1, covers["content_digest"])
    path = [(p["side"], p["hash"]) for p in covers["proof"]]
    assert merkle.root_from_proof(leaf, path) == covering["merkle_root"]
    # the history says who registered version 1
    history = register.assets.history(ids[3], FSP)
    assert history[0]["by"] == "loader" and history[0]["action"] == "register"


def test_ARM_AUD_003_tampering_with_one_record_of_an_upload_is_detected(tmp_path):
    store, _, ids = upload(tmp_path)
    iri = f"{ASSET_BASE}{ids[5]}"
    text = "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in store.triples(iri))
    store.write([GraphWrite(iri, text.replace("FSP-ACME", "FSP-OTHER"), replace=True)])
    _, problems = verify(store)
    assert [p.problem for p in problems if iri in p.problem and "ARM-AUD-003" in p.problem]
    assert len(problems) == 1


def test_ARM_AUD_002_removing_a_record_from_an_upload_graph_is_detected(tmp_path):
    store, _, ids = upload(tmp_path)
    [(entry, _)] = [e for e in entries(store) if e[0].merkle_root]
    iri = f"{ASSET_BASE}{ids[0]}"
    store.journal.update(f"DELETE WHERE {{ GRAPH <{entry.record}> {{ <{iri}> ?p ?o }} }}")
    _, problems = verify(store)
    assert any("ARM-AUD-002" in p.problem for p in problems)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 13])
def test_every_leaf_proves_to_the_root(count):
    leaves = [merkle.leaf(f"urn:r:{i}", 1, str(i)) for i in range(count)]
    root = merkle.root(leaves)
    for i, leaf in enumerate(leaves):
        assert merkle.root_from_proof(leaf, merkle.proof(leaves, i)) == root
    assert merkle.root_from_proof(merkle.leaf("urn:x", 1, "0"), merkle.proof(leaves, 0)) != root

