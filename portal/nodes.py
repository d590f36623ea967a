"""A node's public HTTP API, called with the signed-in person's own token (never any
other credential: the portal adds no rights of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from common import http_client


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> dict[str, Any]:
        """The node's JSON error (`code`, `message`, `details`), or one made up from the status."""
        if isinstance(self.body, dict) and "code" in self.body:
            return self.body
        return {"code": f"HTTP-{self.status}", "message": str(self.body)[:300], "details": None}

    @property
    def violations(self) -> list[dict[str, Any]]:
        details = self.error.get("details")
        found = details.get("violations") if isinstance(details, dict) else None
        return [v for v in found or [] if isinstance(v, dict)]


class NodeClient:
    def __init__(self, node_url: str, token: str, ca_bundle: str, timeout: float = 60):
        self.node_url = node_url
        self._client = http_client.client(ca_bundle=ca_bundle, base_url=node_url,
                                          headers={"Authorization": f"Bearer {token}",
                                                   "Accept": "application/json"},
                                          timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return Answer(503, {"code": "PORTAL-NODE", "message":
                                f"The node {self.node_url} could not be reached: {exc}",
                                "details": None})
        try:
            body: Any = resp.json()
        except ValueError:
            body = resp.text
        return Answer(resp.status_code, body, dict(resp.headers))

    def fetch(self, path: str, params: dict[str, str] | None = None
              ) -> tuple[int, bytes, str]:
        """A file as it is (a chart, a download): status, bytes, media type."""
        try:
            resp = self._client.get(path, params=params)
        except httpx.HTTPError:
            return 503, b"", ""
        return resp.status_code, resp.content, resp.headers.get("content-type", "")

    def get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        return self.call("GET", path, params=params)

    def upload_csv(self, chunks: Iterator[bytes], mode: str) -> Answer:
        return self.call("POST", "/assets/bulk", params={"mode": mode}, content=chunks,
                         headers={"Content-Type": "text/csv"})
