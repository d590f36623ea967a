"""The product register read from the market facilitator's node (the node the trust
directory lists as serving the dataset type "Product"), as this node itself: its own
certificate and its own token (scope `products:read`, a node's own token only). Products
are public, so no caller's rights are lent. Qualification checks products against it
(node/kinds/product_register.py), which keeps each read FMAR_PRODUCT_REGISTER_TTL seconds
(60 by default)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from node.config import NodeSettings
from node.kinds.product_register import ProductRegister, RegisterUnreachable
from node.switching.peer import PeerRefused, Peers, PeerUnavailable

PRODUCTS_SCOPE = "products:read"
REGISTER_DATASET = "Product"
PAGE = 1000


def holds_register(settings: NodeSettings) -> bool:
    """Whether this node reads the register from its own store: it serves the products,
    or it is not in a federation."""
    return REGISTER_DATASET in settings.dataset_types or not settings.federated


class RemoteRegister:
    """`fetch` for a `ProductRegister`: every product version on the facilitator's node."""

    def __init__(self, settings: NodeSettings):
        self.peers = Peers(settings, scope=PRODUCTS_SCOPE)

    def __call__(self) -> list[dict[str, Any]]:
        try:
            node = self.peers.node_serving(REGISTER_DATASET)
            items: list[dict[str, Any]] = []
            after = ""
            while True:
                page = self.peers.call("GET", node, f"/products?limit={PAGE}"
                                       + (f"&after={quote(after)}" if after else ""))
                items += [i for i in page.get("items", []) if isinstance(i, dict)]
                after = str(page.get("next") or "")
                if not after:
                    return items
        except (PeerUnavailable, PeerRefused, AttributeError, TypeError) as exc:
            raise RegisterUnreachable(str(exc)[:300]) from None


def use_remote_register(register: ProductRegister, settings: NodeSettings) -> None:
    """Point `register` at the facilitator's node, unless this node holds the register."""
    if not holds_register(settings):
        register.use(RemoteRegister(settings), settings.product_register_ttl,
                     "the node serving Product")
