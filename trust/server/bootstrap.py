"""`fmar trust init`: schema, CA, token signing key, the operator and its first admin."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from trust.client.credentials import make_key_and_csr, write_secret
from trust.server import ca as ca_mod
from trust.server import certs, directory, federation_key, keys, keystore
from trust.server.config import TrustSettings
from trust.server.db import make_engine, migrate
from trust.server.models import Application, Organisation
from trust.server.schemas import Contact, OrganisationIn

CLI_REDIRECT = "http://127.0.0.1/callback"


def _write_pair(base: Path, name: str, key_pem: bytes, cert_pem: str) -> None:
    write_secret(base / f"{name}.key", key_pem)
    (base / f"{name}.pem").write_text(cert_pem)


def state_file(settings: TrustSettings) -> Path:
    return settings.data_dir / "trust.json"


def load_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "trust.json"
    return json.loads(path.read_text()) if path.exists() else {}


def init(settings: TrustSettings, *, admin_email: str, admin_password: str,
         operator_name: str = "FMAR Trust Framework Operator",
         hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> dict[str, Any]:
    """Idempotent: a second run changes nothing and returns the same state.

    The signing and CA keys are encrypted with the settings' KEK; a KEK file that does not
    exist yet is made (random, 0600) and remembered in trust.json (its path only). With no
    KEK configured at all, that file is `<data directory>.kek`, beside the data directory."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if state_file(settings).exists():
        return load_state(settings.data_dir)
    if not (settings.kek or settings.kek_file or os.environ.get(keystore.KEK_ENV)
            or os.environ.get(keystore.KEK_FILE_ENV)):
        settings.kek_file = settings.data_dir.with_name(f"{settings.data_dir.name}.kek")
    if settings.kek_file and not settings.kek:
        keystore.new_kek_file(settings.kek_file)
    kek = settings.key_encryption_key()
    migrate(settings.db_url)
    authority = ca_mod.init_ca(settings.ca_dir, kek, settings=settings)
    authority.crl_url = f"{settings.issuer}/ca/crl"
    engine = make_engine(settings.db_url)
    with Session(engine, expire_on_commit=False) as session:
        operator = session.exec(select(Organisation).where(Organisation.is_operator)).first()
        if operator is None:
            operator = directory.register_organisation(session, OrganisationIn(
                legal_name=operator_name, organisation_type="Other", email=admin_email,
                primary_contact=Contact(first_name="Operator", last_name="Admin",
                                        email=admin_email)), is_operator=True)
            directory.add_user(session, operator.id, admin_email, "Operator admin", "admin",
                               admin_password)
        cli = directory.create_application(session, operator.id, "fmar CLI", [], "public",
                                           [CLI_REDIRECT])
        machine = directory.create_application(session, operator.id, "trust operator", [])
        keys.current_key(session, settings)
        federation_key.federation_key(settings)  # made now, not by two requests at once
        key_pem, csr = make_key_and_csr("trust-server")
        server = certs.issue_server(session, authority, settings, operator.id, csr.decode(),
                                    list(hosts))
        _write_pair(settings.data_dir / "tls", "server", key_pem, server.pem)
        key_pem, csr = make_key_and_csr("trust-operator")
        client = certs.issue_for_application(session, authority, settings, machine.id,
                                             csr.decode())
        _write_pair(settings.data_dir / "operator", "client", key_pem, client.pem)
        session.commit()
        state = {"issuer": settings.issuer, "database_url": settings.database_url,
                 "operator_org_id": operator.id, "cli_client_id": cli.id,
                 "operator_app_id": machine.id,
                 "ca_bundle": str(settings.ca_dir / "chain.pem")}
        if settings.kek_file:
            state["kek_file"] = str(settings.kek_file)
    engine.dispose()
    write_secret(state_file(settings), json.dumps(state, indent=2).encode())
    return state


def settings_for(data_dir: Path, issuer: str | None = None,
                 database_url: str | None = None) -> TrustSettings:
    """Settings of an initialised data directory (its issuer, database and KEK file are
    remembered; FMAR_TRUST_KEK / FMAR_TRUST_KEK_FILE win over the remembered file)."""
    state = load_state(data_dir)
    kek_file = os.environ.get(keystore.KEK_FILE_ENV) or state.get("kek_file")
    return TrustSettings(data_dir=data_dir,
                         issuer=issuer or state.get("issuer") or "https://127.0.0.1:8443",
                         database_url=database_url or state.get("database_url"),
                         kek=os.environ.get(keystore.KEK_ENV) or None,
                         kek_file=Path(kek_file) if kek_file else None)


def cli_client_id(session: Session) -> str | None:
    operator = session.exec(select(Organisation).where(Organisation.is_operator)).first()
    if operator is None:
        return None
    app = session.exec(select(Application).where(Application.org_id == operator.id,
                                                 Application.kind == "public")).first()
    return app.id if app else None
