"""The client's side: verify the provenance of an answer and show it (`fmar query
--provenance`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from node.provenance.verify import (
    ProvenanceRejected,
    SignedStep,
    check_answer,
    check_recipient,
    check_signers,
    verify_record,
)


def names_of(cert: x509.Certificate) -> set[str]:
    """The directory URLs a certificate stands for (its SAN URIs and its member)."""
    from trust.client.certificates import member_of, san_uris

    try:
        member = member_of(cert)
    except (TypeError, ValueError):
        member = None
    return {*san_uris(cert), *([member] if member else [])}


def verify_answer(answer: dict[str, Any], anchors: Sequence[x509.Certificate],
                  me: set[str], nodes: Mapping[str, str],
                  via: str | None = None, revoked: Collection[int] | None = None
                  ) -> list[list[SignedStep]]:
    """Every record of the answer verified, and the answer checked against them: one record
    from the relaying node `via`, or one per answering node; `nodes`: node URL -> its
    directory URL (from the directory). Raises `ProvenanceRejected`; an answer with no
    record at all is PROV-011."""
    relayed = via is not None
    records = answer.get("provenance")
    if not isinstance(records, list) or not records or (relayed and len(records) != 1):
        raise ProvenanceRejected("PROV-011", "The answer carries no provenance record.")
    checked = []
    vouched = {str(s.step.get("fmar:node")) for record in records
               for s in _origins(record)}
    answered = {n["node"] for n in answer.get("nodes", []) if n.get("status") == "answered"}
    rows_of = {b.get("_node", {}).get("value") for b in
               answer.get("results", {}).get("bindings", [])} - {None}
    if (answered | rows_of) - vouched:
        raise ProvenanceRejected("PROV-011", "Nodes answered without a provenance record: "
                                 f"{', '.join(sorted((answered | rows_of) - vouched))}.")
    for record in records:
        steps = verify_record(record, anchors, revoked)
        check_recipient(steps, me)
        check_signers(steps, nodes, nodes.get(via or "", "?") if relayed else None)
        if relayed:
            check_answer(steps, answer)
        elif "cells" not in answer:  # aggregate cells are merged here: no node signed them
            origin = next(s.step.get("fmar:node") for s in steps
                          if s.step.get("type") == "origin")
            check_answer(steps, answer, str(origin))
        checked.append(steps)
    return checked


def _origins(record: Any) -> list[Any]:
    """The origin steps of a record, decoded but not verified (what it claims to cover;
    `verify_record` checks the claim)."""
    from node.provenance.record import decode_step

    found: list[Any] = []

    def walk(items: Any) -> None:
        for item in items[:-1] if isinstance(items, list) else []:
            if isinstance(item, list):
                walk(item)
            else:
                try:
                    step = decode_step(item)
                except (ValueError, TypeError):
                    continue
                if step.get("type") == "origin":
                    found.append(_Claimed(step))

    walk(record.get("steps") if isinstance(record, dict) else None)
    return found


@dataclass(frozen=True)
class _Claimed:
    step: dict[str, Any]


def verify_export(body: bytes, header: str | None, anchors: Sequence[x509.Certificate],
                  me: set[str], node: str, directory_url: str,
                  revoked: Collection[int] | None = None) -> list[SignedStep]:
    """An export's record (its `FMAR-Provenance-Record` header) verified, for the bytes
    received from `node` (whose directory URL is `directory_url`): PROV-001..009, 011, 013."""
    import hashlib

    from node.provenance.record import DIGEST, from_header

    if not header:
        raise ProvenanceRejected("PROV-011", "The export carries no provenance record.")
    try:
        record = from_header(header)
    except ValueError:
        raise ProvenanceRejected("PROV-001", "The provenance header is not base64url "
                                 "JSON.") from None
    steps = verify_record(record, anchors, revoked)
    check_recipient(steps, me)
    check_signers(steps, {node: directory_url}, directory_url)
    origin = next(s.step for s in steps if s.step.get("type") == "origin")
    if origin.get(DIGEST) != hashlib.sha256(body).hexdigest():
        raise ProvenanceRejected("PROV-008", "The export is not the one its record signed.")
    return steps


def describe(step: dict[str, Any]) -> str:
    kind = step.get("type")
    if kind == "origin":
        return f"origin {step.get('origin')} ({step.get('fmar:rows')} rows/cells)"
    if kind == "transfer":
        return f"transfer of {step.get('of')} to {step.get('to')} ({step.get('path')})"
    if kind == "receipt":
        return f"receipt of transfer {step.get('transfer')}"
    if kind == "process":
        return f"process {step.get('process')} of {', '.join(step.get('inputs', []))}"
    if kind == "permission":
        return f"permission under {', '.join(step.get('allows', {}).get('licenses', []))}"
    return str(kind)


def lines(records: list[list[SignedStep]]) -> list[str]:
    out = []
    for steps in records:
        parties = {s.signer for s in steps}
        out.append(f"provenance VERIFIED: {len(steps)} steps signed by {len(parties)} "
                   "parties, chained to the trust framework's CA")
        for s in steps:
            out.append(f"{'  ' * (s.depth + 1)}{s.step.get('id')} {describe(s.step)}  "
                       f"[signed by {s.signer}, serial {s.serial}, at {s.signed_at}]")
    return out


__all__ = ["ProvenanceRejected", "lines", "names_of", "verify_answer"]
