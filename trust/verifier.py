"""Resource-server side: verify trust-framework access tokens (used by every node).

Checks, each with a stable code: ES256 only (AUTH-008), known key (AUTH-002),
signature (AUTH-007), iss (AUTH-006), aud (AUTH-005), exp (AUTH-003),
nbf/iat (AUTH-004), required claims (AUTH-015), the client certificate chains to
the federation CA (AUTH-010) and is not on its CRL (AUTH-011), `cnf.x5t#S256`
matches that certificate (AUTH-009) and the organisation is Active (AUTH-012);
scopes are the node policy's (POL-001). The trust framework unreachable: AUTH-014.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from trust import http
from trust.ca import x5t_s256
from trust.errors import ApiError
from trust.tls import peer_certificate_der, peer_host, pem_to_der

ALGORITHM = "ES256"


def _fail(code: str, message: str, status: int = 401, error: str = "invalid_token") -> ApiError:
    return ApiError(status, code, message,
                    headers={"WWW-Authenticate": f'Bearer realm="fmar", error="{error}"'})


def b64json(part: str) -> dict[str, Any]:
    data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    value = json.loads(data)
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return value


def unverified_header(token: str) -> dict[str, Any]:
    try:
        return b64json(token.split(".")[0])
    except (ValueError, TypeError, IndexError) as exc:
        raise _fail("AUTH-002", "The access token is not a well-formed JWT.") from exc


def verify_jwt(token: str, keyset: KeySet, *, issuer: str, audience: str | None,
               leeway: int = 30, now: float | None = None,
               required: tuple[str, ...] = ("sub", "exp", "iat", "jti")) -> dict[str, Any]:
    """Signature, algorithm and time checks of an ES256 JWT; returns its claims."""
    if token.count(".") != 2:
        raise _fail("AUTH-002", "The access token is not a well-formed JWT.")
    header = unverified_header(token)
    if header.get("alg") != ALGORITHM:
        raise _fail("AUTH-008", f"Token algorithm {header.get('alg')!r} is refused; only ES256.")
    kid = header.get("kid")
    key = next((k for k in keyset.keys if k.kid == kid), None)
    if key is None and kid is None and len(keyset.keys) == 1:
        key = keyset.keys[0]
    if key is None:
        raise _fail("AUTH-002", "The access token is signed with an unknown key.")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
    except JoseError as exc:
        raise _fail("AUTH-007", "The access token signature is not valid.") from exc
    except ValueError as exc:
        raise _fail("AUTH-002", "The access token cannot be decoded.") from exc
    missing = [c for c in required if c not in claims]
    if missing:
        raise _fail("AUTH-015", "The access token lacks required claims.")
    if claims.get("iss") != issuer:
        raise _fail("AUTH-006", "The access token was not issued by this trust framework.")
    if audience is not None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience not in auds:
            raise _fail("AUTH-005", "The access token is not meant for this service.")
    t = time.time() if now is None else now
    try:
        exp, iat, nbf = float(claims["exp"]), float(claims.get("iat", 0)), float(claims.get("nbf", 0))
    except (TypeError, ValueError) as exc:
        raise _fail("AUTH-015", "The access token time claims are not numbers.") from exc
    if exp + leeway < t:
        raise _fail("AUTH-003", "The access token has expired.")
    if max(nbf, iat) - leeway > t:
        raise _fail("AUTH-004", "The access token is not valid yet.")
    return claims


class _TTLCache:
    """A small LRU cache whose entries expire after `ttl` seconds."""

    def __init__(self, ttl: float, size: int = 1024):
        self.ttl, self.size = ttl, size
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is None or hit[0] < time.monotonic():
                self._data.pop(key, None)
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


@dataclass
class VerifierConfig:
    issuer: str
    audience: str
    ca_bundle: Path  # federation root and issuer (chain.pem)
    # Our own certificate, presented when fetching JWKS, CRL and member status.
    client_cert: Path | None = None
    client_key: Path | None = None
    leeway: int = 30
    # Suspended or withdrawn organisations are refused within this many seconds.
    status_ttl: float = 30.0
    crl_ttl: float = 30.0
    jwks_ttl: float = 300.0
    # An unknown `kid` (key rotation) refetches the JWKS at most this often.
    jwks_min_refresh: float = 1.0
    require_binding: bool = False
    # Behind a TLS-terminating proxy: the proxy's addresses and the header it sets
    # with the URL-encoded PEM client certificate (nginx: $ssl_client_escaped_cert).
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    cert_header: str = "x-client-cert"

    def __post_init__(self) -> None:
        self.issuer, self.audience = self.issuer.rstrip("/"), self.audience.rstrip("/")
        self.ca_bundle = Path(self.ca_bundle)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def crl_url(self) -> str:
        return f"{self.issuer}/ca/crl"


class TokenVerifier:
    def __init__(self, config: VerifierConfig, client: httpx.Client | None = None):
        self.config = config
        self._client = client or http.client(ca_bundle=config.ca_bundle, cert=config.client_cert,
                                             key=config.client_key)
        self._ca = x509.load_pem_x509_certificates(Path(config.ca_bundle).read_bytes())
        self._jwks: tuple[float, KeySet] | None = None
        self._jwks_lock = threading.Lock()
        self._last_refresh = 0.0
        self._status = _TTLCache(config.status_ttl)
        self._crl = _TTLCache(config.crl_ttl, size=4)

    # fetching --------------------------------------------------------------
    def _get(self, url: str) -> httpx.Response:
        try:
            return self._client.get(url)
        except httpx.HTTPError as exc:
            raise ApiError(503, "AUTH-014", "The trust framework cannot be reached to check the "
                           "token.") from exc

    def keyset(self, refresh: bool = False) -> KeySet:
        with self._jwks_lock:
            now = time.monotonic()
            stale = self._jwks is None or self._jwks[0] < now
            min_gap = self.config.jwks_min_refresh
            if stale or (refresh and now - self._last_refresh >= min_gap):
                resp = self._get(self.config.jwks_url)
                if resp.status_code != 200:
                    raise ApiError(503, "AUTH-014", "The trust framework JWKS is unavailable.")
                keys = [ECKey.import_key(k) for k in resp.json().get("keys", [])
                        if k.get("kty") == "EC"]
                self._jwks = (now + self.config.jwks_ttl, KeySet(keys))
                self._last_refresh = now
            assert self._jwks is not None
            # A retired signing key carries `exp` (its overlap's end): dropped then, cached or not.
            wall = time.time()
            return KeySet([k for k in self._jwks[1].keys
                           if not isinstance(k.get("exp"), int) or k.get("exp") > wall])

    def revoked_serials(self) -> set[int]:
        cached = self._crl.get("crl")
        if cached is not None:
            return cached
        resp = self._get(self.config.crl_url)
        if resp.status_code != 200:
            raise ApiError(503, "AUTH-014", "The federation CRL is unavailable.")
        crl = x509.load_der_x509_crl(resp.content)
        if not any(c.subject == crl.issuer and crl.is_signature_valid(c.public_key())
                   for c in self._ca):
            raise ApiError(503, "AUTH-014", "The federation CRL signature is not valid.")
        serials = {r.serial_number for r in crl}
        self._crl.put("crl", serials)
        return serials

    def organisation_status(self, org_id: str) -> str | None:
        cached = self._status.get(org_id)
        if cached is not None:
            return cached
        resp = self._get(f"{self.config.issuer}/api/members/{quote(org_id, safe='')}")
        if resp.status_code == 404:
            status = "Unknown"
        elif resp.status_code != 200:
            raise ApiError(503, "AUTH-014", "The trust framework directory is unavailable.")
        else:
            status = resp.json().get("status", "Unknown")
        self._status.put(org_id, status)
        return status

    # checks ----------------------------------------------------------------
    def check_certificate(self, cert_der: bytes) -> x509.Certificate:
        """The certificate chains to the federation CA (AUTH-010), is in its validity
        period and not revoked (AUTH-011)."""
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError as exc:
            raise _fail("AUTH-010", "The client certificate cannot be read.") from exc
        current = cert
        for _ in range(4):  # only certificates of the CA bundle may act as issuers
            issuer = next((c for c in self._ca if c.subject == current.issuer), None)
            if issuer is None:
                raise _fail("AUTH-010", "The client certificate is not issued by the federation CA.")
            try:
                current.verify_directly_issued_by(issuer)
            except (InvalidSignature, ValueError, TypeError) as exc:
                raise _fail("AUTH-010", "The client certificate is not issued by the "
                            "federation CA.") from exc
            if issuer.subject == issuer.issuer:
                break
            current = issuer
        else:
            raise _fail("AUTH-010", "The client certificate chain is too long.")
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = None
        if usages is None or ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise _fail("AUTH-010", "The certificate is not a client (mTLS) certificate.")
        now = time.time()
        if not (cert.not_valid_before_utc.timestamp() - 60 <= now
                <= cert.not_valid_after_utc.timestamp()):
            raise _fail("AUTH-010", "The client certificate is outside its validity period.")
        if cert.serial_number in self.revoked_serials():
            raise _fail("AUTH-011", "The client certificate has been revoked.")
        return cert

    def verify(self, token: str, client_cert_der: bytes | None = None) -> dict[str, Any]:
        cfg = self.config
        kid = unverified_header(token).get("kid")
        keyset = self.keyset()
        if kid and not any(k.kid == kid for k in keyset.keys):
            keyset = self.keyset(refresh=True)
        claims = verify_jwt(token, keyset, issuer=cfg.issuer, audience=cfg.audience,
                            leeway=cfg.leeway, required=("sub", "exp", "iat", "jti", "org_id"))
        if client_cert_der is not None:
            self.check_certificate(client_cert_der)
        bound = (claims.get("cnf") or {}).get("x5t#S256")
        if bound or cfg.require_binding:
            if client_cert_der is None:
                raise _fail("AUTH-009", "The access token is bound to a client certificate; "
                            "present it over mutual TLS.")
            if bound != x5t_s256(client_cert_der):
                raise _fail("AUTH-009", "The access token is bound to another certificate.")
        status = self.organisation_status(str(claims["org_id"]))
        if status != "Active":
            raise _fail("AUTH-012", f"The organisation of this token is {status}.")
        return claims

    def client_certificate(self, request: Any) -> bytes | None:
        """The client certificate of the TLS connection, or the one a trusted proxy forwards."""
        der = peer_certificate_der(request.scope)
        if der is not None:
            return der
        header = request.headers.get(self.config.cert_header)
        if header and peer_host(request.scope) in self.config.trusted_proxies:
            try:
                return pem_to_der(unquote(header))
            except ValueError as exc:
                raise _fail("AUTH-010", "The forwarded client certificate cannot be read.") from exc
        return None


