"""The one store interface: records as named graphs, whatever holds them."""

from node.store.base import GraphWrite, QueryTooExpensive, RecordStore, StoreError
from node.store.factory import open_store

__all__ = ["GraphWrite", "QueryTooExpensive", "RecordStore", "StoreError", "open_store"]
