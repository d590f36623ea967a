"""Large uploads land whole or not at all, without one giant transaction."""

from __future__ import annotations

import pytest

from node import bulk_commit
from node.audit import AuditLog, verify
from node.identity import Caller
from node.inputs import Row
from node.kinds import assets as assets_module
from node.records import unit as unit_module
from node.register import Register
from node.store import GraphWrite, StoreError
from node.store.embedded import EmbeddedStore
from tests.assets import heat_pump

FSP = Caller("loader", "FSP-ACME", frozenset({"FSP"}), frozenset({"assets:read", "assets:write"}))


def asset_graphs(store) -> set[str]:
    return {s["g"].value for s in store.select(
        "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?g a <https://id.fmar.uk/def/fmar#Asset> } }")}


def test_large_upload_goes_through_the_pending_marker(tmp_path, monkeypatch):
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 10)
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    before = verify(store)[0]
    rows = (Row(i, fields=heat_pump()) for i in range(1, 51))
    report = register.register_bulk(rows, FSP, all_or_nothing=True)
    assert report.stored == 50 and report.rejected == 0
    assert len(asset_graphs(store)) == 50
    count, problems = verify(store)
    assert problems == [] and count == before + 1  # one entry for the upload (ARM-AUD-001)
    assert bulk_commit.recover(store) == 0  # no marker left behind


def test_a_failed_load_is_rolled_back(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    before = verify(store)[0]
    good = "\n".join(
        f"<https://id.fmar.uk/asset/p{i}> {{ <https://id.fmar.uk/asset/p{i}> "
        f"a <https://id.fmar.uk/def/fmar#Asset> . }}" for i in range(5)
    )
    records = [f"https://id.fmar.uk/asset/p{i}" for i in range(5)]
    upload = bulk_commit.Upload(store, register.unit.lock, tmp_path, single_transaction=2)
    upload.add(good.encode(), records)
    with pytest.raises(StoreError):
        upload.commit([GraphWrite("urn:x", "<urn:a> <urn:b> ")],
                      register.unit.audit.sequence + 1)
    assert asset_graphs(store) == set()
    assert verify(store) == (before, [])
    assert bulk_commit.recover(store) == 0


def test_BULK_021_an_upload_left_pending_is_rolled_back_when_the_register_opens(
        tmp_path, monkeypatch):
    path = tmp_path / "store"
    store = EmbeddedStore(path)
    register = Register(store, workers=1)
    kept = register.register_bulk((Row(1, fields=heat_pump()),), FSP, all_or_nothing=True)
    assert kept.stored == 1
    first = AuditLog(store).sequence + 1
    # A node that stopped between loading an upload and committing it:
    spool = tmp_path / "spool.trig"
    spool.write_text(
        "<https://id.fmar.uk/asset/lost> { <https://id.fmar.uk/asset/lost> "
        "a <https://id.fmar.uk/def/fmar#Asset> . }\n"
    )
    marker = f"{bulk_commit.PENDING_BASE}test"
    # its audit entry went to the journal first (node/records/journal.py)
    store.journal.write([GraphWrite("urn:fmar:audit", (
        f'<urn:fmar:audit:{first}> <https://id.fmar.uk/def/fmar#sequence> '
        f'"{first}"^^<http://www.w3.org/2001/XMLSchema#integer> .'), replace=False)])
    store.write([GraphWrite(marker, (
        f'<{marker}> <https://id.fmar.uk/def/fmar#sequence> "{first}"^^<http://www.w3.org/2001/XMLSchema#integer> .\n'
        f"<{marker}> <https://id.fmar.uk/def/fmar#pendingRecord> <https://id.fmar.uk/asset/lost> ."))])
    store.load_file(spool, transactional=False)
    assert "https://id.fmar.uk/asset/lost" in asset_graphs(store)
    flushes = []
    flush = store.flush
    monkeypatch.setattr(store, "flush", lambda: (flushes.append(1), flush())[1])
    reopened = Register(store, workers=1)
    assert len(flushes) >= 2  # after the batch of record removals, and at the end
    assert asset_graphs(store) == {a["AssetId"] and f"https://id.fmar.uk/asset/{a['AssetId']}"
                                   for a in kept.assets}
    assert verify(store)[1] == []
    assert reopened.unit.audit.sequence == first - 1


def test_BULK_020_a_large_upload_is_loaded_in_parts_while_it_is_validated(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 10)
    monkeypatch.setattr(bulk_commit, "PART_BYTES", 2_000)  # a part per chunk
    monkeypatch.setattr(assets_module, "BULK_CHUNK", 5)
    loads = []
    store = EmbeddedStore(tmp_path / "store")
    original = store.load_file
    monkeypatch.setattr(store, "load_file", lambda path, transactional=True: (
        loads.append(path.stat().st_size), original(path, transactional))[1])
    register = Register(store, workers=1)
    seen = []  # records in the store when each chunk has been validated
    report = register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, 41)), FSP,
                                    all_or_nothing=True,
                                    screen=lambda chunk: seen.append(len(asset_graphs(store))))
    assert report.stored == 40 and len(asset_graphs(store)) == 40
    assert len(loads) > 5  # in parts
    assert seen[-1] >= 15  # loaded before the last chunk was validated
    assert verify(store)[1] == [] and bulk_commit.recover(store) == 0


def test_BULK_020_a_row_failing_after_parts_were_loaded_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 10)
    monkeypatch.setattr(bulk_commit, "PART_BYTES", 2_000)
    monkeypatch.setattr(assets_module, "BULK_CHUNK", 5)
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    audit, events = verify(store)[0], register.unit.outbox.head
    loaded = []
    rows = [Row(i, fields=heat_pump()) for i in range(1, 41)]
    rows.append(Row(41, fields=heat_pump(RatedCapacity=-5)))
    report = register.register_bulk(iter(rows), FSP, all_or_nothing=True,
                                    screen=lambda chunk: loaded.append(len(asset_graphs(store))))
    assert report.rejected == 1 and report.stored == 0 and report.assets == []
    assert max(loaded) >= 15  # parts had been loaded before the failing row was seen
    assert asset_graphs(store) == set()
    assert verify(store) == (audit, []) and register.unit.outbox.head == events
    assert bulk_commit.recover(store) == 0  # and no marker left
    assert not [g for g in store.graph_names() if g.startswith(bulk_commit.PENDING_BASE)]


def test_BULK_020_an_upload_stopped_while_still_validating_is_rolled_back(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    Register(store, workers=1)
    audit = verify(store)
    # a node killed after loading a part, before the upload's last row was validated: its
    # marker names the part's records but no audit sequence or event yet
    marker = f"{bulk_commit.PENDING_BASE}validating"
    store.write([GraphWrite(marker, f"<{marker}> <https://id.fmar.uk/def/fmar#pendingRecord> "
                                    "<https://id.fmar.uk/asset/early> .")])
    store.write([GraphWrite("https://id.fmar.uk/asset/early",
                            "<https://id.fmar.uk/asset/early> a <https://id.fmar.uk/def/fmar#Asset> .")])
    Register(store, workers=1)
    assert asset_graphs(store) == set() and verify(store) == audit
    assert bulk_commit.recover(store) == 0
