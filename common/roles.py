"""Role names, licence areas, the scopes of a node's API and the scopes each role may hold."""

from __future__ import annotations

from common.mpan import DISTRIBUTOR_IDS

# Roles are named by IRIs in certificates (IB1 ib1Roles) and RDF, by name in tokens.
ROLE_SCHEME = "https://id.fmar.uk/def/code/OrganisationRole/"

ROLES = (
    "FSP", "Aggregator", "AssetOwner", "Supplier", "DNO", "IDNO", "NESO",
    "MarketFacilitator", "Regulator", "Platform", "Installer",
)

# Names from the Elexon code list, mapped to the role strings used in tokens.
ROLE_ALIASES = {
    "flexibility service provider": "FSP", "flexibility service provider (fsp)": "FSP",
    "asset owner": "AssetOwner", "distribution network operator": "DNO",
    "distribution network operator (dno)": "DNO",
    "independent distribution network operator": "IDNO",
    "independent distribution network operator (idno)": "IDNO",
    "neso/tso": "NESO", "tso": "NESO", "transmission operator (to)": "NESO",
    "market facilitator": "MarketFacilitator", "regulator (ofgem)": "Regulator",
}

# The 14 licence areas of the DNOCode code list (one list for the whole federation).
DNO_AREAS = tuple(DISTRIBUTOR_IDS)

ORGANISATION_TYPES = (
    "Private Limited Company (Ltd)", "Public Limited Company (PLC)",
    "Limited Liability Partnership (LLP)", "Partnership", "Sole Trader", "Charity",
    "Public Authority", "Government Department", "Non-UK Company", "Other",
)

# The scopes a node's API checks, described for the OpenAPI documents of node and trust.
NODE_SCOPES = {
    "assets:read": "Read the assets the caller's role may see",
    "assets:write": "Register and change the caller's organisation's assets",
    "audit:read": "Read the history and audit trail of a record",
    "validation:write": "Set validation statuses (market facilitator, NESO, DNO)",
    "categories:write": "Manage asset categories (market facilitator)",
    "products:write": "Propose and manage flexibility products (system operators, market "
    "facilitator)",
    "sparql:query": "Query this node (SPARQL, filter form, aggregates)",
    "federation:query": "Query the federation through this node",
    "reports:write": "Save report definitions (market facilitator, regulator)",
    "trust:deregistration": "Ask for an organisation's active records (trust framework)",
    "switch:transfer": "Hand records over in a switch (a node's own token only)",
    "disputes:notify": "Tell another node of a dispute on its record (a node's own token only)",
    "products:read": "Read the public product register to check qualifications (a node's own "
    "token only)",
    "units:verify": "Read a market unit to confirm who holds it after a switch, with the "
    "node's operator's own read rights (a node's own token only)",
}

READ = {"assets:read", "audit:read", "sparql:query", "federation:query"}
WRITE_ASSETS = READ | {"assets:write"}
SYSTEM_OPERATOR = READ | {"validation:write", "products:write"}
# Aligned with node.policy: only asset-holding roles write assets; the market facilitator,
# NESO and DNOs set validation status; the regulator sees aggregates only.
SCOPES_BY_ROLE: dict[str, set[str]] = {
    "FSP": WRITE_ASSETS,
    "Aggregator": WRITE_ASSETS,
    "AssetOwner": WRITE_ASSETS,
    "Platform": WRITE_ASSETS,
    "Installer": READ,
    "Supplier": READ,
    "DNO": SYSTEM_OPERATOR,
    "IDNO": SYSTEM_OPERATOR,
    "NESO": SYSTEM_OPERATOR,
    "MarketFacilitator": READ | {"categories:write", "validation:write", "products:write",
                          "reports:write"},
    "Regulator": {"sparql:query", "federation:query", "reports:write"},
}
# The scopes a role can hold (trust:deregistration is the trust framework's own).
ALL_SCOPES = set().union(*SCOPES_BY_ROLE.values())
WRITE_SCOPES = {s for s in ALL_SCOPES if s.endswith(":write")}


def normalise_role(name: str) -> str | None:
    if name in ROLES:
        return name
    return ROLE_ALIASES.get(name.strip().lower())


def role_iri(role: str) -> str:
    return ROLE_SCHEME + role


def role_name(iri: str) -> str:
    return iri.removeprefix(ROLE_SCHEME)


def scopes_for(roles: list[str] | set[str] | frozenset[str]) -> set[str]:
    out: set[str] = set()
    for role in roles:
        out |= SCOPES_BY_ROLE.get(role, set())
    return out


def user_scopes(org_roles: list[str], user_role: str) -> set[str]:
    """A viewer never holds write scopes; editors and admins hold the organisation's."""
    allowed = scopes_for(org_roles)
    return allowed if user_role in ("admin", "editor") else allowed - WRITE_SCOPES
