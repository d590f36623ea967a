"""Certificates of applications and nodes: issue from a CSR, renew, revoke, CRL."""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlmodel import Session, col, select

from trust.client.certificates import x5t_s256
from trust.server.ca import OPERATOR_ROLE, CertificateAuthority
from trust.server.config import TrustSettings
from trust.server.directory import (
    SYSTEM,
    Actor,
    get_application,
    get_organisation,
    record,
    require_active_node,
)
from trust.server.errors import ApiError
from trust.server.models import (
    AppStatus,
    Certificate,
    CertStatus,
    Node,
    Organisation,
    OrgStatus,
    utcnow,
)


def _store(session: Session, cert: x509.Certificate, kind: str, org_id: str,
           app_id: str | None = None, node_id: str | None = None) -> Certificate:
    der = cert.public_bytes(serialization.Encoding.DER)
    row = Certificate(serial=format(cert.serial_number, "x"), app_id=app_id, node_id=node_id,
                      org_id=org_id, kind=kind, sha256=x5t_s256(der),
                      pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
                      not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc)
    session.add(row)
    session.flush()
    return row


def _roles(org: Organisation, roles: list[str]) -> list[str]:
    """ib1Roles of a certificate: the roles given, or the operator role for the operator's
    own clients; never empty (ca.sign_csr refuses that, DSI-PKI-010)."""
    return roles or ([OPERATOR_ROLE] if org.is_operator else [])


def issue_for_application(session: Session, ca: CertificateAuthority, settings: TrustSettings,
                          app_id: str, csr_pem: str, kind: str = "client",
                          actor: Actor = SYSTEM) -> Certificate:
    """Sign an application's CSR: CN and SAN URI are its directory URL, roles and member URL in
    the IB1 extensions."""
    app = get_application(session, app_id)
    org = get_organisation(session, app.org_id)
    if org.status != OrgStatus.ACTIVE or app.status != AppStatus.ACTIVE:
        raise ApiError(409, "CA-003", "Certificates are issued only to active applications of "
                       "active organisations.", {"org_status": org.status})
    if kind not in ("client", "signing"):
        raise ApiError(422, "CA-001", "An application certificate is 'client' or 'signing'.")
    cert = ca.sign_csr(csr_pem, kind=kind, subject_url=settings.application_url(app.id),
                       organisation=org.legal_name, roles=_roles(org, list(app.roles)),
                       member_url=settings.member_url(org.id))
    row = _store(session, cert, kind, org.id, app_id=app.id)
    record(session, org.id, "certificate.issue", actor, f"{row.serial} {kind} {app.id}")
    return row


def issue_for_node(session: Session, ca: CertificateAuthority, settings: TrustSettings,
                   node_id: str, csr_pem: str, extra_names: list[str] | None = None,
                   actor: Actor = SYSTEM, kind: str = "server") -> Certificate:
    """A certificate of an active node (DIR-021): `server`, its TLS server certificate named
    after the host of its URL; or `client`, the node's own mTLS identity (CN and SAN URI =
    its directory URL, no roles), with which it relays (token exchange) and asks other
    nodes for duplicate checks; or `signing`, the same names on the Signing hierarchy, with
    which it signs provenance records (provenance-records/1.0)."""
    node = session.get(Node, node_id)
    if node is None:
        raise ApiError(404, "DIR-006", f"No node {node_id}.")
    org = get_organisation(session, node.org_id)
    if org.status != OrgStatus.ACTIVE:
        raise ApiError(409, "CA-003", "Certificates are issued only to active organisations.")
    require_active_node(node)
    if kind in ("client", "signing"):  # signing: the node's provenance records
        cert = ca.sign_csr(csr_pem, kind=kind, subject_url=settings.node_url(node.id),
                           organisation=org.legal_name, roles=_roles(org, list(org.roles)),
                           member_url=settings.member_url(org.id))
    elif kind == "server":
        host = urlsplit(node.url).hostname or ""
        cert = ca.sign_csr(csr_pem, kind="server", dns_names=[host, *(extra_names or [])])
    else:
        raise ApiError(422, "CA-001", "A node certificate is 'server', 'client' or "
                       "'signing'.")
    row = _store(session, cert, kind, org.id, node_id=node.id)
    record(session, org.id, "certificate.issue", actor, f"{row.serial} {kind} {node.id}")
    return row


def issue_server(session: Session, ca: CertificateAuthority, settings: TrustSettings,
                 org_id: str, csr_pem: str, names: list[str]) -> Certificate:
    """The trust service's own TLS certificate."""
    cert = ca.sign_csr(csr_pem, kind="server", dns_names=names)
    return _store(session, cert, "server", org_id)


def get_certificate(session: Session, serial: str) -> Certificate:
    row = session.get(Certificate, serial.lower())
    if row is None:
        raise ApiError(404, "CA-002", f"No certificate {serial}.")
    return row


def revoke(session: Session, serial: str, reason: str = "unspecified",
           actor: Actor = SYSTEM) -> Certificate:
    row = get_certificate(session, serial)
    if row.status != CertStatus.REVOKED:
        row.status, row.revoked_at, row.revocation_reason = CertStatus.REVOKED, utcnow(), reason
        session.add(row)
        record(session, row.org_id, "certificate.revoke", actor, f"{row.serial} {reason}")
    return row


def renew(session: Session, ca: CertificateAuthority, settings: TrustSettings, serial: str,
          csr_pem: str, actor: Actor = SYSTEM) -> Certificate:
    """A new certificate for the same application; the old one is revoked as superseded."""
    old = get_certificate(session, serial)
    if old.app_id is None:
        raise ApiError(422, "CA-001", "Only application certificates are renewed here.")
    new = issue_for_application(session, ca, settings, old.app_id, csr_pem, old.kind, actor)
    revoke(session, serial, "superseded", actor)
    return new


def revoke_all_of_org(session: Session, org_id: str, reason: str,
                      actor: Actor = SYSTEM) -> int:
    rows = session.exec(select(Certificate).where(Certificate.org_id == org_id,
                                                  Certificate.status == CertStatus.VALID))
    count = 0
    for row in rows:
        revoke(session, row.serial, reason, actor)
        count += 1
    return count


def valid_by_thumbprint(session: Session, thumbprint: str) -> Certificate | None:
    row = session.exec(select(Certificate).where(Certificate.sha256 == thumbprint)).first()
    if row is None or row.status != CertStatus.VALID or row.not_after < utcnow():
        return None
    return row


def valid_of_app(session: Session, app_id: str) -> list[Certificate]:
    now = utcnow()
    rows = session.exec(select(Certificate).where(Certificate.app_id == app_id,
                                                  Certificate.status == CertStatus.VALID))
    return [r for r in rows if r.not_after > now]


def crl_der(session: Session, ca: CertificateAuthority, kind: str = "client") -> bytes:
    """The CRL of `kind`'s issuer: the revoked certificates it issued."""
    issuer = ca.of(kind).issuer.subject
    rows = session.exec(select(Certificate).where(Certificate.status == CertStatus.REVOKED))
    revoked = [(int(r.serial, 16), r.revoked_at or utcnow()) for r in rows
               if x509.load_pem_x509_certificate(r.pem.encode()).issuer == issuer]
    return ca.crl(revoked, kind=kind).public_bytes(serialization.Encoding.DER)


def renew_server(session: Session, ca: CertificateAuthority, settings: TrustSettings,
                 node: Node, csr_pem: str, extra_names: list[str] | None = None) -> Certificate:
    """Automated renewal of a node's 24-hour server certificate (DSI-PKI-020), asked by the
    node itself with its node client certificate: the same names as its URL's host (and any
    extra names it registered with), for a new key. The directory check is the same as at
    first issue: an active node of an active organisation (DIR-021, CA-003)."""
    latest = session.exec(select(Certificate).where(
        Certificate.node_id == node.id, Certificate.kind == "server")
        .order_by(col(Certificate.not_before).desc())).first()
    host = urlsplit(node.url).hostname or ""
    names = names_of(latest.pem) if latest is not None else []
    extra = [n for n in names if n != host] + list(extra_names or [])
    return issue_for_node(session, ca, settings, node.id, csr_pem, extra, kind="server")


def names_of(pem: str) -> list[str]:
    """The DNS names and IP addresses of a server certificate, in its order (the first is
    its CN)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in san
            if isinstance(name, (x509.DNSName, x509.IPAddress))]
