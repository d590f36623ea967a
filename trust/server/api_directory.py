"""Directory endpoints: registration and administration (authenticated), public reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from rdflib import Graph
from sqlmodel import Session, select

from common import dsi
from common.http_errors import error_responses
from common.openapi import content, secured
from common.roles import ROLES, normalise_role
from trust.server import certs, deregister, directory, rdf
from trust.server.ca import CertificateAuthority
from trust.server.errors import ApiError
from trust.server.models import Application, Certificate, Node, Organisation, OrgStatus, User
from trust.server.schemas import (
    ApplicationIn,
    CsrIn,
    DeregisterIn,
    HostingIn,
    NodeIn,
    OrganisationRegistration,
    OrganisationUpdate,
    StatusChange,
    UserIn,
)
from trust.server.web import (
    current_actor,
    require_member,
    require_operator,
    require_org_admin,
    settings_of,
    tx,
)

router = APIRouter()

# A logged-in user's access token for this service (authorization code + PKCE).
USER = secured(mtls=False)
RDF = {200: content("text/turtle", "application/ld+json"), **error_responses(404, 406)}


def public_member(request: Request, org: Organisation) -> dict[str, Any]:
    return {"id": org.id, "url": settings_of(request).member_url(org.id),
            "legal_name": org.legal_name, "trading_name": org.trading_name,
            "roles": org.roles, "dno_areas": org.dno_areas, "status": org.status}


def full_org(request: Request, org: Organisation) -> dict[str, Any]:
    return {**org.model_dump(mode="json"), "url": settings_of(request).member_url(org.id)}


def user_json(user: User) -> dict[str, Any]:
    return user.model_dump(mode="json", exclude={"password_hash"})


def cert_json(row: Certificate) -> dict[str, Any]:
    return row.model_dump(mode="json")


# Registration and administration ------------------------------------------------

@router.post("/api/orgs", status_code=201, responses=error_responses(400, 409, 422))
def register_org(request: Request, body: OrganisationRegistration) -> dict[str, Any]:
    """UC-01.2: anyone may apply; the organisation waits for the operator's approval."""
    with tx(request) as session:
        applicant = directory.Actor(subject=f"applicant:{body.admin_email}")
        org = directory.register_organisation(session, body, applicant)
        admin = directory.add_user(session, org.id, body.admin_email, body.admin_name, "admin",
                                   body.admin_password, applicant)
        return {**full_org(request, org), "admin_user": user_json(admin)}


@router.get("/api/orgs/{org_id}", openapi_extra=USER, responses=error_responses(401, 403, 404))
def get_org(request: Request, org_id: str) -> dict[str, Any]:
    with tx(request) as session:
        require_member(current_actor(request, session), org_id)
        return full_org(request, directory.get_organisation(session, org_id))


@router.patch("/api/orgs/{org_id}", openapi_extra=USER, responses=error_responses(400, 401, 403, 404, 409, 422))
def update_org(request: Request, org_id: str, body: OrganisationUpdate) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, org_id)
        return full_org(request, directory.update_organisation(session, org_id, body, actor))


@router.post("/api/orgs/{org_id}/status", openapi_extra=USER, responses=error_responses(400, 401, 403, 404, 409, 422))
def change_status(request: Request, org_id: str, body: StatusChange) -> dict[str, Any]:
    """Approve, suspend or reinstate (operator only); withdrawal goes through deregister."""
    with tx(request) as session:
        actor = current_actor(request, session)
        require_operator(actor)
        if body.status == OrgStatus.WITHDRAWN:
            raise ApiError(409, "DIR-005", "Withdraw an organisation with /deregister.")
        return full_org(request, directory.set_status(session, org_id, body.status, actor,
                                                      body.reason))


@router.get("/api/orgs/{org_id}/history", openapi_extra=USER, responses=error_responses(401, 403, 404))
def org_history(request: Request, org_id: str) -> list[dict[str, Any]]:
    with tx(request) as session:
        require_member(current_actor(request, session), org_id)
        return [e.model_dump(mode="json") for e in directory.history(session, org_id)]


@router.post("/api/orgs/{org_id}/deregister", openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422, 503))
def deregister_org(request: Request, org_id: str, body: DeregisterIn) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, org_id)
        return deregister.deregister(session, org_id, actor, request.app.state.probe, body.reason)


@router.post("/api/orgs/{org_id}/users", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def add_user(request: Request, org_id: str, body: UserIn) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, org_id)
        return user_json(directory.add_user(session, org_id, body.email, body.name, body.role,
                                            body.password, actor))


@router.get("/api/orgs/{org_id}/users", openapi_extra=USER, responses=error_responses(401, 403, 404))
def list_users(request: Request, org_id: str) -> list[dict[str, Any]]:
    with tx(request) as session:
        require_org_admin(current_actor(request, session), org_id)
        return [user_json(u) for u in directory.users_of(session, org_id)]


@router.post("/api/users/{user_id}/deactivate", openapi_extra=USER, responses=error_responses(401, 403, 404, 409))
def deactivate_user(request: Request, user_id: str) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        user = session.get(User, user_id)
        if user is None:
            raise ApiError(404, "DIR-006", f"No user {user_id}.")
        require_org_admin(actor, user.org_id)
        return user_json(directory.deactivate_user(session, user_id, actor))


@router.post("/api/orgs/{org_id}/apps", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def create_app(request: Request, org_id: str, body: ApplicationIn) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, org_id)
        app = directory.create_application(session, org_id, body.name, body.roles, body.kind,
                                           body.redirect_uris, actor)
        return {**app.model_dump(mode="json"),
                "url": settings_of(request).application_url(app.id)}


@router.post("/api/orgs/{org_id}/nodes", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def add_node(request: Request, org_id: str, body: NodeIn) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, org_id)
        return directory.add_node(session, org_id, body.url, body.dataset_types, actor) \
            .model_dump(mode="json")


@router.post("/api/orgs/{org_id}/hosting", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def grant_hosting(request: Request, org_id: str, body: HostingIn) -> dict[str, Any]:
    """The organisation's admin asks another member's nodes to hold its records: `requested`
    until the host's admin accepts (the operator's grant is active at once; DIR-030,
    DIR-031)."""
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, org_id)
        return directory.grant_hosting(session, org_id, body.host_org_id, actor) \
            .model_dump(mode="json")


@router.post("/api/orgs/{org_id}/hosting/{host_org_id}/accept", openapi_extra=USER,
             responses=error_responses(401, 403, 404))
def accept_hosting(request: Request, org_id: str, host_org_id: str) -> dict[str, Any]:
    """The host's admin (or the operator) accepts to hold `org_id`'s records."""
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, host_org_id)
        return directory.accept_hosting(session, org_id, host_org_id, actor) \
            .model_dump(mode="json")


@router.delete("/api/orgs/{org_id}/hosting/{host_org_id}", openapi_extra=USER,
               responses=error_responses(401, 403, 404))
def revoke_hosting(request: Request, org_id: str, host_org_id: str) -> dict[str, Any]:
    """Either party's admin (or the operator) ends the hosting of `org_id` by the host."""
    with tx(request) as session:
        actor = current_actor(request, session)
        if not (actor.user_role == "admin" and actor.org_id == host_org_id):
            require_org_admin(actor, org_id)
        return directory.revoke_hosting(session, org_id, host_org_id, actor) \
            .model_dump(mode="json")


@router.post("/api/nodes/{node_id}/status", openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def node_status(request: Request, node_id: str, body: StatusChange) -> dict[str, Any]:
    """The operator approves a pending node (active), suspends or reinstates it (DIR-022)."""
    with tx(request) as session:
        actor = current_actor(request, session)
        require_operator(actor)
        return directory.set_node_status(session, node_id, body.status, actor) \
            .model_dump(mode="json")


def _ca(request: Request) -> CertificateAuthority:
    return request.app.state.ca


@router.post("/api/apps/{app_id}/certificates", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def app_certificate(request: Request, app_id: str, body: CsrIn) -> dict[str, Any]:
    with tx(request) as session:
        app = directory.get_application(session, app_id)
        actor = current_actor(request, session)
        require_org_admin(actor, app.org_id)
        row = certs.issue_for_application(session, _ca(request), settings_of(request), app_id,
                                          body.csr_pem, body.kind, actor)
        return {**cert_json(row), "chain_pem": _ca(request).chain_pem.decode()}


@router.post("/api/nodes/{node_id}/certificates", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def node_certificate(request: Request, node_id: str, body: CsrIn) -> dict[str, Any]:
    with tx(request) as session:
        node = session.get(Node, node_id)
        if node is None:
            raise ApiError(404, "DIR-006", f"No node {node_id}.")
        actor = current_actor(request, session)
        require_org_admin(actor, node.org_id)
        # kind: "server" (the default here) or "client" (the node's own mTLS identity)
        kind = body.kind if "kind" in body.model_fields_set else "server"
        row = certs.issue_for_node(session, _ca(request), settings_of(request), node_id,
                                   body.csr_pem, actor=actor, kind=kind)
        return {**cert_json(row), "chain_pem": _ca(request).chain_pem.decode()}


@router.post("/api/certificates/{serial}/renew", status_code=201, openapi_extra=USER,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def renew_certificate(request: Request, serial: str, body: CsrIn) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, certs.get_certificate(session, serial).org_id)
        row = certs.renew(session, _ca(request), settings_of(request), serial, body.csr_pem,
                          actor)
        return {**cert_json(row), "chain_pem": _ca(request).chain_pem.decode()}


@router.post("/api/certificates/{serial}/revoke", openapi_extra=USER, responses=error_responses(401, 403, 404, 409))
def revoke_certificate(request: Request, serial: str) -> dict[str, Any]:
    with tx(request) as session:
        actor = current_actor(request, session)
        require_org_admin(actor, certs.get_certificate(session, serial).org_id)
        return cert_json(certs.revoke(session, serial, "keyCompromise", actor))


# Public reads ------------------------------------------------------------------

@router.get("/api/members", responses=error_responses(422))
def members(request: Request, role: str | None = None) -> list[dict[str, Any]]:
    with tx(request) as session:
        if role:
            orgs = directory.members_with_role(session, role)
        else:
            orgs = list(session.exec(select(Organisation).where(Organisation.status == OrgStatus.ACTIVE)))
        return [public_member(request, o) for o in orgs]


@router.get("/api/members/{org_id}", responses=error_responses(404))
def member(request: Request, org_id: str) -> dict[str, Any]:
    with tx(request) as session:
        return public_member(request, directory.get_organisation(session, org_id))


@router.get("/api/members/{org_id}/hosted", responses=error_responses(404, 422))
def hosted(request: Request, org_id: str) -> list[dict[str, Any]]:
    """Public: the active organisations whose records this member's nodes may hold."""
    with tx(request) as session:
        directory.get_organisation(session, org_id)
        return [{"org_id": r.hosted_org_id, "since": r.granted_at.isoformat()}
                for r in directory.hosted_by(session, org_id)]


@router.get("/api/nodes", responses=error_responses(422))
def nodes(request: Request, dataset_type: str | None = None) -> list[dict[str, Any]]:
    with tx(request) as session:
        return [{**n.model_dump(mode="json", exclude={"created_at"}),
                 "member_url": settings_of(request).member_url(n.org_id)}
                for n in directory.nodes_serving(session, dataset_type)]


@router.get("/ca/crl", response_class=Response,
            responses={200: content("application/pkix-crl")})
def crl(request: Request) -> Response:
    with tx(request) as session:
        body = certs.crl_der(session, _ca(request))
    return Response(body, media_type="application/pkix-crl",
                    headers={"Cache-Control": "max-age=30"})


@router.get("/ca/certificates/{serial}", response_class=Response,
            responses={200: content("application/x-pem-file"), **error_responses(404)})
def certificate_pem(request: Request, serial: str) -> Response:
    """A member certificate by serial (hex), e.g. to check a signature made with it."""
    with tx(request) as session:
        row = certs.get_certificate(session, serial)
    return Response(row.pem, media_type="application/x-pem-file",
                    headers={"X-Certificate-Status": row.status})


@router.get("/ca/chain.pem", response_class=Response, responses={200: content("application/x-pem-file")})
def chain(request: Request) -> Response:
    return Response(_ca(request).chain_pem, media_type="application/x-pem-file")


def _rdf(request: Request, graph: Graph) -> Response:
    media = rdf.negotiate(request.headers.get("accept"))
    if media is None:
        raise ApiError(406, "HTTP-406", "Available as text/turtle or application/ld+json.")
    return Response(graph.serialize(format=rdf.FORMATS[media]), media_type=media,
                    headers={"Vary": "Accept"})


def _visible_org(session: Session, org_id: str) -> Organisation:
    org = directory.get_organisation(session, org_id)
    if org.status == OrgStatus.PENDING:
        raise ApiError(404, "DIR-006", f"No organisation {org_id}.")
    return org


@router.get("/m/{org_id}", response_class=Response, responses=RDF)
def member_rdf(request: Request, org_id: str) -> Response:
    with tx(request) as session:
        org = _visible_org(session, org_id)
        apps = list(session.exec(select(Application).where(Application.org_id == org_id)))
        nodes_ = list(session.exec(select(Node).where(Node.org_id == org_id)))
        graph = rdf.member_graph(settings_of(request), org, apps, nodes_)
    return _rdf(request, graph)


@router.get("/a/{app_id}", response_class=Response, responses=RDF)
def application_rdf(request: Request, app_id: str) -> Response:
    with tx(request) as session:
        app = directory.get_application(session, app_id)
        org = _visible_org(session, app.org_id)
        graph = rdf.application_graph(settings_of(request), app, org)
    return _rdf(request, graph)


@router.get("/n/{node_id}", response_class=Response, responses=RDF)
def node_rdf(request: Request, node_id: str) -> Response:
    with tx(request) as session:
        node = session.get(Node, node_id)
        if node is None:
            raise ApiError(404, "DIR-006", f"No node {node_id}.")
        org = _visible_org(session, node.org_id)
        graph = rdf.node_graph(settings_of(request), node, org)
    return _rdf(request, graph)


# The IB1 directory spec's JSON queries -----------------------------------------

ROLE_PARAMETER = {"name": "role", "in": "query", "required": True,
                  "description": "A registry role URL, or an FMAR role name",
                  "schema": {"anyOf": [{"type": "string", "format": "uri"},
                                       {"type": "string", "enum": list(ROLES)}]}}
CONFORMS_PARAMETER = {"name": "conformsTo", "in": "query", "required": True,
                      "description": "A standard's URL; repeat for any of several (OR)",
                      "style": "form", "explode": True,
                      "schema": {"type": "array", "minItems": 1,
                                 "items": {"type": "string", "minLength": 1}}}


@router.get("/query/members-with-role", responses=error_responses(422),
            openapi_extra={"parameters": [ROLE_PARAMETER]})
def members_with_role(request: Request) -> dict[str, Any]:
    """Active members holding `role` (a registry role URL, or an FMAR role name), described
    with the directory spec's JSON properties. A URL that names no FMAR role has no members
    here. DSI-DIR-020: no role, or a name that is no role."""
    role = request.query_params.get("role", "")
    if not role:
        raise ApiError(422, "DSI-DIR-020", "Give the role to look for: ?role=<role URL>.")
    is_url = ":" in role  # role names have none
    name = dsi.role_from_url(role) if is_url else normalise_role(role)
    if name is None or name not in ROLES:
        if is_url:
            return {"members": []}
        raise ApiError(422, "DSI-DIR-020", f"Unknown role {role[:100]!r}.",
                       {"roles": [str(dsi.role_url(r)) for r in ROLES]})
    with tx(request) as session:
        orgs = directory.members_with_role(session, name)
        return {"members": [rdf.member_json(settings_of(request), o) for o in orgs]}


@router.get("/query/data-catalog/api", responses=error_responses(422),
            openapi_extra={"parameters": [CONFORMS_PARAMETER]})
def data_catalog_apis(request: Request) -> dict[str, Any]:
    """The active nodes' data services conforming to any of the given standards (OR).
    DSI-DIR-021: at least one `conformsTo` is given."""
    wanted = [c for c in request.query_params.getlist("conformsTo") if c]
    if not wanted:
        raise ApiError(422, "DSI-DIR-021", "Give at least one standard: ?conformsTo=<URL>.",
                       {"standards": [str(dsi.NODE_API_STANDARD), str(dsi.SPARQL_PROTOCOL)]})
    with tx(request) as session:
        nodes = [(n, directory.get_organisation(session, n.org_id))
                 for n in directory.nodes_serving(session)]
        return {"apis": rdf.catalogue_apis(settings_of(request), nodes, wanted)}


SPARQL_RESULTS = {
    "application/sparql-results+json": "json", "application/sparql-results+xml": "xml",
    "text/csv": "csv",
}


async def _sparql_query(request: Request, query: str | None) -> str:
    if query:
        return query
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/sparql-query"):
            return (await request.body()).decode()
        form = await request.form()
        if form.get("query"):
            return str(form["query"])
    raise ApiError(400, "DIR-012", "A SPARQL query is required (query parameter).")


@router.api_route("/sparql", methods=["GET", "POST"], response_class=Response, responses={
    200: content("application/sparql-results+json", "application/sparql-results+xml", "text/csv",
                 "text/turtle", "application/ld+json"), **error_responses(400, 406, 422)})
async def sparql(request: Request, query: str | None = None) -> Response:
    """Read-only SPARQL over the public directory (SELECT, ASK, CONSTRUCT, DESCRIBE)."""
    text = await _sparql_query(request, query)
    with tx(request) as session:
        graph = rdf.directory_graph(session, settings_of(request))
    accept = request.headers.get("accept", "")
    media = next((m for m in SPARQL_RESULTS if m in accept), "application/sparql-results+json")
    try:  # rdflib evaluates lazily: answer inside the try, so no error escapes as a 500
        result = rdf.safe_query(graph, text)
        if result.type in ("CONSTRUCT", "DESCRIBE") and result.graph is not None:
            return _rdf(request, result.graph)
        body = result.serialize(format=SPARQL_RESULTS[media])
    except ApiError:
        raise
    except Exception as exc:  # parse errors, updates (refused by query()), evaluation errors
        raise ApiError(400, "DIR-012", f"The SPARQL query is not valid: {exc}") from exc
    return Response(body, media_type=media)
