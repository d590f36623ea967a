"""Fixtures of the trust tests: a real trust service and real nodes over TLS on loopback.

The database backend is parametrized: SQLite always, PostgreSQL too when
FMAR_TEST_DATABASE_URL is set (each run in its own schema, dropped afterwards).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.harness import directory as helpers
from tests.harness.trust_service import TrustService, new_password

PG_URL = os.environ.get("FMAR_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
OPERATOR_EMAIL = "operator@trust.example"


def _pg_admin() -> psycopg.Connection:
    url = make_url(PG_URL or "")
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                           dbname=url.database, password=url.password, autocommit=True)


def _drop_stale_schemas(conn: psycopg.Connection) -> None:
    """Schemas of earlier runs whose process is gone (a crashed run leaves one)."""
    rows = conn.execute("select nspname from pg_namespace where nspname like 'fmar_trust_t%'")
    for (name,) in rows.fetchall():
        pid = name.split("_")[3] if name.count("_") >= 4 else ""
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(f'drop schema "{name}" cascade')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'trust.db'}"
        return
    schema = f"fmar_trust_t_{os.getpid()}_{secrets.token_hex(3)}"
    with _pg_admin() as conn:
        _drop_stale_schemas(conn)
        conn.execute(f'create schema "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with _pg_admin() as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture(scope="session")
def federation(database_url, tmp_path_factory) -> Iterator[helpers.Federation]:
    """A running trust service (its own process, TLS) with an initialised operator."""
    data = tmp_path_factory.mktemp("trust")
    password = new_password()
    service = TrustService.start(data, operator=(OPERATOR_EMAIL, password),
                                 database_url=database_url,  # the KEK outside the data:
                                 kek_file=tmp_path_factory.mktemp("kek") / "trust.kek")
    try:
        yield helpers.Federation.of(service, (OPERATOR_EMAIL, password),
                                    tmp_path_factory.mktemp("work"))
    finally:
        service.stop()


@pytest.fixture(scope="session")
def members(federation) -> helpers.Members:
    """Two FSPs and a DNO, approved, each with an application, a client certificate and a
    node; the nodes run as real uvicorn processes over TLS."""
    m = helpers.Members.create(federation)
    yield m
    m.stop()
