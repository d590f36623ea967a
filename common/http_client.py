"""The one HTTP client of the federation: presents a client certificate, trusts only the
federation's Server hierarchy for the servers it calls (directory-issued-server-tls-
certificates/1.0: a certificate of the client or signing hierarchy is no server's)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID


def _server_auth_issuer(cert: x509.Certificate) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
    return ca and ExtendedKeyUsageOID.SERVER_AUTH in usages


def server_anchors(pem: bytes) -> bytes:
    """DSI-PKI-040: of a federation bundle (the trust framework's chain.pem), the Server
    hierarchy only: the issuers limited to serverAuth and the roots that signed them. A
    bundle with no such issuer (a single-root directory, a public CA file) is kept whole."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:  # not a certificate file: ssl says why
        return pem
    issuers = [c for c in certs if _server_auth_issuer(c)]
    if not issuers:
        return pem
    roots = {i.issuer.public_bytes() for i in issuers}
    keep = [c for c in certs if c in issuers or (c.subject.public_bytes() in roots
                                                 and c.subject == c.issuer)]
    return b"".join(c.public_bytes(Encoding.PEM) for c in keep)


def ssl_context(ca_bundle: str | Path | None, cert: str | Path | None = None,
                key: str | Path | None = None) -> ssl.SSLContext:
    pem = Path(ca_bundle).read_bytes() if ca_bundle else b""
    anchors = server_anchors(pem) if pem else pem
    if anchors != pem:
        ctx = ssl.create_default_context(cadata=anchors.decode())
    else:
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
