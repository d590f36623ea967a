"""Server-side sessions: the browser holds only an opaque random id (the cookie); the
person's token, identity and CSRF secret stay here, in a database shared by every portal
process (portal/session_db.py: PostgreSQL or SQLite, encrypted at rest), so a session
survives a restart and works behind several portal processes."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from portal.session_db import SessionTable


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    seen: float
    # sign-in in progress: state, PKCE verifier, chosen node
    pending: dict[str, str] = field(default_factory=dict)
    # signed in: the access token, and the refresh token that renews it (never sent to the
    # browser; rotated by the trust framework at each use)
    token: str = ""
    token_expires: float = 0.0
    refresh_token: str = ""
    node_url: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    org: dict[str, Any] = field(default_factory=dict)
    # bulk upload reports (summary and error CSV), by report id
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return bool(self.token) and self.token_expires > time.time()

    def due(self, renew_before: float) -> bool:
        """Signed in once, and the token runs out within `renew_before` seconds."""
        return bool(self.token) and self.token_expires - renew_before <= time.time()

    @property
    def expired(self) -> bool:
        """Signed in once, and the token has run out."""
        return bool(self.token) and self.token_expires <= time.time()


class SessionStore:
    """The sessions, by id. `save` writes back a session a request changed (web.finish
    calls it); a dropped or expired session is never written back."""

    def __init__(self, idle_seconds: int, database_url: str = "", key: str = ""):
        self.idle_seconds = idle_seconds
        self._table = SessionTable(database_url, key)
        self._refreshing: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def refresh_lock(self, session_id: str) -> threading.Lock:
        """One refresh at a time per session in this process: a second one with the same
        refresh token would look like a stolen copy to the trust framework, which would end
        the session (AUTH-061). The holder reads the session again before refreshing."""
        with self._guard:
            if len(self._refreshing) > 10_000:  # forget locks nobody holds
                self._refreshing = {k: v for k, v in self._refreshing.items() if v.locked()}
            return self._refreshing.setdefault(session_id, threading.Lock())

    def new(self) -> Session:
        now = time.time()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        self._table.purge(now)
        self._table.insert(session.id, vars(session), now + self.idle_seconds)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.time()
        data = self._table.read(session_id, now)
        if data is None:
            return None
        try:
            session = Session(**data)
        except TypeError:  # written by a portal with other fields: start again
            self._table.delete(session_id)
            return None
        session.seen = now
        return session

    def save(self, session: Session) -> None:
        self._table.update(session.id, vars(session), session.seen + self.idle_seconds)

    def drop(self, session_id: str) -> None:
        self._table.delete(session_id)
