"""Disputes across real processes (issue 17 part 2, UC-05.03): the DNO (Gridco) opens a
dispute, on its own node, on an asset of Flexco's held on Flexco's node; Flexco's node is
told by a node-to-node notice it checks at the DNO's node, the asset shows Query naming the
dispute, Flexco sees the dispute through the federation, corrects the asset (a versioned
update naming the dispute) and responds; the DNO accepts and the status comes back. Then
the refusals: a party that cannot read the record, a move by the wrong party, a forged
notice, an escalation before the deadline. Everything changed is put back."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.federation.conftest import DNO_AREAS

FSP_A, DNO = "fsp_a", "dno"


def call(fed, who: str, node: str, method: str, path: str, **kw: Any) -> httpx.Response:
    token = fed.token(who, node, may_act=kw.pop("may_act", False))
    with fed.http(who) as c:
        return c.request(method, f"{fed.local.nodes[node].url}{path}", timeout=60,
                         headers={"Authorization": f"Bearer {token}",
                                  **kw.pop("headers", {})}, **kw)


def flexco_asset_in_gridco_area(fed) -> tuple[str, str]:
    for iri, row in zip(reversed(fed.assets[FSP_A]), reversed(fed.rows[FSP_A])):
        if row["DNOConnection"] in DNO_AREAS:
            return iri, iri.rsplit("/", 1)[-1]
    pytest.skip("no Flexco asset in Gridco's areas")


def open_dispute(fed, who: str, node: str, iri: str) -> httpx.Response:
    return call(fed, who, node, "POST", "/disputes", may_act=True,
                json={"Record": iri, "Grounds": "Rated capacity is above the connection "
                      "agreement."})


def asset(fed, asset_id: str) -> dict[str, Any]:
    r = call(fed, "Flexco", FSP_A, "GET", f"/assets/{asset_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def node_token(fed, node: str, audience: str) -> str:
    """A node's own token (client credentials with its client certificate)."""
    proc = fed.local.nodes[node]
    env = proc.env
    with fed.local.client(env["FMAR_CLIENT_CERT"], env["FMAR_CLIENT_KEY"]) as c:
        r = c.post(f"{fed.local.issuer}/token", data={
            "grant_type": "client_credentials", "client_id": env["FMAR_CLIENT_ID"],
            "audience": audience, "scope": "disputes:notify"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_DISP_VAL_026_dno_disputes_fsp_asset_fsp_corrects_dno_accepts(fed):
    iri, asset_id = flexco_asset_in_gridco_area(fed)
    before = asset(fed, asset_id)
    r = call(fed, "Gridco", FSP_A, "PUT", f"/assets/{asset_id}/validation-status",
             json={"status": "Verified"})
    assert r.status_code == 200, r.text
    dispute_id = None
    try:
        r = open_dispute(fed, "Gridco", DNO, iri)
        assert r.status_code == 201, r.text
        dispute = r.json()
        dispute_id = dispute["DisputeId"]
        assert dispute["State"] == "open" and dispute["Holder"] == before["OrganisationId"]
        assert dispute["HolderNode"] == fed.local.nodes[FSP_A].url
        assert dispute["_notice"]["delivered"] is True, dispute["_notice"]
        shown = asset(fed, asset_id)
        assert shown["ValidationStatus"] == "Query" and shown["Dispute"] == dispute["id"]
        # Flexco sees the dispute through the federation (held on the DNO's node)
        listed = fed.client("Flexco").records("disputes", record=iri)
        assert dispute["id"] in {i["id"] for i in listed["items"]}, listed["nodes"]
        # the disputes report: counted by state and age on every node, merged
        r = call(fed, "Flexco", FSP_A, "GET", "/federation/dispute-summary", may_act=True)
        assert r.status_code == 200 and not r.json()["partial"], r.text
        assert r.json()["by_state"]["open"]["0-9 days"] >= 1, r.json()
        quality = fed.client("Flexco").via(fed.local.nodes[FSP_A].url).report("quality")
        assert quality["disputes"]["by_state"]["open"]["0-9 days"] >= 1, quality.get("disputes")
        theirs = call(fed, "Otherflex", "fsp_b", "GET", "/federation/dispute-summary",
                      may_act=True).json()
        assert "open" not in theirs["by_state"] or \
            theirs["by_state"]["open"]["0-9 days"] < r.json()["by_state"]["open"]["0-9 days"]
        # the correction: an ordinary versioned update, naming the dispute
        r = call(fed, "Flexco", FSP_A, "PATCH", f"/assets/{asset_id}",
                 json={"GenCapacity": 1}, headers={"If-Match": shown_etag(fed, asset_id)})
        assert r.status_code == 200, r.text
        history = call(fed, "Flexco", FSP_A, "GET", f"/assets/{asset_id}/history").json()
        assert any((v.get("asset") or {}).get("Dispute") == dispute["id"]
                   and (v.get("asset") or {}).get("GenCapacity") == 1
                   for v in history["versions"]), history
        r = call(fed, "Flexco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "responded", "reason": "GenCapacity corrected."})
        assert r.status_code == 200, r.text
        assert asset(fed, asset_id)["ValidationStatus"] == "Query"
        r = call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "corrected"})
        assert r.status_code == 200 and r.json()["_notice"]["delivered"], r.text
        restored = asset(fed, asset_id)
        assert restored["ValidationStatus"] == "Verified" and "Dispute" not in restored
    finally:
        if dispute_id:  # resolved either way, so the asset is not left in Query
            call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "withdrawn"})
        r = call(fed, "Flexco", FSP_A, "PATCH", f"/assets/{asset_id}",
                 json={"GenCapacity": before.get("GenCapacity")},
                 headers={"If-Match": shown_etag(fed, asset_id)})
        call(fed, "Gridco", FSP_A, "PUT", f"/assets/{asset_id}/validation-status",
             json={"status": before["ValidationStatus"],
                   "reason": before.get("ValidationReason")})


def shown_etag(fed, asset_id: str) -> str:
    return str(call(fed, "Flexco", FSP_A, "GET", f"/assets/{asset_id}").headers["ETag"])


def test_POL_085_a_party_that_cannot_read_the_record_cannot_dispute_it(fed):
    iri, _ = flexco_asset_in_gridco_area(fed)
    r = open_dispute(fed, "Otherflex", "fsp_b", iri)
    assert r.status_code == 403 and r.json()["code"] == "POL-085", r.text
    listed = call(fed, "Otherflex", "fsp_b", "GET", "/disputes").json()
    assert iri not in {i["Record"] for i in listed["items"]}


def test_POL_088_a_dispute_is_opened_on_the_openers_own_node(fed):
    iri, _ = flexco_asset_in_gridco_area(fed)
    r = open_dispute(fed, "Gridco", FSP_A, iri)
    assert r.status_code == 403 and r.json()["code"] == "POL-088", r.text


def test_DISP_VAL_022_a_move_by_the_wrong_party_is_refused(fed):
    iri, asset_id = flexco_asset_in_gridco_area(fed)
    r = open_dispute(fed, "Gridco", DNO, iri)
    assert r.status_code == 201, r.text
    dispute_id = r.json()["DisputeId"]
    try:
        r = call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "responded", "reason": "I answer myself."})
        assert r.status_code == 409 and r.json()["code"] == "DISP-VAL-022", r.text
        r = call(fed, "Otherflex", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "withdrawn"})
        assert r.status_code == 404 and r.json()["code"] == "DISP-404", r.text
        # DISP-VAL-023: the opener escalates only after the deadline (10 days by default)
        r = call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "escalated", "reason": "No answer."})
        assert r.status_code == 409 and r.json()["code"] == "DISP-VAL-023", r.text
    finally:
        r = call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "withdrawn"})
        assert r.status_code == 200, r.text
    assert "Dispute" not in asset(fed, asset_id)


def test_DISP_VAL_013_a_forged_notice_changes_nothing(fed):
    _iri, asset_id = flexco_asset_in_gridco_area(fed)
    before = asset(fed, asset_id)
    forged = f"https://id.fmar.uk/dispute/{uuid.uuid4()}"
    url = fed.local.nodes[FSP_A].url
    token = node_token(fed, DNO, url)
    env = fed.local.nodes[DNO].env
    with fed.local.client(env["FMAR_CLIENT_CERT"], env["FMAR_CLIENT_KEY"]) as c:
        r = c.post(f"{url}/disputes/notices", json={"Dispute": forged}, timeout=60,
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and r.json()["code"] == "DISP-VAL-013", r.text
    # a person's token is not a node's (POL-001: no disputes:notify)
    r = call(fed, "Gridco", FSP_A, "POST", "/disputes/notices", json={"Dispute": forged})
    assert r.status_code == 403 and r.json()["code"] == "POL-001", r.text
    after = asset(fed, asset_id)
    assert after["ValidationStatus"] == before["ValidationStatus"] and \
        after["Version"] == before["Version"]


def test_DISP_VAL_023_after_the_deadline_the_opener_escalates_to_the_facilitator(fed):
    """The DNO's node restarted with 2-second deadlines (FMAR_DISPUTE_SECONDS), and put back
    as it was afterwards."""
    dno = fed.local.nodes[DNO]
    saved = dict(dno.env)
    dno.stop()
    dno.env = {**saved, "FMAR_DISPUTE_SECONDS": "2"}
    fed.local.start_nodes()
    dispute_id = None
    try:
        iri, asset_id = flexco_asset_in_gridco_area(fed)
        r = open_dispute(fed, "Gridco", DNO, iri)
        assert r.status_code == 201, r.text
        dispute_id = r.json()["DisputeId"]
        time.sleep(3)  # the open state's deadline passes without an answer
        r = call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "escalated", "reason": "No answer within the deadline."})
        assert r.status_code == 200 and r.json()["State"] == "escalated", r.text
        assert r.json()["_notice"]["delivered"], r.text
        shown = asset(fed, asset_id)
        assert shown["ValidationStatus"] == "Query" and "escalated" in \
            shown["ValidationReason"]
        # escalated: the market facilitator decides, not the holder (DISP-VAL-028)
        r = call(fed, "Flexco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                 json={"to": "corrected", "reason": "Fixed."})
        assert r.status_code == 409 and r.json()["details"]["rule"] == "DISP-VAL-028", r.text
    finally:
        if dispute_id:
            r = call(fed, "Gridco", DNO, "POST", f"/disputes/{dispute_id}/transitions",
                     json={"to": "withdrawn"})
            assert r.status_code == 200, r.text
        dno.stop()
        dno.env = saved
        fed.local.start_nodes()
    assert "Dispute" not in asset(fed, asset_id)
