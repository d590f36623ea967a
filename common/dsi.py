"""Terms and registry URLs of GB's energy Data Sharing Infrastructure (Icebreaker One trust
framework specifications) that the directory and the node catalogues publish.

FMAR runs its own scheme, so the scheme, its roles and its standards are FMAR URLs; the
generic classes (sensitivity, assurance levels) are the IB1 root registry's."""

from __future__ import annotations

from rdflib import Namespace, URIRef

from common.roles import ROLE_SCHEME, SCOPES_BY_ROLE

IB1 = Namespace("https://registry.trust.ib1.org/ns/1.0#")
# schema.org as the directory spec writes it (http, not rdflib's https SDO)
SCHEMA = Namespace("http://schema.org/")
IB1_REGISTRY = "https://registry.trust.ib1.org/"
SENSITIVITY = Namespace(IB1_REGISTRY + "sensitivity-class/")  # IB1-O, IB1-SA, IB1-SB, ...
DATASET_ASSURANCE = Namespace(IB1_REGISTRY + "dataset-assurance-level/")  # Level1..4
ORG_ASSURANCE = Namespace(IB1_REGISTRY + "organization-assurance-level/")  # Level1..4

# FMAR's scheme, its roles (as in certificates' ib1Roles) and the standards its nodes meet.
SCHEME = URIRef("https://id.fmar.uk/scheme/flexibility-asset-register")
ROLE = Namespace(ROLE_SCHEME)
NODE_API_STANDARD = URIRef("https://id.fmar.uk/standard/node-api/1.0")
SPARQL_PROTOCOL = URIRef("https://www.w3.org/TR/sparql11-protocol/")
# who issues UK company numbers (the "issuedBy" of a company registration)
COMPANIES_HOUSE = URIRef("https://find-and-update.company-information.service.gov.uk/")


def role_url(role: str) -> URIRef:
    return ROLE[role]


def role_from_url(value: str) -> str | None:
    """The FMAR role a registry role URL names, or None (another scheme's role)."""
    return value.removeprefix(ROLE_SCHEME) if value.startswith(ROLE_SCHEME) else None


def roles_holding(scope: str) -> list[str]:
    """The roles whose applications may hold `scope` (ib1:roleRequiredToAccess)."""
    return sorted(role for role, scopes in SCOPES_BY_ROLE.items() if scope in scopes)
