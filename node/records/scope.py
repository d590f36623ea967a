"""A caller's read scope (node/policy.py) as SPARQL patterns inside `GRAPH ?<var>`, for
any kind: the policy is part of every listing query, never a filter after it."""

from __future__ import annotations

import re

from rdflib import URIRef

from common.errors import BadInput
from common.vocab import FMAR, ORG_BASE, code_iri
from node.policy import ReadScope

_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _code(value: str) -> str:
    if not _CODE.match(value):  # from a token's claims: never spliced unless plain
        raise BadInput("FED-IN-001", "An organisation or area code of the caller is not "
                       "letters, digits, _ - or . (at most 64 characters).",
                       {"value": value[:100]})
    return value


def scope_patterns(scope: ReadScope, var: str = "asset",
                   organisation: URIRef = FMAR.organisation,
                   area: URIRef | None = FMAR.dnoConnection) -> list[str]:
    if scope.everything:
        return []
    triples = [f"?{var} <{organisation}> <{ORG_BASE}{_code(o)}> ."
               for o in sorted(scope.organisations)]
    if area is not None:
        triples += [f"?{var} <{area}> <{code_iri('DNOCode', _code(d))}> ."
                    for d in sorted(scope.dno_areas)]
    if not triples:
        return ["FILTER (false)"]
    if len(triples) == 1:  # a constant pattern: selective, evaluated first
        return [triples[0]]
    # each branch starts from its own constant pattern, and leaves out what an earlier
    # branch matched: a record of the caller's organisation in its own area once, not twice
    return [" UNION ".join(
        "{ " + triple + "".join(f" FILTER NOT EXISTS {{ {earlier} }}"
                                for earlier in triples[:i]) + " }"
        for i, triple in enumerate(triples))]
