"""IB1 oauth-with-member-identity-certificates/1.0: the served metadata (RFC 8414) and the
tokens, parsed and checked against the profile; the refresh-token grant of user sessions
(rotation, reuse detection) and who may introspect (docs/trust.md, "OAuth profile")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from test_trust_refusals import assert_refused, claims_of

from common.tls import pem_to_der
from tests.harness import directory as helpers
from trust.client.certificates import san_uris, x5t_s256

PROFILE = {  # the values the profile requires, as JSON
    "use_mtls_endpoint_aliases": True,
    "require_pushed_authorization_requests": True,
    "tls_client_certificate_bound_access_tokens": True,
    "response_types_supported": ["code"],
    "code_challenge_methods_supported": ["S256"],
}


def _metadata(federation: helpers.Federation) -> dict[str, Any]:
    with federation.client() as c:
        resp = c.get("/.well-known/oauth-authorization-server")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith(
        "application/json")
    body = resp.json()
    assert isinstance(body, dict)
    return body


def test_DSI_OAUTH_001_mtls_endpoint_aliases_repeat_every_endpoint(federation):
    meta = _metadata(federation)
    endpoints = {k: v for k, v in meta.items() if k.endswith("_endpoint")}
    assert {"authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint",
            "userinfo_endpoint", "introspection_endpoint",
            "revocation_endpoint"} <= set(endpoints)
    assert meta["mtls_endpoint_aliases"] == endpoints  # exactly: same keys, same URLs
    assert all(url.startswith(f"{federation.issuer}/") for url in endpoints.values())
    assert meta["issuer"] == federation.issuer


def test_DSI_OAUTH_002_metadata_has_the_profile_values(federation):
    meta = _metadata(federation)
    assert {k: meta.get(k) for k in PROFILE} == PROFILE
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    for field in ("authorization_endpoint_auth_methods_supported",
                  "token_endpoint_auth_methods_supported"):
        assert meta[field][0] == "tls_client_auth", field  # the profile's method first
        # FMAR's additions are these two, and only these (docs/trust.md)
        assert set(meta[field]) <= {"tls_client_auth", "private_key_jwt", "none"}
    assert meta["introspection_endpoint_auth_methods_supported"] == ["tls_client_auth"]
    assert "registration_endpoint" not in meta  # no dynamic client registration


def test_DSI_OAUTH_003_a_token_client_id_is_the_directory_url_of_its_certificate(
        federation, members):
    fsp = members.fsp
    cert = x509.load_pem_x509_certificate(fsp.cert.read_bytes())
    [url] = san_uris(cert)
    for client_id in (fsp.app_id, url):  # named by id or, as IB1 does, by its URL
        resp = federation.client_credentials(client_id, fsp.cert, fsp.key,
                                             members.fsp_node.url)
        assert resp.status_code == 200, resp.text
        claims = claims_of(resp.json()["access_token"])
        assert claims["client_id"] == url == f"{federation.issuer}/a/{fsp.app_id}"
        assert claims["cnf"]["x5t#S256"] == x5t_s256(pem_to_der(fsp.cert.read_text()))
    # a node's token names the node's directory URL, the URI of its client certificate
    node = members.fsp_node
    with federation.client(node.client_cert, node.client_key) as c:
        resp = c.post("/token", data={"grant_type": "client_credentials",
                                      "client_id": node.node_id,
                                      "audience": members.dno_node.url,
                                      "scope": "duplicates:query"})
    assert resp.status_code == 200, resp.text
    node_cert = x509.load_pem_x509_certificate(Path(node.client_cert or "").read_bytes())
    assert claims_of(resp.json()["access_token"])["client_id"] == san_uris(node_cert)[0]
    # another member's certificate cannot speak for this client_id
    other = members.dno
    assert_refused(federation.client_credentials(url, other.cert, other.key,
                                                 members.fsp_node.url), 401, "AUTH-021")


def _refresh(federation: helpers.Federation, token: str, client_id: str | None = None,
             cert: Path | None = None, key: Path | None = None):  # type: ignore[no-untyped-def]
    with federation.client(cert, key) as c:
        return c.post("/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                      "client_id": client_id or federation.state[
                                          "cli_client_id"]})


def _sign_in(federation: helpers.Federation, member: helpers.Member) -> dict[str, Any]:
    resp = federation.login(member.email, member.password)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert isinstance(body, dict)
    return body


def test_AUTH_060_a_user_session_refreshes_with_a_new_refresh_token_each_time(federation,
                                                                              members):
    fsp = members.fsp
    first = _sign_in(federation, fsp)
    assert first["refresh_token"]
    second = _refresh(federation, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]  # rotated
    old, new = claims_of(first["access_token"]), claims_of(body["access_token"])
    assert new["sub"] == old["sub"] and new["org_id"] == fsp.org_id
    assert new["jti"] != old["jti"] and new["scope"] == old["scope"]
    assert new["client_id"] == f"{federation.issuer}/a/{federation.state['cli_client_id']}"
    with federation.client(token=body["access_token"]) as c:
        assert c.get("/userinfo").status_code == 200
    third = _refresh(federation, body["refresh_token"])  # the next one works in turn
    assert third.status_code == 200, third.text
    # a refresh token is its client's only: another client presenting it is refused
    assert_refused(_refresh(federation, third.json()["refresh_token"], fsp.app_id, fsp.cert,
                            fsp.key), 400, "AUTH-060")
    assert_refused(_refresh(federation, "not-a-refresh-token"), 400, "AUTH-060")


def test_AUTH_061_reusing_a_rotated_refresh_token_revokes_the_whole_family(federation,
                                                                            members):
    fsp = members.fsp
    stolen = _sign_in(federation, fsp)["refresh_token"]
    other_session = _sign_in(federation, fsp)  # the same person, signed in elsewhere
    rotated = _refresh(federation, stolen).json()  # the owner refreshes
    assert_refused(_refresh(federation, stolen), 400, "AUTH-061")  # the copy comes back
    # the whole family is gone: the newest refresh token and the access token it came with
    assert_refused(_refresh(federation, rotated["refresh_token"]), 400, "AUTH-060")
    with federation.client(token=rotated["access_token"]) as c:
        assert c.get("/userinfo").status_code == 401
    # control: another session of the same person is untouched
    assert _refresh(federation, other_session["refresh_token"]).status_code == 200


def test_AUTH_060_revoking_a_refresh_token_ends_the_session(federation, members):
    session = _sign_in(federation, members.fsp)
    cli = federation.state["cli_client_id"]
    with federation.client() as c:
        assert c.post("/revoke", data={"token": session["refresh_token"],
                                       "client_id": cli}).status_code == 200
    assert_refused(_refresh(federation, session["refresh_token"]), 400, "AUTH-060")
    with federation.client(token=session["access_token"]) as c:
        assert c.get("/userinfo").status_code == 401


def test_AUTH_062_only_nodes_introspect(federation, members):
    token = members.fsp.access_token(members.fsp_node.url)
    fsp = members.fsp  # a member's machine client, with its certificate: refused
    with federation.client(fsp.cert, fsp.key) as c:
        assert_refused(c.post("/introspect", data={"token": token, "client_id": fsp.app_id}),
                       403, "AUTH-062")
    node = members.dno_node  # control: a node, with its node certificate
    with federation.client(node.client_cert, node.client_key) as c:
        seen = c.post("/introspect", data={"token": token, "client_id": node.node_id})
    assert seen.status_code == 200 and seen.json()["active"] is True
