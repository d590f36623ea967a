"""The node's register: one store, one write path, and the record kinds on it.

Thin: each kind's logic is in node/kinds/, the shared machinery in node/records/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from node.identity import Caller
from node.inputs import Properties, Row
from node.kinds.asset_records import Checked
from node.kinds.assets import Assets, BulkReport
from node.kinds.categories import Catalogue, Categories
from node.kinds.connection_limits import ConnectionLimits
from node.kinds.equivalences import Equivalences
from node.kinds.products import Products
from node.kinds.report_definitions import ReportDefinitions
from node.records.unit import UnitOfWork
from node.store import RecordStore


class Register:
    def __init__(self, store: RecordStore, workers: int = 2):
        self.store = store
        self.unit = UnitOfWork(store)
        self.categories = Categories(self.unit, on_change=lambda: self.assets.shapes_changed())
        self.assets = Assets(self.unit, self.categories, workers)
        self.limits = ConnectionLimits(self.unit)
        self.products = Products(self.unit)
        self.equivalences = Equivalences(self.unit, self.products)
        self.report_definitions = ReportDefinitions(self.unit)

    @property
    def catalogue(self) -> Catalogue:
        return self.categories.catalogue

    @property
    def commit_hooks(self) -> list[Callable[[str, Properties], None]]:
        return self.assets.commit_hooks

    def register_bulk(
        self,
        rows: Iterable[Row],
        caller: Caller,
        all_or_nothing: bool,
        screen: Callable[[list[Checked]], None] | None = None,
    ) -> BulkReport:
        return self.assets.register_bulk(rows, caller, all_or_nothing, screen)

    def close(self) -> None:
        self.assets.close()
        self.store.close()
