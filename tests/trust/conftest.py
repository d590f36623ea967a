"""Fixtures of the trust tests: a real trust service and real nodes over TLS on loopback.

The database backend is parametrized: SQLite always, PostgreSQL too when
FMAR_TEST_DATABASE_URL is set (each run in its own schema, dropped afterwards).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import trust_helpers as helpers
from sqlalchemy.engine import make_url

from common import http_client as http
from node.federation.localfed import free_port
from trust.server.bootstrap import init
from trust.server.config import TrustSettings

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("FMAR_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
OPERATOR_EMAIL = "operator@trust.example"
OPERATOR_PASSWORD = "operator-password-1"


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


def wait_ready(url: str, ca_bundle: Path, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    with http.client(ca_bundle=ca_bundle, timeout=2) as c:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                c.get(url)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def federation(database_url, tmp_path_factory) -> Iterator[helpers.Federation]:
    """A running trust service (its own process, TLS) with an initialised operator."""
    data = tmp_path_factory.mktemp("trust")
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    kek_file = tmp_path_factory.mktemp("kek") / "trust.kek"  # outside the data directory
    state = init(TrustSettings(data_dir=data, issuer=issuer, database_url=database_url,
                               kek_file=kek_file),
                 admin_email=OPERATOR_EMAIL, admin_password=OPERATOR_PASSWORD)
    with open(data / "serve.log", "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "trust", "trust", "serve", "--data",
                                 str(data), "--port", str(port)], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{issuer}/.well-known/jwks.json", data / "ca" / "chain.pem", proc)
        fed = helpers.Federation(issuer=issuer, data=data, state=state,
                                 operator_email=OPERATOR_EMAIL,
                                 operator_password=OPERATOR_PASSWORD,
                                 work=tmp_path_factory.mktemp("work"), proc=proc)
        yield fed
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def members(federation) -> helpers.Members:
    """Two FSPs and a DNO, approved, each with an application, a client certificate and a
    node; the nodes run as real uvicorn processes over TLS."""
    m = helpers.Members.create(federation)
    yield m
    m.stop()
