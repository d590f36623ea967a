"""The data of a change event: which fields changed, and whether the change is material."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

# What the node keeps on every write: never reported as a change.
BOOKKEEPING = frozenset({"id", "Version", "Created", "Modified"})


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The JSON field names whose values differ (added, removed or changed)."""
    names = (before.keys() | after.keys()) - BOOKKEEPING
    return sorted(n for n in names if before.get(n) != after.get(n))


def change_data(as_json: Callable[[Any], dict[str, Any]],
                not_material: Collection[str] = ()) -> Callable[[Any, Any], dict[str, Any]]:
    """`event_data` for `UnitOfWork.change`: `{"changed": [...], "material": bool}`, where a
    change is material unless it touches only `not_material` fields."""

    def data(current: Any, new: Any) -> dict[str, Any]:
        changed = changed_fields(as_json(current), as_json(new) if new is not None else {})
        return {"changed": changed, "material": any(n not in not_material for n in changed)}

    return data
