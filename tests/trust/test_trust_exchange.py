"""Issue 7, items 1, 3 and 7; issue 9 §3: constrained token exchange, pending nodes,
revocation at nodes, sender-constrained tokens, and a hung trust framework. Every case runs
over real TLS against the real trust service and real node processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from test_trust_refusals import assert_refused, claims_of, forge

from node.federation.tokens import READ_SCOPE, ClientCredentialsTokens
from node.policy import parse_unbound_routes
from tests.harness.directory import start_real_node
from tests.harness.processes import free_port
from common import http_client as http
from trust.server.ca import make_key_and_csr, x5t_s256
from trust.server.grants import TOKEN_EXCHANGE
from common.tls import pem_to_der

READ = "assets:read sparql:query"


def exchange(federation, node, subject_token: str, audience: str, scope: str = "",
             client_id: str | None = None, cert=None, key=None):
    """Token exchange as `node` (its node id and node client certificate) unless told."""
    data = {"grant_type": TOKEN_EXCHANGE, "client_id": client_id or node.node_id,
            "subject_token": subject_token, "audience": audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}
    if scope:
        data["scope"] = scope
    with federation.client(cert or node.client_cert, key or node.client_key) as c:
        return c.post("/token", data=data)


def relay_token(member, node, scope: str = "assets:read sparql:query federation:query"):
    """What a caller sends to a node it asks to relay for it: may_act names that node."""
    return member.access_token(node.url, scope=scope, may_act=node.url)


def as_node(node, method: str, target, path: str, token: str):
    """A relayed call: the exchanging node presents its own client certificate."""
    return target.call(method, path, token, node.client_cert, node.client_key)


# ---------------------------------------------------------------- item 1: exchange

def test_exchange_only_for_the_node_the_caller_named_and_only_to_read(members, federation):
    """Control: the caller asks the FSP's node to relay (may_act); that node exchanges the
    token for the DNO's node and reads there with the caller's rights, never more."""
    caller, relay, target = members.fsp2, members.fsp_node, members.dno_node
    subject = relay_token(caller, relay)
    assert claims_of(subject)["may_act"] == {"sub": relay.node_id, "node_url": relay.url}
    resp = exchange(federation, relay, subject, target.url)
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    claims = claims_of(token)
    assert claims["sub"] == claims_of(subject)["sub"] and claims["org_id"] == caller.org_id
    assert claims["act"] == {"sub": relay.node_id, "node_url": relay.url,
                             "org_id": members.fsp.org_id}
    assert set(claims["scope"].split()) == {"assets:read", "sparql:query"}  # no federation:query
    assert claims["exp"] <= claims_of(subject)["exp"] and "may_act" not in claims
    assert claims["cnf"]["x5t#S256"] == x5t_s256(pem_to_der(relay.client_cert.read_text()))
    who = as_node(relay, "GET", target, "/whoami", token)
    assert who.status_code == 200, who.text
    assert who.json()["organisation_id"] == caller.org_id
    assert who.json()["actor"] == relay.node_id


def test_AUTH_042_a_node_cannot_exchange_a_token_it_received_in_a_fan_out(members, federation):
    """The hostile node operator: tokens that a client's own fan-out sends carry no
    may_act, so the node that receives them cannot exchange them."""
    relay, target = members.fsp_node, members.dno_node
    fan_out = members.fsp2.access_token(relay.url, scope=READ)  # no may_act
    assert "may_act" not in claims_of(fan_out)
    assert_refused(exchange(federation, relay, fan_out, target.url), 400, "AUTH-042")
    # may_act naming another node: the receiving node may not use it either
    for_dno = relay_token(members.fsp2, target)
    assert_refused(exchange(federation, relay, for_dno, target.url), 400, "AUTH-042")
    # control: the node that was named
    assert exchange(federation, target, for_dno, relay.url).status_code == 200


def test_the_federation_client_asks_for_read_scopes_and_no_may_act(members, federation):
    """The client-side fan-out asks each node for the read scopes only, never everything."""
    fsp = members.fsp

    async def get(member) -> str:
        source = ClientCredentialsTokens(federation.issuer, member.app_id)
        async with http.async_client(ca_bundle=federation.ca_bundle, cert=member.cert,
                                     key=member.key) as client:
            return await source.token_for(client, members.dno_node.url)

    claims = claims_of(asyncio.run(get(fsp)))
    assert claims["scope"].split() == sorted(READ_SCOPE.split())
    assert "may_act" not in claims and "assets:write" not in claims["scope"]
    # a regulator holds no assets:read: the client drops it on the trust framework's word
    regulator = federation.register_member("Regwatch", ["Regulator"])
    assert claims_of(asyncio.run(get(regulator)))["scope"] == "sparql:query"


def test_AUTH_045_may_act_names_only_the_tokens_own_node(members, federation):
    resp = federation.client_credentials(members.fsp2.app_id, members.fsp2.cert,
                                         members.fsp2.key, members.fsp_node.url,
                                         may_act=members.dno_node.url)
    assert_refused(resp, 400, "AUTH-045")


def test_AUTH_044_exchange_never_for_the_trust_framework_or_an_app(members, federation):
    relay = members.fsp_node
    subject = relay_token(members.fsp2, relay)
    for audience in (federation.issuer, f"{federation.issuer}/a/{members.fsp.app_id}",
                     members.fsp.app_id, "https://127.0.0.1:1"):
        assert_refused(exchange(federation, relay, subject, audience), 400, "AUTH-044")
    pending = f"https://127.0.0.1:{free_port()}"
    members.fsp.register_node(pending, approve=False)
    assert_refused(exchange(federation, relay, subject, pending), 400, "AUTH-044")
    # control
    assert exchange(federation, relay, subject, members.dno_node.url).status_code == 200


def test_AUTH_040_exchange_by_an_application_instead_of_the_node(members, federation):
    """An app of the node's own organisation, with its own certificate, may not exchange."""
    relay, fsp = members.fsp_node, members.fsp
    subject = relay_token(members.fsp2, relay)
    by_app = exchange(federation, relay, subject, members.dno_node.url, client_id=fsp.app_id,
                      cert=fsp.cert, key=fsp.key)
    assert_refused(by_app, 401, "AUTH-040")
    # the node's id with the app's certificate: not the node's certificate
    stolen_id = exchange(federation, relay, subject, members.dno_node.url, cert=fsp.cert,
                         key=fsp.key)
    assert_refused(stolen_id, 401, "AUTH-021")
    # the node's id without any certificate
    with federation.client() as c:
        bare = c.post("/token", data={"grant_type": TOKEN_EXCHANGE, "client_id": relay.node_id,
                                      "subject_token": subject,
                                      "audience": members.dno_node.url})
    assert_refused(bare, 401, "AUTH-040")
    assert exchange(federation, relay, subject, members.dno_node.url).status_code == 200


def test_AUTH_043_no_exchange_of_an_exchanged_token(members, federation):
    relay, target = members.fsp_node, members.dno_node
    first = exchange(federation, relay, relay_token(members.fsp2, relay), target.url)
    assert first.status_code == 200, first.text
    again = exchange(federation, target, first.json()["access_token"], relay.url)
    assert_refused(again, 400, "AUTH-043")
    same_node = exchange(federation, relay, first.json()["access_token"], target.url)
    assert_refused(same_node, 400, "AUTH-043")


def test_AUTH_022_exchange_is_narrowed_to_read_scopes(members, federation):
    relay = members.fsp_node
    subject = relay_token(members.fsp2, relay, scope="assets:read assets:write audit:read "
                          "sparql:query federation:query")
    for scope in ("assets:write", "audit:read", "federation:query"):
        assert_refused(exchange(federation, relay, subject, members.dno_node.url, scope), 400,
                       "AUTH-022")
    ok = exchange(federation, relay, subject, members.dno_node.url)
    assert claims_of(ok.json()["access_token"])["scope"] == "assets:read sparql:query"
    writer = relay_token(members.fsp2, relay, scope="assets:write")
    assert_refused(exchange(federation, relay, writer, members.dno_node.url), 400, "AUTH-022")


def test_POL_021_a_relayed_token_only_reads(members, federation):
    """Even a token whose scopes would allow it: every write and admin route refuses `act`."""
    relay, target = members.fsp_node, members.dno_node
    token = exchange(federation, relay, relay_token(members.fsp2, relay),
                     target.url).json()["access_token"]
    assert as_node(relay, "GET", target, "/assets", token).status_code == 200
    assert as_node(relay, "POST", target, "/sparql", token).status_code == 200
    for method, path in (("POST", "/assets"), ("PATCH", "/assets/x"),
                         ("GET", "/admin/active-records?org_id=x")):
        assert_refused(as_node(relay, method, target, path, token), 403, "POL-021")
    # the caller's own token on the same write route: no POL-021 (its scope decides)
    own = members.fsp2.access_token(target.url, scope="assets:read assets:write")
    write = target.call("POST", "/assets", own, members.fsp2.cert, members.fsp2.key)
    assert write.status_code == 200, write.text


def test_a_relayed_token_never_reaches_the_directory_api(members, federation):
    """An admin's token relayed by a node cannot list users or create apps: the trust
    framework is never an exchange audience, and its API refuses any token with `act`."""
    relay = members.fsp_node
    login = federation.login(members.fsp2.email, members.fsp2.password,
                             resource=relay.url, may_act=relay.url, scope="assets:read")
    assert login.status_code == 200, login.text
    subject = login.json()["access_token"]
    assert claims_of(subject)["may_act"]["sub"] == relay.node_id
    assert_refused(exchange(federation, relay, subject, federation.issuer), 400, "AUTH-044")
    relayed = exchange(federation, relay, subject, members.dno_node.url).json()["access_token"]
    with federation.client(relay.client_cert, relay.client_key, token=relayed) as c:
        assert_refused(c.get(f"/api/orgs/{members.fsp2.org_id}/users"), 401, "AUTH-005")
    forged = forge(federation, relayed, aud=federation.issuer)
    with federation.client(token=forged) as c:
        assert_refused(c.get(f"/api/orgs/{members.fsp2.org_id}/users"), 401, "AUTH-030")
        assert_refused(c.post(f"/api/orgs/{members.fsp2.org_id}/apps", json={"name": "x"}),
                       401, "AUTH-030")
    with federation.client(token=members.fsp2.token()) as c:  # control: the admin itself
        assert c.get(f"/api/orgs/{members.fsp2.org_id}/users").status_code == 200


# ---------------------------------------------------------------- pending nodes

def test_DIR_021_a_pending_node_gets_nothing_until_the_operator_approves(members, federation):
    fsp = members.fsp
    url = f"https://127.0.0.1:{free_port()}"
    node_id = fsp.register_node(url, approve=False)
    base = federation.work / f"pending-{node_id}"
    _, csr = make_key_and_csr()
    with fsp.api() as c:
        for kind in ("server", "client"):
            resp = c.post(f"/api/nodes/{node_id}/certificates",
                          json={"csr_pem": csr.decode(), "kind": kind})
            assert_refused(resp, 409, "DIR-021")
        assert_refused(c.post(f"/api/nodes/{node_id}/status", json={"status": "active"}), 403,
                       "POL-102")
    with federation.client() as c:
        assert url not in {n["url"] for n in c.get("/api/nodes").json()}
    assert_refused(federation.client_credentials(fsp.app_id, fsp.cert, fsp.key, url), 400,
                   "AUTH-023")
    subject = relay_token(members.fsp2, members.fsp_node)
    assert_refused(exchange(federation, members.fsp_node, subject, url), 400, "AUTH-044")
    with federation.client(token=federation.operator_token()) as c:
        wrong = c.post(f"/api/nodes/{node_id}/status", json={"status": "suspended"})
        assert_refused(wrong, 409, "DIR-022")
        unknown = c.post(f"/api/nodes/{node_id}/status", json={"status": "bogus"})
        assert_refused(unknown, 422, "DIR-004")
        assert c.post(f"/api/nodes/{node_id}/status", json={"status": "active"}).status_code \
            == 200
    cert, key = fsp.node_certificate(node_id, "client", base)  # control: approved
    with federation.client() as c:
        assert url in {n["url"] for n in c.get("/api/nodes").json()}
    # suspended again: the node can no longer authenticate (AUTH-041)
    subject = relay_token(members.fsp2, members.fsp_node)
    with federation.client(token=federation.operator_token()) as c:
        assert c.post(f"/api/nodes/{node_id}/status", json={"status": "suspended"}) \
            .status_code == 200
    with federation.client(cert, key) as c:
        resp = c.post("/token", data={"grant_type": TOKEN_EXCHANGE, "client_id": node_id,
                                      "subject_token": subject,
                                      "audience": members.dno_node.url})
    assert_refused(resp, 401, "AUTH-041")


# ---------------------------------------------------------------- item 7: binding

def test_AUTH_047_unbound_tokens_are_refused_by_default(members, federation):
    fsp = members.fsp
    bound = fsp.access_token(members.fsp_node.url)
    unbound = forge(federation, bound, cnf=None)
    assert_refused(members.fsp_node.call("GET", "/assets", unbound, fsp.cert, fsp.key), 401,
                   "AUTH-047")
    assert_refused(members.fsp_node.call("GET", "/assets", unbound), 401, "AUTH-047")
    ok = members.fsp_node.call("GET", "/assets", bound, fsp.cert, fsp.key)
    assert ok.status_code == 200, ok.text


def test_AUTH_046_token_roles_must_be_in_the_certificates_ib1Roles(members, federation):
    fsp = members.fsp
    token = fsp.access_token(members.fsp_node.url)
    as_dno = forge(federation, token, roles=["DNO"], dno_areas=["UKPN_EPN"])
    assert_refused(members.fsp_node.call("GET", "/assets", as_dno, fsp.cert, fsp.key), 401,
                   "AUTH-046")
    same = forge(federation, token, roles=["FSP"])
    assert members.fsp_node.call("GET", "/assets", same, fsp.cert, fsp.key).status_code == 200


@pytest.fixture(scope="module")
def portal_node(members):
    """A node behind a browser portal: people's unbound tokens, if short-lived."""
    node = members.fsp.start_node(free_port(), unbound_user_tokens=True,
                                  unbound_max_lifetime=300)
    yield node
    node.stop()


def test_AUTH_047_a_portal_node_takes_short_lived_user_tokens_only(members, federation,
                                                                   portal_node):
    login = federation.login(members.fsp.email, members.fsp.password,
                             resource=portal_node.url, scope="assets:read")
    user_token = login.json()["access_token"]
    assert "cnf" not in claims_of(user_token)
    assert portal_node.call("GET", "/assets", user_token).status_code == 200
    now = int(time.time())
    long_lived = forge(federation, user_token, iat=now, nbf=now, exp=now + 3600)
    assert_refused(portal_node.call("GET", "/assets", long_lived), 401, "AUTH-047")
    machine = forge(federation, members.fsp.access_token(portal_node.url), cnf=None)
    assert_refused(portal_node.call("GET", "/assets", machine), 401, "AUTH-047")


def _send(node, method: str, path: str, token: str, body=None, headers=None, cert=None,
          key=None):
    """A JSON request to a real node; no client certificate unless given."""
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    with http.client(ca_bundle=node.ca_bundle, cert=cert, key=key, timeout=60) as c:
        return c.request(method, f"{node.url}{path}", json=body, headers=h)


def _portal_login(federation, member, node) -> str:
    login = federation.login(member.email, member.password, resource=node.url,
                             scope="assets:read assets:write sparql:query")
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    assert "cnf" not in claims_of(token) and claims_of(token)["user_role"] == "admin"
    return token


def test_AUTH_047_a_portal_node_takes_unbound_user_tokens_on_read_routes_only(members,
                                                                             federation):
    """The real node behind a browser portal (FMAR_UNBOUND_USER_TOKENS=1): a person's
    unbound token reads and queries; every write, status change and admin route wants a
    certificate-bound token (AUTH-047), even though the person holds the scope."""
    from test_trust_node_e2e import ASSET

    fsp = members.fsp
    node = start_real_node(federation, fsp, free_port(), env={"FMAR_UNBOUND_USER_TOKENS": "1"})
    try:
        person = _portal_login(federation, fsp, node)
        bound = fsp.access_token(node.url, scope="assets:read assets:write")
        created = _send(node, "POST", "/assets", bound, {**ASSET, "OrganisationId": fsp.org_id},
                        cert=fsp.cert, key=fsp.key)
        assert created.status_code == 201, created.text  # control: a bound token writes
        path, etag = f"/assets/{created.json()['AssetId']}", created.headers["etag"]
        # reads and queries: accepted
        assert _send(node, "GET", path, person).status_code == 200
        listed = _send(node, "GET", "/assets", person)
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1, listed.text
        with http.client(ca_bundle=node.ca_bundle, timeout=60) as c:
            query = c.post(f"{node.url}/sparql", content=b"ASK { ?s ?p ?o }", headers={
                "Authorization": f"Bearer {person}",
                "Content-Type": "application/sparql-query"})
        assert query.status_code == 200, query.text
        # writes, status changes, admin: refused, and nothing changed
        for method, route, body, headers in (
                ("POST", "/assets", {**ASSET, "OrganisationId": fsp.org_id,
                                     "SerialNumber": "PORTAL-1"}, {}),
                ("PATCH", path, {"AssetName": "renamed by a portal"},
                 {"If-Match": etag, "Content-Type": "application/merge-patch+json"}),
                ("PUT", f"{path}/validation-status", {"status": "Verified"}, {"If-Match": etag}),
                ("DELETE", path, None, {"If-Match": etag}),
                ("POST", "/categories", {"code": "PORTAL"}, {}),
                ("GET", f"/admin/active-records?org_id={fsp.org_id}", None, {})):
            resp = _send(node, method, route, person, body, headers)
            assert_refused(resp, 401, "AUTH-047")
            assert resp.json()["details"] == {"method": method, "path": route.split("?")[0]}
        after = _send(node, "GET", path, person)
        assert after.headers["etag"] == etag and after.json()["AssetName"] == ASSET["AssetName"]
        assert len(_send(node, "GET", "/assets", person).json()["items"]) == 1
        # the same change with the bound token goes through (control)
        mine = _send(node, "PATCH", path, bound, {"AssetName": "renamed by its owner"},
                     {"If-Match": etag, "Content-Type": "application/merge-patch+json"},
                     cert=fsp.cert, key=fsp.key)
        assert mine.status_code == 200, mine.text
    finally:
        node.stop()


def test_AUTH_047_a_portal_node_lists_the_routes_unbound_tokens_may_use(members, federation):
    """FMAR_UNBOUND_ROUTES replaces the read routes: here a portal registers assets and
    reads them, but no longer queries; /admin cannot be listed at all."""
    from test_trust_node_e2e import ASSET

    fsp = members.fsp
    node = start_real_node(federation, fsp, free_port(), env={
        "FMAR_UNBOUND_USER_TOKENS": "1", "FMAR_UNBOUND_ROUTES": "GET /assets*, POST /assets"})
    try:
        person = _portal_login(federation, fsp, node)
        created = _send(node, "POST", "/assets", person,
                        {**ASSET, "OrganisationId": fsp.org_id, "SerialNumber": "PORTAL-2"})
        assert created.status_code == 201, created.text
        path, etag = f"/assets/{created.json()['AssetId']}", created.headers["etag"]
        assert _send(node, "GET", path, person).status_code == 200
        assert_refused(_send(node, "PATCH", path, person, {"AssetName": "x"}, {
            "If-Match": etag, "Content-Type": "application/merge-patch+json"}), 401, "AUTH-047")
        with http.client(ca_bundle=node.ca_bundle, timeout=60) as c:
            query = c.post(f"{node.url}/sparql", content=b"ASK { ?s ?p ?o }", headers={
                "Authorization": f"Bearer {person}",
                "Content-Type": "application/sparql-query"})
        assert_refused(query, 401, "AUTH-047")  # not listed
    finally:
        node.stop()
    assert parse_unbound_routes("read, patch /assets/*") == {"read", "PATCH /assets/*"}
    for bad in ("GET /admin/active-records", "POST", "GET assets", "GET /a*b"):
        with pytest.raises(ValueError, match="FMAR_UNBOUND_ROUTES"):
            parse_unbound_routes(bad)


# ---------------------------------------------------------------- item 3: revocation

REVOCATION_BOUND = 2 * 2 + 1  # 2 × revocation_ttl of the test nodes, plus one fetch


def test_AUTH_016_a_revoked_token_is_refused_at_the_node_within_the_bound(members,
                                                                          federation):
    fsp, node = members.fsp, members.fsp_node
    revoked, kept = fsp.access_token(node.url), fsp.access_token(node.url)
    for token in (revoked, kept):
        assert node.call("GET", "/assets", token, fsp.cert, fsp.key).status_code == 200
    with federation.client(fsp.cert, fsp.key) as c:
        assert c.post("/revoke", data={"token": revoked, "client_id": fsp.app_id}) \
            .status_code == 200
    time.sleep(REVOCATION_BOUND)
    assert_refused(node.call("GET", "/assets", revoked, fsp.cert, fsp.key), 401, "AUTH-016")
    assert node.call("GET", "/assets", kept, fsp.cert, fsp.key).status_code == 200


def test_AUTH_016_revoking_a_relay_token_revokes_what_the_node_exchanged(members, federation):
    caller, relay, target = members.fsp2, members.fsp_node, members.dno_node
    subject = relay_token(caller, relay)
    relayed = exchange(federation, relay, subject, target.url).json()["access_token"]
    assert as_node(relay, "GET", target, "/assets", relayed).status_code == 200
    with federation.client(caller.cert, caller.key) as c:
        assert c.post("/revoke", data={"token": subject, "client_id": caller.app_id}) \
            .status_code == 200
    time.sleep(REVOCATION_BOUND)
    assert_refused(as_node(relay, "GET", target, "/assets", relayed), 401, "AUTH-016")


def test_AUTH_016_a_deactivated_users_token_is_refused_at_the_node_within_the_bound(
        members, federation, portal_node):
    fsp = members.fsp
    with fsp.api() as c:
        user = c.post(f"/api/orgs/{fsp.org_id}/users",
                      json={"email": f"leaver-{free_port()}@flexco.example", "name": "Leaver",
                            "role": "viewer", "password": "leaver-password-1"}).json()
    login = federation.login(user["email"], "leaver-password-1", resource=portal_node.url,
                             scope="assets:read")
    leaver = login.json()["access_token"]
    stayer = federation.login(fsp.email, fsp.password, resource=portal_node.url,
                              scope="assets:read").json()["access_token"]
    assert portal_node.call("GET", "/assets", leaver).status_code == 200
    with fsp.api() as c:
        assert c.post(f"/api/users/{user['id']}/deactivate").status_code == 200
    time.sleep(REVOCATION_BOUND)
    assert_refused(portal_node.call("GET", "/assets", leaver), 401, "AUTH-016")
    assert portal_node.call("GET", "/assets", stayer).status_code == 200


# ---------------------------------------------------------------- issue 9 §3: hung trust

def test_a_hung_trust_framework_does_not_stall_valid_cached_tokens(members, federation):
    """The trust framework stops answering (SIGSTOP): the node keeps serving a valid token
    from its last good copies for up to one more TTL, without waiting on the trust
    framework, then fails fast with AUTH-014; once it answers again, so does the node."""
    ttl = 3
    fsp = members.fsp
    node = fsp.start_node(free_port(), status_ttl=ttl, crl_ttl=ttl, revocation_ttl=ttl,
                          jwks_ttl=ttl, fetch_timeout=30)
    token = fsp.access_token(node.url)
    assert federation.proc is not None
    try:
        assert node.call("GET", "/assets", token, fsp.cert, fsp.key).status_code == 200
        time.sleep(ttl + 0.3)  # every copy is past its TTL, within 2 × TTL
        os.kill(federation.proc.pid, signal.SIGSTOP)
        try:
            with http.client(ca_bundle=node.ca_bundle, cert=fsp.cert, key=fsp.key,
                             timeout=10) as c:  # far less than the node's 30 s fetch timeout
                headers = {"Authorization": f"Bearer {token}"}
                served = c.get(f"{node.url}/assets", headers=headers)
                assert served.status_code == 200, served.text
                time.sleep(ttl)  # now past 2 × TTL, the background refresh still hanging
                assert_refused(c.get(f"{node.url}/assets", headers=headers), 503, "AUTH-014")
        finally:
            os.kill(federation.proc.pid, signal.SIGCONT)
        deadline = time.time() + 30
        while node.call("GET", "/assets", token, fsp.cert, fsp.key).status_code != 200:
            assert time.time() < deadline, "the node did not recover"
            time.sleep(0.5)
    finally:
        node.stop()
