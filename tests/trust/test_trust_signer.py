"""KEY-003: an external signer (HSM, KMS) named by FMAR_TRUST_SIGNER signs the tokens and
certificates of a running trust service, with no code changed; nodes verify them. The
signer is the stand-in HSM of tests/trust/hsm_signer.py, which records every signature."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cryptography import x509
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import Session, select
from test_trust_refusals import assert_refused, claims_of

from tests.harness import directory as helpers
from tests.harness.processes import ROOT, free_port
from tests.harness.trust_service import TrustService
from trust.client.verifier import unverified_header
from trust.server.models import SigningKey

SIGNER = "tests.trust.hsm_signer:factory"
EMAIL, PASSWORD = "operator@hsm.example", "operator-password-1"


def _env(signer: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FMAR_TRUST_SIGNER"}
    return {**env, "FMAR_TRUST_SIGNER": signer} if signer else env


@pytest.fixture(scope="module")
def hsm_federation(tmp_path_factory) -> Iterator[helpers.Federation]:
    """A trust service of its own (its own process, TLS) whose token-signing and issuer CA
    keys are in the stand-in HSM."""
    data = tmp_path_factory.mktemp("hsm") / "trust"
    service = TrustService.start(data, operator=(EMAIL, PASSWORD), signer=SIGNER,
                                 kek_file=tmp_path_factory.mktemp("hsm-kek") / "trust.kek",
                                 env={"FMAR_TRUST_SIGNER": SIGNER})
    try:
        yield helpers.Federation.of(service, (EMAIL, PASSWORD),
                                    tmp_path_factory.mktemp("hsm-work"))
    finally:
        service.stop()


def _signed(fed: helpers.Federation, purpose: str, kid: str, data: bytes) -> bool:
    """Whether the stand-in HSM signed `data` with its key `purpose`/`kid`."""
    log = fed.data.with_name(f"{fed.data.name}.hsm") / "signatures.log"
    line = f"{purpose} {kid} {hashlib.sha256(data).hexdigest()}"
    return line in log.read_text().splitlines()


def _token_signed(fed: helpers.Federation, token: str) -> bool:
    return _signed(fed, "token", unverified_header(token)["kid"],
                   token.rsplit(".", 1)[0].encode())


def test_KEY_003_tokens_and_certificates_are_signed_through_the_configured_signer(
        hsm_federation):
    fed = hsm_federation
    hsm = fed.data.with_name(f"{fed.data.name}.hsm")
    # the keys are the HSM's: no issuer key file, no sealed signing key in the database
    assert not list((fed.data / "ca").glob("*/issuer.key"))
    assert all((hsm / f"ca-{kid}.pem").exists()
               for kid in ("issuer", "issuer-signing", "issuer-server"))
    engine = fed.engine()
    with Session(engine) as session:
        rows = list(session.exec(select(SigningKey)))
    engine.dispose()
    assert rows and all(r.private_pem == f"external:{SIGNER}" for r in rows)
    assert all((hsm / f"token-{r.kid}.pem").exists() for r in rows)

    member = fed.register_member("Hsmflex", ["FSP"])  # its client certificate, from the CA
    issuer = x509.load_pem_x509_certificates(fed.ca_bundle.read_bytes())[0]
    cert = x509.load_pem_x509_certificate(member.cert.read_bytes())
    cert.verify_directly_issued_by(issuer)
    assert _signed(fed, "ca", "issuer", cert.tbs_certificate_bytes)
    node = member.start_node(free_port())  # its server certificate too: TLS works
    try:
        token = member.access_token(node.url)
        assert _token_signed(fed, token)
        resp = node.call("GET", "/assets", token, member.cert, member.key)
        assert resp.status_code == 200, resp.text
        assert resp.json()["organisation_id"] == member.org_id
        with fed.client() as c:  # the CRL the node checks certificates against
            crl = x509.load_der_x509_crl(c.get("/ca/crl").content)
        assert crl.is_signature_valid(issuer.public_key())
        assert _signed(fed, "ca", "issuer", crl.tbs_certlist_bytes)

        # rotation (another process): the HSM makes the new key; the node takes its tokens
        rotated = subprocess.run([sys.executable, "-m", "trust", "trust", "keys", "rotate",
                                  "signing", "--data", str(fed.data)], cwd=ROOT,
                                 env=_env(SIGNER), capture_output=True, text=True, check=True)
        kid = json.loads(rotated.stdout)["signing_key"]
        assert (hsm / f"token-{kid}.pem").exists()
        fresh = member.access_token(node.url)
        assert unverified_header(fresh)["kid"] == kid and _token_signed(fed, fresh)
        assert node.call("GET", "/assets", fresh, member.cert, member.key).status_code == 200
        # control: the same claims under that kid, signed by a key outside the HSM
        outside = ECKey.generate_key("P-256", {"kid": kid}, private=True)
        forged = jwt.encode({"alg": "ES256", "kid": kid, "typ": "at+jwt"}, claims_of(fresh),
                            outside)
        assert_refused(node.call("GET", "/assets", forged, member.cert, member.key), 401,
                       "AUTH-007")
    finally:
        node.stop()


def _serve(fed: helpers.Federation, signer: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trust", "trust", "serve", "--data",
                           str(fed.data), "--port", str(free_port())], cwd=ROOT,
                          env=_env(signer), capture_output=True, text=True, timeout=60,
                          check=False)


def test_KEY_003_the_service_does_not_start_with_a_signer_it_cannot_use(hsm_federation):
    for signer in (None,  # the issuer key is in the HSM: no file to fall back to
                   "tests.trust.no_such_module:factory",
                   "tests.trust.hsm_signer:no_such_factory",
                   "tests.trust.hsm_signer:other_key_factory"):  # not the certified key
        done = _serve(hsm_federation, signer)
        assert done.returncode == 2 and "KEY-003" in done.stderr, (signer, done.stderr)
    with hsm_federation.client() as c:  # control: the service with its signer serves
        keys = c.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all(k["alg"] == "ES256" for k in keys)
