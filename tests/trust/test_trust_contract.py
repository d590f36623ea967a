"""The trust framework's OpenAPI contract, checked by schemathesis with every check on
against its own `trust serve` process over TLS, with the operator's token (public,
administration and OAuth routes), on a fixed seed and budget, with a zero-failure bar.
Settings and allowances: tests/schemathesis.toml. Its own process, because fuzzing the
administration routes changes the directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import trust_helpers as helpers
from conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, ROOT, stop, wait_ready

from node.federation.localfed import free_port
from tests.test_contract import NO_RATE_LIMITS, schemathesis_run
from trust.server.bootstrap import init
from trust.server.config import TrustSettings


@pytest.fixture
def own_trust(tmp_path):
    data = tmp_path / "trust"
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    state = init(TrustSettings(data_dir=data, issuer=issuer,
                               database_url=f"sqlite:///{tmp_path / 'trust.db'}"),
                 admin_email=OPERATOR_EMAIL, admin_password=OPERATOR_PASSWORD)
    proc = subprocess.Popen([sys.executable, "-m", "trust", "trust", "serve", "--data",
                             str(data), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **NO_RATE_LIMITS})
    try:
        wait_ready(f"{issuer}/.well-known/jwks.json", data / "ca" / "chain.pem", proc)
        yield helpers.Federation(issuer=issuer, data=data, state=state,
                                 operator_email=OPERATOR_EMAIL,
                                 operator_password=OPERATOR_PASSWORD, work=tmp_path)
    finally:
        stop(proc)


def test_trust_openapi_contract_holds_under_schemathesis(own_trust, tmp_path):
    run = schemathesis_run(own_trust.issuer, own_trust.operator_token(), tmp_path,
                           "--tls-verify", str(own_trust.ca_bundle))
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
