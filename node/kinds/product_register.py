"""What qualification reads from the product register (node/kinds/products.py): whether a
product IRI names a product, whether it is open, and who procures it.

The register is held on the market facilitator's node. A node reads it through one
`ProductRegister`, whose `fetch` gives every product version as the register's JSON
(`GET /products`): this node's own store when it holds the register (or is outside a
federation), else the facilitator's node, asked with this node's own token
(node/federation/products.py; products are public, so no caller's rights are lent). A
remote read is kept `ttl` seconds (FMAR_PRODUCT_REGISTER_TTL, 60 by default), so a change at the facilitator shows
here within a minute.

Refusals (rule IDs QUAL-VAL-030..039):

- QUAL-VAL-030: the IRI names no product in the register;
- QUAL-VAL-031: the product is not open: no `Active` version in force today or later
  (only proposed, retired, or its terms ended);
- QUAL-VAL-032: a system operator records an outcome of a product whose
  `ProcuringOrganisations` do not name it;
- QUAL-VAL-033: a DSO product whose `ProcuringAreas` are not given (no DNO records its
  outcomes), or a DNO none of whose licence areas procures it;
- QUAL-VAL-039: the register cannot be read (503; nothing is stored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from common.errors import Denied, Invalid, Unavailable
from node.identity import Caller
from node.kinds.products import PRODUCT_BASE

SYSTEM_OPERATOR_ROLES = frozenset({"NESO", "DNO", "IDNO"})
LICENCE_HOLDERS = frozenset({"DNO", "IDNO"})


class RegisterUnreachable(Exception):
    """The register could not be read (its node, or the directory naming it, is down)."""


@dataclass(frozen=True)
class ProductTerms:
    """One product as qualification sees it: the version open now (in force today, or the
    next to start), or the latest version when none is open."""

    code: str
    name: str
    operator: str  # the register's SystemOperator: NESO or DNO
    areas: tuple[str, ...]  # ProcuringAreas
    organisations: tuple[str, ...]  # ProcuringOrganisations
    open: bool
    statuses: tuple[str, ...]  # of every version, for the refusal
    version: str  # the ProductVersionId these terms come from

    @property
    def iri(self) -> str:
        return PRODUCT_BASE + self.code

    def procured_by(self, caller: Caller) -> bool:
        """Whether `caller` is one of the system operators that procure it."""
        if self.organisations and caller.organisation_id not in self.organisations:
            return False
        if self.operator == "DNO":
            return bool(caller.roles & LICENCE_HOLDERS and set(self.areas) & caller.dno_areas)
        return caller.has_role("NESO")

    def as_json(self) -> dict[str, Any]:
        return {"id": self.iri, "code": self.code, "label": self.name,
                "operator": self.operator,
                "procuring_areas": list(self.areas),
                "procuring_organisations": list(self.organisations), "open": self.open,
                "version": self.version}


def _day(text: Any, default: date) -> date:
    try:
        return date.fromisoformat(str(text)) if text else default
    except ValueError:
        return default


def _split(text: Any) -> tuple[str, ...]:
    return tuple(str(text or "").split())


def terms_of(versions: Iterable[dict[str, Any]], today: date) -> dict[str, ProductTerms]:
    """Product code -> its terms, from every version of every product (register JSON)."""
    by_code: dict[str, list[dict[str, Any]]] = {}
    for version in versions:
        code = str(version.get("ProductCode") or "")
        if code:
            by_code.setdefault(code, []).append(version)
    found = {}
    for code, listed in by_code.items():
        listed.sort(key=lambda v: _day(v.get("ValidFrom"), date.min))
        open_ = [v for v in listed if v.get("Status") == "Active"
                 and _day(v.get("ValidTo"), date.max) >= today]
        current = [v for v in open_ if _day(v.get("ValidFrom"), date.min) <= today]
        chosen = (current or open_ or listed)[-1 if not open_ else 0]
        found[code] = ProductTerms(
            code=code, name=str(chosen.get("ProductName") or code),
            operator=str(chosen.get("SystemOperator") or ""),
            areas=_split(chosen.get("ProcuringAreas")),
            organisations=_split(chosen.get("ProcuringOrganisations")), open=bool(open_),
            statuses=tuple(sorted({str(v.get("Status")) for v in listed})),
            version=str(chosen.get("ProductVersionId") or ""))
    return found


class ProductRegister:
    """The product register as this node reads it: `fetch()` -> every product version
    (register JSON), kept `ttl` seconds. `use` points it at another source (the
    facilitator's node, node/api/services.py)."""

    def __init__(self, fetch: Callable[[], list[dict[str, Any]]], ttl: float = 0.0,
                 where: str = "this node's store"):
        self._lock = threading.Lock()
        self._kept: tuple[float, dict[str, ProductTerms]] | None = None
        self.use(fetch, ttl, where)

    def use(self, fetch: Callable[[], list[dict[str, Any]]], ttl: float, where: str) -> None:
        with self._lock:
            self.fetch, self.ttl, self.where, self._kept = fetch, ttl, where, None

    def terms(self) -> dict[str, ProductTerms]:
        """Every product's terms; QUAL-VAL-039 (503) when the register cannot be read."""
        with self._lock:
            kept = self._kept
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        try:
            versions = self.fetch()
        except RegisterUnreachable as exc:
            raise Unavailable("QUAL-VAL-039", "The product register (on the market "
                              "facilitator's node) cannot be read now, so the product cannot "
                              "be checked: nothing was stored; try again.",
                              {"register": self.where, "reason": str(exc)[:300]}) from None
        found = terms_of(versions, date.today())
        if self.ttl > 0:
            with self._lock:
                self._kept = (time.monotonic() + self.ttl, found)
        return found

    def open_product(self, iri: str) -> ProductTerms:
        """The terms of the product `iri` names, if it is in the register and open
        (QUAL-VAL-030, QUAL-VAL-031)."""
        code = iri.removeprefix(PRODUCT_BASE)
        found = self.terms().get(code) if iri.startswith(PRODUCT_BASE) else None
        if found is None:
            raise Invalid("QUAL-VAL-030", f"Product '{code}' is not in the product register "
                          "(GET /products on the market facilitator's node; "
                          "GET /qualification-products lists the open ones).",
                          {"product": iri})
        if not found.open:
            raise Invalid("QUAL-VAL-031", f"Product '{code}' is not open for qualification: "
                          "the register has no Active version of it in force today or later "
                          f"(its versions are {', '.join(found.statuses)}).",
                          {"product": iri, "statuses": list(found.statuses)})
        return found

    def procured_by(self, caller: Caller) -> list[ProductTerms]:
        """The open products `caller` procures (its qualification queue)."""
        return sorted((t for t in self.terms().values() if t.open and t.procured_by(caller)),
                      key=lambda t: t.code)


def check_procurer(terms: ProductTerms, caller: Caller) -> None:
    """Who may record an outcome of the product, per the register (QUAL-VAL-032/033).
    Callers that are not system operators are left to POL-061."""
    if terms.operator == "DNO" and not terms.areas:
        raise Denied("QUAL-VAL-033", f"The register names no licence area procuring the DSO "
                     f"product '{terms.code}' (ProcuringAreas), so no DNO records its "
                     "qualifications.", {"product": terms.iri})
    if not caller.roles & SYSTEM_OPERATOR_ROLES:
        return
    if terms.organisations and caller.organisation_id not in terms.organisations:
        raise Denied("QUAL-VAL-032", f"'{caller.organisation_id}' does not procure "
                     f"'{terms.code}': the register names its procurers "
                     f"(ProcuringOrganisations: {', '.join(terms.organisations)}).",
                     {"product": terms.iri, "procurers": list(terms.organisations)})
    if terms.operator == "DNO" and caller.roles & LICENCE_HOLDERS \
            and not set(terms.areas) & caller.dno_areas:
        raise Denied("QUAL-VAL-033", f"None of your licence areas procures '{terms.code}' "
                     f"(ProcuringAreas: {', '.join(terms.areas)}).",
                     {"product": terms.iri, "procuring_areas": list(terms.areas),
                      "your_areas": sorted(caller.dno_areas)})
