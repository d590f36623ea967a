"""The routes a portal node lets a person's unbound token write (AUTH-047,
FMAR_UNBOUND_ROUTES): the portal's pages name each route exactly."""

from __future__ import annotations

import pytest

from node.identity import Caller
from node.policy import Unauthenticated, check_unbound_route, parse_unbound_routes
from tests.harness.portal import PORTAL_NODE_ENV

PERSON = Caller("u", "ORG", frozenset({"MarketFacilitator"}), frozenset({"categories:write"}),
                unbound=True)
ROUTES = parse_unbound_routes(PORTAL_NODE_ENV["FMAR_UNBOUND_ROUTES"])


@pytest.mark.parametrize("method,path", [
    ("POST", "/categories/HYDRO/check"), ("PUT", "/categories/HYDRO"),
    ("POST", "/products"), ("POST", "/products/P1/approve"), ("POST", "/products/P1/retire"),
    ("POST", "/subscriptions"), ("DELETE", "/subscriptions/s1"), ("GET", "/reports/x/run")])
def test_AUTH_047_ok_the_portal_pages_write_routes(method: str, path: str) -> None:
    check_unbound_route(PERSON, method, path, ROUTES)


@pytest.mark.parametrize("method,path", [
    ("POST", "/categories"), ("POST", "/categories/HYDRO/deprecate"),
    ("POST", "/categories/A/B/check"), ("PUT", "/products/P1"), ("DELETE", "/products/P1"),
    ("POST", "/products/P1/approve/x"), ("POST", "/subscriptions/s1/replay"),
    ("DELETE", "/admin/subscriptions/s1")])
def test_AUTH_047_bad_nothing_broader(method: str, path: str) -> None:
    with pytest.raises(Unauthenticated) as raised:
        check_unbound_route(PERSON, method, path, ROUTES)
    assert raised.value.code == "AUTH-047"


def test_AUTH_047_bad_a_star_inside_a_segment_is_refused() -> None:
    assert parse_unbound_routes("POST /products/*/approve") == {"POST /products/*/approve"}
    for bad in ("POST /products/a*/approve", "POST /p*x/y"):
        with pytest.raises(ValueError, match="FMAR_UNBOUND_ROUTES"):
            parse_unbound_routes(bad)
