"""Consumer consent (UC-05.05, issue 17): a consumer's consent to an FSP for a connection
point, a record kind on the generic record service.

- held on the FSP's node, and read only by the FSP (POL-081): never by NESO or a DNO,
  never relayed, never in a SPARQL dataset (POL-082), never deleted (POL-083);
- states the Consent Reference ID, the consumer (the FSP's own reference), the MPAN, the
  scope (registration, data sharing, switching), ValidFrom/ValidTo and the evidence
  reference; shapes/consent.ttl (CONS-VAL-001..019), unique reference (CONS-VAL-020), a
  revoked consent is final (CONS-VAL-021);
- `covers` is the check the node makes before accepting an action that needs consent:
  registering an asset at a connection point that needs it (`require_for_asset`,
  CONS-VAL-022..027) and taking over records in a switch (`require_for_switch`,
  CONS-VAL-028). Which connection points need consent is the FSP's node setting
  `FMAR_CONSENT_CATEGORIES` / `FMAR_CONSENT_MAX_KW` (`ConsentPolicy`);
- revocation (`revoke`: the FSP through the API, or the consent platform's signed webhook)
  marks the consent Revoked, suspends every asset registered under it ("Suspended –
  Consent Revoked"), and recomputes their market units, whose material change event tells
  the system operators. Nothing is deleted: history keeps every version.

What leaves the node is only whether a valid consent exists: the assets' registration
status, and the units' capability.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyoxigraph as ox

from common.errors import BadInput, Conflict, Invalid
from common.vocab import FMAR, ID_BASE, ORG_BASE, SHAPES_DIR, code_iri
from node import ntriples
from node.asset_fields import Field, FieldTable
from node.identity import Caller
from node.inputs import Properties, properties_from_json
from node.kinds.asset_records import AssetRecord
from node.records.kind import Facts, RecordKind
from node.records.record import Record
from node.records.service import Records
from node.records.unit import UnitOfWork

CONSENT_BASE = ID_BASE + "consent/"
SHAPES_FILE = SHAPES_DIR / "consent.ttl"
ACTIVE, REVOKED = "Active", "Revoked"
SCOPES = {"registration": "ScopeRegistration", "data-sharing": "ScopeDataSharing",
          "switching": "ScopeSwitching"}

FIELDS = (
    Field("ConsentReference", FMAR.consentReference, "string"),
    Field("OrganisationId", FMAR.organisation, "org"),
    Field("ConsumerReference", FMAR.consumerReference, "string"),
    Field("MPAN", FMAR.consentMPAN, "string"),
    Field("ScopeRegistration", FMAR.scopeRegistration, "boolean"),
    Field("ScopeDataSharing", FMAR.scopeDataSharing, "boolean"),
    Field("ScopeSwitching", FMAR.scopeSwitching, "boolean"),
    Field("ValidFrom", FMAR.validFrom, "date"),
    Field("ValidTo", FMAR.validTo, "date"),
    Field("EvidenceReference", FMAR.evidenceReference, "string"),
    Field("ConsentPlatform", FMAR.consentPlatform, "string"),
    # the state, changed only by a revocation (`Consents.revoke`)
    Field("ConsentStatus", FMAR.consentStatus, "code:ConsentStatus"),
    Field("RevokedOn", FMAR.revokedOn, "date"),
    Field("RevocationReason", FMAR.revocationReason, "string"),
    Field("RevokedVia", FMAR.revokedVia, "string"),
)
STATE = ("ConsentStatus", "RevokedOn", "RevocationReason", "RevokedVia")
STATE_FIELDS = ("ConsentId", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("CONS", FIELDS, STATE_FIELDS, "ConsentId", "A consent",
                   "consent field names", "the fields are " + ", ".join(
                       f.name for f in FIELDS if f.name not in STATE))

def _facts(record: Record) -> Facts:
    """Its FSP, and the consent platform that may revoke it (POL-084)."""
    return Facts((record.value(FMAR.organisation) or "").removeprefix(ORG_BASE),
                 operator=record.field("ConsentPlatform"))


CONSENT = RecordKind(
    name="consent", label="consent", code="CONS", iri_base=CONSENT_BASE,
    rdf_class=FMAR.Consent, table=TABLE, shapes=(SHAPES_FILE,),
    rules=("CONS-VAL-*", "CONS-IN-*", "CONS-404", "CONS-412", "CONS-428",
           "POL-080", "POL-081", "POL-082", "POL-083", "POL-084"),
    held_by="the FSP's node (never leaves it)",
    area_predicate=None, facts=_facts,
)


@dataclass(frozen=True)
class ConsentPolicy:
    """Which connection points need a consent before an asset is registered there (or
    taken over in a switch): assets of the categories the FSP lists (the technologies it
    installs at domestic and small-business premises, e.g. EV_CHARGER, HEAT_PUMP) with a
    rated capacity of at most `max_kw` (a small connection). The FSP's node settings
    FMAR_CONSENT_CATEGORIES (default: none, so a node's existing registrations and bulk
    books keep working until its FSP opts in) and FMAR_CONSENT_MAX_KW (default 100). An
    asset that names a ConsentReference is checked whatever its category."""

    categories: frozenset[str] = frozenset()
    max_kw: float = 100.0

    def needs_consent(self, category: str | None, rated_kw: float | None) -> bool:
        return category in self.categories and (rated_kw is None or rated_kw <= self.max_kw)


def _value(props: Properties, predicate: Any) -> str | None:
    """One property's IRI or lexical form, from its N-Triples term."""
    key = str(predicate)  # once, not per property (bulk uploads call this per row)
    term = next((o for p, o in props if p == key), None)
    return None if term is None else _lexical(term)


def _lexical(term: str) -> str:
    if term.startswith("<"):
        return term[1:-1]
    text: str = json.loads(term[:term.rfind('"') + 1])  # written by ntriples.string
    return text


# what the registration check reads of every row of a bulk upload, found in one pass
_CATEGORY, _REFERENCE, _RATED = (str(FMAR.assetCategory), str(FMAR.consentReference),
                                 str(FMAR.ratedCapacity))
_CHECKED = frozenset({_CATEGORY, _REFERENCE, _RATED})


def _kw(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Revoked:
    """What a revocation did: the consent, and the assets it suspended."""

    consent: Record
    suspended: tuple[str, ...]


class Consents(Records):
    def __init__(self, unit: UnitOfWork, policy: ConsentPolicy | None = None):
        super().__init__(unit, CONSENT)
        self.policy = policy or ConsentPolicy()
        # (asset IRI, why) -> suspend the asset ("Suspended – Consent Revoked"); set by the
        # register (node/register.py), which knows the assets and their market units
        self.suspend: Callable[[str, str], None] | None = None

    # ------------------------------------------------------------ the record

    def properties(self, body: Any, *, replacing: bool = False) -> Properties:
        """CONS-IN-004: the state (ConsentStatus, RevokedOn, ...) is kept by the node and
        changed only by a revocation."""
        if isinstance(body, dict):
            sent = sorted(set(body) & set(STATE))
            if sent:
                raise BadInput("CONS-IN-004", "ConsentStatus and the revocation fields are "
                               "kept by the node: revoke a consent with POST "
                               "/consents/{ConsentId}/revocation.", {"fields": sent})
            # CONS-IN-002: a text field takes text (a reference is never a number or true)
            typed = sorted(f.name for f in FIELDS if f.kind in ("string", "org")
                           and f.name in body and body[f.name] is not None
                           and not isinstance(body[f.name], (str, dict, list)))
            if typed:
                raise BadInput("CONS-IN-002", "These fields take text: "
                               + ", ".join(typed) + ".", {"fields": typed})
        return properties_from_json(body, allow_asset_id=replacing, table=self.table)

    def create(self, body: Any, caller: Caller) -> Record:
        return super().create(_with_organisation(body, caller), caller)

    def replace(self, record_id: str, body: Any, caller: Caller,
                if_match: str | None) -> Record:
        return super().replace(record_id, _with_organisation(body, caller), caller, if_match)

    def kept(self, caller: Caller, props: Properties, current: Record | None) -> Properties:
        """A new consent is Active; a change (PUT) keeps the state as it is."""
        if any(p == str(FMAR.consentStatus) for p, _ in props):
            return []  # a revocation sets it (set_fields)
        if current is None:
            return [(str(FMAR.consentStatus), f"<{_status_iri(ACTIVE)}>")]
        state = {str(f.predicate) for f in FIELDS if f.name in STATE}
        return [(p, o) for p, o in current.properties() if p in state]

    def check(self, caller: Caller, candidate: Record, current: Record | None) -> None:
        """CONS-VAL-020: one consent per Consent Reference ID on this node. CONS-VAL-021: a
        revoked consent is final: it is not changed again."""
        if current is not None and current.field("ConsentStatus") == REVOKED:
            raise Conflict("CONS-VAL-021", "This consent was revoked: a revocation is final. "
                           "Record the consumer's new consent as a new consent.")
        reference = candidate.field("ConsentReference")
        for other in self.by_reference(reference):
            if other.iri != candidate.iri:
                raise Conflict("CONS-VAL-020", f"Consent reference '{reference}' is already "
                               "recorded on this node.", {"ConsentId": other.record_id})

    def by_reference(self, reference: str) -> list[Record]:
        """The consents on this node with this Consent Reference ID (at most one)."""
        rows = self.store.select(
            f"SELECT ?c WHERE {{ GRAPH ?c {{ ?c a <{FMAR.Consent}> ; "
            f"<{FMAR.consentReference}> {ntriples.string(reference)} }} }}")
        found = [self.kind.read(r["c"].value, self.store.triples(r["c"].value)) for r in rows]
        return [r for r in found if r is not None]

    # ------------------------------------------------------------ the checks

    def covers(self, organisation: str, reference: str | None, mpans: Iterable[str],
               scope: str, on: date) -> Record:
        """The consent `reference` if it is valid and covers `scope` at one of `mpans` on
        `on` for `organisation`; else the refusal (CONS-VAL-022..027), which never says
        more about another organisation's consents than that none is found."""
        if not reference:
            raise Invalid("CONS-VAL-022", "This connection point needs the consumer's "
                          "consent: give the Consent Reference ID (ConsentReference) of a "
                          "consent recorded on this node.", {"scope": scope})
        found = [c for c in self.by_reference(reference)
                 if c.facts.organisation == organisation]
        if not found:
            raise Invalid("CONS-VAL-023", f"No consent '{reference}' of {organisation} is "
                          "recorded on this node: record it first (POST /consents).",
                          {"ConsentReference": reference})
        consent = found[0]
        if consent.field("ConsentStatus") == REVOKED:
            raise Invalid("CONS-VAL-024", f"Consent '{reference}' was revoked on "
                          f"{consent.field('RevokedOn')}.", {"ConsentReference": reference})
        start, end = consent.field("ValidFrom"), consent.field("ValidTo")
        if not (start <= on.isoformat() and (end is None or on.isoformat() <= end)):
            raise Invalid("CONS-VAL-025", f"Consent '{reference}' is not in force on {on}: it "
                          f"covers {start} to {end or 'open'}.",
                          {"ConsentReference": reference, "ValidFrom": start, "ValidTo": end})
        wanted = sorted({m for m in mpans if m})
        if consent.field("MPAN") not in wanted:
            raise Invalid("CONS-VAL-026", f"Consent '{reference}' is for another connection "
                          "point: its MPAN is none of the asset's.",
                          {"ConsentReference": reference, "MPANs": wanted})
        if consent.field(SCOPES[scope]) is not True:
            raise Invalid("CONS-VAL-027", f"Consent '{reference}' does not cover {scope} "
                          f"({SCOPES[scope]} is not true).", {"ConsentReference": reference})
        return consent

    def require_for_asset(self, props: Properties, organisation: str, on: date) -> None:
        """An asset about to be registered: if its connection point needs consent (the
        node's ConsentPolicy), a valid consent covering registration at its MPAN."""
        terms: dict[str, str] = {}
        for predicate, term in props:
            if predicate in _CHECKED:
                terms.setdefault(predicate, term)  # the first, as `_value` takes
        category = _lexical(terms[_CATEGORY]) if _CATEGORY in terms else None
        category = category.rsplit("/", 1)[-1] if category else None
        reference = _lexical(terms[_REFERENCE]) if _REFERENCE in terms else None
        if reference is None and not self.policy.needs_consent(
                category, _kw(_lexical(terms[_RATED]) if _RATED in terms else None)):
            return
        self.covers(organisation, reference,
                    [_value(props, FMAR.importMPAN) or "", _value(props, FMAR.exportMPAN) or ""],
                    "registration", on)

    def require_for_switch(self, organisation: str, asset: AssetRecord, on: date) -> None:
        """CONS-VAL-028: an asset arriving in a switch at a connection point that needs
        consent comes with a valid consent of the gaining FSP covering switching at its
        MPAN (found by the asset's MPAN: the losing FSP's reference is not ours)."""
        if not self.policy.needs_consent(asset.code(FMAR.assetCategory),
                                         _kw(asset.first(FMAR.ratedCapacity))):
            return
        mpans = {m for m in (asset.first(FMAR.importMPAN), asset.first(FMAR.exportMPAN)) if m}
        rows = self.store.select(
            f"SELECT ?c WHERE {{ GRAPH ?c {{ ?c a <{FMAR.Consent}> ; <{FMAR.consentMPAN}> ?m "
            f"}} FILTER (STR(?m) IN ({', '.join(ntriples.string(m) for m in sorted(mpans))}))"
            " }" if mpans else "SELECT ?c WHERE { FILTER(false) }")
        for row in rows:
            consent = self.kind.read(row["c"].value, self.store.triples(row["c"].value))
            if consent is None or consent.facts.organisation != organisation:
                continue
            try:
                self.covers(organisation, consent.field("ConsentReference"),
                            [str(m) for m in mpans], "switching", on)
                return
            except Invalid:
                continue
        raise Invalid("CONS-VAL-028", f"Asset {asset.asset_id} is at a connection point that "
                      f"needs consent: {organisation} holds no valid consent covering "
                      "switching at its MPAN on this node.", {"asset": asset.asset_id})

    # ------------------------------------------------------------ revocation

    def revoke(self, record_id: str, caller: Caller, reason: Any, via: str,
               on: date, if_match: str | None = "*") -> Revoked:
        """Mark the consent Revoked (a new version, audited, an event to its FSP), then
        suspend every asset of its FSP registered under it."""
        if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
            raise BadInput("CONS-IN-006", "Reason, when given, is a text of at most 1,000 "
                           "characters.")
        values: dict[str, Any] = {"ConsentStatus": REVOKED, "RevokedOn": on.isoformat(),
                                  "RevokedVia": via}
        if reason and reason.strip():
            values["RevocationReason"] = reason.strip()
        record = self.set_fields(record_id, caller, if_match, "revoke", values)
        suspended = []
        for asset_iri in self.assets_under(record):
            if self.suspend is not None:
                self.suspend(asset_iri, "consent revoked")
            suspended.append(asset_iri)
        return Revoked(record, tuple(suspended))

    def assets_under(self, consent: Record) -> list[str]:
        """The active assets of the consent's FSP registered under its reference."""
        org = consent.value(FMAR.organisation) or ""
        rows = self.store.select(
            f"SELECT ?a WHERE {{ GRAPH ?a {{ ?a a <{FMAR.Asset}> ; <{FMAR.organisation}> <{org}> ;"
            f" <{FMAR.consentReference}> "
            f"{ntriples.string(consent.field('ConsentReference'))} }} }}")
        return sorted(r["a"].value for r in rows)

    def of_reference(self, reference: str) -> Record:
        found = self.by_reference(reference)
        if not found:
            raise self.kind.not_found()
        return found[0]


def _with_organisation(body: Any, caller: Caller) -> Any:
    """OrganisationId defaults to the caller's organisation (as for assets)."""
    if isinstance(body, dict) and body.get("OrganisationId") in (None, ""):
        return {**body, "OrganisationId": caller.organisation_id}
    return body


def _status_iri(status: str) -> str:
    return str(code_iri("ConsentStatus", status))


def switch_guard(consents: Consents) -> Callable[[Any], None]:
    """A stage guard of node/switching/service.py: assets arriving in a switch (alone or
    as members of a market unit) need the gaining FSP's valid consent covering switching
    at their MPAN (CONS-VAL-028)."""

    def guard(bundle: Any) -> None:
        for item in bundle.records:
            if item.get("kind", bundle.kind) != "asset":
                continue
            triples = [q.triple for q in ox.parse(str(item["graph"]).encode(),
                                                  format=ox.RdfFormat.N_TRIPLES)]
            asset = AssetRecord.from_triples(str(item["iri"]), triples)
            if asset is not None:
                consents.require_for_switch(bundle.to_organisation, asset, date.today())

    return guard
