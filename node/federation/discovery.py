"""Finding the nodes that can contribute: the trust directory lists the active nodes
serving a dataset type; each node's public DCAT catalogue says where its SPARQL and
query services are. Nothing is hard-coded."""

from __future__ import annotations

import time
from typing import Any

import httpx

from node.federation.engine import NodeTarget

DCAT = "http://www.w3.org/ns/dcat#"
_cache: dict[tuple[str, str], tuple[float, list[NodeTarget]]] = {}


async def directory_nodes(http: httpx.AsyncClient, trust_url: str,
                          dataset_type: str = "Asset") -> list[dict[str, Any]]:
    response = await http.get(f"{trust_url}/api/nodes", params={"dataset_type": dataset_type})
    response.raise_for_status()
    return list(response.json())


async def catalogue_services(http: httpx.AsyncClient, node_url: str) -> dict[str, str]:
    """The node's DataService endpoint URLs by kind (sparql, query, federation, api)."""
    response = await http.get(f"{node_url}/catalogue",
                              headers={"accept": "application/ld+json"})
    response.raise_for_status()
    services: dict[str, str] = {}
    for item in response.json():
        types = item.get("@type", [])
        if f"{DCAT}DataService" not in types:
            continue
        key = item["@id"].rsplit("#service-", 1)[-1]
        endpoints = item.get(f"{DCAT}endpointURL", [])
        if endpoints:
            services[key] = endpoints[0]["@id"]
    return services


async def discover(http: httpx.AsyncClient, trust_url: str, dataset_type: str = "Asset",
                   ttl: float = 60.0, check_catalogues: bool = True) -> list[NodeTarget]:
    """Active nodes serving `dataset_type` whose catalogue offers a SPARQL service. A node
    whose catalogue cannot be read is kept (it will show as `error` in the answer rather
    than silently disappear)."""
    key = (trust_url, dataset_type)
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    targets = []
    for entry in await directory_nodes(http, trust_url, dataset_type):
        url = str(entry["url"]).rstrip("/")
        if check_catalogues:
            try:
                services = await catalogue_services(http, url)
                if "sparql" not in services:
                    continue
            except (httpx.HTTPError, ValueError, KeyError):
                pass
        targets.append(NodeTarget(url, entry.get("org_id"), entry.get("id")))
    _cache[key] = (time.monotonic() + ttl, targets)
    return targets
