"""Consumer consent in the federation, across real processes (UC-05.05): the trust
framework and two FSP nodes over TLS. FSP B (Otherflex) takes over heat pumps of FSP A
(Flexco): B's node accepts a record only with B's valid consent covering switching at its
MPAN (CONS-VAL-028), held on B's node; without one the hand-over is refused and the switch
rejected, the asset staying with A. Neither NESO nor the owner, through the federation
(direct or relayed), ever gets a consent: the federated listing and federated SPARQL see
none (POL-081, POL-082)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from node.federation.client import FederationClient
from tests.assets import heat_pump
from tests.harness.federation import LocalFederation, NodeProc
from tests.harness.processes import RATE_LIMITS_OFF

NOTICE = 3.0  # seconds, on A's node
WAIT = 120.0
LAST_YEAR = date(datetime.now(UTC).year - 1, 1, 1).isoformat()


class World:
    def __init__(self, local: LocalFederation, assets: list[str], rows: list[dict[str, Any]]):
        self.local, self.assets = local, assets
        self.mpans = {iri: row["ImportMPAN"] for iri, row in zip(assets, rows)}

    @property
    def a(self) -> NodeProc:
        return self.local.nodes["fsp_a"]

    @property
    def b(self) -> NodeProc:
        return self.local.nodes["fsp_b"]

    def org(self, who: str) -> str:
        return self.local.members[who].org_id

    def call(self, who: str, node: NodeProc, method: str, path: str,
             **kw: Any) -> httpx.Response:
        m = self.local.members[who]
        token = self.local.access_token(m, node.url)
        with self.local.client(m.cert, m.key) as c:
            return c.request(method, f"{node.url}{path}", timeout=60,
                             headers={"Authorization": f"Bearer {token}"}, **kw)

    def federation(self, who: str) -> FederationClient:
        m = self.local.members[who]
        return FederationClient(self.local.issuer, ca_bundle=self.local.ca_bundle,
                                client_id=m.app_id, cert=m.cert, key=m.key, deadline=10.0)

    def switch(self, iri: str) -> dict[str, Any]:
        made = self.call("Otherflex", self.a, "POST", "/switch-requests", json={
            "From": self.org("Flexco"), "Records": [iri],
            "ConsentReference": "CCS-" + uuid.uuid4().hex[:8]})
        assert made.status_code == 201, made.text
        switch_id = made.json()["SwitchId"]
        deadline = time.monotonic() + WAIT
        while True:
            body = self.call("Otherflex", self.a, "GET", f"/switch-requests/{switch_id}").json()
            if body["State"] in ("completed", "rejected"):
                return dict(body)
            assert time.monotonic() < deadline, (body, self.a.log_text(), self.b.log_text())
            time.sleep(0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    local = LocalFederation(tmp_path_factory.mktemp("consent-switching"),
                            node_env={"FMAR_SWITCH_POLL_SECONDS": "0.5",
                                      "FMAR_PLACEMENT_TTL": "1", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        local.register_member("Neso", ["NESO"])
        a = local.add_node("fsp_a", flexco,
                           extra_env={"FMAR_SWITCH_NOTICE_SECONDS": str(NOTICE)})
        local.add_node("fsp_b", otherflex,
                       extra_env={"FMAR_CONSENT_CATEGORIES": "HEAT_PUMP,EV_CHARGER"})
        rows = [heat_pump(org=flexco.org_id) for _ in range(2)]
        iris = local.load_assets(a, rows)
        local.start_nodes()
        yield World(local, iris, rows)
    finally:
        local.stop()


def test_CONS_VAL_028_a_switch_needs_the_gaining_fsps_consent(world: World) -> None:
    covered, uncovered = world.assets
    consent = world.call("Otherflex", world.b, "POST", "/consents", json={
        "ConsentReference": "CCS-SWITCH-1", "OrganisationId": world.org("Otherflex"),
        "ConsumerReference": "ACC-7", "MPAN": world.mpans[covered], "ScopeSwitching": True,
        "ValidFrom": LAST_YEAR, "EvidenceReference": "ccs://evidence/7"})
    assert consent.status_code == 201, consent.text
    # no consent of B's at this MPAN: B's node refuses the records, A's keeps them
    refused = world.switch(uncovered)
    assert refused["State"] == "rejected", refused
    assert "CONS-VAL-028" in refused["Reason"]
    kept = world.call("Flexco", world.a, "GET", f"/assets/{uncovered.rsplit('/', 1)[-1]}")
    assert kept.status_code == 200, kept.text
    # B's consent covers switching at the other MPAN: it moves
    done = world.switch(covered)
    assert done["State"] == "completed", done
    moved = world.call("Otherflex", world.b, "GET", f"/assets/{covered.rsplit('/', 1)[-1]}")
    assert moved.status_code == 200 and moved.json()["RegistrationStatus"] == "Active"


def test_POL_081_the_federation_lists_no_consent(world: World) -> None:
    made = world.call("Otherflex", world.b, "POST", "/consents", json={
        "ConsentReference": "CCS-PRIVATE-1", "OrganisationId": world.org("Otherflex"),
        "ConsumerReference": "ACC-8", "MPAN": world.mpans[world.assets[0]],
        "ScopeRegistration": True, "ValidFrom": LAST_YEAR,
        "EvidenceReference": "ccs://evidence/8"})
    assert made.status_code == 201, made.text
    # the owner reads it on its own node, with its own token
    own = world.call("Otherflex", world.b, "GET", f"/consents/{made.json()['ConsentId']}")
    assert own.status_code == 200
    # NESO: on B's node, through the federation, and by federated SPARQL: nothing
    assert world.call("Neso", world.b, "GET",
                      f"/consents/{made.json()['ConsentId']}").status_code == 404
    neso = world.federation("Neso")
    listed = neso.records("consents")
    assert listed["items"] == [] and not listed["partial"], listed["nodes"]
    query = ("SELECT ?g ?p ?o WHERE { GRAPH ?g { ?c a <https://id.fmar.uk/def/fmar#Consent> ;"
             " ?p ?o } }")
    rows = neso.sparql(query)
    assert rows["results"]["bindings"] == [] and not rows["partial"], rows
    assert "CCS-PRIVATE-1" not in str(rows)
    relayed = neso.via(world.a.url).records("consents")
    assert relayed["items"] == [], relayed
    # even the owner gets none through a relaying node (its details never leave B's node)
    mine = world.federation("Otherflex").via(world.a.url).records("consents")
    assert mine["items"] == [], mine
    assert "CCS-PRIVATE-1" not in str(mine)
