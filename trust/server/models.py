"""Tables of the trust framework (SQLModel). The schema is created by Alembic."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import JSON, Column, Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString, Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrgStatus(StrEnum):
    """Where an organisation is in the directory (its moves: `directory.TRANSITIONS`)."""

    PENDING = "Pending Approval"
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    WITHDRAWN = "Withdrawn"


class NodeStatus(StrEnum):
    PENDING = "pending"  # until the operator approves
    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"  # its organisation de-registered


class AppStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class CertStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"


class GrantKind(StrEnum):
    PAR = "par"  # a pushed authorization request
    CODE = "code"  # an authorization code
    DEVICE = "device"  # a device code
    ASSERTION = "assertion"  # a used client assertion's jti (replay check)
    REFRESH = "refresh"  # a user session's refresh token (rotated; trust.server.refresh)


class GrantStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    USED = "used"
    REVOKED = "revoked"  # a refresh token of a family revoked on reuse


class HostingStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    REVOKED = "revoked"


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A StrEnum kept as its value in a text column (the migrations' type), read back as
    the enum member."""

    impl = AutoString
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Organisation(SQLModel, table=True):
    """A member of the federation, with the Elexon FMAR organisation attributes."""

    id: str = Field(primary_key=True, max_length=40)  # FmarOrganisationId
    legal_name: str
    trading_name: str | None = None
    registration_number: str | None = Field(default=None, index=True)
    organisation_type: str
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dno_areas: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: OrgStatus = Field(default=OrgStatus.PENDING, index=True,
                              sa_type=EnumText(OrgStatus))
    is_operator: bool = False
    non_uk_business_type: str | None = None
    non_uk_company_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    county: str | None = None
    postcode: str | None = None
    country: str | None = None
    country_of_incorporation: str | None = None
    website: str | None = None
    logo: str | None = None  # https URL of the logo image (schema:logo)
    privacy_policy: str | None = None  # https URL (ib1:privacyPolicy)
    vat_number: str | None = None
    email: str | None = None
    year_of_registration: int | None = None
    contacts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OrgEvent(SQLModel, table=True):
    """Audit trail of an organisation: every status change and update."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organisation.id", index=True)
    action: str
    from_status: str | None = None
    to_status: str | None = None
    actor: str
    reason: str | None = None
    at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organisation.id", index=True)
    email: str = Field(unique=True, index=True)
    name: str
    role: str  # admin | editor | viewer
    password_hash: str
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Application(SQLModel, table=True):
    """An OAuth client of an organisation; `roles` is a subset of the organisation's."""

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organisation.id", index=True)
    name: str
    kind: str = "machine"  # machine (certificate / key bound) | public (people, PKCE)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: AppStatus = Field(default=AppStatus.ACTIVE, sa_type=EnumText(AppStatus))
    created_at: datetime = Field(default_factory=utcnow)


class Node(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organisation.id", index=True)
    url: str = Field(unique=True)
    dataset_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: NodeStatus = Field(default=NodeStatus.PENDING, sa_type=EnumText(NodeStatus))
    created_at: datetime = Field(default_factory=utcnow)


class Certificate(SQLModel, table=True):
    serial: str = Field(primary_key=True, max_length=64)  # hex
    app_id: str | None = Field(default=None, foreign_key="application.id", index=True)
    node_id: str | None = Field(default=None, foreign_key="node.id", index=True)
    org_id: str = Field(foreign_key="organisation.id", index=True)
    kind: str  # client | signing | server
    sha256: str = Field(index=True)  # base64url SHA-256 of the DER (x5t#S256)
    pem: str
    not_before: datetime
    not_after: datetime
    status: CertStatus = Field(default=CertStatus.VALID, sa_type=EnumText(CertStatus))
    revoked_at: datetime | None = None
    revocation_reason: str | None = None


class SigningKey(SQLModel, table=True):
    """An ES256 key that signs tokens; served in the JWKS until `expires_at`."""

    kid: str = Field(primary_key=True, max_length=64)
    private_pem: str  # sealed with the KEK, or `external:<factory>` (FMAR_TRUST_SIGNER)
    created_at: datetime = Field(default_factory=utcnow)
    retired_at: datetime | None = None
    expires_at: datetime | None = None


class IssuedToken(SQLModel, table=True):
    """Every token issued, for introspection and revocation (RFC 7662, RFC 7009)."""

    jti: str = Field(primary_key=True, max_length=64)
    client_id: str | None = Field(default=None, index=True)
    org_id: str | None = Field(default=None, index=True)
    sub: str
    aud: str
    scope: str = ""
    claims: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime
    revoked: bool = False


class Grant(SQLModel, table=True):
    """Short-lived state of the user flows: PAR requests, codes, device codes, assertion jtis."""

    id: str = Field(primary_key=True, max_length=128)
    kind: GrantKind = Field(index=True, sa_type=EnumText(GrantKind))
    client_id: str | None = None
    user_id: str | None = None
    user_code: str | None = Field(default=None, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: GrantStatus = Field(default=GrantStatus.PENDING, sa_type=EnumText(GrantStatus))
    expires_at: datetime


class Hosting(SQLModel, table=True):
    """A hosting relation: `host_org_id`'s nodes may hold the records of `hosted_org_id`
    (a platform hosting a small FSP). Asked for by the hosted organisation's admin
    (`requested`), in force once the host's admin accepts (`active`; the operator may do
    either step); ended by either party or the operator (`revoked`). Rows are kept."""

    id: str = Field(primary_key=True, max_length=40)
    host_org_id: str = Field(foreign_key="organisation.id", index=True)
    hosted_org_id: str = Field(foreign_key="organisation.id", index=True)
    status: HostingStatus = Field(default=HostingStatus.ACTIVE, index=True,
                                  sa_type=EnumText(HostingStatus))
    granted_by: str
    granted_at: datetime = Field(default_factory=utcnow)
    revoked_by: str | None = None
    revoked_at: datetime | None = None


class DelegationStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Delegation(SQLModel, table=True):
    """An FSP lets a platform (another member's application) act for it (UC-05.04): the
    scopes, the nodes and the expiry it delegated (trust/server/delegations.py). Granted
    and revoked by the FSP's own admin only; rows are kept."""

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organisation.id", index=True)  # the FSP
    platform_app_id: str = Field(foreign_key="application.id", index=True)
    platform_org_id: str = Field(foreign_key="organisation.id", index=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    nodes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: datetime
    status: DelegationStatus = Field(default=DelegationStatus.ACTIVE, index=True,
                                     sa_type=EnumText(DelegationStatus))
    granted_by: str
    granted_at: datetime = Field(default_factory=utcnow)
    revoked_by: str | None = None
    revoked_at: datetime | None = None
