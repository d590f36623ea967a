"""The index's tables: one row per current asset record, and its progress marker."""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    literal_column,
)

from node.asset_fields import FIELDS, STATE_FIELDS


def _json_form() -> str:
    """A digest of what an asset's JSON (the `doc` column) is made of: its fields, their
    predicates and kinds, and the fields the node keeps. A change of any of these changes
    SCHEMA_VERSION, so the `doc`s are rendered again (a change of `as_json`'s code itself
    still needs the number bumped)."""
    form = repr([(f.name, f.iri, f.kind) for f in FIELDS] + list(STATE_FIELDS))
    return hashlib.sha256(form.encode()).hexdigest()[:12]


# Bumped when the columns or their meaning change: an index of another version is rebuilt.
SCHEMA_VERSION = f"5.{_json_form()}"

metadata = MetaData()

# dimension / code filter -> column (the code: the last segment of the value's IRI)
CODE_COLUMNS = ("organisation", "dno", "category", "gsp_group", "connection_type",
                "connection_status", "registration_status", "validation_status")
# capacity measure (node/query/aggregates.py CAPACITY_MEASURES) -> column prefix
MEASURE_COLUMNS = {"rated": "rated", "import": "import_kw", "export": "export_kw",
                   "installed": "installed", "storage": "storage"}
MONTH_COLUMNS = {"created_month": "created", "modified_month": "modified",
                 "effective_month": "effective"}

assets = Table(
    "asset_rows", metadata,
    Column("iri", String, primary_key=True),  # the record's IRI: the listing's sort key
    Column("listed", Boolean, nullable=False),  # a fmar:Asset with an assetId (listings)
    *(Column(name, String) for name in CODE_COLUMNS),
    # each capacity as a number (filters, exact sums) and as stored (disclosure control
    # keys its rounding by the exact decimal sum of these texts)
    *(Column(prefix, Float) for prefix in MEASURE_COLUMNS.values()),
    *(Column(prefix + "_text", String) for prefix in MEASURE_COLUMNS.values()),
    *(Column(name, String) for name in MONTH_COLUMNS.values()),
    # a listed record's JSON (`AssetRecord.as_json`), rendered from the same read of the
    # store as the columns, in the same transaction: a page is served from it (IDX-008)
    Column("doc", Text),
    # how the REST filter form's SPARQL sees the record, and the terms it shows that the
    # columns do not hold (IDX-010, node/index/filtered.py)
    Column("q_state", Integer),
    Column("q_head", Text),
    Column("q_capacity", Text),
)
for _name in ("organisation", "dno", "category", "gsp_group", "validation_status",
              "connection_type"):
    Index(f"ix_{_name}_iri", assets.c[_name], assets.c.iri)
Index("ix_rated", assets.c.rated)
# the rows the filter form cannot be answered for (IDX-010: `q_state > 0`, normally none);
# partial, so its statistics never make SQLite scan the table for them
Index("ix_q_odd", assets.c.q_state, sqlite_where=assets.c.q_state > literal_column("0"))
# covers the capacity report's tables (node/reports/builtin.py CAPACITY_DIMS and its three
# measures) and any grouping by a prefix of them: groups read in order, no table lookups
Index("ix_capacity", *(assets.c[n] for n in ("category", "gsp_group", "dno", "connection_type",
                                             "validation_status", "rated", "import_kw",
                                             "export_kw")))

# the rows of one finest group (node/index/cells.py sums a group again from these)
Index("ix_codes", *(assets.c[n] for n in CODE_COLUMNS))

# IDX-020: per finest group (every code column) and capacity measure: the count, the exact
# decimal sum and the two largest values of the rows (node/index/cells.py)
capacity_cells = Table(
    "capacity_cells", metadata,
    *(Column(name, String) for name in CODE_COLUMNS),
    Column("measure", String, nullable=False),
    Column("count", Integer, nullable=False),
    Column("total", String, nullable=False),
    Column("top1", Float, nullable=False),
    Column("top2", Float, nullable=False),
    Column("low", Float, nullable=False),
)
Index("ix_cells", *(capacity_cells.c[n] for n in CODE_COLUMNS))

# "schema": SCHEMA_VERSION; "audit_sequence": the last audit entry applied
meta = Table(
    "index_meta", metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)
