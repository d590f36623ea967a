"""Rate limits (RATE-001) and the failed-login lock-out (AUTH-032), against the running
trust service and a real node over TLS. Callers from other sources connect from other
loopback addresses (127.0.0.x), so the service sees really different peers."""

from __future__ import annotations

import time

from test_trust_refusals import assert_refused

from tests.harness.directory import start_real_node
from tests.harness.processes import free_port
from common import http_client as http
from common.ratelimit import Limit, LoginThrottle


def _token_form(member, audience):
    return {"grant_type": "client_credentials", "client_id": member.app_id,
            "audience": audience}


def test_RATE_001_a_burst_at_the_token_endpoint_gets_429_with_retry_after(federation):
    member = federation.register_member("Burstco", ["FSP"])
    form = _token_form(member, federation.issuer)
    with federation.client(member.cert, member.key, source="127.0.0.3") as c:
        answers = [c.post("/token", data=form) for _ in range(150)]
    assert answers[0].status_code == 200, answers[0].text  # control: the first one is served
    refused = [a for a in answers if a.status_code == 429]
    assert refused, "150 requests in a burst were all served"
    assert {a.status_code for a in answers} == {200, 429}
    first = refused[0]
    assert_refused(first, 429, "RATE-001")
    assert first.json()["details"]["limit"] in ("client", "source")
    retry_after = int(first.headers["retry-after"])
    assert retry_after >= 1
    # control: another client from another source is served meanwhile ...
    other = federation.register_member("Calmco", ["FSP"])
    with federation.client(other.cert, other.key, source="127.0.0.4") as c:
        assert c.post("/token", data=_token_form(other, federation.issuer)).status_code == 200
    # ... and the bursting client is served again once it waited as told
    time.sleep(retry_after)
    with federation.client(member.cert, member.key, source="127.0.0.3") as c:
        assert c.post("/token", data=form).status_code == 200


def test_RATE_001_a_burst_at_a_node_gets_429_and_other_clients_go_on(federation, members):
    node = start_real_node(federation, members.fsp, free_port(),
                           env={"FMAR_RATE_API_CLIENT": "100:5", "FMAR_RATE_API_SOURCE": "off"})
    try:
        fsp, other = members.fsp, members.fsp2
        token = fsp.access_token(node.url)
        with http.client(ca_bundle=node.ca_bundle, cert=fsp.cert, key=fsp.key, timeout=15,
                         headers={"Authorization": f"Bearer {token}"}) as c:
            answers = [c.get(f"{node.url}/assets") for _ in range(150)]
        assert answers[0].status_code == 200, answers[0].text
        refused = [a for a in answers if a.status_code == 429]
        assert refused
        assert_refused(refused[0], 429, "RATE-001")
        assert int(refused[0].headers["retry-after"]) >= 1
        # control: another client of the same node is not slowed down by the first one
        resp = node.call("GET", "/assets", other.access_token(node.url), other.cert, other.key)
        assert resp.status_code == 200, resp.text
    finally:
        node.stop()


def test_AUTH_032_an_attacker_from_another_source_cannot_lock_a_user_out(federation):
    victim = federation.register_member("Victimco", ["FSP"])
    for _ in range(5):  # the attacker guesses from 127.0.0.5
        guess = federation.login(victim.email, "wrong-password", source="127.0.0.5")
        assert guess.status_code == 401
    locked = federation.login(victim.email, victim.password, source="127.0.0.5")
    assert locked.status_code == 429 and "AUTH-032" in locked.text
    # control: the user, from its own address, logs in as usual
    own = federation.login(victim.email, victim.password, source="127.0.0.6")
    assert own.status_code == 200, own.text
    assert own.json()["access_token"]


def test_AUTH_032_the_lock_out_backs_off_per_account_and_source():
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, lock_seconds=30, lock_max=100,
                             clock=lambda: now[0])

    def retry_after(email: str, source: str) -> int:
        try:
            throttle.check(email, source)
        except Exception as exc:  # noqa: BLE001 - the ApiError is what is asserted
            assert exc.code == "AUTH-032" and exc.status == 429
            return int(exc.headers["Retry-After"])
        return 0

    for _ in range(2):
        throttle.failed("a@x.example", "10.0.0.1")
    assert retry_after("a@x.example", "10.0.0.1") == 0  # below the threshold
    throttle.failed("a@x.example", "10.0.0.1")
    assert retry_after("a@x.example", "10.0.0.1") == 30
    assert retry_after("A@X.example ", "10.0.0.1") == 30  # the same account
    assert retry_after("a@x.example", "10.0.0.2") == 0  # another source is not locked
    assert retry_after("b@x.example", "10.0.0.1") == 0  # nor another account
    now[0] = 31
    throttle.failed("a@x.example", "10.0.0.1")
    assert retry_after("a@x.example", "10.0.0.1") == 60  # doubles ...
    now[0] = 92
    throttle.failed("a@x.example", "10.0.0.1")
    assert retry_after("a@x.example", "10.0.0.1") == 100  # ... up to the maximum
    throttle.succeeded("a@x.example", "10.0.0.1")
    assert retry_after("a@x.example", "10.0.0.1") == 0


def test_RATE_001_limits_are_read_from_the_environment():
    from common.ratelimit import RateLimits

    limits = RateLimits.from_env({"FMAR_RATE_TOKEN_SOURCE": "3:1", "FMAR_RATE_API_CLIENT": "off",
                                  "FMAR_TRUSTED_PROXIES": "10.0.0.1"})
    assert limits.buckets[("token", "source")].limit == Limit(3, 1)
    assert ("api", "client") not in limits.buckets
    assert limits.buckets[("api", "source")].limit == Limit(600, 100)  # the default
    scope = {"type": "http", "path": "/token", "headers": [],
             "extensions": {"fmar.peer": {"host": "192.0.2.7"}}}
    assert [limits.wait(scope) for _ in range(3)] == [(0, "")] * 3
    wait, by = limits.wait(scope)
    assert wait > 0 and by == "source"
    # a trusted proxy's X-Forwarded-For names the source; anyone else's is ignored
    proxied = {**scope, "headers": [(b"x-forwarded-for", b"198.51.100.9")],
               "extensions": {"fmar.peer": {"host": "10.0.0.1"}}}
    assert limits.wait(proxied) == (0, "")
    spoofed = {**scope, "headers": [(b"x-forwarded-for", b"198.51.100.10")]}
    assert limits.wait(spoofed)[0] > 0  # still 192.0.2.7's empty bucket
