"""Where the portal's sessions are kept: one table in PostgreSQL or SQLite (sqlmodel), so
every portal process shares them and they outlive a restart. A row is keyed by the
SHA-256 of the session id (the cookie value is not stored) and holds the session as JSON
encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under FMAR_PORTAL_SESSION_KEY: a copy
of the database holds no usable token. Rows past their expiry are refused and purged."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

PURGE_EVERY = 60.0  # seconds between sweeps of expired rows


class PortalSession(SQLModel, table=True):
    __tablename__ = "portal_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    expires_at: float = Field(index=True)
    data: bytes


def engine_for(url: str) -> Engine:
    """`url` empty: an in-memory SQLite database (one process, forgotten at exit)."""
    if not url:
        return create_engine("sqlite://", connect_args={"check_same_thread": False},
                             poolclass=StaticPool)
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, pool_pre_ping=True)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionTable:
    def __init__(self, url: str, key: str):
        self.engine = engine_for(url)
        SQLModel.metadata.create_all(self.engine,
                                    tables=[SQLModel.metadata.tables["portal_session"]])
        self.fernet = Fernet(key.encode() if key else Fernet.generate_key())
        self._swept = 0.0
        # the in-memory database is one shared connection: one operation at a time
        self._one_at_a_time = threading.Lock() if not url else None

    @contextmanager
    def _db(self) -> Iterator[Session]:
        if self._one_at_a_time is None:
            with Session(self.engine) as db:
                yield db
            return
        with self._one_at_a_time, Session(self.engine) as db:
            yield db

    def _seal(self, data: dict[str, Any]) -> bytes:
        return self.fernet.encrypt(json.dumps(data, separators=(",", ":")).encode())

    def insert(self, session_id: str, data: dict[str, Any], expires_at: float) -> None:
        with self._db() as db:
            db.add(PortalSession(id_hash=_hash(session_id), expires_at=expires_at,
                                 data=self._seal(data)))
            db.commit()

    def read(self, session_id: str, now: float) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.exec(select(PortalSession).where(
                col(PortalSession.id_hash) == _hash(session_id))).first()
            if row is None:
                return None
            if row.expires_at <= now:
                db.delete(row)
                db.commit()
                return None
            try:
                found = json.loads(self.fernet.decrypt(row.data))
            except (InvalidToken, ValueError):  # another key, or tampered with
                return None
        return found if isinstance(found, dict) else None

    def update(self, session_id: str, data: dict[str, Any], expires_at: float) -> None:
        """Only a row that still exists: a session dropped meanwhile stays dropped."""
        with self._db() as db:
            db.exec(update(PortalSession).where(
                col(PortalSession.id_hash) == _hash(session_id)).values(
                expires_at=expires_at, data=self._seal(data)))
            db.commit()

    def delete(self, session_id: str) -> None:
        with self._db() as db:
            db.exec(delete(PortalSession).where(
                col(PortalSession.id_hash) == _hash(session_id)))
            db.commit()

    def purge(self, now: float) -> None:
        if now - self._swept < PURGE_EVERY:
            return
        self._swept = now
        with self._db() as db:
            db.exec(delete(PortalSession).where(col(PortalSession.expires_at) <= now))
            db.commit()


def new_key() -> str:
    """A fresh FMAR_PORTAL_SESSION_KEY."""
    return Fernet.generate_key().decode()



