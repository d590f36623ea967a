"""Opening the audit log finds the chain head by a few point reads, not by sorting every
entry (issue 8: 22 s of a restart over a million entries)."""

from __future__ import annotations

from node import audit
from node.audit import AuditLog, verify
from node.inputs import Row
from node.register import Register
from node.store.embedded import EmbeddedStore
from tests.assets import heat_pump
from tests.test_bulk_commit import FSP


def test_a_reopened_log_continues_the_chain_from_its_head(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    assert AuditLog(store).sequence == 0  # an empty log starts at the genesis hash
    register = Register(store, workers=1)
    for size, whole in ((3, True), (1, False), (37, True)):
        register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, size + 1)), FSP,
                               all_or_nothing=whole)
        reopened = AuditLog(store)
        assert (reopened.sequence, reopened.head_hash) == (register.unit.audit.sequence,
                                                           register.unit.audit.head_hash)
    assert verify(store)[1] == []


def test_the_head_costs_log_n_point_reads(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    register = Register(store, workers=1)
    register.register_bulk((Row(i, fields=heat_pump()) for i in range(1, 100)), FSP,
                           all_or_nothing=True)
    reads = []
    journal = store.journal  # where the audit log is (node/records/journal.py)
    select = journal.select
    journal.select = lambda query: reads.append(query) or select(query)  # count, then read
    head = audit.newest_entry(journal)
    assert head == (register.unit.audit.sequence, register.unit.audit.head_hash)
    assert len(reads) <= 2 * register.unit.audit.sequence.bit_length() + 2
