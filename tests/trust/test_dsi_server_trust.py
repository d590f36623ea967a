"""directory-issued-server-tls-certificates/1.0: a member's server is trusted only through
the Server hierarchy (common/http_client.py). Real TLS servers on loopback present a
certificate of each hierarchy; the federation's one HTTP client, given the trust
framework's combined bundle, accepts only the Server hierarchy's."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from common import http_client
from trust.client.credentials import make_key_and_csr
from trust.server.ca import CertificateAuthority, init_ca

KEK = b"test-key-encryption-key"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _serve(folder: Path, cert: x509.Certificate, issuer: x509.Certificate,
           key_pem: bytes) -> Iterator[str]:
    folder.mkdir()
    (folder / "cert.pem").write_bytes(cert.public_bytes(Encoding.PEM)
                                      + issuer.public_bytes(Encoding.PEM))
    (folder / "key.pem").write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, Path]:
    folder = tmp_path_factory.mktemp("ca")
    return init_ca(folder / "ca", KEK), folder / "ca" / "chain.pem"


def _server_cert_of(ca: CertificateAuthority, hierarchy: str
                    ) -> tuple[x509.Certificate, x509.Certificate, bytes]:
    """A certificate with every mark of a server's (serverAuth, IP SAN) signed by the
    issuer of `hierarchy`: what a member holding a client or signing issuer's certificate
    could present if any were trusted for servers."""
    h = ca.of(hierarchy)
    forged = CertificateAuthority({"server": replace(h, kind="server")})
    key_pem, csr = make_key_and_csr()
    return forged.sign_csr(csr, kind="server", dns_names=["127.0.0.1"]), h.issuer, key_pem


def test_DSI_PKI_040_the_client_trusts_only_the_server_hierarchy(ca):
    authority, bundle = ca
    anchors = x509.load_pem_x509_certificates(http_client.server_anchors(bundle.read_bytes()))
    server = authority.of("server")
    assert {c.fingerprint(server.root.signature_hash_algorithm)  # type: ignore[arg-type]
            for c in anchors} == {c.fingerprint(server.root.signature_hash_algorithm)  # type: ignore[arg-type]
                                  for c in (server.issuer, server.root)}
    # the whole bundle holds the other hierarchies too: they are left out, not absent
    assert len(x509.load_pem_x509_certificates(bundle.read_bytes())) == 6


@pytest.mark.parametrize("hierarchy", ["server", "client", "signing"])
def test_DSI_PKI_040_a_server_certificate_of_another_hierarchy_is_refused(
        ca, tmp_path, hierarchy):
    authority, bundle = ca
    cert, issuer, key_pem = _server_cert_of(authority, hierarchy)
    with _serve(tmp_path / hierarchy, cert, issuer, key_pem) as url, \
            http_client.client(ca_bundle=bundle) as c:
        if hierarchy == "server":
            assert c.get(url).text == "ok"
        else:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                c.get(url)
