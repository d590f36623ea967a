"""Automated renewal of a node's short-lived server certificate (24 hours at most, IB1
directory-issued-server-tls-certificates/1.0), FMAR's equivalent of ACME.

The node asks the trust framework's renewal endpoint (`POST /api/nodes/{id}/server-
certificate`) with its long-lived node *client* certificate over mTLS and a CSR for a new
key; the directory checks, as at first issue, that the node is active and registered under
that host name. The new key and certificate replace the files atomically, then every live
TLS context of the process loads them (common.tls.reload_server_certificates): new
connections see the new certificate, open ones carry on."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from common import http_client
from common.tls import reload_server_certificates
from trust.client.credentials import make_key_and_csr, write_secret

LOG = logging.getLogger("fmar.renewal")
RENEW_AT = 1 / 3  # renew when a third of the lifetime is left (8 h of 24 h)


class RenewalError(Exception):
    """The trust framework refused the renewal (its code and message)."""


@dataclass
class ServerCertificateRenewer:
    trust_url: str
    ca_bundle: Path
    node_id: str
    client_cert: Path  # the node's own mTLS identity (long-lived)
    client_key: Path
    server_cert: Path  # the files the TLS server reads
    server_key: Path

    def remaining(self) -> float:
        """Seconds the current server certificate still lives, as a share of its life."""
        cert = x509.load_pem_x509_certificate(self.server_cert.read_bytes())
        life = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
        left = (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds()
        return left / life if life > 0 else 0.0

    def due(self) -> bool:
        return self.remaining() <= RENEW_AT

    def renew(self) -> x509.Certificate:
        """A new key and certificate, written over the old files, then loaded."""
        key_pem, csr = make_key_and_csr(f"{self.node_id}-server")
        with http_client.client(ca_bundle=self.ca_bundle, cert=self.client_cert,
                                key=self.client_key, base_url=self.trust_url,
                                timeout=15) as c:
            resp = c.post(f"/api/nodes/{self.node_id}/server-certificate",
                          json={"csr_pem": csr.decode()})
        if resp.status_code != 201:
            raise RenewalError(f"HTTP {resp.status_code}: {resp.text[:300]}")
        body = resp.json()
        cert = x509.load_pem_x509_certificate(body["pem"].encode())
        write_secret(self.server_key, key_pem)
        write_secret(self.server_cert, body["pem"].encode())
        reload_server_certificates()
        LOG.info("server certificate renewed: serial %x until %s", cert.serial_number,
                 cert.not_valid_after_utc.isoformat())
        return cert

    def run(self, stop: threading.Event, now: threading.Event,
            check_every: float = 300.0) -> None:
        """Renew whenever due, or at once when `now` is set (SIGHUP), until `stop` is set;
        failures are logged and retried at the next check."""
        while not stop.is_set():
            forced = now.is_set()
            now.clear()
            try:
                if forced or self.due():
                    self.renew()
            except (OSError, ValueError, RenewalError) as exc:
                LOG.warning("server certificate renewal failed: %s", exc)
            now.wait(check_every)

    def start(self, check_every: float = 300.0, on_sighup: bool = True) -> threading.Event:
        """Run in a daemon thread; SIGHUP asks for a renewal now (call from the main thread).
        Set the returned event to stop it."""
        stop, now = threading.Event(), threading.Event()
        if on_sighup:
            signal.signal(signal.SIGHUP, lambda *_: now.set())
        threading.Thread(target=self.run, args=(stop, now, check_every), daemon=True,
                         name="fmar-cert-renewal").start()
        return stop
