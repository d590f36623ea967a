"""The trust framework's OpenAPI contract, checked by schemathesis with every check on
against its own `trust serve` process over TLS, with the operator's token (public,
administration and OAuth routes), on a fixed seed and budget, with a zero-failure bar.
Settings and allowances: tests/schemathesis.toml. Its own process, because fuzzing the
administration routes changes the directory."""

from __future__ import annotations

import pytest
from conftest import OPERATOR_EMAIL

from tests.harness import directory as helpers
from tests.harness.trust_service import TrustService, new_password
from tests.test_contract import NO_RATE_LIMITS, schemathesis_run


@pytest.fixture
def own_trust(tmp_path):
    password = new_password()
    service = TrustService.start(tmp_path / "trust", operator=(OPERATOR_EMAIL, password),
                                 database_url=f"sqlite:///{tmp_path / 'trust.db'}",
                                 env=NO_RATE_LIMITS)
    try:
        yield helpers.Federation.of(service, (OPERATOR_EMAIL, password), tmp_path)
    finally:
        service.stop()


def test_trust_openapi_contract_holds_under_schemathesis(own_trust, tmp_path):
    run = schemathesis_run(own_trust.issuer, own_trust.operator_token(), tmp_path,
                           "--tls-verify", str(own_trust.ca_bundle))
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
