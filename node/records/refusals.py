"""Violations to errors: the one mapping, for every kind and every write."""

from __future__ import annotations

from collections.abc import Sequence

from common.errors import BadInput, Denied, DomainError, Invalid, NotFound, Unavailable
from node.records.kind import RecordKind
from node.store import StoreError
from node.validation import Violation


def refusal(kind: RecordKind, violations: Sequence[Violation], *,
            by_rule: bool = False) -> DomainError:
    """The error for a record that failed its checks: a policy refusal (POL-*) is 403, an
    unreadable input (`<CODE>-IN-*`) 400 with its details, anything else 422
    `<CODE>-VAL` listing every violation. `by_rule`: a kind whose clients know each
    rule's own code (switch requests) answers 422 with the first violation's rule ID and
    message, still listing every violation."""
    first = violations[0]
    if first.rule.startswith("POL-"):
        return Denied(first.rule, first.message)
    if "-IN-" in first.rule:
        return BadInput(first.rule, first.message, first.details)
    listed = {"violations": [v.as_dict() for v in violations]}
    if by_rule:
        return Invalid(first.rule, first.message, listed)
    return Invalid(f"{kind.code}-VAL", f"The {kind.label} does not conform to the FMAR shapes.",
                   listed)


def violation_of(error: DomainError) -> Violation:
    """A refusal met while checking one row of many becomes that row's violation."""
    return Violation(error.code, error.message, details=error.details)


def not_found(kind: RecordKind) -> NotFound:
    return kind.not_found()


def store_unavailable(exc: StoreError) -> Unavailable:
    return Unavailable("STORE-001", "The node's store could not complete the write; "
                       "nothing of this write was stored.", {"error": str(exc)[:300]})
