"""Serving over TLS with uvicorn so that handlers can see the client certificate.

Uvicorn's h11 protocol does not put the peer certificate in the ASGI scope, so
`TLSH11Protocol` adds the ASGI TLS extension (`scope["extensions"]["tls"]`, with
`client_cert_chain` as PEM strings) to every request of a TLS connection.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

PEER = "fmar.peer"  # scope extension: the address of the TCP peer, as connected


class TLSH11Protocol(H11Protocol):
    """Adds the ASGI TLS extension and the real peer address (which uvicorn's proxy-headers
    middleware may rewrite in `scope["client"]`) to every request of the connection."""

    # H11Protocol narrows asyncio's BaseTransport to Transport (a stream) the same way.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        extensions: dict[str, Any] = {PEER: {"host": peer[0] if peer else None}}
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            extensions["tls"] = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der
                                 else [], "tls_version": ssl_object.version(),
                                 "cipher_suite": None}
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {}).update(extensions)
            await inner(scope, receive, send)

        self.app = app


# The server TLS contexts of this process, with their certificate and key files, so that a
# renewed certificate is taken without a restart (reload_server_certificates).
_LIVE: list[tuple[ssl.SSLContext, str, str | None]] = []
_LIVE_LOCK = threading.Lock()


def _tls13_only(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    keyfile = getattr(config, "ssl_keyfile", None)
    with _LIVE_LOCK:
        _LIVE.append((context, str(config.ssl_certfile), str(keyfile) if keyfile else None))
    return context


def reload_server_certificates() -> int:
    """Read the server certificate and key files again into every live TLS context of this
    process: new handshakes present the new certificate; open connections keep theirs.
    Returns how many contexts were reloaded."""
    with _LIVE_LOCK:
        for context, certfile, keyfile in _LIVE:
            context.load_cert_chain(certfile, keyfile)
        return len(_LIVE)


def uvicorn_tls_options(certfile: str | Path, keyfile: str | Path,
                        ca_bundle: str | Path) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config`: TLS 1.3, an optional client certificate that
    must chain to the federation CA, and the protocol that exposes it."""
    return {
        "ssl_certfile": str(certfile),
        "ssl_keyfile": str(keyfile),
        "ssl_ca_certs": str(ca_bundle),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "ssl_context_factory": _tls13_only,
        "http": TLSH11Protocol,
    }


def peer_host(scope: Mapping[str, Any]) -> str | None:
    """The TCP peer's address: from TLSH11Protocol if it served the request, else the
    ASGI `client` (which uvicorn rewrites from X-Forwarded-For for allowed proxies)."""
    peer = (scope.get("extensions") or {}).get(PEER)
    if peer is not None:
        return peer.get("host")
    client = scope.get("client")
    return client[0] if client else None


def peer_certificate_der(scope: Mapping[str, Any]) -> bytes | None:
    """The DER client certificate of the TLS connection of this request, if any."""
    chain = (scope.get("extensions") or {}).get("tls", {}).get("client_cert_chain") or []
    if not chain:
        return None
    return pem_to_der(chain[0])


def pem_to_der(pem: str | bytes) -> bytes:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
