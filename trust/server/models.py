"""Tables of the trust framework (SQLModel). The schema is created by Alembic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Organisation(SQLModel, table=True):
    """A member of the federation, with the Elexon FMAR organisation attributes."""

    id: str = Field(primary_key=True, max_length=40)  # FmarOrganisationId
    legal_name: str
    trading_name: str | None = None
    registration_number: str | None = Field(default=None, index=True)
    organisation_type: str
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dno_areas: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="Pending Approval", index=True)
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
    status: str = "active"  # active | revoked
    created_at: datetime = Field(default_factory=utcnow)


class Node(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organisation.id", index=True)
    url: str = Field(unique=True)
    dataset_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = "pending"  # pending (until the operator approves) | active | suspended
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
    status: str = "valid"  # valid | revoked
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
    kind: str = Field(index=True)  # par | code | device | assertion
    client_id: str | None = None
    user_id: str | None = None
    user_code: str | None = Field(default=None, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = "pending"  # pending | approved | denied | used
    expires_at: datetime


class Hosting(SQLModel, table=True):
    """A hosting relation: `host_org_id`'s nodes may hold the records of `hosted_org_id`
    (a platform hosting a small FSP). Asked for by the hosted organisation's admin
    (`requested`), in force once the host's admin accepts (`active`; the operator may do
    either step); ended by either party or the operator (`revoked`). Rows are kept."""

    id: str = Field(primary_key=True, max_length=40)
    host_org_id: str = Field(foreign_key="organisation.id", index=True)
    hosted_org_id: str = Field(foreign_key="organisation.id", index=True)
    status: str = Field(default="active", index=True)  # requested | active | revoked
    granted_by: str
    granted_at: datetime = Field(default_factory=utcnow)
    revoked_by: str | None = None
    revoked_at: datetime | None = None
