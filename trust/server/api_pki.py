"""The PKI's public documents per hierarchy, and the automated server-certificate renewal
of nodes (trust.client.renewal)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from common.http_errors import error_responses
from common.openapi import content
from common.tls import peer_certificate_der
from trust.server import certs, clientauth
from trust.server.ca import KINDS, CertificateAuthority
from trust.server.errors import ApiError
from trust.server.schemas import CsrIn
from trust.server.web import settings_of, tx

router = APIRouter()
PEM = {200: content("application/x-pem-file"), **error_responses(404)}


def _ca(request: Request) -> CertificateAuthority:
    return request.app.state.ca


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ApiError(404, "DSI-PKI-001", f"No {kind!r} hierarchy: client, signing or server.")
    return kind


@router.get("/ca/{kind}/chain.pem", response_class=Response, responses=PEM)
def hierarchy_chain(request: Request, kind: str) -> Response:
    """One hierarchy's issuer and root: trust `server` to check nodes' TLS certificates,
    `client` for callers' certificates, `signing` for signatures."""
    return Response(_ca(request).of(_kind(kind)).chain_pem, media_type="application/x-pem-file")


@router.get("/ca/crl/{kind}", response_class=Response,
            responses={200: content("application/pkix-crl"), **error_responses(404)})
def hierarchy_crl(request: Request, kind: str) -> Response:
    """The CRL of a hierarchy's issuer (`/ca/crl` is the client issuer's)."""
    with tx(request) as session:
        body = certs.crl_der(session, _ca(request), _kind(kind))
    return Response(body, media_type="application/pkix-crl",
                    headers={"Cache-Control": "max-age=30"})


@router.post("/api/nodes/{node_id}/server-certificate", status_code=201,
             openapi_extra={"security": [{"mutualTLS": []}]},
             responses=error_responses(400, 401, 404, 409, 422))
def renew_server_certificate(request: Request, node_id: str, body: CsrIn) -> dict[str, Any]:
    """Automated renewal (DSI-PKI-020): the node itself, authenticated by its node client
    certificate (mTLS, no user), gets a new 24-hour server certificate for the names of its
    last one."""
    settings = settings_of(request)
    with tx(request) as session:
        client = clientauth.authenticate(session, settings, {"client_id": node_id},
                                         peer_certificate_der(request.scope),
                                         f"{settings.issuer}/token")
        if client.node is None or client.node.id != node_id:
            raise ApiError(401, "DSI-PKI-021", "Only the node itself, with its node client "
                           "certificate, renews its server certificate.")
        row = certs.renew_server(session, _ca(request), settings, client.node, body.csr_pem)
        return {**row.model_dump(mode="json"),
                "chain_pem": _ca(request).of("server").chain_pem.decode()}
