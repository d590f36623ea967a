"""Qualification across real node processes (issue 12 §4): an FSP applies on its own node,
the system operator that runs the product finds the application in its queue (a
federated query with its own rights), records the outcome on its own node, and the FSP
reads it there; another FSP cannot. Every node checks the product against the product
register on the market facilitator's node, read with its own token (QUAL-VAL-030..039).
Five nodes (two FSPs, NESO, a DNO, the facilitator) and the trust framework, over TLS on
loopback, with tokens bound to each member's certificate."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from node.federation.client import FederationClient
from node.reports.builtin import BUILTIN
from node.reports.local import table_from_rows
from node.reports.run import assemble, request_body
from tests.harness.federation import LocalFederation
from tests.harness.processes import RATE_LIMITS_OFF, ROOT, clean_env, wait_ready

UKPN = ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]
UNITS_EACH = 14  # market units each FSP holds on its node (applications name them)
REGISTER_TTL = 1.0  # seconds the nodes keep the register they read (FMAR_PRODUCT_REGISTER_TTL)


class QualFed:
    def __init__(self, local: LocalFederation):
        self.local = local
        self.seeded: tuple[str, str] = ("", "")
        self.seeded_unit = ""
        self.units: dict[str, list[str]] = {}  # member -> its units not applied for yet

    def unit(self, who: str) -> str:
        """A unit of `who`'s on its node (QUAL-VAL-025: applications name one)."""
        return self.units[who].pop()

    def org(self, who: str) -> str:
        return self.local.members[who].org_id

    def url(self, node: str) -> str:
        return self.local.nodes[node].url

    def call(self, who: str, node: str, method: str, path: str, *, relay: bool = False,
             **kw: Any) -> Any:
        """`who`'s own request to `node` (its token for that node, bound to its
        certificate); `relay`: the token lets the node ask other nodes for it."""
        member = self.local.members[who]
        token = self.local.access_token(member, self.url(node), may_act=relay)
        with self.local.client(member.cert, member.key, token=token,
                               base_url=self.url(node)) as c:
            return c.request(method, path, timeout=60, **kw)


@pytest.fixture(scope="module")
def qf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QualFed]:
    local = LocalFederation(tmp_path_factory.mktemp("qualification"),
                            node_env={"FMAR_NODE_DEADLINE": "10",
                                      "FMAR_PRODUCT_REGISTER_TTL": str(REGISTER_TTL),
                                      **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        neso = local.register_member("Neso", ["NESO"])
        local.register_member("Ofgem", ["Regulator"])
        gridco = local.register_member("Gridco", ["DNO"], dno_areas=UKPN)
        elexon = local.register_member("Elexon", ["MarketFacilitator"])
        fsp_a = local.add_node("fsp_a", flexco)
        local.add_node("fsp_b", otherflex)
        neso_node = local.add_node("neso", neso)
        local.add_node("dno", gridco, ["Asset", "ConnectionLimit"])
        local.load_products(local.add_node("facilitator", elexon, ["Asset", "Product"]))
        spu = ({"Name": "Site", "UnitType": "SPU", "ConnectionMPAN": "1000000000011"}, [])
        units = {"Flexco": local.load_market_units(fsp_a, [spu] * UNITS_EACH),
                 "Otherflex": local.load_market_units(local.nodes["fsp_b"], [spu] * UNITS_EACH)}
        seeded_unit = units["Flexco"].pop(0)
        seeded = local.load_qualification(fsp_a, neso_node, seeded_unit)  # as `make demo`
        local.start_nodes()
        qf = QualFed(local)
        qf.seeded, qf.seeded_unit, qf.units = seeded, seeded_unit, units
        yield qf
    finally:
        local.stop()


def apply(qf: QualFed, who: str, node: str, product: str) -> dict[str, Any]:
    response = qf.call(who, node, "POST", "/qualification-applications", json={
        "UnitId": qf.unit(who), "Product": product, "OrganisationId": qf.org(who),
        "ClaimedUpKW": 1500, "Evidence": f"https://docs.example/{who}/{product}.pdf"})
    assert response.status_code == 201, response.text
    return response.json()


def test_an_application_goes_through_the_queue_to_an_outcome_on_the_operators_node(qf):
    # the FSPs apply on their own nodes
    dc = apply(qf, "Flexco", "fsp_a", "DC")
    dso = apply(qf, "Flexco", "fsp_a", "DSO_SU")
    qr = apply(qf, "Otherflex", "fsp_b", "QR")
    elsewhere = qf.call("Flexco", "fsp_b", "POST", "/qualification-applications",
                        json={"UnitId": str(uuid.uuid4()), "Product": "QR",
                              "OrganisationId": qf.org("Flexco"), "ClaimedUpKW": 1,
                              "Evidence": "ref-1"})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "POL-030")

    # NESO's queue, from every node with NESO's rights: its products only
    queue = qf.call("Neso", "neso", "GET", "/qualification-queue", relay=True)
    assert queue.status_code == 200, queue.text
    answer = queue.json()
    assert not answer["partial"], answer["nodes"]
    assert {n["status"] for n in answer["nodes"]} == {"answered"}
    ids = {i["ApplicationId"]: i for i in answer["items"]}
    assert {dc["ApplicationId"], qr["ApplicationId"]} <= set(ids)
    assert dso["ApplicationId"] not in ids
    assert ids[dc["ApplicationId"]]["_node"] == qf.url("fsp_a")
    assert ids[dc["ApplicationId"]]["_node_org"] == qf.org("Flexco")
    assert ids[qr["ApplicationId"]]["_node"] == qf.url("fsp_b")

    # the DNO's queue: the DSO product it runs, nothing of NESO's
    dno_queue = qf.call("Gridco", "dno", "GET", "/qualification-queue", relay=True).json()
    # (once: the DNO's three licence areas all match the product's operator areas)
    assert [i["ApplicationId"] for i in dno_queue["items"]] == [dso["ApplicationId"]]

    # NESO records the outcome on its own node, not on the FSP's
    body = {"UnitId": dc["UnitId"], "Product": dc["Product"],
            "OrganisationId": dc["OrganisationId"], "ApplicationId": dc["ApplicationId"],
            "State": "in_progress", "ValidFrom": "2027-01-01",
            "Conditions": "Re-test within 12 months."}
    misplaced = qf.call("Neso", "fsp_a", "POST", "/qualifications", json=body)
    assert (misplaced.status_code, misplaced.json()["code"]) == (403, "POL-067")
    made = qf.call("Neso", "neso", "POST", "/qualifications", json=body)
    assert made.status_code == 201, made.text
    path = f"/qualifications/{made.json()['QualificationId']}"
    done = qf.call("Neso", "neso", "POST", f"{path}/transitions",
                   json={"to": "prequalified", "reason": "Test report accepted."})
    assert done.status_code == 200, done.text

    # a transition not allowed to the caller: the FSP, and a DNO (on NESO's node)
    fsp_move = qf.call("Flexco", "neso", "POST", f"{path}/transitions",
                       json={"to": "verified"})
    # an FSP's token has no validation:write (POL-001); with it, POL-061 (in-process tests)
    assert (fsp_move.status_code, fsp_move.json()["code"]) == (403, "POL-001")
    dno_move = qf.call("Gridco", "neso", "POST", f"{path}/transitions",
                       json={"to": "verified"})
    assert (dno_move.status_code, dno_move.json()["code"]) == (403, "POL-067")

    # the queue now shows NESO's outcome beside the application
    again = qf.call("Neso", "neso", "GET", "/qualification-queue", relay=True).json()
    shown = {i["ApplicationId"]: i.get("_outcome") for i in again["items"]}
    assert shown[dc["ApplicationId"]] == {"QualificationId": made.json()["QualificationId"],
                                          "State": "prequalified"}
    assert shown[qr["ApplicationId"]] is None

    # the FSP reads its unit's outcome on NESO's node; the other FSP cannot
    mine = qf.call("Flexco", "neso", "GET", path)
    assert mine.status_code == 200
    assert (mine.json()["State"], mine.json()["UnitId"]) == ("prequalified", dc["UnitId"])
    listed = qf.call("Flexco", "neso", "GET", "/qualifications",
                     params={"unit": dc["UnitId"]}).json()["items"]
    assert [i["QualificationId"] for i in listed] == [made.json()["QualificationId"]]
    hidden = qf.call("Otherflex", "neso", "GET", path)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "QUAL-404")
    assert qf.call("Otherflex", "neso", "GET", "/qualifications").json()["items"] == []
    # ... and a DNO reads every outcome
    assert qf.call("Gridco", "neso", "GET", path).status_code == 200

    # the other FSP's application stays on its node, unread by Flexco
    assert qf.call("Flexco", "fsp_b", "GET",
                   f"/qualification-applications/{qr['ApplicationId']}").status_code == 404


def test_POL_066_an_fsp_has_no_queue_and_a_token_for_another_node_is_refused(qf):
    refused = qf.call("Flexco", "fsp_a", "GET", "/qualification-queue", relay=True)
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-066")
    # NESO's token for the FSP's node, replayed at NESO's own node: not its audience
    neso = qf.local.members["Neso"]
    token = qf.local.access_token(neso, qf.url("fsp_a"))
    with qf.local.client(neso.cert, neso.key, token=token, base_url=qf.url("neso")) as c:
        replayed = c.get("/qualification-queue")
    assert replayed.status_code == 401
    assert qf.call("Neso", "neso", "GET", "/qualification-queue", relay=True).status_code == 200


def test_a_dno_records_grid_prequalification_on_its_node_for_its_areas(qf):
    unit = str(uuid.uuid4())
    body = {"UnitId": unit, "OrganisationId": qf.org("Flexco"), "DNOConnection": "UKPN_EPN"}
    made = qf.call("Gridco", "dno", "POST", "/grid-prequalifications", json=body)
    assert made.status_code == 201, made.text
    outside = qf.call("Gridco", "dno", "POST", "/grid-prequalifications",
                      json={**body, "DNOConnection": "ENWL"})
    assert (outside.status_code, outside.json()["code"]) == (403, "POL-062")
    path = f"/grid-prequalifications/{made.json()['GridPrequalificationId']}"
    assert qf.call("Flexco", "dno", "GET", path).status_code == 200
    assert qf.call("Otherflex", "dno", "GET", path).status_code == 404


def test_the_demo_seeding_gives_an_application_and_its_outcome(qf):
    application, outcome = qf.seeded
    app_id, qual_id = application.rsplit("/", 1)[-1], outcome.rsplit("/", 1)[-1]
    mine = qf.call("Flexco", "fsp_a", "GET", f"/qualification-applications/{app_id}").json()
    assert (mine["UnitId"], mine["State"]) == (qf.seeded_unit, "requested")
    result = qf.call("Flexco", "neso", "GET", f"/qualifications/{qual_id}").json()
    assert (result["ApplicationId"], result["State"]) == (app_id, "prequalified")
    history = qf.call("Neso", "neso", "GET", f"/qualifications/{qual_id}/history").json()
    assert [v["record"]["State"] for v in history["versions"]] == ["in_progress",
                                                                    "prequalified"]


def _fmar(qf: QualFed, who: str, node: str, *args: str) -> Any:
    import subprocess
    import sys

    member = qf.local.members[who]
    env = clean_env(FMAR_TRUST_URL=qf.local.issuer, FMAR_CA_BUNDLE=str(qf.local.ca_bundle),
                    FMAR_CLIENT_ID=member.app_id, FMAR_CLIENT_CERT=str(member.cert),
                    FMAR_CLIENT_KEY=str(member.key), FMAR_NODE_URL=qf.url(node))
    return subprocess.run([sys.executable, "-m", "node", "qual", *args], check=False, env=env,
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_fmar_qual_apply_queue_and_a_refused_transition(qf):
    unit = qf.unit("Flexco")
    applied = _fmar(qf, "Flexco", "fsp_a", "apply", "--unit", unit, "--product",
                    "BM", "--up", "900", "--evidence", "BM-test-42")
    assert applied.returncode == 0, applied.stderr
    app_id = json.loads(applied.stdout)["ApplicationId"]
    queue = _fmar(qf, "Neso", "neso", "queue")
    assert queue.returncode == 0, queue.stderr
    assert app_id in {i["ApplicationId"] for i in json.loads(queue.stdout)["items"]}
    # the other FSP cannot withdraw it: it writes nothing on Flexco's node; one line, a code
    refused = _fmar(qf, "Otherflex", "fsp_a", "transition", app_id, "withdrawn")
    assert refused.returncode != 0 and "error POL-030" in refused.stderr, refused.stderr
    withdrawn = _fmar(qf, "Flexco", "fsp_a", "transition", app_id, "withdrawn")
    assert json.loads(withdrawn.stdout)["State"] == "withdrawn", withdrawn.stderr


def test_the_readme_qualification_walkthrough_runs_as_written(qf, tmp_path):
    """README "Qualifying a market unit for a product", with Flexco's and NESO's env.sh as
    `make demo` writes them."""
    from examples.federation_demo import env_file
    from tests.federation.test_cli_query import run_readme_block

    members = tmp_path / "members"
    for name, node in (("Flexco", "fsp_a"), ("Neso", "neso")):
        path = members / name / "env.sh"
        path.parent.mkdir(parents=True)
        env_file(qf.local, name, path, qf.url(node))
    run_readme_block("federation-qualification", members, tmp_path)


def test_the_dno_records_outcomes_for_its_dso_products_only_on_its_node(qf):
    dso = apply(qf, "Flexco", "fsp_a", "DSO_PR")
    national = apply(qf, "Flexco", "fsp_a", "BM")

    def outcome_of(app: dict[str, Any]) -> dict[str, Any]:
        return {k: app[k] for k in ("UnitId", "Product", "OrganisationId", "ApplicationId")}

    refused = qf.call("Gridco", "dno", "POST", "/qualifications", json=outcome_of(national))
    assert (refused.status_code, refused.json()["code"]) == (403, "POL-061")
    made = qf.call("Gridco", "dno", "POST", "/qualifications", json=outcome_of(dso))
    assert made.status_code == 201, made.text
    path = f"/qualifications/{made.json()['QualificationId']}"
    assert qf.call("Flexco", "dno", "GET", path).json()["Product"] == "DSO_PR"
    assert qf.call("Neso", "dno", "GET", path).status_code == 200  # NESO reads all outcomes
    assert qf.call("Otherflex", "dno", "GET", path).status_code == 404


# ---------------------------------------------------------------- market participation


def _report(qf: QualFed, who: str, name: str) -> dict[str, Any]:
    member = qf.local.members[who]
    client = FederationClient(qf.local.issuer, ca_bundle=qf.local.ca_bundle,
                              client_id=member.app_id, cert=member.cert, key=member.key,
                              deadline=20.0)
    definition = BUILTIN[name]
    answer = client.report({t.name: t.spec() for t in definition.tables},
                           request_body(definition))
    return assemble(definition, answer)


def _listed(qf: QualFed, who: str, kind: str) -> list[dict[str, Any]]:
    member = qf.local.members[who]
    client = FederationClient(qf.local.issuer, ca_bundle=qf.local.ca_bundle,
                              client_id=member.app_id, cert=member.cert, key=member.key,
                              deadline=20.0)
    answer = client.records(kind, limit="1000")
    assert not answer["partial"], answer["nodes"]
    return list(answer["items"])


def _cells(table: dict[str, Any]) -> dict[tuple, tuple[int, float]]:
    return {tuple(c["group"].get(d) for d in table["group_by"]): (c["count"], round(c["sum"], 2))
            for c in table["cells"]}


def test_REP_003_market_participation_tables_match_the_qualification_records(qf):
    """Units and capacity qualified per product and operator, the pipeline by state and the
    capacity claimed, computed at the nodes, equal the records NESO lists (the oracle);
    an FSP's report covers its own units only; the regulator's is under disclosure
    control (POL-013)."""
    application = apply(qf, "Otherflex", "fsp_b", "BM")
    body = {"UnitId": application["UnitId"], "Product": "BM",
            "OrganisationId": application["OrganisationId"],
            "ApplicationId": application["ApplicationId"], "State": "in_progress",
            "ValidFrom": "2027-02-01", "QualifiedUpKW": 1200, "QualifiedDownKW": 800}
    made = qf.call("Neso", "neso", "POST", "/qualifications", json=body)
    assert made.status_code == 201, made.text
    granted = qf.call("Neso", "neso", "POST",
                      f"/qualifications/{made.json()['QualificationId']}/transitions",
                      json={"to": "prequalified", "reason": "Test report accepted."})
    assert granted.status_code == 200, granted.text

    result = _report(qf, "Neso", "market")
    assert not result["partial"] and result["market"]["source"]
    rows = {"qualifications": _listed(qf, "Neso", "qualifications"),
            "qualification-applications": _listed(qf, "Neso", "qualification-applications")}
    for table in BUILTIN["market"].tables:
        assert _cells(result["tables"][table.name]) == _cells(
            table_from_rows(rows[table.source], table)), table.name
    neso = qf.org("Neso")
    assert _cells(result["tables"]["qualified_up"])[("BM", neso)][1] >= 1200
    assert ("BM", "in_progress") not in _cells(result["tables"]["pipeline"])

    flexco, own = qf.org("Flexco"), _report(qf, "Flexco", "market")
    for table in BUILTIN["market"].tables:
        mine = [r for r in rows[table.source] if r["OrganisationId"] == flexco]
        assert _cells(own["tables"][table.name]) == _cells(table_from_rows(mine, table))
    assert ("BM", neso) not in _cells(own["tables"]["qualified_up"])

    regulated = _report(qf, "Ofgem", "market")
    assert regulated["disclosure_control"] == "POL-013"
    for table in regulated["tables"].values():
        for cell in table["cells"] + table.get("margins", []):
            assert cell.get("suppressed") or cell["count"] % 5 == 0


def test_REP_VAL_005_a_market_table_filters_only_on_its_sources_codes(qf):
    from node.reports.model import Definition

    bad = {"name": "m", "version": 1, "title": "M", "source": "market", "tables": [
        {"name": "q", "group_by": ["product"], "measure": "records",
         "source": "qualifications", "filter": {"category": "BESS"}}]}
    with pytest.raises(Exception) as refused:
        Definition.from_json(bad)
    assert getattr(refused.value, "code", None) == "REP-VAL-005"
    bad["tables"][0]["filter"] = {"state": "verified') || true || ('"}
    with pytest.raises(Exception) as injected:
        Definition.from_json(bad)
    assert getattr(injected.value, "code", None) == "REP-VAL-005"


# ---------------------------------------------------------------- the product register


def _retired_product(qf: QualFed, code: str) -> None:
    """The facilitator adds a product (Active) and retires it, on its node."""
    made = qf.call("Elexon", "facilitator", "POST", "/products", json={
        "ProductCode": code, "ProductName": "Withdrawn test product",
        "SystemOperator": "NESO", "Status": "Active", "ValidFrom": "2025-01-01"})
    assert made.status_code == 201, made.text
    retired = qf.call("Elexon", "facilitator", "POST",
                      f"/products/{made.json()['ProductVersionId']}/retire",
                      headers={"If-Match": "*"})
    assert retired.status_code == 200, retired.text


def test_QUAL_VAL_030_the_fsps_node_reads_the_register_on_the_facilitators_node(qf):
    listed = qf.call("Flexco", "fsp_a", "GET", "/qualification-products")
    assert listed.status_code == 200, listed.text
    items = {i["code"]: i for i in listed.json()["items"]}
    assert items["DSO_SU"]["dno_areas"] == UKPN and items["DC"]["operator"] == "NESO"
    unknown = qf.call("Flexco", "fsp_a", "POST", "/qualification-applications", json={
        "UnitId": qf.unit("Flexco"), "Product": "NO_SUCH_PRODUCT",
        "OrganisationId": qf.org("Flexco"), "ClaimedUpKW": 10, "Evidence": "ref-030"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "QUAL-VAL-030"), unknown.text
    # an IRI of another kind is no product at all (the shape)
    other = qf.call("Flexco", "fsp_a", "POST", "/qualification-applications", json={
        "UnitId": qf.unit("Flexco"), "Product": f"https://id.fmar.uk/market-unit/{uuid.uuid4()}",
        "OrganisationId": qf.org("Flexco"), "ClaimedUpKW": 10, "Evidence": "ref-002"})
    assert (other.status_code, other.json()["code"]) == (422, "QUAL-VAL"), other.text
    assert {v["rule"] for v in other.json()["details"]["violations"]} == {"QUAL-VAL-002"}


def test_QUAL_VAL_031_a_product_retired_at_the_facilitator(qf):
    _retired_product(qf, "TEST_WITHDRAWN")
    time.sleep(REGISTER_TTL + 0.5)  # the nodes' kept copy of the register expires
    refused = qf.call("Flexco", "fsp_a", "POST", "/qualification-applications", json={
        "UnitId": qf.unit("Flexco"), "Product": "TEST_WITHDRAWN",
        "OrganisationId": qf.org("Flexco"), "ClaimedUpKW": 10, "Evidence": "ref-031"})
    assert (refused.status_code, refused.json()["code"]) == (422, "QUAL-VAL-031"), refused.text
    assert refused.json()["details"]["statuses"] == ["Retired"]


def test_QUAL_VAL_033_a_dno_that_does_not_procure_the_product(qf):
    enwl = apply(qf, "Flexco", "fsp_a", "DSO_VAOU_DA")  # procured in ENWL, not Gridco's areas
    refused = qf.call("Gridco", "dno", "POST", "/qualifications", json={
        k: enwl[k] for k in ("UnitId", "Product", "OrganisationId", "ApplicationId")})
    assert (refused.status_code, refused.json()["code"]) == (403, "QUAL-VAL-033"), refused.text
    # nor is it in Gridco's queue, which lists the products it procures per the register
    queue = qf.call("Gridco", "dno", "GET", "/qualification-queue", relay=True).json()
    assert "DSO_VAOU_DA" not in queue["products"] and "DSO_SU" in queue["products"]
    assert enwl["ApplicationId"] not in {i["ApplicationId"] for i in queue["items"]}


def test_QUAL_VAL_039_the_facilitators_node_is_down(qf):
    facilitator = qf.local.nodes["facilitator"]
    before = qf.call("Flexco", "fsp_a", "GET", "/qualification-applications",
                     params={"limit": 1000}).json()["count"]
    facilitator.stop()
    try:
        time.sleep(REGISTER_TTL + 0.5)
        refused = qf.call("Flexco", "fsp_a", "POST", "/qualification-applications", json={
            "UnitId": qf.unit("Flexco"), "Product": "DC", "OrganisationId": qf.org("Flexco"),
            "ClaimedUpKW": 10, "Evidence": "ref-039"})
        assert (refused.status_code, refused.json()["code"]) == (503, "QUAL-VAL-039"), \
            refused.text
        after = qf.call("Flexco", "fsp_a", "GET", "/qualification-applications",
                        params={"limit": 1000}).json()["count"]
        assert after == before  # nothing stored
    finally:
        facilitator.start()
        wait_ready(f"{facilitator.url}/health", facilitator.running(),
                   ca_bundle=qf.local.ca_bundle, why=facilitator.log_text)
    assert apply(qf, "Flexco", "fsp_a", "DC")["State"] == "requested"
