"""Directory domain: organisations, users, applications and nodes (plain functions)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from common.roles import DNO_AREAS, ORGANISATION_TYPES, normalise_role, role_name
from trust.server import tokens, validation
from trust.server.errors import ApiError
from trust.server.models import (
    Application,
    Hosting,
    HostingStatus,
    IssuedToken,
    Node,
    NodeStatus,
    Organisation,
    OrgEvent,
    OrgStatus,
    User,
    utcnow,
)
from trust.server.schemas import Contact, OrganisationIn, OrganisationUpdate

TRANSITIONS: dict[OrgStatus, set[OrgStatus]] = {
    OrgStatus.PENDING: {OrgStatus.ACTIVE, OrgStatus.WITHDRAWN},
    OrgStatus.ACTIVE: {OrgStatus.SUSPENDED, OrgStatus.WITHDRAWN},
    OrgStatus.SUSPENDED: {OrgStatus.ACTIVE, OrgStatus.WITHDRAWN},
    OrgStatus.WITHDRAWN: set(),
}
USER_ROLES = ("admin", "editor", "viewer")
_hasher = PasswordHasher()  # argon2id


@dataclass(frozen=True)
class Actor:
    """Who acts on the directory: a user (or the operator's CLI)."""

    subject: str
    org_id: str | None = None
    user_role: str | None = None
    is_operator: bool = False


SYSTEM = Actor("system", is_operator=True)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6).upper()}"


def _roles(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        role = normalise_role(name)
        if role is None:
            raise ApiError(422, "DIR-004", f"Unknown role {name!r}.", {"role": name})
        if role not in out:
            out.append(role)
    return out


def _areas(areas: list[str], roles: list[str]) -> list[str]:
    for area in areas:
        if area not in DNO_AREAS:
            raise ApiError(422, "DIR-004", f"Unknown DNO licence area {area!r}.", {"area": area})
    if areas and not {"DNO", "IDNO"} & set(roles):
        raise ApiError(422, "DIR-004", "Only a DNO or IDNO holds licence areas.")
    return sorted(set(areas))


def _contact(contact: Contact | None, field: str) -> dict | None:
    if contact is None:
        return None
    out = contact.model_dump()
    out["email"] = validation.email(contact.email, f"{field}.email")
    if contact.mobile:
        out["mobile"] = validation.phone(contact.mobile, f"{field}.mobile")
        out["mobile_country_code"] = validation.country_code(out["mobile"])
    return out


def _contacts(data: OrganisationIn | OrganisationUpdate, existing: dict) -> dict:
    contacts = dict(existing)
    for field in ("primary_contact", "secondary_contact", "technical_contact"):
        value = getattr(data, field)
        if value is not None:
            contacts[field.removesuffix("_contact")] = _contact(value, field)
    return contacts


URL_FIELDS = ("logo", "privacy_policy")


def _urls(data: OrganisationIn | OrganisationUpdate) -> dict[str, str | None]:
    """The published URLs given (DSI-DIR-040); null or "" clears one."""
    out: dict[str, str | None] = {}
    for field in URL_FIELDS:
        if field in data.model_fields_set:
            value = getattr(data, field)
            out[field] = validation.https_url(value, field) if value else None
    return out


def _audit(session: Session, org: Organisation, action: str, actor: Actor,
           to_status: str | None = None, reason: str | None = None) -> None:
    session.add(OrgEvent(org_id=org.id, action=action, from_status=org.status,
                         to_status=to_status or org.status, actor=actor.subject, reason=reason))


def record(session: Session, org_id: str, action: str, actor: Actor, detail: str) -> None:
    """Audit an action on an organisation's users, applications, nodes or certificates."""
    _audit(session, get_organisation(session, org_id), action, actor, reason=detail)


def register_organisation(session: Session, data: OrganisationIn, actor: Actor = SYSTEM,
                          *, is_operator: bool = False) -> Organisation:
    """UC-01.2: validate and store a new organisation, Pending Approval."""
    if data.organisation_type not in ORGANISATION_TYPES:
        raise ApiError(422, "DIR-004", f"Unknown organisation type {data.organisation_type!r}.")
    number = data.registration_number
    if data.organisation_type != "Non-UK Company" and number:
        number = validation.company_number(number)
    if number and session.exec(select(Organisation).where(
            Organisation.registration_number == number,
            Organisation.status != OrgStatus.WITHDRAWN)).first():
        raise ApiError(409, "DIR-013", "An organisation with this registration number is "
                       "already registered.", {"registration_number": number})
    roles = _roles(data.roles) if not is_operator else []
    if not roles and not is_operator:
        raise ApiError(422, "DIR-004", "An organisation holds at least one role.")
    org = Organisation(
        id=new_id("FMAR-ORG"),
        **data.model_dump(exclude={"roles", "dno_areas", "registration_number", "email",
                                   "primary_contact", "secondary_contact", "technical_contact",
                                   "admin_name", "admin_email", "admin_password",
                                   *URL_FIELDS}),
        registration_number=number,
        email=validation.email(data.email),
        roles=roles,
        dno_areas=_areas(data.dno_areas, roles),
        contacts=_contacts(data, {}),
        is_operator=is_operator,
        status=OrgStatus.ACTIVE if is_operator else OrgStatus.PENDING,
    )
    for field, url in _urls(data).items():
        setattr(org, field, url)
    session.add(org)
    session.flush()
    _audit(session, org, "register", actor)
    return org


def get_organisation(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise ApiError(404, "DIR-006", f"No organisation {org_id}.")
    return org


def update_organisation(session: Session, org_id: str, data: OrganisationUpdate,
                        actor: Actor) -> Organisation:
    org = get_organisation(session, org_id)
    if org.status == OrgStatus.WITHDRAWN:
        raise ApiError(409, "DIR-005", "A withdrawn organisation cannot be changed.")
    changes = data.model_dump(exclude_unset=True, exclude={"primary_contact", "secondary_contact",
                                                           "technical_contact", "roles",
                                                           "dno_areas", "email",
                                                           *URL_FIELDS})
    changes.update(_urls(data))
    for key, value in changes.items():
        setattr(org, key, value)
    if data.email is not None:
        org.email = validation.email(data.email)
    if data.roles is not None:
        if not actor.is_operator:
            raise ApiError(403, "POL-102", "Only the operator changes an organisation's roles.")
        org.roles = _roles(data.roles)
    if data.dno_areas is not None:
        if not actor.is_operator:  # licence areas widen what a DNO may read
            raise ApiError(403, "POL-102", "Only the operator changes licence areas.")
        org.dno_areas = _areas(data.dno_areas, org.roles)
    org.contacts = _contacts(data, org.contacts)
    org.updated_at = utcnow()
    session.add(org)
    _audit(session, org, "update", actor, reason=",".join(sorted(data.model_fields_set)))
    return org


def set_status(session: Session, org_id: str, status: str, actor: Actor,
               reason: str | None = None) -> Organisation:
    """Move an organisation along Pending Approval → Active → Suspended → Withdrawn."""
    org = get_organisation(session, org_id)
    if status not in TRANSITIONS[org.status]:
        raise ApiError(409, "DIR-005", f"An organisation cannot go from '{org.status}' to "
                       f"{str(status)!r}.", {"from": org.status, "to": status})
    _audit(session, org, "status", actor, status, reason)
    org.status = OrgStatus(status)
    org.updated_at = utcnow()
    session.add(org)
    return org


def history(session: Session, org_id: str) -> list[OrgEvent]:
    stmt = select(OrgEvent).where(OrgEvent.org_id == org_id).order_by(col(OrgEvent.id))
    return list(session.exec(stmt))


# Users (UC-01.1)

def add_user(session: Session, org_id: str, email: str, name: str, role: str,
             password: str, actor: Actor = SYSTEM) -> User:
    get_organisation(session, org_id)
    if role not in USER_ROLES:
        raise ApiError(422, "DIR-004", f"A user role is one of {', '.join(USER_ROLES)}.")
    if len(password) < 10:
        raise ApiError(422, "DIR-011", "A password has at least 10 characters.")
    address = validation.email(email)
    if session.exec(select(User).where(User.email == address)).first():
        raise ApiError(409, "DIR-010", "A user with this e-mail address exists.")
    user = User(id=new_id("USR"), org_id=org_id, email=address, name=name, role=role,
                password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    record(session, org_id, "user.add", actor, f"{user.id} {role}")
    return user


def authenticate_user(session: Session, email: str, password: str) -> User | None:
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        _hasher.hash(password)  # same cost whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    org = session.get(Organisation, user.org_id)
    if not user.active or org is None or org.status == OrgStatus.WITHDRAWN:
        return None
    return user


def deactivate_user(session: Session, user_id: str, actor: Actor = SYSTEM) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ApiError(404, "DIR-006", f"No user {user_id}.")
    user.active = False
    session.add(user)
    # Its tokens (and those exchanged for it) go on the revocation list nodes fetch.
    tokens.revoke_where(session, IssuedToken.sub == user.id)
    record(session, user.org_id, "user.deactivate", actor, user.id)
    return user


def users_of(session: Session, org_id: str) -> list[User]:
    return list(session.exec(select(User).where(User.org_id == org_id).order_by(User.email)))


# Applications and nodes

def create_application(session: Session, org_id: str, name: str, roles: list[str],
                       kind: str = "machine", redirect_uris: list[str] | None = None,
                       actor: Actor = SYSTEM) -> Application:
    org = get_organisation(session, org_id)
    wanted = _roles(roles) if roles else list(org.roles)
    extra = set(wanted) - set(org.roles)
    if extra:
        raise ApiError(422, "DIR-007", "An application holds only roles of its organisation.",
                       {"not_held": sorted(extra)})
    if kind not in ("machine", "public"):
        raise ApiError(422, "DIR-004", "An application kind is 'machine' or 'public'.")
    app = Application(id=new_id("APP"), org_id=org_id, name=name, roles=wanted, kind=kind,
                      redirect_uris=list(redirect_uris or []))
    session.add(app)
    session.flush()
    record(session, org_id, "application.create", actor, f"{app.id} {' '.join(wanted)}")
    return app


def get_application(session: Session, app_id: str) -> Application:
    app = session.get(Application, app_id)
    if app is None:
        raise ApiError(404, "DIR-006", f"No application {app_id}.")
    return app


def _host_of(url: str) -> str:
    """The host a URL names, as DNS compares it: lower case, without a trailing dot."""
    return (urlsplit(url).hostname or "").rstrip(".")


def add_node(session: Session, org_id: str, url: str, dataset_types: list[str],
             actor: Actor = SYSTEM) -> Node:
    get_organisation(session, org_id)
    host = _host_of(url)
    if not url.startswith("https://") or not host:
        raise ApiError(422, "DIR-004", "A node URL starts with https:// and names a host.")
    for other in session.exec(select(Node).where(Node.org_id != org_id)):
        if _host_of(other.url) == host and host not in ("127.0.0.1", "localhost", "::1"):
            raise ApiError(409, "DIR-014", "This host serves a node of another organisation; "
                           "its server certificate is theirs.", {"host": host})
    node = Node(id=new_id("NODE"), org_id=org_id, url=url.rstrip("/"),
                dataset_types=sorted(set(dataset_types)), status=NodeStatus.PENDING)
    session.add(node)
    session.flush()
    record(session, org_id, "node.add", actor, f"{node.id} {node.url}")
    return node


NODE_TRANSITIONS: dict[NodeStatus, set[NodeStatus]] = {
    NodeStatus.PENDING: {NodeStatus.ACTIVE}, NodeStatus.ACTIVE: {NodeStatus.SUSPENDED},
    NodeStatus.SUSPENDED: {NodeStatus.ACTIVE}}


def set_node_status(session: Session, node_id: str, status: str, actor: Actor) -> Node:
    """DIR-022: the operator approves a pending node (or suspends / reinstates one). Only an
    active node gets certificates, is listed for federated queries and may be a token
    audience or exchange tokens."""
    node = session.get(Node, node_id)
    if node is None:
        raise ApiError(404, "DIR-006", f"No node {node_id}.")
    if status not in NODE_TRANSITIONS:
        raise ApiError(422, "DIR-004", f"Unknown node status {status!r}: one of "
                       f"{', '.join(sorted(NODE_TRANSITIONS))}.", {"status": status})
    if status not in NODE_TRANSITIONS.get(node.status, set()):
        raise ApiError(409, "DIR-022", f"A node cannot go from '{node.status}' to {status!r}.",
                       {"from": node.status, "to": status})
    node.status = NodeStatus(status)
    session.add(node)
    record(session, node.org_id, f"node.{status}", actor, node.id)
    return node


def require_active_node(node: Node) -> None:
    """DIR-021: certificates only for a node the operator approved."""
    if node.status != NodeStatus.ACTIVE:
        raise ApiError(409, "DIR-021", f"Node {node.id} is {node.status}: the trust framework's "
                       "operator approves a node before it gets certificates.",
                       {"node_status": node.status})


def members_with_role(session: Session, role: str) -> list[Organisation]:
    wanted = normalise_role(role_name(role)) or role
    orgs = session.exec(select(Organisation).where(Organisation.status == OrgStatus.ACTIVE))
    return [o for o in orgs if wanted in o.roles]


def nodes_serving(session: Session, dataset_type: str | None = None) -> list[Node]:
    nodes = session.exec(select(Node).where(Node.status == NodeStatus.ACTIVE).order_by(Node.url))
    active = {o.id for o in session.exec(select(Organisation).where(Organisation.status == OrgStatus.ACTIVE))}
    return [n for n in nodes if n.org_id in active
            and (dataset_type is None or dataset_type in n.dataset_types)]


def node_by_url(session: Session, url: str) -> Node | None:
    return session.exec(select(Node).where(Node.url == url.rstrip("/"))).first()


# Hosting: a platform's nodes hold a small FSP's records (DESIGN.md "Who holds what")

def grant_hosting(session: Session, hosted_org_id: str, host_org_id: str,
                  actor: Actor) -> Hosting:
    """The hosted organisation (its admin) asks `host_org_id`'s nodes to hold its records:
    `requested` until the host accepts (`accept_hosting`), so no member places records on
    another's node without that member's consent; the operator's grant is in force at once.
    DIR-030: the host is another active organisation that runs a node. DIR-031: one open
    relation (requested or active) per pair."""
    hosted = get_organisation(session, hosted_org_id)
    host = session.get(Organisation, host_org_id)
    if host is None or host.id == hosted.id or host.status != OrgStatus.ACTIVE or not session.exec(
            select(Node).where(Node.org_id == host.id, Node.status == NodeStatus.ACTIVE)).first():
        raise ApiError(422, "DIR-030", "A host is another active organisation that runs a "
                       "node.", {"host_org_id": host_org_id})
    if hosted.status != OrgStatus.ACTIVE:
        raise ApiError(422, "DIR-030", "Only an active organisation is hosted.",
                       {"hosted_org_id": hosted_org_id})
    if _open_hosting(session, host.id, hosted.id) is not None:
        raise ApiError(409, "DIR-031", "This organisation is already hosted there, or has "
                       "asked to be.", {"host_org_id": host.id})
    row = Hosting(id=new_id("HOST"), host_org_id=host.id, hosted_org_id=hosted.id,
                  granted_by=actor.subject,
                  status=HostingStatus.ACTIVE if actor.is_operator
                  else HostingStatus.REQUESTED)
    session.add(row)
    session.flush()
    record(session, hosted.id, "hosting.grant", actor, f"{row.id} host {host.id}")
    record(session, host.id, "hosting.grant", actor, f"{row.id} hosted {hosted.id}")
    return row


def active_hosting(session: Session, host_org_id: str, hosted_org_id: str) -> Hosting | None:
    return session.exec(select(Hosting).where(
        Hosting.host_org_id == host_org_id, Hosting.hosted_org_id == hosted_org_id,
        Hosting.status == HostingStatus.ACTIVE)).first()


def _open_hosting(session: Session, host_org_id: str, hosted_org_id: str) -> Hosting | None:
    return session.exec(select(Hosting).where(
        Hosting.host_org_id == host_org_id, Hosting.hosted_org_id == hosted_org_id,
        col(Hosting.status).in_((HostingStatus.REQUESTED, HostingStatus.ACTIVE)))).first()


def accept_hosting(session: Session, hosted_org_id: str, host_org_id: str,
                   actor: Actor) -> Hosting:
    """The host (its admin, or the operator) accepts a request to hold `hosted_org_id`'s
    records; from then its nodes store them (POL-030)."""
    row = session.exec(select(Hosting).where(
        Hosting.host_org_id == host_org_id, Hosting.hosted_org_id == hosted_org_id,
        Hosting.status == HostingStatus.REQUESTED)).first()
    if row is None:
        raise ApiError(404, "DIR-006", f"{hosted_org_id} has not asked {host_org_id} to host "
                       "it.")
    row.status = HostingStatus.ACTIVE
    session.add(row)
    record(session, hosted_org_id, "hosting.accept", actor, f"{row.id} host {host_org_id}")
    record(session, host_org_id, "hosting.accept", actor, f"{row.id} hosted {hosted_org_id}")
    return row


def revoke_hosting(session: Session, hosted_org_id: str, host_org_id: str,
                   actor: Actor) -> Hosting:
    """End a hosting relation, or refuse a request (either party's admin, or the operator).
    The host's nodes stop accepting the hosted organisation's writes once their cached copy
    expires."""
    row = _open_hosting(session, host_org_id, hosted_org_id)
    if row is None:
        raise ApiError(404, "DIR-006", f"{hosted_org_id} is not hosted by {host_org_id}.")
    row.status, row.revoked_by, row.revoked_at = HostingStatus.REVOKED, actor.subject, utcnow()
    session.add(row)
    record(session, hosted_org_id, "hosting.revoke", actor, f"{row.id} host {host_org_id}")
    record(session, host_org_id, "hosting.revoke", actor, f"{row.id} hosted {hosted_org_id}")
    return row


def hosted_by(session: Session, host_org_id: str) -> list[Hosting]:
    """Active relations of a host whose hosted organisation is active."""
    rows = session.exec(select(Hosting).where(Hosting.host_org_id == host_org_id,
                                              Hosting.status == HostingStatus.ACTIVE)
                        .order_by(Hosting.hosted_org_id))
    return [r for r in rows if (o := session.get(Organisation, r.hosted_org_id))
            and o.status == OrgStatus.ACTIVE]
