"""The portal's own refusals on the facilitator's and regulator's pages (PORTAL-040..042),
in-process: a signed-in session in the real session store, the node unreachable (these
refusals come before, or instead of, the node's answer)."""

from __future__ import annotations

import time
from pathlib import Path

import certifi
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.config import PortalSettings
from portal.session_db import new_key
from portal.sessions import SessionStore


@pytest.fixture
def signed_in(tmp_path: Path) -> tuple[TestClient, str]:
    settings = PortalSettings(trust_url="https://127.0.0.1:1", ca_bundle=certifi.where(),
                              client_id="c", public_url="http://127.0.0.1:8800",
                              database_url=f"sqlite:///{tmp_path / 's.db'}",
                              session_key=new_key())
    app = create_app(settings)
    store: SessionStore = app.state.sessions
    session = store.new()
    session.token, session.token_expires = "t", time.time() + 600
    session.node_url = "https://127.0.0.1:1"  # nothing listens there
    session.user = {"roles": ["MarketFacilitator", "Regulator"]}
    store.save(session)
    client = TestClient(app, base_url="http://127.0.0.1:8800")
    client.cookies.set("fmar-portal", session.id)
    return client, session.csrf


def test_PORTAL_040_bad_a_shape_too_long_is_not_sent(signed_in: tuple[TestClient, str]) -> None:
    client, csrf = signed_in
    answer = client.post("/categories/BESS", data={"csrf": csrf, "action": "check",
                                                   "shape": "x" * 200_001, "etag": ""})
    assert answer.status_code == 413 and "PORTAL-040" in answer.text


def test_PORTAL_040_bad_without_the_csrf_token_nothing_is_checked(
        signed_in: tuple[TestClient, str]) -> None:
    client, _ = signed_in
    answer = client.post("/categories/BESS", data={"action": "save", "shape": "x"})
    assert answer.status_code == 403 and "PORTAL-CSRF" in answer.text


@pytest.mark.parametrize("path", ["/reports/bad%20name", "/reports/a.b",
                                  "/reports/capacity/download.json",
                                  "/reports/capacity/download.html"])
def test_PORTAL_041_bad_no_such_report_or_download(signed_in: tuple[TestClient, str],
                                                   path: str) -> None:
    client, _ = signed_in
    answer = client.get(path)
    assert answer.status_code == 404 and "PORTAL-041" in answer.text


@pytest.mark.parametrize("file", ["x.png", "x.svg.html", "..%2Fx.svg"])
def test_PORTAL_041_bad_only_svg_charts_are_served(signed_in: tuple[TestClient, str],
                                                   file: str) -> None:
    client, _ = signed_in
    assert client.get(f"/reports/capacity/charts/{file}").status_code == 404


def test_PORTAL_042_bad_the_node_gives_no_file(signed_in: tuple[TestClient, str]) -> None:
    client, _ = signed_in
    answer = client.get("/reports/capacity/download.csv")
    assert answer.status_code == 503 and "PORTAL-042" in answer.text
    assert "attachment" not in answer.headers.get("content-disposition", "")


@pytest.mark.parametrize("path", ["/products", "/products/P1/approve", "/products/P1/retire",
                                  "/subscriptions", "/subscriptions/s1/delete",
                                  "/categories/BESS"])
def test_every_new_form_wants_the_csrf_token(signed_in: tuple[TestClient, str],
                                             path: str) -> None:
    client, _ = signed_in
    answer = client.post(path, data={"csrf": "forged", "action": "save", "shape": "x"})
    assert answer.status_code == 403 and "PORTAL-CSRF" in answer.text
