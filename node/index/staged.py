"""The index rows of an all-or-nothing upload, built with its records instead of read back.

The validation workers build each record of an upload and read its triples back from a
scratch store, as the record store gives them (node/kinds/assets.py `_built`); the row of
the listing index (its columns and its JSON, node/index/projection.py `record_row`) is
made from those same triples there. The rows wait in a file beside the upload's TriG
part (`StagedRows`), one pickled chunk per validated chunk, not in memory; once the
upload has committed, the index applies them in the write's own catch-up (IDX-001: caught
up before the write returns) instead of re-reading every record from the store
(node/index/listing.py `ListingIndex.catch_up`).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from sqlalchemy import Connection

from node.index.cells import TEXTS
from node.index.projection import record_row
from node.index.schema import CODE_COLUMNS, assets

COLUMNS = tuple(c.name for c in assets.columns)
_INSERT = (f"INSERT INTO {assets.name} ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")

Row = tuple[Any, ...]  # an index row, its values in COLUMNS order


def as_tuple(row: dict[str, Any]) -> Row:
    return tuple(row[c] for c in COLUMNS)


_CELLS = [COLUMNS.index(c) for c in (*CODE_COLUMNS, *TEXTS)]


def cell_values(row: Row) -> tuple[Any, ...]:
    """A row's values as the capacity cells read them (node/index/cells.py `rows_query`:
    the code columns, then each measure's text)."""
    return tuple(row[i] for i in _CELLS)


def row_of_quads(iri: str, quads: list[ox.Quad]) -> Row | None:
    """The index row of the record `iri` from its graph's quads (its own triples only, as
    the index reads them from the store: node/records/reading.py `own_triples`)."""
    row = record_row(iri, quads)
    return as_tuple(row) if row is not None else None


def insert(conn: Connection, rows: list[Row]) -> None:
    """Rows into the index table, through the driver's executemany (no per-row
    statement parameters built by SQLAlchemy)."""
    if rows:
        conn.exec_driver_sql(_INSERT, rows)


class StagedRows:
    """A spool of an upload's index rows in `folder` (deleted with it); `chunks()` reads
    them back in the order added."""

    def __init__(self, folder: Path):
        self.path = folder / "index-rows.pickle"
        self._file = self.path.open("wb")
        self.count = 0

    def add(self, rows: list[Row]) -> None:
        pickle.dump(rows, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += len(rows)

    def chunks(self) -> Iterator[list[Row]]:
        self._file.close()
        with self.path.open("rb") as spool:
            while True:
                try:
                    yield pickle.load(spool)
                except EOFError:
                    return
