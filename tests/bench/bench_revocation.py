"""Benchmark: how long a revocation takes to reach a node (issue 7, item 3).

    .venv/bin/python -m tests.bench.bench_revocation            # 8 + 4 rounds
    .venv/bin/python -m tests.bench.bench_revocation --rounds 3

Real processes on loopback: the trust service and one node (`fmar serve`, TLS, default
verifier settings: revocation_ttl 5 s, bound tokens required, people's unbound tokens
accepted as for a portal). Each round a token is used at the node (200), then revoked at
the trust framework, and the node is asked every 50 ms until it answers 401 AUTH-016; the
figure is the time from the revocation's answer to the first refusal. The same for a
user deactivated by its organisation's admin. Baseline (same run): one request's round
trip. The stated bound is 2 × revocation_ttl plus one fetch (trust/client/verifier.py _Fetched).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import http_client as http
from tests.harness.federation import LocalFederation
from tests.harness.trust_service import new_password


def until_refused(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while True:
        resp = call()
        if resp.status_code == 401 and resp.json().get("code") == "AUTH-016":
            return time.perf_counter() - started
        if resp.status_code != 200:
            raise RuntimeError(resp.text)
        time.sleep(0.05)


def summary(name: str, values: list[float]) -> None:
    print(f"{name:<34} n={len(values):<3} min {min(values):6.2f} s   median "
          f"{statistics.median(values):6.2f} s   max {max(values):6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fed = LocalFederation(Path(tmp), node_env={"FMAR_UNBOUND_USER_TOKENS": "1"})
        try:
            fed.start_trust()
            fsp = fed.register_member("Benchco", ["FSP"])
            node = fed.add_node("bench", fsp)
            fed.start_nodes()
            client = http.client(ca_bundle=fed.ca_bundle, cert=fsp.cert, key=fsp.key,
                                 timeout=30)

            def get(token: str):  # type: ignore[no-untyped-def]
                return client.get(f"{node.url}/assets?limit=1",
                                  headers={"Authorization": f"Bearer {token}"})

            baseline, revoked, deactivated = [], [], []
            for _ in range(args.rounds):
                token = fed.access_token(fsp, node.url)
                started = time.perf_counter()
                assert get(token).status_code == 200
                baseline.append(time.perf_counter() - started)
                with fed.client(fsp.cert, fsp.key) as c:
                    c.post("/revoke", data={"token": token, "client_id": fsp.app_id})
                revoked.append(until_refused(lambda t=token: get(t)))
            admin = fed.login(fsp.email, fsp.password)
            for i in range(max(1, args.rounds // 2)):
                email, password = f"leaver{i}@benchco.example", new_password()
                with fed.client(token=admin) as c:
                    user = c.post(f"/api/orgs/{fsp.org_id}/users", json={
                        "email": email, "name": "Leaver", "role": "viewer",
                        "password": password}).json()
                token = fed.login(email, password, resource=node.url)
                assert get(token).status_code == 200
                with fed.client(token=admin) as c:
                    c.post(f"/api/users/{user['id']}/deactivate").raise_for_status()
                deactivated.append(until_refused(lambda t=token: get(t)))
            client.close()
            print("revocation_ttl 5 s; stated bound 2 x 5 s + one fetch")
            summary("baseline: one request", baseline)
            summary("revoked token refused after", revoked)
            summary("deactivated user refused after", deactivated)
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
