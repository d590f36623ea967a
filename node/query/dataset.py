"""The names of the record graphs a caller may read: the dataset of the queries the
rewrite (node/query/rewrite.py) does not cover, and the reference the rewrite is tested
against (tests/test_query_rewrite.py).

The list is computed from `node.policy` (POL-011) with index lookups: one per
organisation and licence area in the caller's read scope, plus the public records
(policy.PUBLIC_RECORDS: asset categories, product versions); for NESO (everything) all
record graphs. History versions and the audit log are not in the record store at all (they
are in its journal, node/records/journal.py); its other `urn:fmar:` graphs (events,
markers) are never in the list.
Lists are cached per scope for `ttl` seconds (default 2 s): a new record shows in
SPARQL within that time.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from common.vocab import FMAR, ORG_BASE, code_iri
from node import policy
from node.store import RecordStore

DNO_CODE = "DNOCode"


def _column(store: RecordStore, query: str) -> list[str]:
    return [s["g"].value for s in store.select(query)]


def list_allowed(store: RecordStore, scope: policy.ReadScope) -> list[str]:
    names: set[str] = set()
    if scope.everything:
        names.update(store.graph_names())
    else:
        for org in sorted(scope.organisations):
            names.update(_column(store, f"SELECT ?g WHERE {{ GRAPH ?g {{ ?g <{FMAR.organisation}>"
                                        f" <{ORG_BASE}{_iri_safe(org)}> }} }}"))
        for area in sorted(scope.dno_areas):
            names.update(_column(store, f"SELECT ?g WHERE {{ GRAPH ?g {{ ?g <{FMAR.dnoConnection}>"
                                        f" <{code_iri(DNO_CODE, _iri_safe(area))}> }} }}"))
        for base, rdf_class in policy.PUBLIC_RECORDS:
            names.update(_column(store, f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?c a "
                                        f"<{rdf_class}> }} FILTER STRSTARTS(STR(?g), "
                                        f'"{base}") }}'))
    return sorted(n for n in names if policy.is_queryable_graph(n))


def _iri_safe(value: str) -> str:
    if not value or not all(ch.isalnum() or ch in "-_." for ch in value):
        raise ValueError(f"not a code: {value!r}")
    return value


class AllowedGraphs:
    """Per-scope cache of allowed graph names."""

    def __init__(self, store: RecordStore, ttl: float = 2.0):
        self.store = store
        self.ttl = ttl
        self._cache: dict[Any, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def names(self, scope: policy.ReadScope) -> list[str]:
        return self._entry(scope)[1]

    def _entry(self, scope: policy.ReadScope) -> tuple[float, list[str]]:
        key = (scope.everything, scope.organisations, scope.dno_areas)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit
        names = list_allowed(self.store, scope)
        entry = (now + self.ttl, names)
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = entry
        return entry
