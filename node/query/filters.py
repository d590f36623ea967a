"""The REST filter form ("all BESS assets in DNO area X with a non-firm connection,
capacity ≥ 1 MW") turned into SPARQL safely.

No value from the request is ever spliced into query text as given: codes must match
`CODE_RE` (letters, digits, `_`, `-`, `.`; at most 64 characters) and become IRIs under
the FMAR code namespace; capacities must parse as finite numbers and are written back
with `repr(float)`; the limit is an int in range. Anything else is refused with
FED-IN-001..004 before a query is built. The policy restriction (POL-003/POL-011) is
part of every generated query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from common.http_errors import ApiError
from common.vocab import ASSET_BASE, FMAR, ORG_BASE, code_iri
from node import policy
from node.records import scope as records_scope

CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_LIMIT = 100_000

# filter name -> (predicate, code scheme)
CODE_FILTERS: dict[str, tuple[str, str]] = {
    "category": ("assetCategory", "AssetCategory"),
    "dno": ("dnoConnection", "DNOCode"),
    "connection_type": ("connectionType", "ConnectionType"),
    "connection_status": ("connectionStatus", "ConnectionStatus"),
    "gsp_group": ("gspGroup", "GSPGroup"),
    "registration_status": ("registrationStatus", "RegistrationStatus"),
    "validation_status": ("validationStatus", "ValidationStatus"),
}
# columns of the REST form's answer: variable -> (predicate, optional?)
COLUMNS: dict[str, tuple[str, bool]] = {
    "assetId": ("assetId", False),
    "name": ("assetName", True),
    "organisation": ("organisation", False),
    "category": ("assetCategory", False),
    "dno": ("dnoConnection", True),
    "connectionType": ("connectionType", True),
    "capacity": ("ratedCapacity", False),
}


def bad(code: str, message: str, value: Any = None) -> ApiError:
    details = {"value": str(value)[:100]} if value is not None else None
    return ApiError(400, code, message, details)


def check_code(name: str, value: object) -> str:
    if not isinstance(value, str) or not CODE_RE.match(value):
        raise bad("FED-IN-001", f"Filter '{name}' takes a code of letters, digits, _ - or . "
                  "(at most 64 characters).", value)
    return value


def check_number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad("FED-IN-002", f"Filter '{name}' takes a number (kW).", value) from None
    if not math.isfinite(number):
        raise bad("FED-IN-002", f"Filter '{name}' takes a finite number (kW).", value)
    return number


@dataclass(frozen=True)
class AssetFilter:
    codes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # filter -> allowed codes
    organisation: str | None = None
    min_capacity: float | None = None
    max_capacity: float | None = None
    limit: int = 10_000

    @classmethod
    def parse(cls, params: dict[str, Any]) -> AssetFilter:
        """From query parameters or JSON; list values (or comma lists) mean any of them."""
        known = set(CODE_FILTERS) | {"organisation", "min_capacity", "max_capacity", "limit"}
        unknown = sorted(k for k in params if k not in known and params[k] not in (None, ""))
        if unknown:
            raise bad("FED-IN-004", f"Unknown filter(s): {', '.join(unknown)}.",
                      ", ".join(unknown))
        codes: dict[str, tuple[str, ...]] = {}
        for name in CODE_FILTERS:
            raw = params.get(name)
            if raw in (None, "", []):
                continue
            values = raw if isinstance(raw, list) else str(raw).split(",")
            # a code given twice means it once (else VALUES would match, and count, twice)
            codes[name] = tuple(dict.fromkeys(
                check_code(name, v.strip() if isinstance(v, str) else v) for v in values))
        organisation = params.get("organisation") or None
        if organisation is not None:
            organisation = check_code("organisation", organisation)
        low = params.get("min_capacity")
        high = params.get("max_capacity")
        limit_raw = params.get("limit", 10_000)
        try:
            limit = int(limit_raw)
        except (TypeError, ValueError):
            raise bad("FED-IN-003", "limit takes a whole number.", limit_raw) from None
        if not 1 <= limit <= MAX_LIMIT:
            raise bad("FED-IN-003", f"limit is between 1 and {MAX_LIMIT}.", limit_raw)
        return cls(codes, organisation,
                   None if low in (None, "") else check_number("min_capacity", low),
                   None if high in (None, "") else check_number("max_capacity", high), limit)

    def as_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: ",".join(v) for k, v in self.codes.items()}
        if self.organisation:
            out["organisation"] = self.organisation
        if self.min_capacity is not None:
            out["min_capacity"] = self.min_capacity
        if self.max_capacity is not None:
            out["max_capacity"] = self.max_capacity
        out["limit"] = self.limit
        return out


def restriction_patterns(spec: AssetFilter, capacity_var: str = "?capacity") -> list[str]:
    """Patterns (inside GRAPH ?asset) for the filter values: a single code as a constant
    triple pattern (selective, evaluated first by Oxigraph), several through VALUES."""
    out = []
    for name, values in sorted(spec.codes.items(), key=lambda kv: len(kv[1])):
        prop, scheme = CODE_FILTERS[name]
        if len(values) == 1:
            out.append(f"?asset <{FMAR[prop]}> <{code_iri(scheme, values[0])}> .")
            continue
        var = f"?f_{name}"
        out.append(f"VALUES {var} {{ {' '.join(f'<{code_iri(scheme, v)}>' for v in values)} }}")
        out.append(f"?asset <{FMAR[prop]}> {var} .")
    if spec.organisation:
        out.insert(0, f"?asset <{FMAR.organisation}> <{ORG_BASE}{spec.organisation}> .")
    if spec.min_capacity is not None or spec.max_capacity is not None:
        out.append(f"?asset <{FMAR.ratedCapacity}> {capacity_var} .")
    if spec.min_capacity is not None:
        out.append(f"FILTER ({capacity_var} >= {spec.min_capacity!r})")
    if spec.max_capacity is not None:
        out.append(f"FILTER ({capacity_var} <= {spec.max_capacity!r})")
    return out


def scope_patterns(scope: policy.ReadScope) -> list[str]:
    """POL-003 as patterns inside GRAPH ?asset."""
    for code in (*scope.organisations, *scope.dno_areas):
        check_code("org", code)
    return records_scope.scope_patterns(scope)


def asset_graph_filter() -> str:
    """Only current asset records (history versions and the audit log are in the journal,
    not in the record store: node/records/journal.py); this cheap check on the
    already-bound name keeps out any other graph, e.g. a tombstone."""
    return f'FILTER (STRSTARTS(STR(?asset), "{ASSET_BASE}"))'


def select_query(spec: AssetFilter, scope: policy.ReadScope) -> str:
    # Most selective first (Oxigraph joins largely in the written order): the caller's
    # scope and the filter constants, then the columns, OPTIONAL ones last.
    patterns = scope_patterns(scope) + restriction_patterns(spec)
    patterns.append(f"?asset a <{FMAR.Asset}> .")
    for var, (prop, optional) in COLUMNS.items():
        if not optional and not (var == "capacity" and any("?capacity" in p for p in patterns)):
            patterns.append(f"?asset <{FMAR[prop]}> ?{var} .")
    for var, (prop, optional) in COLUMNS.items():
        if optional:
            patterns.append(f"OPTIONAL {{ ?asset <{FMAR[prop]}> ?{var} }}")
    variables = " ".join(f"?{v}" for v in ["asset", *COLUMNS])
    body = "\n    ".join(patterns)
    return (f"SELECT {variables} WHERE {{\n  GRAPH ?asset {{\n    {body}\n  }}\n  "
            f"{asset_graph_filter()}\n}} ORDER BY ?asset LIMIT {spec.limit + 1}")
