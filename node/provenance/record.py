"""Building and signing provenance records in the container format of IB1
provenance-records/1.0.

A record is `{"ib1:provenance": <trust framework URL>, "origins": [...], "steps": <signed
step list>, "certificates": {serial: [PEM, issuer serial, ...]}}`. A signed step list is
`[<step or nested list>, ..., [0, serial, signing time, signature]]`; a step is the base64 of
its JSON. The signature (ES256, JWS encoding: base64url of r || s) is over the trust
framework URL and every element before the signature element, joined with ".", nested
lists framed by "%" and "&". A relaying node includes the lists it received as they are,
so their signatures still verify, and signs over them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from common.dsi import SCHEME
from node.events.signing import WebhookSigner, b64url

VERSION = 0
PROVENANCE_KEY = "ib1:provenance"
REQUEST_HEADER = "FMAR-Provenance"  # value "include": attach a record to the answer
# an export (a stream of CSV, JSON-LD, ...) carries its record in this response header:
# base64url of the record's JSON
EXPORT_HEADER = "FMAR-Provenance-Record"
SCHEME_IRI = str(SCHEME)  # FMAR is its own scheme (common/dsi.py)
FEDERATED_MERGE = "https://id.fmar.uk/process/federated-merge"
SOURCE_TYPE = "https://id.fmar.uk/source-type/register"
DIGEST = "fmar:resultDigest"  # SHA-256 (hex) of the rows or cells the step vouches for
ROWS = "fmar:rows"

Step = dict[str, Any]
StepList = list[Any]


def wanted(headers: Any) -> bool:
    return str(headers.get(REQUEST_HEADER, "")).strip().lower() == "include"


def header_value(record: dict[str, Any]) -> str:
    return b64url(json.dumps(record, separators=(",", ":")).encode())


def from_header(value: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """15 random bytes, base64: 20 characters, as the spec's step ids."""
    return base64.b64encode(secrets.token_bytes(15)).decode()


def content_of(answer: dict[str, Any], node: str | None = None) -> Any:
    """What a digest covers: an answer's rows (without the `_node` marks, optionally only
    those of one node) or its aggregate cells and margins."""
    if "cells" in answer:
        return {"cells": answer["cells"], "margins": answer.get("margins", [])}
    bindings = answer.get("results", {}).get("bindings", [])
    if node is not None:
        bindings = [b for b in bindings if b.get("_node", {}).get("value") == node]
    return [{k: v for k, v in b.items() if k not in ("_node", "_nodes")} for b in bindings]


def digest(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode_step(step: Step) -> str:
    return base64.b64encode(json.dumps(step, separators=(",", ":")).encode()).decode()


def decode_step(encoded: str) -> Step:
    step = json.loads(base64.b64decode(encoded, validate=True))
    if not isinstance(step, dict):
        raise TypeError("a step is a JSON object")
    return step


def signature_data(trust_framework: str, elements: Sequence[Any]) -> bytes:
    """The string a signed step list's signature covers (the spec's "signature data")."""
    parts = [trust_framework]

    def walk(items: Sequence[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                parts.append("%")
                walk(item)
                parts.append("&")
            else:
                parts.append(str(item))

    walk(elements)
    return ".".join(parts).encode()


def serial_of(cert: x509.Certificate) -> str:
    return str(cert.serial_number)  # a string: JSON numbers lose large integers


def sign_list(signer: WebhookSigner, trust_framework: str, elements: list[Any]) -> StepList:
    """`elements` (encoded steps and included signed lists) with this node's signature."""
    signature = b64url(signer.raw_signature(signature_data(trust_framework, elements)))
    return [*elements, [VERSION, serial_of(signer.certificate), now(), signature]]


def certificates_of(chain: Sequence[x509.Certificate]) -> dict[str, list[str]]:
    """The `certificates` map: each certificate of the chain with its issuers' serials."""
    found: dict[str, list[str]] = {}
    for i, cert in enumerate(chain):
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        found[serial_of(cert)] = [pem, *(serial_of(c) for c in chain[i + 1:])]
    return found


def origins_in(steps: Iterable[Any]) -> list[str]:
    """The ids of the origin steps of a signed step list, in order (nested lists too)."""
    found: list[str] = []
    items = list(steps)
    for item in items[:-1]:
        if isinstance(item, list):
            found += origins_in(item)
        else:
            step = decode_step(item)
            if step.get("type") == "origin":
                found.append(str(step["id"]))
    return found


def container(trust_framework: str, steps: StepList,
              certificates: dict[str, list[str]]) -> dict[str, Any]:
    return {PROVENANCE_KEY: trust_framework, "origins": origins_in(steps), "steps": steps,
            "certificates": certificates}


def merged_certificates(records: Iterable[dict[str, Any]],
                        own: dict[str, list[str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for record in records:
        certificates = record.get("certificates")
        if isinstance(certificates, dict):
            merged.update(certificates)
    merged.update(own)
    return merged
