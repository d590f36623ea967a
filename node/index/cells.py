"""The index's capacity cells: per finest group of every code column and per capacity
measure, the count, the exact decimal sum, the smallest and the two largest values of the
node's asset rows (IDX-020). They are what disclosure control needs (node/query/aggregates.py
`Cell`), so a table for the regulator is merged from a few thousand cells instead of read
from every asset row (IDX-021).

They are kept in the same SQLite transaction as the rows they summarise: replaced rows are
taken out of their cells and new rows added; a cell that loses its smallest or one of its
two largest values is summed again from its group's rows (`refresh`), and a rebuilt index
sums every cell in one pass (`rebuild`), so the cells never differ from the rows."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, select

from node import policy
from node.index.schema import CODE_COLUMNS, MEASURE_COLUMNS, assets, capacity_cells
from node.query.aggregates import AggregateSpec, Cell

GroupKey = tuple[str | None, ...]  # the code columns' values, in CODE_COLUMNS order
REBUILD_OVER = 500  # more groups touched than this: the whole table is read and rewritten


TEXTS = [p + "_text" for p in MEASURE_COLUMNS.values()]


def rows_query() -> Any:
    return select(*(assets.c[c] for c in CODE_COLUMNS), *(assets.c[t] for t in TEXTS))


def _sum(rows: Iterable[Any]) -> dict[tuple[GroupKey, str], Cell]:
    """Cells of (group, measure) from rows of (code columns..., each measure's text)."""
    cells: dict[tuple[GroupKey, str], Cell] = {}
    n = len(CODE_COLUMNS)
    for row in rows:
        key = tuple(row[:n])
        for measure, text in zip(MEASURE_COLUMNS, row[n:]):
            if text is not None:
                cell = cells.get((key, measure))
                if cell is None:
                    cell = cells[(key, measure)] = Cell()
                cell.add(Decimal(text))
    return cells


# One group's cells or rows, as static SQL through the driver: a write touches a group or
# two, and building these statements as SQLAlchemy expressions cost more than running them.
# `IS` is SQLite's equality that also matches NULL to NULL (and uses the index as `=`).
_GROUP = " AND ".join(f"{c} IS ?" for c in CODE_COLUMNS)
_CELL_COLUMNS = ", ".join(f'"{c}"' for c in (*CODE_COLUMNS, "measure", "count", "total",
                                              "top1", "top2", "low"))
_CELLS_SQL = f"SELECT {_CELL_COLUMNS} FROM {capacity_cells.name}"
_CELLS_OF_GROUP = f"{_CELLS_SQL} WHERE {_GROUP}"
_DELETE_GROUP = f"DELETE FROM {capacity_cells.name} WHERE {_GROUP}"
_ROWS_OF_GROUP = (f"SELECT {', '.join((*CODE_COLUMNS, *TEXTS))} FROM {assets.name} "
                  f"WHERE {_GROUP}")


def rows_of_iris(count: int) -> str:
    """The cells' values (as `rows_query`) of `count` rows named by IRI, static SQL."""
    return (f"SELECT {', '.join((*CODE_COLUMNS, *TEXTS))} FROM {assets.name} "
            f"WHERE iri IN ({', '.join('?' for _ in range(count))})")


def _load(conn: Connection, keys: set[GroupKey] | None) -> dict[tuple[GroupKey, str], Cell]:
    """The stored cells of the groups `keys` (None, or more than REBUILD_OVER: every cell)."""
    rows = (conn.exec_driver_sql(_CELLS_SQL) if keys is None or len(keys) > REBUILD_OVER
            else (r for key in keys for r in conn.exec_driver_sql(_CELLS_OF_GROUP, key)))
    n = len(CODE_COLUMNS)
    return {(tuple(r[:n]), r[n]): Cell(int(r[n + 1]), Decimal(r[n + 2]), (r[n + 3], r[n + 4]),
                                       r[n + 5]) for r in rows}


def refresh(conn: Connection, left: list[tuple[Any, ...]], joined: list[tuple[Any, ...]]
            ) -> None:
    """IDX-020, in the rows' transaction, after the rows are replaced: the rows that left
    (as they were) are taken out of their groups' cells and the rows that joined are added.
    A cell whose largest values lose one is summed again from its group's rows."""
    n = len(CODE_COLUMNS)
    keys = {tuple(r[:n]) for r in (*left, *joined)}
    if not keys:
        return
    cells = _load(conn, keys)
    again: set[GroupKey] = set()
    for row in left:
        key = tuple(row[:n])
        for measure, text in zip(MEASURE_COLUMNS, row[n:]):
            if text is not None:
                cell = cells.get((key, measure))
                if cell is None or cell.remove(Decimal(text)):
                    again.add(key)
    for row in joined:
        key = tuple(row[:n])
        for measure, text in zip(MEASURE_COLUMNS, row[n:]):
            if text is not None:
                cells.setdefault((key, measure), Cell()).add(Decimal(text))
    for key in again:  # summed again from the rows as they now are
        for measure in MEASURE_COLUMNS:
            cells.pop((key, measure), None)
        cells.update(_sum(conn.exec_driver_sql(_ROWS_OF_GROUP, key)))
    if len(keys) > REBUILD_OVER:  # every cell was loaded: write the table anew
        conn.execute(delete(capacity_cells))
    else:
        conn.exec_driver_sql(_DELETE_GROUP, list(keys))
        cells = {k: v for k, v in cells.items() if k[0] in keys}
    _write(conn, cells)


def stored_and_summed(conn: Connection) -> tuple[dict[Any, Cell], dict[Any, Cell]]:
    """Every stored cell, and every cell summed anew from the rows (IDX-020's check)."""
    return _load(conn, None), _sum(conn.execute(rows_query()))


def rebuild(conn: Connection) -> None:
    """IDX-020 for a rebuilt index: every cell summed again from the rows."""
    conn.execute(delete(capacity_cells))
    _write(conn, _sum(conn.execute(rows_query())))


_INSERT_CELL = (f"INSERT INTO {capacity_cells.name} ({_CELL_COLUMNS}) "
                f"VALUES ({', '.join('?' for _ in range(len(CODE_COLUMNS) + 6))})")


def _write(conn: Connection, cells: dict[tuple[GroupKey, str], Cell]) -> None:
    rows = [(*key, measure, cell.count, str(cell.total), cell.top[0], cell.top[1], cell.low)
            for (key, measure), cell in cells.items() if cell.count > 0]
    if rows:
        conn.exec_driver_sql(_INSERT_CELL, rows)


def answerable(spec: AggregateSpec) -> bool:
    """The cells hold this table: code dimensions and code filters only (a capacity range
    or a month dimension needs the rows)."""
    f = spec.filter
    return (not spec.present and spec.measure in MEASURE_COLUMNS
            and all(d in CODE_COLUMNS for d in spec.group_by)
            and f.min_capacity is None and f.max_capacity is None)


def finest(conn: Connection, spec: AggregateSpec, scope: policy.ReadScope
           ) -> dict[GroupKey, Cell]:
    """IDX-021: the table's finest groups, merged from the cells under the caller's read
    rule and the filter (the same conditions as on the rows: node/index/queries.py)."""
    from node.index.queries import filter_condition, scope_condition

    t = capacity_cells
    query = select(*(t.c[d] for d in spec.group_by), t.c["count"], t.c.total, t.c.top1,
                   t.c.top2, t.c.low).where(t.c.measure == spec.measure,
                                            scope_condition(scope, t),
                                            filter_condition(spec.filter, t))
    out: dict[GroupKey, Cell] = {}
    n = len(spec.group_by)
    for row in conn.execute(query):
        part = Cell(int(row[n]), Decimal(row[n + 1]), (row[n + 2], row[n + 3]), row[n + 4])
        cell = out.get(tuple(row[:n]))
        if cell is None:
            out[tuple(row[:n])] = part
        else:
            cell.merge(part)
    return out


def exact(conn: Connection, spec: AggregateSpec, scope: policy.ReadScope
          ) -> list[tuple[GroupKey, int, float, float, float]]:
    """IDX-021: (codes, count, sum, min, max) per group from the cells, as
    `queries.exact_groups` gives them from the rows."""
    return [(codes, cell.count, float(cell.total), cell.low, cell.top[0])
            for codes, cell in finest(conn, spec, scope).items()]
