"""Finding the nodes that can contribute: the trust directory lists the active nodes
serving a dataset type; each node's public DCAT catalogue says where its SPARQL and
query services are. Nothing is hard-coded."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from node.federation.engine import NodeTarget

DCAT = "http://www.w3.org/ns/dcat#"
_cache: dict[tuple[str, str], tuple[float, list[NodeTarget]]] = {}
_catalogues: dict[str, tuple[float, bool]] = {}


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


async def _has_sparql(http: httpx.AsyncClient, url: str, timeout: float) -> bool:
    hit = _catalogues.get(url)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    try:
        services = await asyncio.wait_for(catalogue_services(http, url), timeout)
    except (TimeoutError, httpx.HTTPError, ValueError, KeyError):
        return True  # unknown: keep it, so that it shows up as not answering
    _catalogues[url] = (time.monotonic() + 600, "sparql" in services)
    return "sparql" in services


async def discover(http: httpx.AsyncClient, trust_url: str, dataset_type: str = "Asset",
                   ttl: float = 60.0, catalogue_timeout: float = 1.0) -> list[NodeTarget]:
    """Active nodes serving `dataset_type` whose catalogue offers a SPARQL service.

    Catalogues are read in parallel, at most `catalogue_timeout` seconds, and cached
    for 10 minutes; a node whose catalogue cannot be read is kept (it then shows as
    `error` or `timed_out` in the answer rather than silently disappearing)."""
    key = (trust_url, dataset_type)
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    entries = await directory_nodes(http, trust_url, dataset_type)
    urls = [str(e["url"]).rstrip("/") for e in entries]
    keep = await asyncio.gather(*(_has_sparql(http, u, catalogue_timeout) for u in urls))
    targets = [NodeTarget(u, e.get("org_id"), e.get("id"))
               for u, e, k in zip(urls, entries, keep) if k]
    _cache[key] = (time.monotonic() + ttl, targets)
    return targets
