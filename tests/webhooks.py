"""A webhook receiver on loopback and a federation CA for the events tests: what an FSP
runs to take a node's events, verifying each with node/events/verify.py."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.events.verify import WebhookRejected, load_anchors, verify_webhook
from trust.server.ca import CertificateAuthority, init_ca


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    event: dict[str, Any] | None = None  # verified
    rejected: str | None = None  # the EVT-VER code, when verification refused it

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1:`port`; `status` is what it answers."""

    port: int
    anchors: list[x509.Certificate]
    status: int = 200
    received: list[Received] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                got = Received({k.lower(): v for k, v in self.headers.items()}, body)
                if receiver.status < 300:
                    try:
                        got.event = verify_webhook(got.headers, body, receiver.anchors,
                                                   seen=receiver.seen).event
                    except WebhookRejected as error:
                        got.rejected = error.code
                receiver.received.append(got)
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received if r.event is not None]

    def wait_for(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events()


@dataclass
class NodeIdentity:
    key: Path
    cert: Path
    ca_bundle: Path  # the issuing CA and the root
    root: Path  # what receivers trust

    def env(self) -> dict[str, str]:
        return {"FMAR_CLIENT_KEY": str(self.key), "FMAR_CLIENT_CERT": str(self.cert),
                "FMAR_CA_BUNDLE": str(self.ca_bundle)}

    def anchors(self) -> list[x509.Certificate]:
        return load_anchors(self.root)


def federation_ca(folder: Path) -> CertificateAuthority:
    """A CA made by the trust framework's own code (root and issuer)."""
    return init_ca(folder / "ca", os.urandom(32))


def node_identity(ca: CertificateAuthority, folder: Path, member: str = "DNO-UKPN",
                  ) -> NodeIdentity:
    """A node's client certificate and key, issued by `ca` from a CSR as the trust
    framework issues them."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node")]))
           .sign(key, hashes.SHA256()))
    cert = ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM), kind="client",
                       subject_url=f"https://directory.test/a/{member}", organisation=member,
                       roles=["DNO"], member_url=f"https://directory.test/m/{member}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = NodeIdentity(folder / "node.key", folder / "node.pem", folder / "chain.pem",
                         folder / "root.pem")
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.ca_bundle.write_bytes(ca.chain_pem)
    paths.root.write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))
    return paths


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
