"""API models made from a kind's field table (node/asset_fields.py `FieldTable`), so the
names, descriptions and JSON schemas a route documents are those the kind reads and
writes: one table for the record, its input, its output and the docs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model
from pydantic import Field as ModelField
from pydantic.json_schema import JsonDict

from node.asset_fields import FieldTable


def model_of(name: str, table: FieldTable, doc: str, *, names: Iterable[str] | None = None,
             required: Iterable[str] = (), examples: Iterable[JsonDict] = (),
             kept: Mapping[str, tuple[Any, Any]] | None = None,
             forbid: bool = True) -> type[BaseModel]:
    """A model of the table's fields (those in `names`, in the table's order), each typed
    `Any` so the kind's own checks give its rule IDs, documented by its `doc` and
    `schema`; `kept`: the node's own fields (name -> (type, default)) before them."""
    wanted = None if names is None else set(names)
    fields: dict[str, Any] = dict(kept or {})
    for f in table.fields:
        if wanted is None or f.name in wanted:
            fields[f.name] = (Any, ModelField(None, description=f.doc or None,
                                              json_schema_extra=f.schema or {"type": "string"}))
    extra: JsonDict = {}
    if list(required):
        extra["required"] = list(required)
    if list(examples):
        extra["examples"] = list(examples)
    config = ConfigDict(extra="forbid" if forbid else "ignore", json_schema_extra=extra)
    model: type[BaseModel] = create_model(name, __config__=config, __doc__=doc, **fields)
    return model
