"""Server-side sessions: the browser holds only an opaque random id (the cookie); the
person's token, identity and CSRF secret stay here, in memory (one portal process)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


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
    # one refresh at a time: a second one with the same token would look like a stolen
    # copy to the trust framework, which would end the session (AUTH-061)
    refreshing: threading.Lock = field(default_factory=threading.Lock, repr=False)
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
    def __init__(self, idle_seconds: int):
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self) -> Session:
        now = time.time()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._purge(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.time()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or now - session.seen > self.idle_seconds:
                self._sessions.pop(session_id, None)
                return None
            session.seen = now
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _purge(self, now: float) -> None:
        for sid in [k for k, s in self._sessions.items() if now - s.seen > self.idle_seconds]:
            del self._sessions[sid]
