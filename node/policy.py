"""Permissions, decided here and nowhere else.

Each rule has a stable ID (POL-xxx) that appears in the 403 error, in docs/rules.md
and in the names of the tests that exercise it (`pytest -k POL_008`; they are in
tests/test_api.py, tests/test_connection_limits.py, tests/federation/ and tests/trust/).
Record writes and reads are one table, `POLICY` (kind x action -> rule), read by one
function, `authorise`. Refusals are domain errors (`common.errors`): the API maps them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.errors import Denied, Unauthenticated
from common.vocab import CATEGORY_BASE, EQUIVALENCE_BASE, FMAR, PRODUCT_VERSION_BASE
from node.identity import Caller
from node.records.kind import KINDS, Facts
from node.records.status import Action

ASSET_OWNER_ROLES = frozenset({"FSP", "Aggregator", "AssetOwner", "Platform"})
SYSTEM_OPERATOR_ROLES = frozenset({"DNO", "IDNO", "NESO"})
LICENCE_HOLDER_ROLES = frozenset({"DNO", "IDNO"})


def _deny(rule: str, message: str) -> Denied:
    return Denied(rule, message)


def require_scope(caller: Caller, scope: str) -> None:
    """POL-001: the token must carry the scope the operation needs."""
    if scope not in caller.scopes:
        raise Denied("POL-001", f"The access token lacks the scope '{scope}'.",
                     {"missing_scopes": [scope]})


@dataclass(frozen=True)
class ReadScope:
    """Which records a caller may read: all, or those of some orgs or DNO areas."""

    everything: bool
    organisations: frozenset[str]
    dno_areas: frozenset[str]

    def allows(self, organisation_id: str, dno_area: str | None) -> bool:
        return (
            self.everything
            or organisation_id in self.organisations
            or (dno_area is not None and dno_area in self.dno_areas)
        )


def asset_read_scope(caller: Caller) -> ReadScope:
    """POL-003: a record's own organisation reads it; a DNO reads those in its licence
    areas; NESO reads all; the regulator reads aggregates only. Assets and connection
    limits (whose organisation is the asset's) follow this one rule."""
    require_scope(caller, "assets:read")
    return _read_scope(caller)


def _read_scope(caller: Caller) -> ReadScope:
    if caller.has_role("NESO"):
        return ReadScope(True, frozenset(), frozenset())
    dno_areas = caller.dno_areas if caller.roles & LICENCE_HOLDER_ROLES else frozenset()
    organisations = (
        frozenset({caller.organisation_id}) if caller.roles & ASSET_OWNER_ROLES else frozenset()
    )
    return ReadScope(False, organisations, dno_areas)


# Who reads records of a kind, when it is not POL-003 (a kind's rule declares its ID).
READERS: dict[str, Callable[[Caller], ReadScope]] = {
    # POL-003 for products and equivalences: the catalogue is read by every member.
    "product": lambda _: ReadScope(True, frozenset(), frozenset()),
    "product-equivalence": lambda _: ReadScope(True, frozenset(), frozenset()),
    # report definitions: every member, the regulator too (it has no assets:read)
    "report-definition": lambda _: ReadScope(True, frozenset(), frozenset()),
}


def read_scope(caller: Caller, kind: str) -> ReadScope:
    """Which records of `kind` the caller may read, after the read rule's scopes."""
    require_scopes(caller, POLICY[(kind, "read")].scopes)
    return READERS.get(kind, _read_scope)(caller)


def require_scopes(caller: Caller, scopes: tuple[str, ...]) -> None:
    """Each of a rule's scopes; "a|b": either will do (POL-001 names the first)."""
    for scope in scopes:
        options = scope.split("|")
        if not any(option in caller.scopes for option in options):
            require_scope(caller, options[0])


def may_read(caller: Caller, facts: Facts, kind: str = "asset") -> bool:
    """The kind's read rule (POL-003 unless declared) without the scope check: could this
    caller see the record at all?"""
    scope = READERS.get(kind, _read_scope)(caller)
    return (facts.public or scope.allows(facts.organisation, facts.dno_area)
            or bool(facts.spans & scope.dno_areas)
            # further organisations a record names as readers (a dispute's holder, POL-086)
            or bool(getattr(facts, "parties", frozenset()) & scope.organisations))


def may_read_asset(caller: Caller, organisation_id: str, dno_area: str | None) -> bool:
    return may_read(caller, Facts(organisation_id, dno_area))



def event_reader(caller: Caller) -> Caller:
    """POL-040 (with POL-001): the event feed and subscriptions need `assets:read`."""
    require_scope(caller, "assets:read")
    return caller


def may_receive_event(caller: Caller, facts: Facts, kind: str = "asset") -> bool:
    """POL-040: an event reaches only parties entitled to read its record (its kind's read
    rule): in the feed, and by webhook to a subscription, judged with its organisation's
    rights."""
    return may_read(caller, facts, kind) if kind in KINDS else may_read(caller, facts)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Check:
    """One condition of a rule, and the refusal when it does not hold."""

    rule: str
    holds: Callable[[Caller, Facts], bool]
    message: Callable[[Caller], str]


@dataclass(frozen=True)
class Rule:
    """What an action on a kind needs. `hidden`: when a caller that may not read the record
    is told it does not exist (its kind's 404), so it learns nothing of it: "first" (before
    anything else), "refused" (only if it is refused), "always" (reads)."""

    scopes: tuple[str, ...]  # each needed; "a|b": one of a and b
    checks: tuple[Check, ...] = ()
    hidden: str | None = None


def _is_owner(caller: Caller, _: Facts) -> bool:
    return bool(caller.roles & ASSET_OWNER_ROLES)


def _own(caller: Caller, facts: Facts) -> bool:
    return facts.organisation == caller.organisation_id


def _sets_validation(caller: Caller, facts: Facts) -> bool:
    return (caller.has_role("MarketFacilitator") or caller.has_role("NESO")
            or bool(caller.roles & LICENCE_HOLDER_ROLES and facts.dno_area in caller.dno_areas))


def _licence_holder(caller: Caller, _: Facts) -> bool:
    return bool(caller.roles & LICENCE_HOLDER_ROLES)


def _in_licence_area(caller: Caller, facts: Facts) -> bool:
    return facts.dno_area is not None and facts.dno_area in caller.dno_areas


# POL-002: only an asset-holding role writes assets, and only its own organisation's
# (OrganisationId must be the caller's organisation).
_POL_002 = (
    Check("POL-002", _is_owner,
          lambda _: "Only an FSP, aggregator, asset owner or platform writes assets."),
    Check("POL-002", _own,
          lambda c: "An organisation registers and changes only its own assets: "
          f"OrganisationId must be '{c.organisation_id}'."),
)
# POL-004: the validation status is set by the market facilitator, NESO, or a DNO for
# assets in its licence areas; never by the asset's own organisation.
_POL_004 = (Check("POL-004", _sets_validation,
                  lambda _: "Only the market facilitator, NESO or the asset's DNO sets a "
                  "validation status."),)
# POL-005: only the market facilitator creates, changes or deprecates categories.
_POL_005 = (Check("POL-005", lambda c, _: c.has_role("MarketFacilitator"),
                  lambda _: "Only the market facilitator manages asset categories."),)
# POL-008: a DNO or IDNO sets, changes and removes connection limits, only on assets
# connected in its licence areas.
_POL_008 = (
    Check("POL-008", _licence_holder,
          lambda _: "Only a DNO or IDNO sets connection limits."),
    Check("POL-008", _in_licence_area,
          lambda c: "A DNO sets connection limits only in its licence areas: "
          f"DNOConnection must be one of {sorted(c.dno_areas)}."),
)
# POL-009: the market facilitator manages every product; a system operator proposes and
# changes only the products it runs (NESO's, or a DNO's or IDNO's DSO products).
def _runs_product(caller: Caller, facts: Facts) -> bool:
    if caller.has_role("MarketFacilitator"):
        return True
    if facts.operator == "NESO":
        return caller.has_role("NESO")
    return facts.operator == "DNO" and bool(caller.roles & LICENCE_HOLDER_ROLES)


def _is_facilitator(caller: Caller, _: Facts) -> bool:
    return caller.has_role("MarketFacilitator")


_POL_009 = (Check("POL-009", _runs_product,
                  lambda _: "Only the market facilitator, or the system operator that runs the "
                  "product (NESO; a DNO or IDNO for DSO products), writes a product."),)
# POL-010: only the market facilitator approves or retires: what a system operator writes
# is, and stays, Proposed.
_POL_010 = (Check("POL-010", lambda c, f: _is_facilitator(c, f) or f.state == "Proposed",
                  lambda _: "A system operator's product is Proposed until the market "
                  "facilitator approves it; an Active or Retired version is changed only by "
                  "the facilitator (propose a new version instead)."),)
_POL_010_ONLY = (Check("POL-010", _is_facilitator,
                       lambda _: "Only the market facilitator approves or retires a product."),)
# POL-050: only the market facilitator declares, changes and ends product equivalences.
_POL_050 = (Check("POL-050", _is_facilitator,
                  lambda _: "Only the market facilitator manages product equivalences."),)
# POL-041: an FSP (any asset-holding role) writes its own market units and their
# memberships only: OrganisationId, the unit's FSP, must be the caller's organisation.
_POL_041 = (
    Check("POL-041", _is_owner,
          lambda _: "Only an FSP, aggregator, asset owner or platform writes market units."),
    Check("POL-041", _own,
          lambda c: "An FSP writes only its own market units and their members: the unit's "
          f"OrganisationId must be '{c.organisation_id}'."),
)
def _requester(facts: Facts) -> str:
    return str(getattr(facts, "requester", ""))  # SwitchFacts (node/switching/record.py)


# POL-071: a switch request is read by its two parties, the holder (A) and the requester (B),
# and by NESO, which reads every record (POL-003, and so POL-011 in SPARQL); others get 404.
_POL_071 = (Check("POL-071", lambda c, f: c.organisation_id in (f.organisation, _requester(f))
                  or c.has_role("NESO"),
                  lambda _: "Only the two parties to a switch (and NESO) read its request."),)
# POL-072: an FSP (asset-holding role) requests a switch for itself, from another holder.
_POL_072 = (
    Check("POL-072", _is_owner, lambda _: "Only an FSP, aggregator, asset owner or platform "
          "requests a switch."),
    Check("POL-072", lambda c, f: _requester(f) == c.organisation_id != f.organisation,
          lambda c: "A switch is requested by the organisation taking over "
          f"('{c.organisation_id}'), from another organisation."),
)
# POL-073: only the holder (A) objects to a switch request.
_POL_073 = (Check("POL-073", _own, lambda _: "Only the organisation that holds the records "
                  "objects to a switch."),)
# POL-074: only the requester (B) withdraws its switch request.
_POL_074 = (Check("POL-074", lambda c, f: _requester(f) == c.organisation_id,
                  lambda _: "Only the organisation that requested a switch withdraws it."),)
# POL-075: the hand-over calls between nodes (stage, activate) are made by a node with its
# own token (scope `switch:transfer`, which only node certificates get), never relayed; the
# receiving node checks what it holds and who held the records (node/switching/service.py).
_POL_075 = (Check("POL-075", lambda c, _: c.actor is None,
                  lambda _: "A switch hand-over is made by a node itself, never relayed."),)
# ---- qualification (node/kinds/qualifications.py): POL-060..067
# POL-060: only an FSP (an asset-holding role) applies for qualification, for its own
# organisation, and moves its applications.
_POL_060 = (
    Check("POL-060", _is_owner, lambda _: "Only an FSP, aggregator, asset owner or platform "
          "applies for qualification."),
    Check("POL-060", _own, lambda c: "An organisation applies only for its own units: "
          f"OrganisationId must be '{c.organisation_id}'."),
)


def _records_outcomes(caller: Caller, facts: Facts) -> bool:
    """The product's operator: NESO for a product with no DNO area, else the DNO of it."""
    if facts.dno_area is None:
        return caller.has_role("NESO")
    return _in_licence_area(caller, facts) and _licence_holder(caller, facts)


# POL-061: the system operator that runs the product (NESO for NESO products, the DNO of
# the product's licence areas for DSO products) records and moves its qualifications.
_POL_061 = (Check("POL-061", _records_outcomes,
                  lambda _: "Only the system operator that runs the product records or "
                  "changes its qualifications (NESO for NESO products, the DNO for DSO "
                  "products)."),)
# POL-096: the FSP a qualification outcome or a grid prequalification names changes only
# by the operator's node itself (`SWITCH_FOLLOWER`), once it has confirmed a unit switch
# with the former and the new holders' nodes (node/events/inbox.py, INBOX-011); no route
# makes this move.
SWITCH_FOLLOWER = "node:unit-switch"
_POL_096 = (Check("POL-096", lambda c, _f: c.subject == SWITCH_FOLLOWER and c.actor is None,
                  lambda _: "The FSP a qualification or grid prequalification names changes "
                  "only when the operator's node has confirmed that its unit switched to "
                  "another FSP."),)


def check_holder_read(caller: Caller, roles: frozenset[str]) -> None:
    """POL-097: who holds a market unit (`GET /market-units/{id}/holder`: its holder, or
    where it moved) is told only to a node's own token (`units:verify`, which only node
    certificates get), never relayed, of a node whose operator the trust directory lists
    (`roles`) as a system operator: what that node needs to confirm a switch before its
    outcomes name the unit's new FSP (INBOX-011)."""
    require_scope(caller, "units:verify")
    if caller.actor is not None or not roles & SYSTEM_OPERATOR_ROLES:
        raise _deny("POL-097", "Only a system operator's node, with its own token, asks who "
                    "holds a market unit.")


# POL-062: a DNO or IDNO records grid prequalifications only for its own licence areas.
_POL_062 = (
    Check("POL-062", _licence_holder, lambda _: "Only a DNO or IDNO records grid "
          "prequalification."),
    Check("POL-062", _in_licence_area, lambda c: "A DNO records grid prequalification only "
          f"for its licence areas: DNOConnection must be one of {sorted(c.dno_areas)}."),
)
# POL-065: qualification records are never deleted: their state says how they ended.
_POL_065 = (Check("POL-065", lambda _c, _f: False,
                  lambda _: "Qualification records are not deleted: withdraw the application "
                  "or move the record to its final state."),)


def _outcome_readers(caller: Caller) -> ReadScope:
    """POL-063: a qualification or grid prequalification is read by the unit's FSP (the
    organisation it names), NESO and every DNO or IDNO."""
    if caller.has_role("NESO") or caller.roles & LICENCE_HOLDER_ROLES:
        return ReadScope(True, frozenset(), frozenset())
    return _read_scope(caller)


def _application_readers(caller: Caller) -> ReadScope:
    """POL-064: an application is read by its FSP and by system operators: a DNO reads
    those for the products it runs (their operator area is its licence area), NESO all
    of them (it runs the national products and coordinates the DSO ones)."""
    return _read_scope(caller)


READERS_QUALIFICATION = {"qualification": _outcome_readers,
                         "grid-prequalification": _outcome_readers,
                         "qualification-application": _application_readers}


def check_qualification_queue(caller: Caller) -> None:
    """POL-066: a qualification queue is for a system operator (NESO, a DNO or IDNO): the
    applications for the products it runs, asked of every node with its own rights."""
    if not caller.roles & SYSTEM_OPERATOR_ROLES:
        raise _deny("POL-066", "Only a system operator (NESO, a DNO or IDNO) has a "
                    "qualification queue.")


def check_operator_node(caller: Caller, held: frozenset[str]) -> None:
    """POL-067: a system operator records qualifications and grid prequalifications on its
    own node (one whose operator it is, or that hosts it), never on another's. Other
    callers write no outcomes anywhere; POL-061/042 refuse them."""
    if caller.organisation_id not in held and caller.roles & SYSTEM_OPERATOR_ROLES:
        raise Denied("POL-067", "A system operator records qualification outcomes on its own "
                     "node.", {"organisation_id": caller.organisation_id})


# POL-051: only the market facilitator and the regulator save report definitions.
_POL_051 = (Check("POL-051", lambda c, _: c.has_role("MarketFacilitator")
                  or c.has_role("Regulator"),
                  lambda _: "Only the market facilitator or the regulator saves report "
                  "definitions."),)
# ---- disputes (node/kinds/disputes.py): POL-085..089
def _holder(facts: Facts) -> str:
    return str(getattr(facts, "holder", ""))  # DisputeFacts


def _dispute_party(caller: Caller, facts: Facts) -> bool:
    return caller.organisation_id in (facts.organisation, _holder(facts)) \
        or caller.has_role("MarketFacilitator") or caller.has_role("NESO")


# POL-085: a dispute is opened by an organisation for itself (the entitlement to read the
# record is checked with the caller's own token where the record is held:
# node/api/disputes.py); POL-089: a dispute moves only by its parties (the transition table
# says which party makes which move) and is never deleted.
_POL_085 = (Check("POL-085", _own, lambda c: "An organisation opens disputes for itself: "
                  f"OrganisationId is '{c.organisation_id}'."),)
_POL_089 = (Check("POL-089", lambda c, f: c.organisation_id in (f.organisation, _holder(f))
                  or c.has_role("MarketFacilitator"),
                  lambda _: "Only the opener, the record's holder or the market facilitator "
                  "moves a dispute."),)
_POL_089_KEEP = (Check("POL-089", lambda _c, _f: False,
                       lambda _: "Disputes are not deleted: withdraw or resolve them."),)


def _dispute_readers(caller: Caller) -> ReadScope:
    """POL-086: a dispute is read by its opener, the record's holder (both kept as
    `fmar:disputeParty`), the market facilitator and NESO; a node checking a notice reads it
    with its own token (`disputes:notify`, for its operator's organisation)."""
    if "assets:read" not in caller.scopes and "disputes:notify" not in caller.scopes:
        require_scope(caller, "assets:read")
    if caller.has_role("MarketFacilitator") or caller.has_role("NESO"):
        return ReadScope(True, frozenset(), frozenset())
    return ReadScope(False, frozenset({caller.organisation_id}), frozenset())


READERS["dispute"] = _dispute_readers
_POL_086 = (Check("POL-086", _dispute_party, lambda _: "Only the parties to a dispute (and "
                  "the market facilitator and NESO) read it."),)


def check_dispute_notice(caller: Caller) -> None:
    """POL-087: a dispute notice is sent by a node with its own token (scope
    `disputes:notify`, which only node certificates get), never relayed for a caller."""
    require_scope(caller, "disputes:notify")
    if caller.actor is not None:
        raise _deny("POL-087", "A dispute notice comes from a node itself, never relayed.")


def check_dispute_node(caller: Caller, held: frozenset[str]) -> None:
    """POL-088: a dispute is held on the opener's own node (one whose operator it is, or
    that hosts it)."""
    if caller.organisation_id not in held:
        raise Denied("POL-088", "Open a dispute on your own node: it is held where its "
                     "opener's records are.", {"organisation_id": caller.organisation_id})


_READ = Rule(("assets:read",), hidden="always")  # POL-003
_AUDIT = Rule(("audit:read", "assets:read"), hidden="always")  # POL-006

# ---- consumer consent (node/kinds/consents.py, UC-05.05): POL-080..084
# POL-080: an FSP (an asset-holding role) records and changes its own consents only.
_POL_080 = (
    Check("POL-080", _is_owner, lambda _: "Only an FSP, aggregator, asset owner or platform "
          "records consumer consents."),
    Check("POL-080", _own, lambda c: "An FSP records only its own consents: OrganisationId "
          f"must be '{c.organisation_id}'."),
)


def _consent_readers(caller: Caller) -> ReadScope:
    """POL-081: a consent is read only by its own FSP, with its own token: never by NESO, a
    DNO or the regulator, and never through a relaying node (a token with `act`), so its
    details never leave the FSP's node. (POL-082 keeps it out of every SPARQL dataset.)"""
    if caller.actor is not None or not caller.roles & ASSET_OWNER_ROLES:
        return ReadScope(False, frozenset(), frozenset())
    return ReadScope(False, frozenset({caller.organisation_id}), frozenset())


READERS["consent"] = _consent_readers
# POL-083: consents are never deleted: a revocation ends them, and history keeps them.
_POL_083 = (Check("POL-083", lambda _c, _f: False, lambda _: "Consents are not deleted: "
                  "revoke the consent (POST /consents/{ConsentId}/revocation)."),)
# POL-084: a consent is revoked by its FSP, or by the consent platform it names
# (ConsentPlatform; the platform's webhook is verified first, node/api/consents.py).
_POL_084 = (Check("POL-084", lambda c, f: (_is_owner(c, f) and _own(c, f)) or (
    c.has_role("ConsentPlatform") and f.operator is not None
    and f.operator == c.organisation_id),
    lambda _: "A consent is revoked by its FSP, or by the consent platform it names."),)

POLICY: dict[tuple[str, str], Rule] = {
    ("asset", "read"): _READ,
    ("asset", "audit"): _AUDIT,
    ("asset", Action.REGISTER): Rule(("assets:write",), _POL_002),
    ("asset", Action.UPDATE): Rule(("assets:write",), _POL_002, hidden="first"),
    ("asset", Action.PATCH): Rule(("assets:write",), _POL_002, hidden="first"),
    ("asset", Action.DEREGISTER): Rule(("assets:write",), _POL_002, hidden="first"),
    ("asset", Action.SET_VALIDATION_STATUS): Rule(("validation:write",), _POL_004,
                                                  hidden="refused"),
    ("category", Action.CREATE_CATEGORY): Rule(("categories:write",), _POL_005),
    ("category", Action.UPDATE_CATEGORY): Rule(("categories:write",), _POL_005),
    ("category", Action.DEPRECATE_CATEGORY): Rule(("categories:write",), _POL_005),
    # public to members (Facts.public); a node checking qualifications reads the register
    # with its own token (products:read, QUAL-VAL-030..039)
    ("product", "read"): Rule(("assets:read|products:read",), hidden="always"),
    ("product", "audit"): _AUDIT,
    ("product", "create-product"): Rule(("products:write",), _POL_009 + _POL_010),
    ("product", "update-product"): Rule(("products:write",), _POL_009 + _POL_010),
    ("product", "approve-product"): Rule(("products:write",), _POL_010_ONLY),
    ("product", "retire-product"): Rule(("products:write",), _POL_010_ONLY),
    ("product", "delete-product"): Rule(("products:write",), _POL_010_ONLY),
    ("product-equivalence", "read"): _READ,  # public to members (Facts.public)
    ("product-equivalence", "audit"): _AUDIT,
    ("product-equivalence", "create-product-equivalence"): Rule(("products:write",), _POL_050),
    ("product-equivalence", "update-product-equivalence"): Rule(("products:write",), _POL_050),
    ("product-equivalence", "delete-product-equivalence"): Rule(("products:write",), _POL_050),
    ("report-definition", "read"): Rule(("sparql:query",), hidden="always"),
    ("report-definition", "audit"): Rule(("sparql:query",), hidden="always"),
    ("report-definition", "create-report-definition"): Rule(("reports:write",), _POL_051),
    ("report-definition", "update-report-definition"): Rule(("reports:write",), _POL_051),
    ("report-definition", "delete-report-definition"): Rule(("reports:write",), _POL_051),
    ("connection-limit", "read"): _READ,
    ("connection-limit", "audit"): _AUDIT,
    ("connection-limit", Action.CREATE_LIMIT): Rule(("validation:write",), _POL_008),
    ("connection-limit", Action.UPDATE_LIMIT): Rule(("validation:write",), _POL_008,
                                                    hidden="first"),
    ("connection-limit", Action.DELETE_LIMIT): Rule(("validation:write",), _POL_008,
                                                    hidden="first"),
    # market units: read by the FSP, NESO and the DNOs of the areas spanned (POL-003)
    ("market-unit", "read"): _READ,
    ("market-unit", "audit"): _AUDIT,
    ("market-unit", "create-market-unit"): Rule(("assets:write",), _POL_041),
    **{("market-unit", f"{verb}-market-unit"): Rule(("assets:write",), _POL_041,
                                                    hidden="first")
       for verb in ("update", "delete", "recompute")},
    ("market-unit-membership", "read"): _READ,
    ("market-unit-membership", "audit"): _AUDIT,
    ("market-unit-membership", "create-market-unit-membership"): Rule(("assets:write",),
                                                                      _POL_041),
    ("market-unit-membership", "end-market-unit-membership"): Rule(("assets:write",), _POL_041,
                                                                   hidden="first"),
    ("asset", Action.SUSPEND): Rule(("assets:write",), _POL_002, hidden="first"),
    ("consent", "read"): _READ,  # POL-081 (READERS)
    ("consent", "audit"): _AUDIT,
    ("consent", "create-consent"): Rule(("assets:write",), _POL_080),
    ("consent", "update-consent"): Rule(("assets:write",), _POL_080, hidden="first"),
    ("consent", "revoke-consent"): Rule(("assets:write",), _POL_084, hidden="refused"),
    ("consent", "delete-consent"): Rule(("assets:write",), _POL_083, hidden="first"),
    ("switch-request", "read"): Rule(("assets:read",), _POL_071, hidden="refused"),
    ("switch-request", Action.REQUEST_SWITCH): Rule(("assets:write",), _POL_072),
    ("switch-request", Action.OBJECT_SWITCH): Rule(("assets:write",), _POL_073),
    ("switch-request", Action.WITHDRAW_SWITCH): Rule(("assets:write",), _POL_074),
    ("switch-request", Action.TRANSFER_SWITCH): Rule(("switch:transfer",), _POL_075),
    # qualification: create, update (PUT), transition; `reassess` is the node's move of an
    # application after a material change of its unit, for the FSP (POL-060)
    **{(kind, f"{verb}-{kind}"): Rule((scope,), checks, hidden="first")
       for kind, scope, checks, verbs in (
           ("qualification-application", "assets:write", _POL_060,
            ("create", "update", "transition", "reassess")),
           ("qualification", "validation:write", _POL_061, ("create", "update", "transition")),
           # the operator's node, after a verified unit switch (POL-096), for both kinds
           ("qualification", "validation:write", (*_POL_061, *_POL_096), ("follow-switch",)),
           ("grid-prequalification", "validation:write", _POL_062,
            ("create", "update", "transition")),
           ("grid-prequalification", "validation:write", (*_POL_062, *_POL_096),
            ("follow-switch",)))
       for verb in verbs},
    # a node checking a notice reads the dispute with its own token (disputes:notify)
    ("dispute", "read"): Rule(("assets:read|disputes:notify",), _POL_086, hidden="refused"),
    ("dispute", "audit"): Rule(("audit:read",), _POL_086, hidden="refused"),
    ("dispute", "create-dispute"): Rule(("assets:read",), _POL_085),
    ("dispute", "transition-dispute"): Rule(("assets:read",), _POL_089, hidden="refused"),
    ("dispute", "delete-dispute"): Rule(("assets:read",), _POL_089_KEEP, hidden="first"),
    # the holder's node marks its record on a verified notice (POL-087)
    ("asset", "dispute-status"): Rule(("disputes:notify",)),
    **{(kind, f"delete-{kind}"): Rule(("assets:read",), _POL_065, hidden="first")
       for kind in ("qualification-application", "qualification", "grid-prequalification")},
    **{(kind, action): rule for kind in ("qualification-application", "qualification",
                                          "grid-prequalification")
       for action, rule in (("read", _READ), ("audit", _AUDIT))},
}

READERS.update(READERS_QUALIFICATION)


def authorise(caller: Caller, kind: str, action: str, facts: Facts | None = None, *,
              new: bool = False) -> None:
    """May `caller` do `action` on a record of `kind` (described by `facts`)? Raises
    `Denied` (the rule's ID) or, for a record it may not see, `NotFound`. `new`: the facts
    are of the record as the caller would write it (nothing to hide; a refusal says why)."""
    rule = POLICY[(kind, action)]
    facts = facts or Facts(caller.organisation_id)

    def hide() -> None:
        if not new:
            raise KINDS[kind].not_found()  # the kind's own "no such record"

    if rule.hidden == "first" and not may_read(caller, facts, kind):
        hide()
    require_scopes(caller, rule.scopes)
    for check in rule.checks:
        if not check.holds(caller, facts):
            if rule.hidden == "refused" and not may_read(caller, facts, kind):
                hide()
            raise _deny(check.rule, check.message(caller))
    if rule.hidden == "always" and not may_read(caller, facts, kind):
        hide()


def check_placement(caller: Caller, held: frozenset[str]) -> None:
    """POL-030: a node stores and changes records only for the organisations it holds: its
    operator, and those the trust directory lists as hosted by its operator (or, on a
    static-token development node, its configured list; node/placement.py). Checked
    before the body is read, so a write for another member's node stores nothing. Callers
    without an asset-holding role write no assets anywhere; POL-002 refuses them."""
    if caller.organisation_id not in held and caller.roles & ASSET_OWNER_ROLES:
        raise Denied(
            "POL-030",
            "This node does not hold records of your organisation: write to your own node, "
            "or to a node whose operator the trust directory lists as hosting you.",
            {"organisation_id": caller.organisation_id},
        )


def check_revalidation(caller: Caller, held: frozenset[str]) -> None:
    """POL-095: re-validating the node's stored assets against the shapes in force (data
    quality) is asked by a member the node holds, with assets:write (it writes no record,
    only the node's findings, which are read as counts by rule through reports)."""
    require_scope(caller, "assets:write")
    if caller.organisation_id not in held:
        raise Denied("POL-095", "Only a member this node holds re-validates its records.",
                     {"organisation_id": caller.organisation_id})


def check_deregistration_enquiry(caller: Caller) -> None:
    """POL-007: only the trust framework, de-registering an organisation, asks a node
    how many active records that organisation still has."""
    require_scope(caller, "trust:deregistration")


# ---------------------------------------------------------------- federation (issue 4)
# Appended by the federation work: dataset restriction for SPARQL and aggregate access.

RECORD_GRAPH_PREFIX = "https://id.fmar.uk/"
# POL-011: records every member reads, also in SPARQL: (graph name prefix, the class one of
# its subjects has): asset categories and product versions.
PUBLIC_RECORDS = ((CATEGORY_BASE, str(FMAR.AssetCategory)),
                  (PRODUCT_VERSION_BASE, str(FMAR.Product)),
                  (EQUIVALENCE_BASE, str(FMAR.ProductEquivalence)))
SMALL_CELL_THRESHOLD = 5


def sparql_read_scope(caller: Caller) -> ReadScope:
    """POL-011: a SPARQL query (on a node, or relayed by the federation) sees exactly the
    record graphs the caller may read under POL-003 (a record graph is readable when its
    `fmar:organisation` is the caller's, its `fmar:dnoConnection` is one of the caller's
    licence areas, or the caller is NESO), plus the public asset-category records; never
    history versions or the audit log. Needs `sparql:query` (and `assets:read`, POL-003)."""
    require_scope(caller, "sparql:query")
    return asset_read_scope(caller)


# POL-082: record graphs no query ever sees, whoever asks (NESO's "everything" included):
# consumer consents, whose details never leave the FSP's node.
PRIVATE_RECORD_PREFIXES = (RECORD_GRAPH_PREFIX + "consent/",)


def is_queryable_graph(name: str) -> bool:
    """POL-011: only record graphs are ever part of a query dataset (never `urn:fmar:…`
    history versions or the audit log); POL-082: never a consent's."""
    return name.startswith(RECORD_GRAPH_PREFIX) and not name.startswith(
        PRIVATE_RECORD_PREFIXES)


def record_graph_filter(g: str) -> str:
    """POL-011/POL-082 as a SPARQL filter on a graph variable: a record graph, not a
    private one. One regular expression, so the graph's name is decoded once per match:
    on an on-disk store each `STR(?g)` is a lookup, and `STRSTARTS(…) && !STRSTARTS(…)`
    decoded it twice (docs/performance.md, "The POL-011 condition with one decode")."""
    return f'FILTER(REGEX(STR({g}), "{_RECORD_GRAPH_PATTERN}"))'


_SAFE_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-")


def _literal(text: str) -> str:
    """`text` matched literally by a regex written in a SPARQL string (its backslashes
    doubled), in the dialect SPARQL and its servers share."""
    assert set(text) <= _SAFE_PREFIX_CHARS, text
    return text.replace(".", "\\\\.").replace("-", "\\\\-")


def _not_starting_with(suffixes: frozenset[str]) -> str | None:
    """A regex for any rest of a string that starts with none of `suffixes` (a negative
    lookahead, which neither Rust's regex nor XPath's has, spelt out character by
    character); None when nothing can follow ("" is among them)."""
    if "" in suffixes:
        return None
    if not suffixes:
        return ""
    firsts = sorted({s[0] for s in suffixes})
    ways = ["$", "[^" + "".join(_literal(c) for c in firsts) + "]"]
    for c in firsts:
        rest = _not_starting_with(frozenset(s[1:] for s in suffixes if s[0] == c))
        if rest is not None:
            ways.append(_literal(c) + rest)
    return "(" + "|".join(ways) + ")"


assert all(p.startswith(RECORD_GRAPH_PREFIX) and p != RECORD_GRAPH_PREFIX
           for p in PRIVATE_RECORD_PREFIXES)
_RECORD_GRAPH_PATTERN = "^" + _literal(RECORD_GRAPH_PREFIX) + (_not_starting_with(frozenset(
    p.removeprefix(RECORD_GRAPH_PREFIX) for p in PRIVATE_RECORD_PREFIXES)) or "")


# Published capacity bands (kW): the only values an aggregate-only caller may filter
# capacity on (SDC-006). A band is [edge, next edge); the last is open-ended.
CAPACITY_BANDS_KW = (0.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0)


@dataclass(frozen=True)
class DisclosureControl:
    """Statistical disclosure control of the aggregates an aggregate-only caller receives
    (docs/disclosure.md). Applied by each node to its own answer, before it leaves the node
    (node/query/aggregates.py `controlled_result`), and checked again on the merge."""

    threshold: int = SMALL_CELL_THRESHOLD  # SDC-001: fewer assets than this: suppressed
    dominance_p: float = 10.0  # SDC-002: p% rule on the capacity sum
    count_base: int = 5  # SDC-004: counts randomly rounded to a multiple of this
    sum_base_kw: float = 1000.0  # SDC-004: capacity sums randomly rounded to whole MW
    capacity_bands_kw: tuple[float, ...] = CAPACITY_BANDS_KW  # SDC-006
    # SDC-003: secondary suppression over every line of the table and its margins;
    # SDC-005: no minimum or maximum (an extreme is one asset's exact value).

    def as_json(self) -> dict:
        return {"method": "threshold, p% dominance, secondary suppression, keyed random "
                "rounding (docs/disclosure.md)",
                "rules": ["SDC-001", "SDC-002", "SDC-003", "SDC-004", "SDC-005", "SDC-006"],
                "threshold": self.threshold, "dominance_p": self.dominance_p,
                "count_base": self.count_base, "sum_base_kw": self.sum_base_kw,
                "capacity_bands_kw": list(self.capacity_bands_kw)}


@dataclass(frozen=True)
class AggregateScope:
    """What a caller's aggregates cover, and the disclosure control they get (if any)."""

    scope: ReadScope
    disclosure: DisclosureControl | None = None


def aggregate_read_scope(caller: Caller) -> AggregateScope:
    """POL-012: aggregates (counts, capacity sums by group) need `sparql:query`. A caller
    with `assets:read` aggregates exactly over the records it may read (POL-003: it could
    read those rows anyway). A caller with aggregate-only access (the regulator) aggregates
    over all assets, and POL-013 applies: its aggregates are under statistical disclosure
    control (SDC-001..006, `DisclosureControl`), applied at the node before anything
    leaves it."""
    require_scope(caller, "sparql:query")
    if "assets:read" in caller.scopes:
        return AggregateScope(asset_read_scope(caller))
    if caller.has_role("Regulator"):
        return AggregateScope(ReadScope(True, frozenset(), frozenset()), DisclosureControl())
    raise _deny("POL-012", "Aggregates need assets:read, or the regulator's aggregate access.")


def check_disclosure_filter(control: DisclosureControl, min_capacity: float | None,
                            max_capacity: float | None) -> None:
    """SDC-006: under disclosure control, capacity filters take only published band edges,
    so two answers cannot differ by one asset placed just inside a free threshold."""
    bad = [v for v in (min_capacity, max_capacity)
           if v is not None and v not in control.capacity_bands_kw]
    if bad:
        raise Denied("SDC-006", "Aggregate-only access filters capacity on the "
                     "published band edges only.",
                     {"value": bad[0], "capacity_bands_kw": list(control.capacity_bands_kw)})


def check_federation_query(caller: Caller) -> None:
    """POL-014: a node relays a federated query only for a caller holding
    `federation:query`; each node it calls then applies the caller's own rights."""
    if "federation:query" not in caller.scopes:
        raise Denied("POL-014", "A federated query needs the scope 'federation:query'.",
                     {"missing_scopes": ["federation:query"]})


def check_duplicate_enquiry(caller: Caller) -> None:
    """POL-015: asking whether an asset with the same keyed MPAN + serial hash exists
    is for callers that register assets (`assets:write`), and for nodes checking a
    registration (`duplicates:query`, a node's own token); the answer names only the
    holder organisation of a match, never the record or its values."""
    if "duplicates:query" in caller.scopes:
        return
    require_scope(caller, "assets:write")


# ---------------------------------------------------------------- relayed callers (issue 7)

# A relayed token (RFC 8693 `act`: a node exchanged its caller's token) reads and queries,
# nothing else. These POSTs are queries, not writes (/query/report: a report's aggregates).
RELAYED_QUERY_POSTS = frozenset({"/sparql", "/federation/sparql", "/query/report"})


def is_read_route(method: str, path: str) -> bool:
    """A route that only reads or queries: GET/HEAD outside /admin, and the SPARQL query
    POSTs. The one route classification of relayed (POL-021) and unbound (AUTH-047) tokens."""
    if method in ("GET", "HEAD") and not path.startswith("/admin"):
        return True
    return method == "POST" and path in RELAYED_QUERY_POSTS


def check_relayed_route(caller: Caller, method: str, path: str) -> None:
    """POL-021: a token carrying `act` (a node relaying for its caller) is accepted only on
    read and federation query routes: GET/HEAD outside /admin, and the SPARQL query POSTs.
    Every write, status change and admin route refuses it, whatever its scopes."""
    if caller.delegation is not None:  # a platform acting for the organisation: no relay
        check_delegated_route(caller, path)
        return
    if not caller.relayed or is_read_route(method, path):
        return
    raise _deny("POL-021", "A relayed token (one a node exchanged for its caller) only reads: "
                "writes, status changes and admin routes need the caller's own token.")


# ---------------------------------------------------------------- platforms (UC-05.04)

def check_delegated_route(caller: Caller, path: str) -> None:
    """POL-090: a platform acting for an FSP under a delegation (the token's `delegation`
    claim, checked by the verifier: AUTH-056..058) uses the routes its delegated scopes
    allow, as the FSP, except the node's /admin routes, which stay the FSP's own. Every
    other check (POL-001 scopes, POL-002 the FSP's own records, POL-030 placement) applies
    unchanged, so a platform never gains a right the FSP did not delegate."""
    if path.startswith("/admin"):
        raise _deny("POL-090", f"A platform acting under delegation {caller.delegation} "
                    "does not use the node's admin routes.")


# ---------------------------------------------------------------- unbound tokens (issue 7)

# A portal node (FMAR_UNBOUND_USER_TOKENS=1) takes people's short-lived tokens without a
# certificate binding on the read routes only, or on the routes of FMAR_UNBOUND_ROUTES.
READ_ROUTES = "read"


def parse_unbound_routes(text: str) -> frozenset[str]:
    """FMAR_UNBOUND_ROUTES: comma-separated `read` (the read routes of `is_read_route`) and
    `METHOD /path` items, a path ending in `*` naming every path that starts with it, and a
    `/*/` segment naming any one segment, e.g. `read, POST /assets, PATCH /assets/*,
    POST /products/*/approve`. Routes under /admin cannot be listed."""
    routes = set()
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        if item.lower() == READ_ROUTES:
            routes.add(READ_ROUTES)
            continue
        method, _, path = item.partition(" ")
        path = path.strip()
        inner = path[:-1].replace("/*/", "/")
        if not method.isalpha() or not path.startswith("/") or " " in path or "*" in inner:
            raise ValueError(f"FMAR_UNBOUND_ROUTES: {item!r} is not `read` or `METHOD /path`")
        if path.startswith("/admin"):
            raise ValueError(f"FMAR_UNBOUND_ROUTES: {item!r}: admin routes take bound tokens "
                             "only")
        routes.add(f"{method.upper()} {path}")
    return frozenset(routes)


def _route_listed(routes: frozenset[str], method: str, path: str) -> bool:
    if READ_ROUTES in routes and is_read_route(method, path):
        return True
    for route in routes - {READ_ROUTES}:
        listed_method, _, listed = route.partition(" ")
        if listed_method == method and _path_listed(listed, path):
            return True
    return False


def _path_listed(listed: str, path: str) -> bool:
    """`listed` names `path`: equal, a trailing `*` (any rest), or `/*/` (one segment)."""
    if "/*/" in listed:
        head, _, tail = listed.partition("/*/")
        if not path.startswith(head + "/"):
            return False
        segment, slash, rest = path[len(head) + 1:].partition("/")
        return bool(segment) and bool(slash) and _path_listed("/" + tail, "/" + rest)
    return path == listed or (listed.endswith("*") and path.startswith(listed[:-1]))


def check_unbound_route(caller: Caller, method: str, path: str,
                        routes: frozenset[str] | None = None) -> None:
    """AUTH-047: a person's token accepted without a certificate binding (a portal node's,
    `caller.unbound`) is used only on the read routes, or on `routes` when the node lists
    them (FMAR_UNBOUND_ROUTES); never on an admin route. Writes, status changes and admin
    routes need a certificate-bound token."""
    if not caller.unbound:
        return
    if not path.startswith("/admin") and _route_listed(routes or frozenset({READ_ROUTES}),
                                                       method, path):
        return
    raise Unauthenticated("AUTH-047", "This route needs a certificate-bound token (RFC 8705); "
                          "a portal's unbound token only reads here.",
                          {"method": method, "path": path},
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
