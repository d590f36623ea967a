"""Client authentication at the token endpoint: tls_client_auth (RFC 8705) and
private_key_jwt (RFC 7523). There are no client secrets."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, KeySet
from sqlmodel import Session

from trust.client.certificates import x5t_s256
from trust.client.verifier import b64json, unverified_header, verify_jwt
from trust.server import certs
from trust.server.config import TrustSettings
from trust.server.errors import ApiError, OAuthError
from trust.server.models import (
    Application,
    AppStatus,
    Grant,
    GrantKind,
    GrantStatus,
    Node,
    NodeStatus,
    Organisation,
    OrgStatus,
)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _invalid(message: str, code: str = "AUTH-020") -> OAuthError:
    return OAuthError(401, code, "invalid_client", message)


@dataclass
class AuthenticatedClient:
    app: Application
    org: Organisation
    method: str  # tls_client_auth | private_key_jwt | none
    thumbprint: str | None = None  # x5t#S256 of the mTLS certificate, if any
    node: Node | None = None  # set when a node authenticated with its node client certificate


def client_app_id(settings: TrustSettings, client_id: str | None) -> str | None:
    """A client is named by its id or, as in IB1, by its directory URL."""
    prefix = settings.application_url("")
    if client_id and client_id.startswith(prefix):
        return client_id.removeprefix(prefix)
    return client_id


def client_node_id(settings: TrustSettings, client_id: str | None) -> str | None:
    """A node is named by its id (NODE-…) or its directory URL."""
    prefix = settings.node_url("")
    if client_id and client_id.startswith(prefix):
        return client_id.removeprefix(prefix)
    return client_id if client_id and client_id.startswith("NODE-") else None


def _node_client(session: Session, node_id: str,
                 peer_cert_der: bytes | None) -> AuthenticatedClient:
    """A node authenticates only with its own node client certificate (mTLS), never with an
    application of its organisation; a pending or suspended node is refused (AUTH-041)."""
    node = session.get(Node, node_id)
    if node is None:
        raise _invalid("Unknown node.")
    if peer_cert_der is None:
        raise _invalid("A node authenticates with its node client certificate (mTLS).",
                       "AUTH-040")
    org = session.get(Organisation, node.org_id)
    if org is None or org.status != OrgStatus.ACTIVE:
        raise _invalid("The organisation of this node is not active.", "AUTH-025")
    if node.status != NodeStatus.ACTIVE:
        raise _invalid(f"The node is {node.status}: the operator has not approved it.",
                       "AUTH-041")
    thumbprint = x5t_s256(peer_cert_der)
    row = certs.valid_by_thumbprint(session, thumbprint)
    if row is None or row.node_id != node.id or row.kind != "client":
        raise _invalid("The client certificate is not a valid client certificate of this "
                       "node.", "AUTH-021")
    # The node as an in-memory client (never stored): no roles, kind "node".
    app = Application(id=node.id, org_id=node.org_id, name=node.url, kind="node", roles=[])
    return AuthenticatedClient(app, org, "tls_client_auth", thumbprint, node=node)


def _load(session: Session, client_id: str | None) -> tuple[Application, Organisation]:
    app = session.get(Application, client_id) if client_id else None
    if app is None or app.status != AppStatus.ACTIVE:
        raise _invalid("Unknown or inactive client.")
    org = session.get(Organisation, app.org_id)
    if org is None or org.status != OrgStatus.ACTIVE:
        raise _invalid("The organisation of this client is not active.", "AUTH-025")
    return app, org


def authenticate(session: Session, settings: TrustSettings, form: dict[str, str],
                 peer_cert_der: bytes | None, token_endpoint: str) -> AuthenticatedClient:
    node_id = client_node_id(settings, form.get("client_id"))
    if node_id is not None:
        return _node_client(session, node_id, peer_cert_der)
    client_id = client_app_id(settings, form.get("client_id"))
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _invalid("Unsupported client_assertion_type.", "AUTH-026")
        return _private_key_jwt(session, settings, assertion, client_id, peer_cert_der,
                                token_endpoint)
    if peer_cert_der is not None:
        app, org = _load(session, client_id)
        thumbprint = x5t_s256(peer_cert_der)
        row = certs.valid_by_thumbprint(session, thumbprint)
        if row is None or row.app_id != app.id or row.kind != "client":
            raise _invalid("The client certificate is not a valid certificate of this client "
                           "(unknown, revoked or expired).", "AUTH-021")
        return AuthenticatedClient(app, org, "tls_client_auth", thumbprint)
    app, org = _load(session, client_id)
    if app.kind != "public":
        raise _invalid("Authenticate with a client certificate (mTLS) or private_key_jwt.")
    return AuthenticatedClient(app, org, "none")


def _private_key_jwt(session: Session, settings: TrustSettings, assertion: str,
                     client_id: str | None, peer_cert_der: bytes | None,
                     token_endpoint: str) -> AuthenticatedClient:
    header = unverified_header(assertion)
    try:
        unverified = b64json(assertion.split(".")[1])
    except (ValueError, TypeError, IndexError) as exc:
        raise _invalid("The client assertion is not a JWT.", "AUTH-026") from exc
    iss = unverified.get("iss")
    if not isinstance(iss, str) or (client_id and client_app_id(settings, iss) != client_id):
        raise _invalid("The client assertion iss is not the client_id.", "AUTH-026")
    app, org = _load(session, client_app_id(settings, iss))
    keys = []
    for row in certs.valid_of_app(session, app.id):
        public = x509.load_pem_x509_certificate(row.pem.encode()).public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):  # the CA issues EC keys only
            keys.append(ECKey.import_key(public, {"kid": row.serial}))
    wanted = header.get("kid")
    if wanted:
        keys = [k for k in keys if k.kid == wanted] or keys
    claims, reason = None, "the client has no valid certificate"
    for key in keys:
        try:
            claims = verify_jwt(assertion, KeySet([key]), issuer=iss,
                                audience=None, required=("sub", "exp", "jti", "aud"))
            break
        except ApiError as exc:  # try the next key of the client
            reason = exc.message
    if claims is None:
        raise _invalid(f"The client assertion is not valid: {reason}", "AUTH-026")
    auds = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if claims["sub"] != iss or not ({token_endpoint, settings.issuer} & set(auds)):
        raise _invalid("The client assertion sub/aud are wrong.", "AUTH-026")
    if float(claims["exp"]) > time.time() + 600:
        raise _invalid("The client assertion lives too long.", "AUTH-026")
    digest = hashlib.sha256(f"{app.id}\n{claims['jti']}".encode()).hexdigest()
    jti = f"assertion:{digest}"
    if session.get(Grant, jti) is not None:
        raise _invalid("The client assertion was used before.", "AUTH-026")
    session.add(Grant(id=jti, kind=GrantKind.ASSERTION, client_id=app.id,
                      status=GrantStatus.USED,
                      expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC)))
    # A certificate presented alongside binds the token (RFC 8705 §3): it must be the client's.
    thumb = x5t_s256(peer_cert_der) if peer_cert_der else None
    if thumb is not None:
        bound = certs.valid_by_thumbprint(session, thumb)
        if bound is None or bound.app_id != app.id:
            raise _invalid("The client certificate is not a valid certificate of this client.",
                           "AUTH-021")
    return AuthenticatedClient(app, org, "private_key_jwt", thumb)
