"""Request bodies of the directory API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Contact(BaseModel):
    first_name: str
    last_name: str
    email: str
    mobile: str | None = None
    role: str | None = None


class OrganisationIn(BaseModel):
    legal_name: str = Field(min_length=1, max_length=200)
    trading_name: str | None = None
    registration_number: str | None = None
    organisation_type: str = "Private Limited Company (Ltd)"
    roles: list[str] = Field(default_factory=list)
    dno_areas: list[str] = Field(default_factory=list)
    non_uk_business_type: str | None = None
    non_uk_company_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    county: str | None = None
    postcode: str | None = None
    country: str | None = "United Kingdom"
    country_of_incorporation: str | None = "United Kingdom"
    website: str | None = None
    logo: str | None = None
    privacy_policy: str | None = None
    vat_number: str | None = None
    email: str
    year_of_registration: int | None = None
    primary_contact: Contact
    secondary_contact: Contact | None = None
    technical_contact: Contact | None = None


class OrganisationRegistration(OrganisationIn):
    """UC-01.2: an organisation and its first admin user."""

    admin_name: str
    admin_email: str
    admin_password: str = Field(min_length=10)


class OrganisationUpdate(BaseModel):
    trading_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    county: str | None = None
    postcode: str | None = None
    website: str | None = None
    logo: str | None = None
    privacy_policy: str | None = None
    email: str | None = None
    dno_areas: list[str] | None = None
    roles: list[str] | None = None
    primary_contact: Contact | None = None
    secondary_contact: Contact | None = None
    technical_contact: Contact | None = None


class StatusChange(BaseModel):
    status: str
    reason: str | None = None


class UserIn(BaseModel):
    email: str
    name: str
    role: str = "viewer"
    password: str = Field(min_length=10)


class ApplicationIn(BaseModel):
    name: str
    roles: list[str] = Field(default_factory=list)
    kind: str = "machine"
    redirect_uris: list[str] = Field(default_factory=list)


class NodeIn(BaseModel):
    url: str
    dataset_types: list[str] = Field(default_factory=list)


class CsrIn(BaseModel):
    csr_pem: str
    kind: str = "client"  # client | signing | server


class DeregisterIn(BaseModel):
    reason: str | None = None


class HostingIn(BaseModel):
    host_org_id: str
