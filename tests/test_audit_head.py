"""The audit chain head is kept in its own small graph, written in the same transaction as
the entries, so opening the log does not scan every entry (issue 8)."""

from __future__ import annotations

from node.audit import HEAD_GRAPH, AuditLog, verify
from node.inputs import Row
from node.register import Register
from node.store import GraphWrite
from node.store.embedded import EmbeddedStore
from tests.assets import heat_pump
from tests.test_bulk_commit import FSP


def head_pairs(store) -> list[int]:
    return sorted(int(s["n"].value) for s in store.select(
        f"SELECT ?n WHERE {{ GRAPH <{HEAD_GRAPH}> {{ ?e <https://id.fmar.uk/def/fmar#sequence> ?n }} }}"))


def test_the_head_graph_follows_every_write_and_a_reopened_log_starts_from_it(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    seeded = register.unit.audit.sequence
    assert head_pairs(store) == [seeded]  # the seeded categories' entries
    register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, 4)), FSP,
                           all_or_nothing=True)  # spooled: its head is added beside
    assert head_pairs(store) == [seeded, seeded + 3]
    assert AuditLog(store).sequence == seeded + 3
    register.register_bulk((Row(1, fields=heat_pump()),), FSP, all_or_nothing=False)
    assert head_pairs(store) == [seeded + 4]  # a normal write folds them into one
    reopened = AuditLog(store)
    assert (reopened.sequence, reopened.head_hash) == (register.unit.audit.sequence,
                                                       register.unit.audit.head_hash)
    assert verify(store)[1] == []


def test_a_store_without_a_head_graph_reads_the_head_from_the_log(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    expected = (register.unit.audit.sequence, register.unit.audit.head_hash)
    store.write([GraphWrite(HEAD_GRAPH, "", replace=True)])  # as a store from before
    reopened = AuditLog(store)
    assert (reopened.sequence, reopened.head_hash) == expected
