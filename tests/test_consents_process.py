"""Consumer consent across real processes (UC-05.05): the FSP's node run as `fmar serve`
(its own process and store, trust anchors from our CA), and a consent platform with a
certificate from the same CA sending signed revocation webhooks, as the trust framework
issues them. The whole path: a registration refused without a valid consent and accepted
with one, the asset in a market unit, forged and misdirected webhooks refused, the genuine
one suspending the asset out of the unit's capability, NESO told through the events feed,
and the consent never readable by NESO or a DNO (REST or SPARQL)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.mpan import make_mpan
from node.events.signing import WebhookSigner
from node.identity import StaticTokenAuthenticator
from tests.assets import heat_pump
from tests.harness.processes import ServedNode
from tests.webhooks import NodeIdentity, federation_ca, node_identity

TODAY = datetime.now(UTC).date()
LAST_YEAR = date(TODAY.year - 1, 1, 1).isoformat()
SCOPES = ["assets:read", "assets:write", "audit:read", "validation:write", "sparql:query"]
WHO = {"fsp": ("FSP-ACME", ["FSP"], []), "neso": ("NESO", ["NESO"], []),
       "dno": ("DNO-ENWL", ["DNO"], ["ENWL"])}
PLATFORM = "CCS-PLATFORM"


def token(who: str) -> str:
    return f"consent-token-{who}"


class World:
    def __init__(self, folder: Path):
        ca = federation_ca(folder)
        identity = node_identity(ca, folder / "fsp-node", member="FSP-ACME")
        tokens = folder / "tokens.json"
        tokens.write_text(json.dumps([
            {"token_sha256": StaticTokenAuthenticator.hash_token(token(who)), "subject": who,
             "organisation_id": org, "roles": roles, "scopes": SCOPES, "dno_areas": areas}
            for who, (org, roles, areas) in WHO.items()]))
        self.node = ServedNode(folder / "data", tokens, env={
            **identity.env(), "FMAR_CONSENT_CATEGORIES": "HEAT_PUMP,EV_CHARGER"})
        self.platform = _signer(node_identity(ca, folder / "platform", member=PLATFORM))
        self.stranger = _signer(node_identity(ca, folder / "other", member="OTHER-PLATFORM"))
        rogue_ca = federation_ca(folder / "rogue")  # a CA the node does not trust
        self.forger = _signer(node_identity(rogue_ca, folder / "forger", member=PLATFORM))

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.node.url, timeout=60,
                            headers={"Authorization": f"Bearer {token(who)}"})

    def webhook(self, signer: WebhookSigner, reference: str, *, webhook_id: str | None = None,
                tamper: bool = False) -> httpx.Response:
        webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        event = {"id": webhook_id, "type": "consent.revoked", "ConsentReference": reference,
                 "Reason": "The consumer withdrew consent on the platform"}
        body = json.dumps(event).encode()
        headers = signer.headers(webhook_id, int(time.time()), body)
        if tamper:  # signed, then changed on the way
            body = json.dumps({**event, "ConsentReference": reference + "-X"}).encode()
        # no bearer token: the signature is the authentication
        return httpx.post(f"{self.node.url}/consent-revocations", content=body, timeout=60,
                          headers={**headers, "Content-Type": "application/json"})


def _signer(identity: NodeIdentity) -> WebhookSigner:
    return WebhookSigner.from_files(identity.key, identity.cert, identity.ca_bundle)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("consent-world"))
    yield made
    made.node.stop()


def code(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    violations = (body.get("details") or {}).get("violations") or []
    return response.status_code, violations[0]["rule"] if violations else body["code"]


def record_consent(world: World, **changes: Any) -> dict[str, Any]:
    body = {"ConsentReference": f"CCS-{uuid.uuid4().hex[:12]}", "OrganisationId": "FSP-ACME",
            "ConsumerReference": "ACC-42", "MPAN": make_mpan("ENWL", 900_000 +
                                                             uuid.uuid4().int % 90_000),
            "ScopeRegistration": True, "ScopeDataSharing": True, "ValidFrom": LAST_YEAR,
            "EvidenceReference": "ccs://evidence/42", "ConsentPlatform": PLATFORM, **changes}
    with world.client("fsp") as c:
        made = c.post("/consents", json=body)
    assert made.status_code == 201, made.text
    return made.json()


def test_the_whole_consent_path_across_processes(world):
    # refusals first: no consent, an expired one, one for another MPAN
    with world.client("fsp") as c:
        assert code(c.post("/assets", json=heat_pump())) == (422, "CONS-VAL-022")
        expired = record_consent(world, ValidFrom="2024-01-01",
                                 ValidTo=(TODAY - timedelta(days=1)).isoformat())
        assert code(c.post("/assets", json=heat_pump(
            ConsentReference=expired["ConsentReference"], ImportMPAN=expired["MPAN"]))) == \
            (422, "CONS-VAL-025")
        consent = record_consent(world)
        assert code(c.post("/assets", json=heat_pump(
            ConsentReference=consent["ConsentReference"]))) == (422, "CONS-VAL-026")
        # a valid consent covering registration at its MPAN: accepted
        made = c.post("/assets", json=heat_pump(ConsentReference=consent["ConsentReference"],
                                                ImportMPAN=consent["MPAN"], GSPGroup="_G"))
        assert made.status_code == 201, made.text
        asset = made.json()["AssetId"]
        unit = c.post("/market-units", json={"Name": "Homes", "OrganisationId": "FSP-ACME",
                                             "UnitType": "SPG", "LocationScope": "GSPGroup",
                                             "GSPGroup": "_G"}).json()["UnitId"]
        joined = c.post(f"/market-units/{unit}/members",
                        json={"AssetId": asset, "ValidFrom": LAST_YEAR})
        assert joined.status_code == 201, joined.text
        assert c.get(f"/market-units/{unit}/capability").json()["Members"] == 1

    # forged (a CA the node does not trust), tampered, and another platform's: refused
    assert code(world.webhook(world.forger, consent["ConsentReference"])) == \
        (401, "EVT-VER-003")
    assert code(world.webhook(world.platform, consent["ConsentReference"], tamper=True)) == \
        (401, "EVT-VER-002")
    assert code(world.webhook(world.stranger, consent["ConsentReference"])) == \
        (404, "CONS-404")  # POL-084: the consent names another platform
    with world.client("fsp") as c:
        assert c.get(f"/assets/{asset}").json()["RegistrationStatus"] == "Active"
        assert c.get(f"/consents/{consent['ConsentId']}").json()["ConsentStatus"] == "Active"

    # the genuine webhook: revoked, the asset suspended at once, out of the unit
    webhook_id = f"msg_{uuid.uuid4().hex}"
    genuine = world.webhook(world.platform, consent["ConsentReference"], webhook_id=webhook_id)
    assert genuine.status_code == 200, genuine.text
    assert genuine.json() == {"ConsentStatus": "Revoked", "suspended": 1}
    assert code(world.webhook(world.platform, consent["ConsentReference"],
                              webhook_id=webhook_id)) == (401, "EVT-VER-005")  # a replay
    with world.client("fsp") as c:
        assert c.get(f"/assets/{asset}").json()["RegistrationStatus"] == \
            "SuspendedConsentRevoked"
        assert c.get(f"/market-units/{unit}/capability").json()["Members"] == 0
        state = c.get(f"/consents/{consent['ConsentId']}").json()
        assert (state["ConsentStatus"], state["RevokedVia"]) == ("Revoked", "WEBHOOK")
        trail = c.get(f"/consents/{consent['ConsentId']}/audit").json()["entries"]
        assert len(trail) == 2 and PLATFORM in json.dumps(trail[-1])
    # NESO (which reads every unit) is told through the events outbox
    with world.client("neso") as c:
        feed = c.get("/events", params={"after": "0", "types":
                                        "market-unit.composition-changed"}).json()["items"]
    changed = [e for e in feed if e["record"].endswith(unit)]
    assert changed[-1]["data"]["material"] is True
    assert "consent revoked" in changed[-1]["data"]["reason"]


def test_POL_081_POL_082_neso_and_a_dno_read_no_consent_across_processes(world):
    consent = record_consent(world)
    query = ("SELECT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), "
             '"https://id.fmar.uk/consent/")) }')
    for who in ("neso", "dno"):
        with world.client(who) as c:
            assert c.get(f"/consents/{consent['ConsentId']}").status_code == 404
            assert c.get(f"/consents/{consent['ConsentId']}/history").status_code == 404
            assert c.get("/consents").json()["items"] == []
            answer = c.post("/sparql", content=query.encode(), headers={
                "Content-Type": "application/sparql-query",
                "Accept": "application/sparql-results+json"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"]["bindings"] == [], who
            assert consent["MPAN"] not in answer.text
