"""The OpenAPI contract, checked against a real `fmar serve` process by schemathesis with
every check on (status codes, media types, headers, schemas, negative and positive data,
405 with Allow, ignored auth, stateful links), on a fixed budget and seed, with a zero-failure
bar. Settings and the one allowance are in tests/schemathesis.toml."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.assets import bess
from tests.conftest import free_port, reconfigure
from tests.harness.processes import RATE_LIMITS_OFF, ServedNode, dev_token

ROOT = Path(__file__).resolve().parents[1]
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
# The rate limits (429 RATE-001, documented on every operation) are off for the fuzzer, so
# its budget reaches the routes; they have tests of their own.
NO_RATE_LIMITS = RATE_LIMITS_OFF
# A fixed budget and seed for `make test`; FMAR_CONTRACT_EXAMPLES / FMAR_CONTRACT_SEED fuzz
# deeper or elsewhere by hand.
BUDGET = ["--max-examples", os.environ.get("FMAR_CONTRACT_EXAMPLES", "12"),
          "--seed", os.environ.get("FMAR_CONTRACT_SEED", "20261129"), "--workers", "1",
          "--request-timeout", "30", "--output-truncate", "false"]


@pytest.fixture
def served(tmp_path):
    """`fmar serve` as a federation of one: its federation routes query itself (static
    tokens passed through) and it checks duplicates with its own federation key."""
    tokens = tmp_path / "tokens.json"
    token = dev_token(tokens)
    port = free_port()
    node = ServedNode(tmp_path / "data", tokens, port=port, env={
        "FMAR_FEDERATION_PASSTHROUGH": "1", "FMAR_FEDERATION_NODES": f"http://127.0.0.1:{port}",
        "FMAR_FEDERATION_KEY": secrets.token_hex(32), **NO_RATE_LIMITS})
    try:
        # One stored asset, so reads, changes and links reach the register, not only 404s.
        created = httpx.post(f"{node.url}/assets", json=bess(),
                             headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.text
        yield node.url, token
    finally:
        node.stop()


def schemathesis_run(url: str, token: str, workdir: Path,
                     *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract_hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*SCHEMATHESIS, "--no-color", "--config-file", str(ROOT / "tests/schemathesis.toml"),
         "run", f"{url}/openapi.json", "--checks", "all", *BUDGET,
         "-H", f"Authorization: Bearer {token}", "--report", "junit",
         "--report-dir", str(workdir / "report"), *options],
        check=False, capture_output=True, text=True, timeout=600, cwd=workdir, env=env)


def test_node_openapi_contract_holds_under_schemathesis(served, tmp_path):
    url, token = served
    run = schemathesis_run(url, token, tmp_path)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]


# ---------------------------------------------------------------- what the fuzzer found, pinned

def test_HTTP_405_names_every_method_of_the_path_in_allow(node):
    with node.client() as c:
        refused = c.request("TRACE", "/assets")
        one_route = c.request("TRACE", "/health")
        control = c.get("/assets")
    assert refused.status_code == 405 and refused.json()["code"] == "HTTP-405"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "POST"}
    assert one_route.status_code == 405 and one_route.headers["allow"] == "GET"
    assert control.status_code == 200


def test_REQ_001_validation_status_filter_is_one_of_the_statuses(node):
    with node.client() as c:
        refused = c.get("/assets", params={"validation_status": "Approved"})
        control = c.get("/assets", params={"validation_status": "Pending"})
    assert refused.status_code == 422 and refused.json()["code"] == "REQ-001"
    assert control.status_code == 200


def test_REQ_406_format_names_are_exact(node):
    with node.client() as c:
        upper = c.get("/assets/export", params={"format": "CSV"})
        empty = c.get("/assets/export", params={"format": ""})
        control = c.get("/assets/export", params={"format": "csv"})
    assert upper.status_code == 406 and upper.json()["code"] == "REQ-406"
    assert empty.status_code == 406 and empty.json()["code"] == "REQ-406"
    assert control.status_code == 200 and control.headers["content-type"].startswith("text/csv")


def test_ARM_IN_010_filter_codes_are_ascii(node):
    with node.client() as c:
        refused = c.get("/assets", params={"category": "ßESS"})
        control = c.get("/assets", params={"category": "BESS"})
    assert refused.status_code == 400 and refused.json()["code"] == "ARM-IN-010"
    assert control.status_code == 200


def test_FED_IN_007_duplicate_tokens_are_a_list(node, monkeypatch):
    reconfigure(monkeypatch, node.app, federation_key=secrets.token_hex(32))
    with node.client() as c:
        refused = c.post("/federation/duplicates", json={"tokens": "ab" * 32})
        control = c.post("/federation/duplicates", json={"tokens": ["ab" * 32]})
    assert refused.status_code == 400 and refused.json()["code"] == "FED-IN-007"
    assert control.status_code == 200 and control.json() == {"matches": []}


def test_openapi_declares_security_errors_and_media_types(node):
    with httpx.Client(base_url=node.url) as c:
        doc = c.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["mutualTLS"]["type"] == "mutualTLS"
    assert schemes["bearer"]["scheme"] == "bearer"
    paths = doc["paths"]
    for path in ("/health", "/ontology", "/shapes", "/context.jsonld", "/catalogue"):
        assert "security" not in paths[path]["get"], path
    # A node without a trust framework takes static bearer tokens, with the route's scopes.
    assert paths["/assets"]["post"]["security"] == [{"bearer": ["assets:write"]}]
    assert paths["/assets/{asset_id}/audit"]["get"]["security"] == [{"bearer": ["audit:read"]}]
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == error, \
                        (method, path, status)
            if path not in ("/health", "/ontology", "/shapes", "/context.jsonld") \
                    and not path.startswith("/catalogue"):
                assert "security" in operation and "401" in operation["responses"], (method, path)
    assert set(paths["/assets/export"]["get"]["responses"]["200"]["content"]) == {
        "text/csv", "application/ld+json", "text/turtle", "application/n-triples"}
    assert set(paths["/ontology"]["get"]["responses"]["200"]["content"]) == {"text/turtle"}
    assert set(paths["/context.jsonld"]["get"]["responses"]["200"]["content"]) == {
        "application/ld+json"}
    for operation in ("put", "patch"):
        assert {"404", "409", "412", "415", "422", "428"} <= set(
            paths["/assets/{asset_id}"][operation]["responses"])


def test_openapi_of_a_federated_node_uses_oauth2_and_mutual_tls(tmp_path):
    from node.api.app import create_app
    from node.config import NodeSettings
    from tests.conftest import authenticator

    app = create_app(NodeSettings(trust_issuer="https://trust.example"), authenticator())
    doc = app.openapi()
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "https://trust.example/token"
    assert doc["paths"]["/assets"]["post"]["security"] == [
        {"oauth2": ["assets:write"], "mutualTLS": []}]
    assert "security" not in doc["paths"]["/catalogue"]["get"]


def test_FED_IN_005_group_by_has_no_empty_dimension():
    from common.http_errors import ApiError
    from node.query.aggregates import AggregateSpec

    with pytest.raises(ApiError) as refused:
        AggregateSpec.parse({"group_by": "dno,"})
    assert refused.value.code == "FED-IN-005"
    assert AggregateSpec.parse({"group_by": "dno"}).group_by == ("dno",)
    assert AggregateSpec.parse({"group_by": ""}).group_by == ("category", "dno")
