"""What a federation certificate says: its RFC 8705 thumbprint, the roles and the member it
names (ib1Roles and member extensions). Read by nodes and by the trust framework alike."""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509

from common.roles import role_name
from trust.client import der

ROLE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.62329.1.1")
MEMBER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.62329.1.3")

def x5t_s256(cert_der: bytes) -> str:
    """RFC 8705 thumbprint: base64url SHA-256 of the DER certificate, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(cert_der).digest()).rstrip(b"=").decode()


def roles_of(cert: x509.Certificate) -> list[str]:
    """Role names from the ib1Roles extension (which holds role IRIs)."""
    raw = _private_extension(cert, ROLE_OID)
    return [] if raw is None else [role_name(iri) for iri in der.decode_sequence_of_utf8(raw)]


def member_of(cert: x509.Certificate) -> str | None:
    raw = _private_extension(cert, MEMBER_OID)
    return None if raw is None else der.decode_utf8(raw)


def _private_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    """The DER value of an extension of ours (one cryptography does not parse), if present."""
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    if not isinstance(value, x509.UnrecognizedExtension):
        raise TypeError(f"The extension {oid.dotted_string} is not a private one")
    return value.value


def san_uris(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.UniformResourceIdentifier)
