"""Rate limits of the trust service and the nodes: token buckets per source address and
per client, and the failed-login lock-out keyed by account and source.

One module for both services (`node` already imports `trust`, which imports only
`common.http_errors`, so this adds no cycle). Kept in memory per process.

A request takes one token from the bucket of its source address and one from the bucket
of its client; an empty bucket answers 429 `RATE-001` with `Retry-After`. The client is
what the caller proved: its TLS client certificate, else its bearer token (never a
`client_id` it merely names, which anyone could send to drain another client's bucket).
The source is the TCP peer, or the last `X-Forwarded-For` address when the peer is a
trusted proxy (FMAR_TRUSTED_PROXIES).

A node that relays presents its own certificate for every caller it relays for, so its
requests made on someone's behalf are counted per (node, subject): a token exchange at
`/token` by the `sub` of its `subject_token`, a relayed request (a token with `act`) by
its `sub`. One member relaying many queries through a node then drains only its own
bucket there, not the node's for everyone. (The subject is read without verifying the
token: it only chooses a bucket, and a forged one is refused after; the per-source bucket
still counts every request.)

Settings (environment), each `CAPACITY:REFILL_PER_SECOND` or `off`:

    FMAR_RATE_TOKEN_SOURCE   120:10   OAuth endpoints (/token, /par, /authorize, ...), per source
    FMAR_RATE_TOKEN_CLIENT    60:5    OAuth endpoints, per client
    FMAR_RATE_API_SOURCE     600:100  every other endpoint, per source
    FMAR_RATE_API_CLIENT     300:50   every other endpoint, per client

Failed logins: FMAR_LOGIN_MAX_FAILURES (5) for one account from one source lock that
account for that source only, for FMAR_LOGIN_LOCK_SECONDS (30), doubling with every
further failure up to FMAR_LOGIN_LOCK_MAX (900).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from common.http_errors import ApiError
from common.tls import peer_certificate_der, peer_host

MAX_KEYS = 100_000  # buckets kept per kind; the least recently used go first
OAUTH_PATHS = frozenset({"/token", "/par", "/authorize", "/device_authorization", "/device",
                         "/revoke", "/introspect"})


@dataclass(frozen=True)
class Limit:
    capacity: float
    refill: float  # tokens per second

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        if text.strip().lower() == "off":
            return None
        capacity, _, refill = text.partition(":")
        limit = cls(float(capacity), float(refill))
        if limit.capacity < 1 or limit.refill <= 0:
            raise ValueError(f"rate limit {text!r}: capacity >= 1 and refill > 0")
        return limit


class Buckets:
    """Token buckets by key, bounded in number."""

    def __init__(self, limit: Limit, max_keys: int = MAX_KEYS):
        self.limit, self.max_keys = limit, max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._state.pop(key, (self.limit.capacity, now))
            tokens = min(self.limit.capacity, tokens + (now - at) * self.limit.refill)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.limit.refill
            self._state[key] = (tokens, now)
            if len(self._state) > self.max_keys:
                self._state.popitem(last=False)
            return wait


DEFAULTS = {"FMAR_RATE_TOKEN_SOURCE": "120:10", "FMAR_RATE_TOKEN_CLIENT": "60:5",
            "FMAR_RATE_API_SOURCE": "600:100", "FMAR_RATE_API_CLIENT": "300:50"}


@dataclass
class RateLimits:
    """The four buckets of a service: (OAuth | API) x (source | client)."""

    buckets: dict[tuple[str, str], Buckets]
    trusted_proxies: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RateLimits:
        env = os.environ if env is None else env
        buckets = {}
        for name, default in DEFAULTS.items():
            limit = Limit.parse(env.get(name) or default)
            if limit is not None:
                _, _, kind, by = name.lower().split("_")
                buckets[(kind, by)] = Buckets(limit)
        return cls(buckets, trusted_proxies(env))

    def wait(self, scope: dict[str, Any], subject: str | None = None) -> tuple[float, str]:
        """(seconds to wait, which bucket) for this request; (0, "") when it may go on.
        `subject`: whom a relaying client asks for (see the module's docstring)."""
        kind = "token" if scope.get("path") in OAUTH_PATHS else "api"
        client = _client_of(scope)
        if client and subject:
            client += "|for:" + hashlib.sha256(subject.encode()).hexdigest()
        keys = {"source": source_of(scope, self.trusted_proxies), "client": client}
        worst = (0.0, "")
        for by, key in keys.items():
            bucket = self.buckets.get((kind, by))
            if bucket is not None and key:
                wait = bucket.take(f"{by}:{key}")
                if wait > worst[0]:
                    worst = (wait, by)
        return worst


def trusted_proxies(env: Mapping[str, str]) -> frozenset[str]:
    return frozenset(p.strip() for p in env.get("FMAR_TRUSTED_PROXIES", "").split(",")
                     if p.strip())


def source_of(scope: Mapping[str, Any], proxies: frozenset[str] = frozenset()) -> str:
    """The caller's address: the TCP peer, or what a trusted proxy says it forwarded for."""
    peer = peer_host(scope) or ""
    if peer in proxies:
        for name, value in scope.get("headers") or []:
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[-1].strip() or peer
    return peer


def _client_of(scope: dict[str, Any]) -> str:
    """A key for the client the caller proved it is: certificate, else bearer token."""
    try:
        der = peer_certificate_der(scope)
    except ValueError:
        der = None
    if der:
        return "cert:" + hashlib.sha256(der).hexdigest()
    for name, value in scope.get("headers") or []:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return "token:" + hashlib.sha256(value[7:].strip()).hexdigest()
    return ""


def _claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, NOT verified: only to choose a bucket."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _relayed_subject(scope: dict[str, Any]) -> str | None:
    """The `sub` of a relayed bearer token (one carrying `act`)."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            claims = _claims_of(value[7:].strip().decode("latin-1"))
            if claims.get("act") and isinstance(claims.get("sub"), str):
                return claims["sub"]
    return None


def _exchange_subject(body: bytes) -> str | None:
    """The `sub` of the `subject_token` of a token-exchange form."""
    tokens = parse_qs(body.decode("latin-1")).get("subject_token")
    sub = _claims_of(tokens[0]).get("sub") if tokens else None
    return sub if isinstance(sub, str) else None


MAX_FORM = 64 * 1024  # a /token form is a few kB; more is not buffered here


async def _buffered(receive: Any) -> tuple[bytes, Any]:
    """The request body (up to MAX_FORM) and a `receive` that hands it to the app again."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body") or size > MAX_FORM:
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Any:
        return messages.pop(0) if messages else await receive()

    return body, replay


class RateLimitMiddleware:
    """ASGI middleware: 429 RATE-001 with Retry-After when a bucket is empty."""

    def __init__(self, app: Any, limits: RateLimits | None = None):
        self.app = app
        self.limits = limits or RateLimits.from_env()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope.get("path") == "/token" and scope.get("method") == "POST":
                body, receive = await _buffered(receive)
                subject = _exchange_subject(body)
            else:
                subject = _relayed_subject(scope)
            wait, by = self.limits.wait(scope, subject)
            if wait > 0:
                await _too_many(send, wait, by)
                return
        await self.app(scope, receive, send)


async def _too_many(send: Any, wait: float, by: str) -> None:
    retry = max(1, math.ceil(wait))
    body = json.dumps({"code": "RATE-001", "message": f"Too many requests from this {by}; "
                       f"try again in {retry} s.",
                       "details": {"limit": by, "retry_after": retry}}).encode()
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry).encode())]})
    await send({"type": "http.response.body", "body": body})


class LoginThrottle:
    """Failed logins per (account, source): after `max_failures`, that source may not try
    that account for `lock_seconds`, doubling with each further failure up to `lock_max`
    (AUTH-032). Another source is not affected, so nobody can lock someone else out."""

    def __init__(self, max_failures: int = 5, lock_seconds: float = 30.0,
                 lock_max: float = 900.0, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.lock_seconds, self.lock_max = max_failures, lock_seconds, lock_max
        self.max_keys, self.clock = max_keys, clock
        # (account, source) -> (failures, locked until, last failure)
        self._state: OrderedDict[tuple[str, str], tuple[int, float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoginThrottle:
        env = os.environ if env is None else env
        return cls(int(env.get("FMAR_LOGIN_MAX_FAILURES", "5")),
                   float(env.get("FMAR_LOGIN_LOCK_SECONDS", "30")),
                   float(env.get("FMAR_LOGIN_LOCK_MAX", "900")))

    @staticmethod
    def _key(email: str, source: str) -> tuple[str, str]:
        return email.strip().lower(), source

    def check(self, email: str, source: str) -> None:
        with self._lock:
            _, until, _ = self._state.get(self._key(email, source), (0, 0.0, 0.0))
        left = until - self.clock()
        if left > 0:
            raise ApiError(429, "AUTH-032", "Too many failed logins for this account from this "
                           "address; try again later.", {"retry_after": math.ceil(left)},
                           headers={"Retry-After": str(math.ceil(left))})

    def failed(self, email: str, source: str) -> None:
        key, now = self._key(email, source), self.clock()
        with self._lock:
            failures, until, last = self._state.pop(key, (0, 0.0, now))
            if now - max(last, until) > self.lock_max:  # quiet long enough: start again
                failures = 0
            failures += 1
            if failures >= self.max_failures:
                lock = min(self.lock_max,
                           self.lock_seconds * 2 ** (failures - self.max_failures))
                until = now + lock
            self._state[key] = (failures, until, now)
            if len(self._state) > self.max_keys:
                self._state.popitem(last=False)

    def succeeded(self, email: str, source: str) -> None:
        with self._lock:
            self._state.pop(self._key(email, source), None)
