"""Resource-server side: verify trust-framework access tokens (used by every node).

Checks, each with a stable code: ES256 only (AUTH-008), known key (AUTH-002),
signature (AUTH-007), iss (AUTH-006), aud (AUTH-005), exp (AUTH-003),
nbf/iat (AUTH-004), required claims (AUTH-015), the client certificate chains to
the federation CA (AUTH-010) and is not on its CRL (AUTH-011), `cnf.x5t#S256`
matches that certificate (AUTH-009), a token without `cnf` is refused (AUTH-047,
unless the node serves a portal's short-lived user tokens, which then only read:
node.policy.check_unbound_route), the token claims no role
its certificate's ib1Roles lack (AUTH-046), it is not on the signed revocation list
(AUTH-016) and the organisation is Active (AUTH-012); a platform's delegated token names
an application in `act`, under a delegation that is not revoked (AUTH-056..058); scopes are the node policy's
(POL-001). The trust framework unreachable and no copy within its TTL: AUTH-014.
JWKS, CRL, revocation list and organisation status are refreshed in the background.
"""

from __future__ import annotations

import base64
import json
import logging
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
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from common import http_client as http
from common.http_errors import ApiError
from common.tls import peer_certificate_der, peer_host, pem_to_der
from trust.client.certificates import roles_of, x5t_s256

LOG = logging.getLogger(__name__)
ALGORITHM = "ES256"
REVOCATIONS_TYP = "fmar-revocations+jwt"


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


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    return isinstance(key, ec.EllipticCurvePublicKey) and crl.is_signature_valid(key)


class _Fetched:
    """A value fetched from the trust framework (JWKS, CRL, revocations, one organisation's
    status). It is served as it is while younger than `ttl`. Once older, a background thread
    refreshes it and, while that runs or the trust framework does not answer, the last good
    copy is served for at most one more `ttl`; so a slow or hung trust framework never
    stalls a request that a recent copy can answer. With no copy, or one older than twice
    `ttl`, the request fetches itself, unless a fetch already hangs: then it fails at once
    (AUTH-014). A change at the trust framework is seen within 2 × `ttl` (+ one fetch)."""

    def __init__(self, ttl: float, fetch: Any):
        self.ttl, self._fetch = ttl, fetch
        self._value: Any = None
        self._at = float("-inf")
        self._busy = False
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            age = time.monotonic() - self._at
            value, busy = self._value, self._busy
            if value is not None and age < self.ttl:
                return value
            if value is not None and age < 2 * self.ttl:
                if not busy:
                    self._busy = True
                    threading.Thread(target=self._background, daemon=True).start()
                return value
            if busy:
                raise ApiError(503, "AUTH-014", "The trust framework is not answering and the "
                               "last good copy is too old.")
            if value is not None:  # too old: this request refreshes; others fail fast meanwhile
                self._busy = True
        if value is None:
            return self.refresh()
        try:
            return self.refresh()
        finally:
            with self._lock:
                self._busy = False

    def refresh(self) -> Any:
        value = self._fetch()
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value

    def age(self) -> float:
        return time.monotonic() - self._at

    def _background(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - the last good copy stays until its TTL
            LOG.warning("background refresh from the trust framework failed: %r", exc)
        finally:
            with self._lock:
                self._busy = False


@dataclass
class VerifierConfig:
    issuer: str
    audience: str
    ca_bundle: Path  # federation root and issuer (chain.pem)
    # Our own certificate, presented when fetching JWKS, CRL and member status.
    client_cert: Path | None = None
    client_key: Path | None = None
    leeway: int = 30
    # Each copy is refreshed once older than its TTL and served at most 2 × TTL (_Fetched):
    # suspended or withdrawn organisations are refused within 2 × status_ttl.
    status_ttl: float = 30.0
    crl_ttl: float = 30.0
    # Revoked tokens (RFC 7009, deactivated users) are refused within 2 × this many seconds.
    revocation_ttl: float = 5.0
    jwks_ttl: float = 300.0
    # How long one fetch from the trust framework may take (a background one, mostly).
    fetch_timeout: float = 5.0
    # An unknown `kid` (key rotation) refetches the JWKS at most this often.
    jwks_min_refresh: float = 1.0
    # Tokens must be bound to the caller's certificate (RFC 8705, AUTH-047) ...
    require_binding: bool = True
    # ... except, where a browser portal calls this node, people's tokens that live at most
    # `unbound_max_lifetime` seconds and were not relayed.
    # They are used only on read routes, or on these (node.policy.check_unbound_route).
    unbound_user_tokens: bool = False
    unbound_max_lifetime: int = 300
    unbound_routes: frozenset[str] | None = None
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

    @property
    def revocations_url(self) -> str:
        return f"{self.issuer}/revocations"


class TokenVerifier:
    def __init__(self, config: VerifierConfig, client: httpx.Client | None = None):
        self.config = config
        self._client = client or http.client(ca_bundle=config.ca_bundle, cert=config.client_cert,
                                             key=config.client_key,
                                             timeout=config.fetch_timeout)
        self._ca = x509.load_pem_x509_certificates(Path(config.ca_bundle).read_bytes())
        self._jwks = _Fetched(config.jwks_ttl, self._fetch_jwks)
        self._jwks_lock = threading.Lock()
        self._crl = _Fetched(config.crl_ttl, self._fetch_crl)
        self._revoked = _Fetched(config.revocation_ttl, self._fetch_revocations)
        self._status: OrderedDict[str, _Fetched] = OrderedDict()
        self._status_lock = threading.Lock()

    # fetching --------------------------------------------------------------
    def _get(self, url: str) -> httpx.Response:
        try:
            return self._client.get(url)
        except httpx.HTTPError as exc:
            raise ApiError(503, "AUTH-014", "The trust framework cannot be reached to check the "
                           "token.") from exc

    def _fetch_jwks(self) -> KeySet:
        resp = self._get(self.config.jwks_url)
        if resp.status_code != 200:
            raise ApiError(503, "AUTH-014", "The trust framework JWKS is unavailable.")
        return KeySet([ECKey.import_key(k) for k in resp.json().get("keys", [])
                       if k.get("kty") == "EC"])

    def keyset(self, refresh: bool = False) -> KeySet:
        keys = self._jwks.get()
        if refresh:  # an unknown kid: the keys may have rotated (at most every min gap)
            with self._jwks_lock:
                if self._jwks.age() >= self.config.jwks_min_refresh:
                    keys = self._jwks.refresh()
        # A retired signing key carries `exp` (its overlap's end): dropped then, cached or not.
        wall = time.time()
        return KeySet([k for k in keys.keys
                       if not isinstance(k.get("exp"), int) or k.get("exp") > wall])

    def _fetch_crl(self) -> set[int]:
        resp = self._get(self.config.crl_url)
        if resp.status_code != 200:
            raise ApiError(503, "AUTH-014", "The federation CRL is unavailable.")
        crl = x509.load_der_x509_crl(resp.content)
        if not any(c.subject == crl.issuer and _signed_by(crl, c) for c in self._ca):
            raise ApiError(503, "AUTH-014", "The federation CRL signature is not valid.")
        return {r.serial_number for r in crl}

    def revoked_serials(self) -> set[int]:
        return self._crl.get()

    def _fetch_revocations(self) -> tuple[frozenset[str], frozenset[str]]:
        resp = self._get(self.config.revocations_url)
        if resp.status_code != 200:
            raise ApiError(503, "AUTH-014", "The trust framework's revocation list is "
                           "unavailable.")
        token = resp.text.strip()
        try:
            typ = unverified_header(token).get("typ")
            claims = verify_jwt(token, self.keyset(), issuer=self.config.issuer, audience=None,
                                leeway=self.config.leeway, required=("iat", "exp"))
        except ApiError as exc:
            raise ApiError(503, "AUTH-014", "The revocation list is not validly signed.") from exc
        if typ != REVOCATIONS_TYP or not isinstance(claims.get("revoked_jti"), list):
            raise ApiError(503, "AUTH-014", "The revocation list is not well-formed.")
        return (frozenset(str(j) for j in claims["revoked_jti"]),
                frozenset(str(d) for d in claims.get("revoked_delegations") or []))

    def revoked_tokens(self) -> frozenset[str]:
        return self._revoked.get()[0]

    def revoked_delegations(self) -> frozenset[str]:
        """Delegations (UC-05.04) revoked before their expiry: on the same list, same bound."""
        return self._revoked.get()[1]

    def _fetch_status(self, org_id: str) -> str:
        resp = self._get(f"{self.config.issuer}/api/members/{quote(org_id, safe='')}")
        if resp.status_code == 404:
            return "Unknown"
        if resp.status_code != 200:
            raise ApiError(503, "AUTH-014", "The trust framework directory is unavailable.")
        return str(resp.json().get("status", "Unknown"))

    def organisation_status(self, org_id: str) -> str | None:
        with self._status_lock:
            entry = self._status.get(org_id)
            if entry is None:
                entry = _Fetched(self.config.status_ttl, lambda: self._fetch_status(org_id))
                self._status[org_id] = entry
            self._status.move_to_end(org_id)
            while len(self._status) > 1024:
                self._status.popitem(last=False)
        return entry.get()

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
        cert = self.check_certificate(client_cert_der) if client_cert_der is not None else None
        bound = (claims.get("cnf") or {}).get("x5t#S256")
        if bound:
            if client_cert_der is None:
                raise _fail("AUTH-009", "The access token is bound to a client certificate; "
                            "present it over mutual TLS.")
            if bound != x5t_s256(client_cert_der):
                raise _fail("AUTH-009", "The access token is bound to another certificate.")
        elif cfg.require_binding and not self._unbound_allowed(claims):
            raise _fail("AUTH-047", "The access token is not bound to a client certificate "
                        "(RFC 8705); this node accepts only certificate-bound tokens.")
        if bound and cert is not None and not claims.get("act"):
            self._check_roles(cert, claims)
        if "delegation" in claims:
            self._check_delegation(claims)
        if str(claims["jti"]) in self.revoked_tokens():
            raise _fail("AUTH-016", "The access token has been revoked (or its user "
                        "deactivated).")
        status = self.organisation_status(str(claims["org_id"]))
        if status != "Active":
            raise _fail("AUTH-012", f"The organisation of this token is {status}.")
        return claims

    def _check_delegation(self, claims: dict[str, Any]) -> None:
        """A platform acting for an FSP (UC-05.04): `act` names an application, never a
        node (a relay is no delegation, AUTH-057), the one the token was issued to; the
        delegation is not revoked (AUTH-056) and the platform's organisation is Active
        (AUTH-058)."""
        act = claims.get("act")
        client = str(claims.get("client_id") or "")  # the directory URL of the client
        if (not isinstance(act, dict) or "node_url" in act or not act.get("sub")
                or not act.get("org_id")
                or act.get("sub") not in (client, client.rstrip("/").rsplit("/", 1)[-1])
                or not isinstance(claims["delegation"], str)):
            raise _fail("AUTH-057", "The delegated token does not name the platform acting "
                        "for the organisation (a relayed token is never a delegation).")
        if claims["delegation"] in self.revoked_delegations():
            raise _fail("AUTH-056", f"Delegation {claims['delegation']} has been revoked.")
        status = self.organisation_status(str(act["org_id"]))
        if status != "Active":
            raise _fail("AUTH-058", f"The platform's organisation is {status}.")

    def _unbound_allowed(self, claims: dict[str, Any]) -> bool:
        """A person's own short-lived token, where this node serves a browser portal."""
        cfg = self.config
        lifetime = float(claims["exp"]) - float(claims["iat"])
        return (cfg.unbound_user_tokens and bool(claims.get("user_role"))
                and not claims.get("act") and lifetime <= cfg.unbound_max_lifetime)

    def accepted_unbound(self, claims: dict[str, Any]) -> bool:
        """Whether verified `claims` passed as a portal's unbound user token (no `cnf`
        where binding is required): its routes are limited (node.policy, AUTH-047)."""
        return self.config.require_binding and not (claims.get("cnf") or {}).get("x5t#S256")

    @staticmethod
    def _check_roles(cert: x509.Certificate, claims: dict[str, Any]) -> None:
        """AUTH-046: a token claims no role that its certificate's ib1Roles do not carry."""
        claimed = set(claims.get("roles") or [])
        extra = claimed - set(roles_of(cert))
        if extra:
            raise _fail("AUTH-046", "The access token claims roles its client certificate "
                        f"does not carry: {', '.join(sorted(extra))}.")

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


