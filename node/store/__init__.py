"""The one store interface: records as named graphs, whatever holds them."""

from node.store.base import GraphWrite, RecordStore, StoreError
from node.store.factory import open_store

__all__ = ["GraphWrite", "RecordStore", "StoreError", "open_store"]
