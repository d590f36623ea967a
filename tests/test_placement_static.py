"""POL-030 on a node run with static development tokens (no trust framework): it holds the
organisations configured in FMAR_HOLDS, by default every asset-owning organisation of its
tokens. Over a trust framework the list comes from the directory
(tests/federation/test_placement.py)."""

from __future__ import annotations

import pytest

from node.config import NodeSettings
from node.identity import StaticTokenAuthenticator
from tests.assets import bess
from tests.conftest import CALLERS, start_node


@pytest.fixture(scope="module")
def acme_only(tmp_path_factory):
    running = start_node(NodeSettings(data_dir=tmp_path_factory.mktemp("placed"), workers=1,
                                      holds=frozenset({"FSP-ACME"})))
    yield running
    running.stop()


def test_POL_030_a_static_node_holds_only_its_configured_organisations(acme_only):
    with acme_only.client("fsp2") as c:
        refused = c.post("/assets", json=bess(org="FSP-OTHER"))
        listed = c.get("/assets").json()
    assert refused.status_code == 403 and refused.json()["code"] == "POL-030", refused.text
    assert listed["count"] == 0
    with acme_only.client("fsp") as c:  # control
        assert c.post("/assets", json=bess()).status_code == 201


def test_POL_030_default_holdings_are_the_asset_owning_organisations_of_the_tokens(monkeypatch):
    authenticator = StaticTokenAuthenticator({str(i): c for i, c in enumerate(CALLERS.values())})
    assert authenticator.asset_owner_organisations() == {"FSP-ACME", "FSP-OTHER"}
    monkeypatch.setenv("FMAR_HOLDS", " FSP-ACME, PLAT-1 ,")
    assert NodeSettings().holds == {"FSP-ACME", "PLAT-1"}


def test_FED_007_directory_placement_fails_closed_when_the_directory_is_unreachable():
    """A node that cannot ask the directory which organisations it holds refuses writes
    (503 FED-007) rather than guessing; nothing listens on the port asked here."""
    import httpx

    from common.http_errors import ApiError
    from node.placement import DirectoryPlacement
    from tests.harness.processes import free_port

    issuer = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(timeout=2) as client:
        placement = DirectoryPlacement(issuer, "https://node.example", client, ttl=10)
        with pytest.raises(ApiError) as refused:
            placement.organisations()
    assert refused.value.status == 503 and refused.value.code == "FED-007"
