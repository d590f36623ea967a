"""The error handlers every node app installs (common/http_errors.py): each fallback code exactly.

Routes of the node raise `ApiError` with their own codes; these handlers cover what
FastAPI and Starlette raise themselves (unknown route, wrong method, bad parameters) and
anything unexpected (SRV-001, logged, never a stack trace to the client). The routes that
raise a bare HTTPException are built here, since the node's own routes never do.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from common.http_errors import ApiError, install_error_handlers

FALLBACKS = {400: "HTTP-400", 401: "AUTH-001", 403: "POL-000", 404: "HTTP-404",
             405: "HTTP-405", 406: "HTTP-406", 413: "HTTP-413", 415: "HTTP-415",
             409: "HTTP-409"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/status/{status}")
    def raise_status(status: int) -> None:
        raise HTTPException(status, f"status {status}")

    @app.get("/fine")
    def fine(n: int = 1) -> dict:
        return {"n": n}

    @app.get("/api-error")
    def api_error() -> None:
        raise ApiError(418, "TEA-001", "A teapot.", {"why": "test"}, {"X-Why": "test"})

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret internal detail")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("status,code", sorted(FALLBACKS.items()),
                         ids=[f"{c}" for _, c in sorted(FALLBACKS.items())])
def test_http_exception_fallback_codes(client: TestClient, status: int, code: str) -> None:
    response = client.get(f"/status/{status}")
    assert response.status_code == status
    assert response.json() == {"code": code, "message": f"status {status}"}


def test_HTTP_404_unknown_route_and_HTTP_405_wrong_method(client: TestClient) -> None:
    assert client.get("/nowhere").json()["code"] == "HTTP-404"
    wrong = client.delete("/fine")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "HTTP-405")
    assert client.get("/fine").json() == {"n": 1}  # control


def test_REQ_001_request_validation(client: TestClient) -> None:
    response = client.get("/fine", params={"n": "many"})
    assert (response.status_code, response.json()["code"]) == (422, "REQ-001")
    assert response.json()["details"][0]["location"] == ["query", "n"]
    assert client.get("/fine", params={"n": "2"}).json() == {"n": 2}


def test_api_error_keeps_its_code_details_and_headers(client: TestClient) -> None:
    response = client.get("/api-error")
    assert response.status_code == 418 and response.headers["x-why"] == "test"
    assert response.json() == {"code": "TEA-001", "message": "A teapot.", "details": {"why": "test"}}


def test_SRV_001_unexpected_error_is_logged_not_shown(client: TestClient, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="fmar.errors"):
        response = client.get("/crash")
    assert response.status_code == 500
    assert response.json() == {"code": "SRV-001",
                               "message": "The node could not complete the request; it was logged."}
    assert "secret internal detail" not in response.text
    assert any("unhandled error on GET /crash" in r.getMessage() for r in caplog.records)
    assert client.get("/fine").status_code == 200  # and the app keeps serving


def test_fallback_codes_on_a_running_node(node) -> None:
    with node.client() as c:
        unknown = c.get("/no-such-route")
        wrong_method = c.delete("/assets")
        control = c.get("/assets")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "HTTP-404")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "HTTP-405")
    assert control.status_code == 200
