"""The trust service's own 24-hour TLS certificate, renewed by the service itself (it holds
the server issuer's key): same names, new key, loaded into the live TLS context."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cryptography import x509
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from common.tls import reload_server_certificates
from trust.client.credentials import make_key_and_csr, write_secret
from trust.client.renewal import RENEW_AT
from trust.server import certs
from trust.server.errors import ApiError
from trust.server.models import Organisation

LOG = logging.getLogger("fmar.renewal")


def renew_own(app: FastAPI, cert_file: Path, key_file: Path, force: bool = False) -> bool:
    """Renew the service's certificate when a third of its life is left (or `force`)."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    left = cert.not_valid_after_utc - certs.utcnow()
    if not force and left > life * RENEW_AT:
        return False
    names = certs.names_of(cert_file.read_text())
    key_pem, csr = make_key_and_csr("trust-server")
    with Session(app.state.engine) as session:
        operator = session.exec(select(Organisation).where(Organisation.is_operator)).one()
        row = certs.issue_server(session, app.state.ca, app.state.settings, operator.id,
                                 csr.decode(), names)
        session.commit()
        pem = row.pem
    write_secret(key_file, key_pem)
    write_secret(cert_file, pem.encode())
    reload_server_certificates()
    return True


def start_self_renewal(app: FastAPI, cert_file: Path, key_file: Path,
                       check_every: float = 300.0) -> threading.Event:
    """Renew now if due (a service restarted after a day starts with a valid certificate),
    then check every `check_every` seconds in a daemon thread."""
    renew_own(app, cert_file, key_file)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(check_every):
            try:
                renew_own(app, cert_file, key_file)
            except (OSError, ValueError, SQLAlchemyError, ApiError) as exc:  # retried
                LOG.warning("trust service certificate renewal failed: %s", exc)

    threading.Thread(target=loop, daemon=True, name="fmar-trust-tls").start()
    return stop
