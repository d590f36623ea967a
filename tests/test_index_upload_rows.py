"""An all-or-nothing upload's listing index rows are built with its records (in the
validation workers) and applied in the upload's own catch-up (IDX-001), not re-read from
the store; they are exactly the rows a rebuild reads from the store (IDX-002), and the
capacity cells the cells summed from them (IDX-020). An index behind the store when the
upload commits catches up by reading the store, as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from node import bulk_commit
from node.identity import Caller
from node.index import cells, listing
from node.index.listing import ListingIndex, open_index
from node.index.schema import assets as asset_rows
from node.index.schema import capacity_cells
from node.inputs import Row
from node.kinds import assets as assets_module
from node.records import unit as unit_module
from node.register import Register
from node.store.embedded import EmbeddedStore
from tests.assets import bess, heat_pump

FSP = Caller("loader", "FSP-ACME", frozenset({"FSP"}), frozenset({"assets:read", "assets:write"}))
AREAS = ["UKPN_EPN", "ENWL", "SSEN_SEPD", "NGED_WMID"]


def _asset(i: int) -> dict[str, Any]:
    if i % 2:  # decimals the store gives back in another form ("1.50" reads as "1.5")
        capacity = 100 + 37 * i
        return bess(dno=AREAS[i % 4], RatedCapacity=capacity,
                    DemandCapacity=capacity - 0.25 * (i % 3), GenCapacity=capacity,
                    InstalledCapacity=f"{capacity}.50",
                    ConnectionType=["NON_FIRM", "FIRM", "DYNAMIC"][i % 3])
    return heat_pump(dno=AREAS[i % 4])


class Node:
    def __init__(self, folder: Path, workers: int):
        self.store = EmbeddedStore(folder / "store")
        self.register = Register(self.store, workers=workers)
        unit = self.register.unit
        self.index: ListingIndex = open_index(folder, self.store, lambda: unit.audit.sequence)
        unit.after_commit.append(self.index.after_write)
        self.register.assets.index = self.index

    def upload(self, first: int, count: int) -> set[str]:
        report = self.register.register_bulk(
            (Row(i, fields=_asset(i)) for i in range(first, first + count)), FSP,
            all_or_nothing=True)
        assert report.stored == count and report.rejected == 0, report.as_json()["errors"][:2]
        return {assets_module.ASSET_BASE + a["AssetId"] for a in report.assets}

    def rows(self) -> tuple[list[Any], list[Any]]:
        with self.index.engine.connect() as conn:
            return ([tuple(r) for r in conn.execute(select(asset_rows).order_by(
                        asset_rows.c.iri))],
                    sorted(tuple(str(v) for v in r)
                           for r in conn.execute(select(capacity_cells))))

    def close(self) -> None:
        self.register.close()
        self.index.close()


@pytest.fixture
def read_back(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The records the index re-reads from the store."""
    seen: set[str] = set()
    original = listing.own_triples

    def spy(store: Any, iris: Any, whole_graph: bool = False) -> Any:
        seen.update(iris)
        return original(store, iris, whole_graph)

    monkeypatch.setattr(listing, "own_triples", spy)
    yield seen


@pytest.mark.parametrize("workers,count", [(1, 30), (2, 60)])
def test_IDX_001_an_uploads_rows_are_built_with_its_records_and_equal_a_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_back: set[str], workers: int,
        count: int) -> None:
    # in parts under a pending marker (BULK-020), with several chunks of rows
    monkeypatch.setattr(unit_module, "SINGLE_TRANSACTION_LIMIT", 10)
    monkeypatch.setattr(bulk_commit, "PART_BYTES", 4_000)
    monkeypatch.setattr(assets_module, "BULK_CHUNK", 7)
    node = Node(tmp_path, workers)
    try:
        node.register.register_bulk((Row(i, fields=_asset(i)) for i in range(5)), FSP,
                                    all_or_nothing=False)  # one by one: read back
        assert len(read_back) == 5
        read_back.clear()
        stored = node.upload(100, count)
        assert read_back.isdisjoint(stored)  # the upload's rows: none read from the store
        assert node.index.current()
        built = node.rows()
        assert len(built[0]) == 5 + count and all(r[-1] for r in built[0])  # each has a doc
        with node.index.engine.connect() as conn:
            stored_cells, summed = cells.stored_and_summed(conn)
        assert stored_cells == summed and stored_cells
        node.index.applied = None  # IDX-002: rebuilt, every row read from the store
        node.index.catch_up()
        assert stored <= read_back
        assert node.rows() == built  # every column and the JSON, and every cell, equal
    finally:
        node.close()


def test_IDX_001_an_index_behind_when_an_upload_commits_reads_the_store(
        tmp_path: Path, read_back: set[str]) -> None:
    node = Node(tmp_path, 1)
    try:
        hook = node.index.after_write
        node.register.unit.after_commit.remove(hook)  # a catch-up that did not happen
        node.upload(1, 12)
        node.register.unit.after_commit.append(hook)
        assert not node.index.current()
        read_back.clear()
        second = node.upload(50, 12)  # its rows alone would leave the first upload out
        assert node.index.current()
        assert second <= read_back  # both entries applied from the store
        built = node.rows()
        assert len(built[0]) == 24
        node.index.applied = None
        node.index.catch_up()
        assert node.rows() == built
    finally:
        node.close()
