"""Record placement over real TLS against real processes (issue 7, item 2): a node stores
records only for its operator and the organisations the trust directory lists as hosted by
its operator (POL-030); hosting is granted and revoked in the directory (DIR-030/031).

Its own small federation (trust service + a platform's node + NESO's node), so the
records written here do not change the shared federation's oracle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.federation import LocalFederation, Member

ROOT = Path(__file__).resolve().parents[2]
ASSET = json.loads((ROOT / "examples" / "asset.json").read_text())
TTL = 1.0  # FMAR_PLACEMENT_TTL of these nodes: how long a node trusts its cached list


class Placed:
    def __init__(self, local: LocalFederation):
        self.local = local

    def member(self, name: str) -> Member:
        return self.local.members[name]

    def send(self, who: str, node: str, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """As `who`'s application: its certificate-bound token, over mTLS."""
        member, url = self.member(who), self.local.nodes[node].url
        token = self.local.access_token(member, url)
        h = {"Authorization": f"Bearer {token}", **(headers or {})}
        with self.local.client(member.cert, member.key) as c:
            if isinstance(body, (dict, list)):
                return c.request(method, f"{url}{path}", json=body, headers=h)
            return c.request(method, f"{url}{path}", content=body, headers=h)

    def admin(self, who: str) -> httpx.Client:
        m = self.member(who)
        return self.local.client(token=self.local.login(m.email, m.password))

    def operator(self) -> httpx.Client:
        return self.local.client(token=self.local.operator_token())


_serials = iter(range(1, 10_000))


def asset_of(member: Member) -> dict[str, Any]:
    """A new asset of `member` (a new serial number each time: no duplicate, ARM-DUP-001)."""
    return {**ASSET, "OrganisationId": member.org_id,
            "SerialNumber": f"PLACE-{next(_serials):05d}"}


def until(check, timeout: float = 20 * TTL):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns a truthy value (the node's cache expires after TTL)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(TTL / 4)


@pytest.fixture(scope="module")
def placed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Placed]:
    local = LocalFederation(tmp_path_factory.mktemp("placement"),
                            node_env={"FMAR_PLACEMENT_TTL": str(TTL)})
    try:
        local.start_trust()
        platco = local.register_member("Platco", ["Platform", "FSP"])
        neso = local.register_member("Neso", ["NESO"])
        local.register_member("Tinyflex", ["FSP"])
        local.register_member("Otherflex", ["FSP"])
        local.add_node("platform", platco)
        local.add_node("neso", neso)
        local.start_nodes()
        yield Placed(local)
    finally:
        local.stop()


def test_POL_030_an_fsp_cannot_store_records_on_another_members_node(placed):
    other = placed.member("Otherflex")
    for node in ("neso", "platform"):
        refused = placed.send("Otherflex", node, "POST", "/assets", asset_of(other))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "POL-030"
        assert refused.json()["details"] == {"organisation_id": other.org_id}
    bulk = placed.send("Otherflex", "neso", "POST", "/assets/bulk",
                       json.dumps(asset_of(other)).encode(),
                       {"Content-Type": "application/x-ndjson"})
    assert bulk.status_code == 403 and bulk.json()["code"] == "POL-030", bulk.text
    # nothing was stored: NESO reads every asset on its node and finds none
    listed = placed.send("Neso", "neso", "GET", "/assets")
    assert listed.status_code == 200 and listed.json()["count"] == 0, listed.text
    # control: the platform stores its own record on its own node
    mine = placed.send("Platco", "platform", "POST", "/assets", asset_of(placed.member("Platco")))
    assert mine.status_code == 201, mine.text


def test_POL_030_hosting_is_granted_and_revoked_in_the_directory(placed):
    tiny, platco = placed.member("Tinyflex"), placed.member("Platco")

    def post() -> httpx.Response:
        return placed.send("Tinyflex", "platform", "POST", "/assets", asset_of(tiny))

    before = post()
    assert before.status_code == 403 and before.json()["code"] == "POL-030", before.text
    # the host cannot declare itself the host of another organisation, nor can a third party
    for who in ("Platco", "Otherflex"):
        with placed.admin(who) as c:
            taken = c.post(f"/api/orgs/{tiny.org_id}/hosting", json={"host_org_id": platco.org_id})
        assert taken.status_code == 403 and taken.json()["code"] == "POL-101", taken.text
    # the hosted FSP's admin asks; nothing changes until the host accepts
    with placed.admin("Tinyflex") as c:
        asked = c.post(f"/api/orgs/{tiny.org_id}/hosting", json={"host_org_id": platco.org_id})
        assert asked.status_code == 201 and asked.json()["status"] == "requested", asked.text
        again = c.post(f"/api/orgs/{tiny.org_id}/hosting", json={"host_org_id": platco.org_id})
        assert again.status_code == 409 and again.json()["code"] == "DIR-031", again.text
        # the hosted organisation cannot accept for the host
        own = c.post(f"/api/orgs/{tiny.org_id}/hosting/{platco.org_id}/accept")
        assert own.status_code == 403 and own.json()["code"] == "POL-101", own.text
    with placed.local.client() as c:
        assert c.get(f"/api/members/{platco.org_id}/hosted").json() == []
    refused = post()
    assert refused.status_code == 403 and refused.json()["code"] == "POL-030", refused.text
    with placed.admin("Platco") as c:  # the host's admin accepts
        accepted = c.post(f"/api/orgs/{tiny.org_id}/hosting/{platco.org_id}/accept")
        assert accepted.status_code == 200 and accepted.json()["status"] == "active", \
            accepted.text
    with placed.local.client() as c:  # public: which organisations a member's nodes hold
        listed = c.get(f"/api/members/{platco.org_id}/hosted").json()
    assert [h["org_id"] for h in listed] == [tiny.org_id]

    stored = until(lambda: (r := post()).status_code == 201 and r)
    assert stored, "the node did not learn of the hosting relation"
    # still refused on NESO's node, which does not host Tinyflex
    elsewhere = placed.send("Tinyflex", "neso", "POST", "/assets", asset_of(tiny))
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "POL-030"

    # the host ends the relation; the node refuses new records and changes after its TTL
    with placed.admin("Platco") as c:
        revoked = c.delete(f"/api/orgs/{tiny.org_id}/hosting/{platco.org_id}")
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked", revoked.text
    after = until(lambda: (r := post()).status_code == 403 and r)
    assert after and after.json()["code"] == "POL-030", "revocation did not take effect"
    patch = placed.send("Tinyflex", "platform", "PATCH", f"/assets/{stored.json()['AssetId']}",
                        {"AssetName": "after revocation"},
                        {"If-Match": stored.headers["etag"],
                         "Content-Type": "application/merge-patch+json"})
    assert patch.status_code == 403 and patch.json()["code"] == "POL-030", patch.text
    with placed.local.client() as c:
        assert c.get(f"/api/members/{platco.org_id}/hosted").json() == []
    # asking again after the host ended it needs the host's consent again (a member cannot
    # place its records on another member's node against that member's will)
    with placed.admin("Tinyflex") as c:
        asked = c.post(f"/api/orgs/{tiny.org_id}/hosting", json={"host_org_id": platco.org_id})
        assert asked.status_code == 201 and asked.json()["status"] == "requested", asked.text
    with placed.local.client() as c:
        assert c.get(f"/api/members/{platco.org_id}/hosted").json() == []
    with placed.admin("Platco") as c:  # the host refuses the request
        assert c.delete(f"/api/orgs/{tiny.org_id}/hosting/{platco.org_id}").status_code == 200


def test_DIR_030_a_host_is_another_active_member_that_runs_a_node(placed):
    tiny, other = placed.member("Tinyflex"), placed.member("Otherflex")
    with placed.admin("Tinyflex") as c:
        no_node = c.post(f"/api/orgs/{tiny.org_id}/hosting", json={"host_org_id": other.org_id})
        itself = c.post(f"/api/orgs/{tiny.org_id}/hosting", json={"host_org_id": tiny.org_id})
        unknown = c.delete(f"/api/orgs/{tiny.org_id}/hosting/{other.org_id}")
    for refused in (no_node, itself):
        assert refused.status_code == 422 and refused.json()["code"] == "DIR-030", refused.text
    assert unknown.status_code == 404 and unknown.json()["code"] == "DIR-006"
    # control: the operator may grant it for any member, to a host that runs a node
    with placed.operator() as c:
        ok = c.post(f"/api/orgs/{other.org_id}/hosting",
                    json={"host_org_id": placed.member("Neso").org_id})
        assert ok.status_code == 201, ok.text
        assert c.delete(f"/api/orgs/{other.org_id}/hosting/"
                        f"{placed.member('Neso').org_id}").status_code == 200


def test_fmar_org_host_cli_grants_lists_and_revokes(placed, tmp_path):
    """`fmar org host / hosted / unhost` as a subprocess, logged in as the hosted admin."""
    tiny, platco = placed.member("Tinyflex"), placed.member("Platco")
    home = tmp_path / "home"
    home.mkdir()
    (home / "session.json").write_text(json.dumps({
        "trust": placed.local.issuer, "ca_bundle": str(placed.local.ca_bundle),
        "access_token": placed.local.login(tiny.email, tiny.password)}))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FMAR_")},
           "FMAR_HOME": str(home)}
    fmar = [sys.executable, "-m", "node"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*fmar, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    granted = run("org", "host", tiny.org_id, "--host", platco.org_id)
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["status"] == "requested"
    with placed.admin("Platco") as c:  # (the host's admin: `fmar org host-accept`)
        accepted = c.post(f"/api/orgs/{tiny.org_id}/hosting/{platco.org_id}/accept")
        assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    listed = run("org", "hosted", platco.org_id, "--trust", placed.local.issuer,
                 "--ca", str(placed.local.ca_bundle))
    assert [h["org_id"] for h in json.loads(listed.stdout)] == [tiny.org_id]
    revoked = run("org", "unhost", tiny.org_id, "--host", platco.org_id)
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["status"] == "revoked"
    twice = run("org", "unhost", tiny.org_id, "--host", platco.org_id)
    assert twice.returncode == 1 and json.loads(twice.stdout)["code"] == "DIR-006"
