"""The real processes the browser tests drive: the trust framework, two FSPs' nodes
(Flexco, Voltaflex) with a few synthetic assets each, a regulator (Ofgem, no node of its
own: it works through Flexco's node) and the portal. `python -m tests.browser.stack DIR`
starts the same and waits (for working on the portal by hand)."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from examples.generate import assets
from portal.session_db import new_key
from tests.harness.federation import LocalFederation, NodeProc
from tests.harness.portal import PORTAL_NODE_ENV, PortalProc, register_portal_client
from tests.harness.processes import RATE_LIMITS_OFF, free_port

ASSETS_PER_NODE = 40
GRIDCO_AREAS = ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]


@dataclass
class Stack:
    fed: LocalFederation
    flexco: NodeProc
    voltaflex: NodeProc
    portal: PortalProc
    flexco_assets: list[str]  # AssetIds of Flexco's assets

    def stop(self) -> None:
        self.portal.stop()
        self.fed.stop()


def start(base: Path) -> Stack:
    fed = LocalFederation(base, node_env={**PORTAL_NODE_ENV, **RATE_LIMITS_OFF})
    fed.start_trust()
    try:
        flexco_m = fed.register_member("Flexco", ["FSP"])
        volta_m = fed.register_member("Voltaflex", ["FSP"])
        fed.register_member("Ofgem", ["Regulator"])
        # a DNO with its node (qualification queue, connection limits): fed.nodes["gridco"]
        gridco = fed.register_member("Gridco", ["DNO"], dno_areas=GRIDCO_AREAS)
        fed.add_node("gridco", gridco, ["Asset", "ConnectionLimit"])
        # the market facilitator's node holds the products (eligibility, qualification)
        elexon = fed.register_member("Elexon", ["MarketFacilitator"])
        fed.load_products(fed.add_node("facilitator", elexon, ["Asset", "Product"]))
        fed.register_member("NESO", ["NESO"])  # no node: it uses the entry node
        flexco = fed.add_node("flexco", flexco_m)
        voltaflex = fed.add_node("voltaflex", volta_m)
        flexco_iris = fed.load_assets(flexco, assets(ASSETS_PER_NODE, flexco_m.org_id, seed=11))
        fed.load_assets(voltaflex, assets(ASSETS_PER_NODE, volta_m.org_id, seed=22))
        fed.start_nodes()
        port = free_port()
        client_id = register_portal_client(fed.trust, f"http://127.0.0.1:{port}")
        portal = PortalProc.start(fed.trust, client_id, base / "portal.log", port=port,
                                  database_url=f"sqlite:///{base / 'portal.db'}",
                                  session_key=new_key())
    except BaseException:
        fed.stop()
        raise
    return Stack(fed, flexco, voltaflex, portal, [i.rsplit("/", 1)[-1] for i in flexco_iris])


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop() runs on `kill` too
    stack = start(Path(sys.argv[1]))
    print("portal", stack.portal.url, "trust", stack.fed.issuer, flush=True)
    for name, m in stack.fed.members.items():
        print(name, m.email, m.password, flush=True)
    for n in stack.fed.nodes.values():
        print(n.name, n.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        stack.stop()
