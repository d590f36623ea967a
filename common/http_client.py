"""The one HTTP client of the federation: presents a client certificate, trusts the
federation CA."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx


def ssl_context(ca_bundle: str | Path | None, cert: str | Path | None = None,
                key: str | Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def client(*, ca_bundle: str | Path | None, cert: str | Path | None = None,
           key: str | Path | None = None, base_url: str = "", timeout: float | None = 5.0,
           **kwargs: Any) -> httpx.Client:
    """A synchronous client; `cert`/`key` are the PEM files of the caller's certificate;
    `timeout=None` waits without limit."""
    return httpx.Client(verify=ssl_context(ca_bundle, cert, key), base_url=base_url,
                        timeout=timeout, **kwargs)


def async_client(*, ca_bundle: str | Path | None, cert: str | Path | None = None,
                 key: str | Path | None = None, base_url: str = "", timeout: float | None = 5.0,
                 **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl_context(ca_bundle, cert, key), base_url=base_url,
                             timeout=timeout, **kwargs)
