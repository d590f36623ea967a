"""The portal's shared session store (portal/session_db.py) on a real database: SQLite
always, PostgreSQL too when FMAR_TEST_DATABASE_URL is set (its own schema, dropped after).
Two stores on one database stand for two portal processes, or one restarted."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal.session_db import new_key
from portal.sessions import SessionStore

PG_URL = os.environ.get("FMAR_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg() -> psycopg.Connection:
    url = make_url(PG_URL or "")
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                           dbname=url.database, password=url.password, autocommit=True)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    schema = f"fmar_portal_t_{os.getpid()}_{secrets.token_hex(3)}"
    with _pg() as conn:
        conn.execute(f'create schema "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with _pg() as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


def signed_in(store: SessionStore, token: str = "eyJsecret.token.value") -> str:
    session = store.new()
    session.token, session.token_expires = token, 9e9
    session.user = {"name": "Ann", "roles": ["FSP"]}
    store.save(session)
    return session.id


def test_a_session_survives_a_restart_and_is_shared_by_processes(url: str) -> None:
    key = new_key()
    first = SessionStore(3600, url, key)
    sid = signed_in(first)
    second = SessionStore(3600, url, key)  # another process, or the first one restarted
    found = second.get(sid)
    assert found is not None and found.signed_in and found.user["name"] == "Ann"
    found.reports["r1"] = {"summary": {"rows": 3}}
    second.save(found)
    again = first.get(sid)
    assert again is not None and again.reports["r1"]["summary"]["rows"] == 3
    assert first.get("not-a-session") is None


def test_tokens_are_encrypted_at_rest_and_the_id_is_not_stored(url: str) -> None:
    store = SessionStore(3600, url, new_key())
    sid = signed_in(store)
    with store._table.engine.connect() as db:
        rows = db.execute(text("select id_hash, data from portal_session")).all()
    assert rows
    for id_hash, data in rows:
        assert sid not in id_hash and b"eyJsecret" not in bytes(data) and b"Ann" not in bytes(data)
    # another key reads nothing
    assert SessionStore(3600, url, new_key()).get(sid) is None


def test_sign_out_deletes_and_a_dropped_session_is_not_written_back(url: str) -> None:
    store = SessionStore(3600, url, new_key())
    sid = signed_in(store)
    session = store.get(sid)
    assert session is not None
    store.drop(sid)
    store.save(session)  # a request that still held it finishes after the sign-out
    assert store.get(sid) is None


def test_an_idle_session_expires(url: str) -> None:
    store = SessionStore(-1, url, new_key())
    sid = signed_in(store)
    assert store.get(sid) is None
    with store._table.engine.connect() as db:
        assert db.execute(text("select count(*) from portal_session")).scalar() == 0


@pytest.mark.parametrize("where", ["memory", "database"])
def test_concurrent_requests_share_the_store_safely(where: str, url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = SessionStore(3600, "" if where == "memory" else url, new_key() if url else "")

    def one(i: int) -> bool:
        sid = signed_in(store, token=f"token-{i}")
        found = store.get(sid)
        assert found is not None and found.token == f"token-{i}"
        found.pending = {"n": str(i)}
        store.save(found)
        again = store.get(sid)
        return again is not None and again.pending == {"n": str(i)}

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(40)))
