"""The node's register: one store, one write path, and the record kinds on it.

Thin: each kind's logic is in node/kinds/, the shared machinery in node/records/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from node.identity import Caller
from node.inputs import Properties, Row
from node.kinds.asset_records import Checked
from node.kinds.assets import Assets, BulkReport
from node.kinds.categories import Catalogue, Categories
from node.kinds.connection_limits import ConnectionLimits
from node.kinds.consents import ConsentPolicy, Consents
from node.kinds.disputes import Disputes
from node.kinds.equivalences import Equivalences
from node.kinds.market_unit_capability import memberships, today
from node.kinds.market_unit_members import Memberships
from node.kinds.market_units import MARKET_UNIT, MarketUnits
from node.kinds.product_register import ProductRegister
from node.kinds.products import Products
from node.kinds.qualifications import (
    GridPrequalifications,
    QualificationApplications,
    Qualifications,
)
from node.kinds.report_definitions import ReportDefinitions
from node.records.unit import UnitOfWork
from node.store import RecordStore


class Register:
    def __init__(self, store: RecordStore, workers: int = 2, material_change_share: float = 0.1,
                 consent: ConsentPolicy | None = None):
        self.store = store
        self.unit = UnitOfWork(store)
        self.categories = Categories(self.unit, on_change=lambda: self.assets.shapes_changed())
        self.assets = Assets(self.unit, self.categories, workers)
        self.limits = ConnectionLimits(self.unit)
        self.products = Products(self.unit)
        self.equivalences = Equivalences(self.unit, self.products)
        self.units = MarketUnits(self.unit, material_change_share)
        self.members = Memberships(self.units)
        self.assets.deregister_guards.append(self.members.refuse_deregistration)
        # qualification (node/kinds/qualifications.py): applications name units held here
        # (QUAL-VAL-025); a material change of a unit sends its applications back for
        # re-assessment here, and its `market-unit.changed` event (data.material) tells the
        # operators, whose nodes do the same to their outcomes
        # (self.qualifications.on_material_change)
        self.applications = QualificationApplications(self.unit, units=MARKET_UNIT)
        self.qualifications = Qualifications(self.unit)
        self.grid_prequalifications = GridPrequalifications(self.unit)
        # the product register they check (node/kinds/product_register.py): this store's
        # products; a node that does not hold them reads the facilitator's node
        # (node/api/services.py)
        self.product_register = ProductRegister(self._product_versions)
        self.applications.products = self.qualifications.products = self.product_register
        self.units.material_hooks.append(self.applications.on_material_change)
        self.report_definitions = ReportDefinitions(self.unit)
        self.disputes = Disputes(self.unit)  # deadlines: configure(), from the settings
        # consumer consent (node/kinds/consents.py): registration at a connection point
        # that needs it names a valid consent; a revocation suspends the assets under it
        # and recomputes their units (a material change: the operators hear of it)
        self.consents = Consents(self.unit, consent)
        self.assets.register_guards.append(
            lambda props, org: self.consents.require_for_asset(props, org, date.today()))
        self.consents.suspend = self._suspend

    def _product_versions(self) -> list[dict[str, Any]]:
        """Every product version in this store, as the register's JSON (products are
        public: read as any member)."""
        reader = Caller("node:product-register", "node", frozenset(), frozenset({"assets:read"}))
        return [record.as_json() for record in self.products.every(reader)]

    def _suspend(self, asset_iri: str, why: str) -> None:
        """"Suspended – Consent Revoked", at once; the asset's units are recomputed without
        it (market_unit_capability.takes_part), a material change with the reason. Done by
        the node for the asset's FSP, on its own node (the revocation was authorised)."""
        asset = self.assets.get_record(asset_iri)
        if asset is None:
            return
        acting = Caller(f"node:{why.replace(' ', '-')}", asset.organisation_id,
                        frozenset({"FSP"}), frozenset({"assets:read", "assets:write"}))
        self.assets.suspend(asset.asset_id, acting)
        for membership in memberships(self.store, asset=asset_iri):
            if membership.in_force_from(today()):
                self.units.recompute(membership.unit_id, acting,
                                     [f"member {asset.asset_id} suspended: {why}"])

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
