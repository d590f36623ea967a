"""Helpers of the trust tests: drive the real trust service and nodes over HTTPS."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import Session

from trust import http, keys
from trust.bootstrap import settings_for
from trust.ca import make_key_and_csr
from trust.db import make_engine
from trust.grants import s256
from trust.keystore import write_secret

ROOT = Path(__file__).resolve().parents[2]


def org_body(name: str, roles: list[str], admin_email: str, admin_password: str,
             **extra: Any) -> dict[str, Any]:
    body = {
        "legal_name": f"{name} Ltd", "registration_number": f"{secrets.randbelow(10**8):08d}",
        "organisation_type": "Private Limited Company (Ltd)", "roles": roles,
        "email": f"info@{name.lower()}.example", "address_line1": "1 High Street",
        "city": "Reading", "postcode": "RG1 1AA",
        "primary_contact": {"first_name": "Ada", "last_name": "Lovelace",
                            "email": f"ada@{name.lower()}.example", "mobile": "+447700900123",
                            "role": "Compliance Officer"},
        "admin_name": f"{name} admin", "admin_email": admin_email,
        "admin_password": admin_password,
    }
    body.update(extra)
    return body


@dataclass
class Federation:
    issuer: str
    data: Path
    state: dict[str, Any]
    operator_email: str
    operator_password: str
    work: Path
    proc: subprocess.Popen | None = None  # the trust service process
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ca_bundle(self) -> Path:
        return self.data / "ca" / "chain.pem"

    def client(self, cert: Path | None = None, key: Path | None = None,
               token: str | None = None, source: str | None = None) -> httpx.Client:
        """A client of the trust service; `source` is the loopback address it connects from
        (127.0.0.2, ...: another caller, as far as the service can tell)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if source is None:
            return http.client(ca_bundle=self.ca_bundle, cert=cert, key=key,
                               base_url=self.issuer, headers=headers, timeout=15)
        transport = httpx.HTTPTransport(verify=http.ssl_context(self.ca_bundle, cert, key),
                                        local_address=source)
        return httpx.Client(transport=transport, base_url=self.issuer, headers=headers,
                            timeout=15)

    def engine(self):  # type: ignore[no-untyped-def]
        return make_engine(settings_for(self.data).db_url)

    def signing_key(self):  # type: ignore[no-untyped-def]
        """The trust framework's current signing key (to forge expired tokens and the like)."""
        from joserfc.jwk import ECKey

        settings = settings_for(self.data)
        engine = self.engine()
        with Session(engine) as session:
            row = keys.current_key(session, settings)
            session.commit()
            signer = keys.signer_of(row, settings)
        engine.dispose()
        return ECKey.import_key(signer.key, {"kid": row.kid, "use": "sig", "alg": "ES256"})

    # people ---------------------------------------------------------------
    def login(self, email: str, password: str, *, resource: str | None = None,
              scope: str = "", nonce: str | None = None,
              verifier: str | None = None, may_act: str | None = None,
              source: str | None = None) -> httpx.Response:
        """Authorization code + PKCE (S256) through PAR and the login page."""
        cid = self.state["cli_client_id"]
        code_verifier = secrets.token_urlsafe(48)
        redirect = "http://127.0.0.1:53682/callback"
        with self.client(source=source) as c:
            form = {"client_id": cid, "response_type": "code", "redirect_uri": redirect,
                    "code_challenge": s256(code_verifier), "code_challenge_method": "S256",
                    "state": "xyz", "scope": scope, "nonce": nonce or "n-0S6"}
            if resource:
                form["resource"] = resource
            if may_act:
                form["may_act"] = may_act
            pushed = c.post("/par", data=form)
            assert pushed.status_code == 201, pushed.text
            request_uri = pushed.json()["request_uri"]
            page = c.get("/authorize", params={"client_id": cid, "request_uri": request_uri})
            assert page.status_code == 200 and "<form" in page.text
            done = c.post("/authorize", data={"client_id": cid, "request_uri": request_uri,
                                              "email": email, "password": password})
            if done.status_code != 303:
                return done
            query = parse_qs(urlsplit(done.headers["location"]).query)
            assert query["state"] == ["xyz"] and query["iss"] == [self.issuer]
            return c.post("/token", data={"grant_type": "authorization_code", "client_id": cid,
                                          "code": query["code"][0], "redirect_uri": redirect,
                                          "code_verifier": verifier or code_verifier})

    def user_token(self, email: str, password: str) -> str:
        if email not in self._tokens:
            resp = self.login(email, password)
            assert resp.status_code == 200, resp.text
            self._tokens[email] = resp.json()["access_token"]
        return self._tokens[email]

    def operator_token(self) -> str:
        return self.user_token(self.operator_email, self.operator_password)

    # directory ------------------------------------------------------------
    def register_member(self, name: str, roles: list[str], **extra: Any) -> Member:
        email = f"admin@{name.lower()}.example"
        password = f"{name}-password-1"
        with self.client() as c:
            resp = c.post("/api/orgs", json=org_body(name, roles, email, password, **extra))
            assert resp.status_code == 201, resp.text
            org_id = resp.json()["id"]
        with self.client(token=self.operator_token()) as c:
            resp = c.post(f"/api/orgs/{org_id}/status", json={"status": "Active"})
            assert resp.status_code == 200, resp.text
        member = Member(self, name, org_id, email, password)
        member.app_id = member.create_app(f"{name} app")["id"]
        member.cert, member.key = member.certificate(member.app_id)
        return member

    def client_credentials(self, app_id: str, cert: Path, key: Path, audience: str,
                           scope: str = "", may_act: str | None = None) -> httpx.Response:
        data = {"grant_type": "client_credentials", "client_id": app_id, "audience": audience}
        if scope:
            data["scope"] = scope
        if may_act:
            data["may_act"] = may_act
        with self.client(cert, key) as c:
            return c.post("/token", data=data)


@dataclass
class Member:
    fed: Federation
    name: str
    org_id: str
    admin_email: str
    admin_password: str
    app_id: str = ""
    cert: Path = Path()
    key: Path = Path()

    def token(self) -> str:
        return self.fed.user_token(self.admin_email, self.admin_password)

    def api(self) -> httpx.Client:
        return self.fed.client(token=self.token())

    def create_app(self, name: str, roles: list[str] | None = None) -> dict[str, Any]:
        with self.api() as c:
            resp = c.post(f"/api/orgs/{self.org_id}/apps", json={"name": name,
                                                                 "roles": roles or []})
            assert resp.status_code == 201, resp.text
            return resp.json()

    def certificate(self, app_id: str, kind: str = "client") -> tuple[Path, Path]:
        key_pem, csr = make_key_and_csr()
        with self.api() as c:
            resp = c.post(f"/api/apps/{app_id}/certificates",
                          json={"csr_pem": csr.decode(), "kind": kind})
            assert resp.status_code == 201, resp.text
        base = self.fed.work / self.name / secrets.token_hex(4)
        base.mkdir(parents=True)
        (base / "cert.pem").write_text(resp.json()["pem"])
        write_secret(base / "key.pem", key_pem)
        (base / "serial").write_text(resp.json()["serial"])
        return base / "cert.pem", base / "key.pem"

    def access_token(self, audience: str, scope: str = "", cert: Path | None = None,
                     key: Path | None = None, may_act: str | None = None) -> str:
        resp = self.fed.client_credentials(self.app_id, cert or self.cert, key or self.key,
                                           audience, scope, may_act)
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def register_node(self, url: str, dataset_types: list[str] | None = None,
                      approve: bool = True) -> str:
        """Register a node (pending), and have the operator approve it."""
        with self.api() as c:
            resp = c.post(f"/api/orgs/{self.org_id}/nodes",
                          json={"url": url, "dataset_types": dataset_types or ["Asset"]})
            assert resp.status_code == 201, resp.text
            assert resp.json()["status"] == "pending"
            node_id = resp.json()["id"]
        if approve:
            with self.fed.client(token=self.fed.operator_token()) as c:
                resp = c.post(f"/api/nodes/{node_id}/status", json={"status": "active"})
                assert resp.status_code == 200, resp.text
        return node_id

    def node_certificate(self, node_id: str, kind: str, base: Path) -> tuple[Path, Path]:
        """A node's server or client certificate (kind), written to base/{kind}.pem|key."""
        key_pem, csr = make_key_and_csr()
        with self.api() as c:
            resp = c.post(f"/api/nodes/{node_id}/certificates",
                          json={"csr_pem": csr.decode(), "kind": kind})
            assert resp.status_code == 201, resp.text
        base.mkdir(parents=True, exist_ok=True)
        name = "server" if kind == "server" else "client"
        (base / f"{name}.pem").write_text(resp.json()["pem"])
        write_secret(base / f"{name}.key", key_pem)
        return base / f"{name}.pem", base / f"{name}.key"

    def start_node(self, port: int, *, dataset_types: list[str] | None = None,
                   trusted_proxies: list[str] | None = None, **verifier: Any) -> NodeProcess:
        """A test node (tests/trust/nodeapp.py); `verifier` overrides VerifierConfig fields."""
        url = f"https://127.0.0.1:{port}"
        node_id = self.register_node(url, dataset_types)
        base = self.fed.work / f"node-{port}"
        self.node_certificate(node_id, "server", base)
        client_cert, client_key = self.node_certificate(node_id, "client", base)
        cfg = {"issuer": self.fed.issuer, "audience": url, "ca_bundle": str(self.fed.ca_bundle),
               "server_cert": str(base / "server.pem"), "server_key": str(base / "server.key"),
               "port": port, "active_records": str(base / "active.json"),
               "trusted_proxies": trusted_proxies or [], "verifier": verifier}
        (base / "config.json").write_text(json.dumps(cfg))
        with open(base / "node.log", "w") as log:
            proc = subprocess.Popen([sys.executable, str(ROOT / "tests/trust/nodeapp.py"),
                                     str(base / "config.json")], cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
        node = NodeProcess(url, node_id, proc, base, self.fed.ca_bundle, client_cert,
                           client_key)
        node.wait()
        return node


@dataclass
class NodeProcess:
    url: str
    node_id: str
    proc: subprocess.Popen
    base: Path
    ca_bundle: Path
    # The node's own client certificate (its identity when it relays or asks other nodes).
    client_cert: Path | None = None
    client_key: Path | None = None

    def wait(self, timeout: float = 20) -> None:
        deadline = time.time() + timeout
        with http.client(ca_bundle=self.ca_bundle, timeout=2) as c:
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.base / "node.log").read_text())
                try:
                    c.get(f"{self.url}/docs")
                    return
                except httpx.HTTPError:
                    time.sleep(0.1)
        raise RuntimeError("node did not start")

    def set_active(self, org_id: str, assets: int, units: int = 0) -> None:
        path = self.base / "active.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data[org_id] = {"active_assets": assets, "active_market_units": units}
        path.write_text(json.dumps(data))

    def call(self, method: str, path: str, token: str | None = None, cert: Path | None = None,
             key: Path | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        with http.client(ca_bundle=self.ca_bundle, cert=cert, key=key, timeout=15) as c:
            return c.request(method, f"{self.url}{path}", headers=h)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Members:
    fed: Federation
    fsp: Member
    fsp2: Member
    dno: Member
    fsp_node: NodeProcess
    dno_node: NodeProcess

    @classmethod
    def create(cls, fed: Federation) -> Members:
        from conftest import free_port  # type: ignore[import-not-found]

        fsp = fed.register_member("Flexco", ["FSP"])
        fsp2 = fed.register_member("Otherflex", ["FSP", "Aggregator"])
        dno = fed.register_member("Gridco", ["DNO"], dno_areas=["UKPN_EPN", "UKPN_SPN"])
        fsp_node = fsp.start_node(free_port())
        dno_node = dno.start_node(free_port())
        return cls(fed, fsp, fsp2, dno, fsp_node, dno_node)

    def stop(self) -> None:
        self.fsp_node.stop()
        self.dno_node.stop()


def start_real_node(fed: Federation, member: Member, port: int,
                    env: dict[str, str] | None = None) -> NodeProcess:
    """The real node (tests/trust/realnode.py) of `member`, over TLS, with `env` added to
    its environment."""
    import os

    url = f"https://127.0.0.1:{port}"
    node_id = member.register_node(url)
    base = fed.work / f"realnode-{port}"
    member.node_certificate(node_id, "server", base)
    cfg = {"issuer": fed.issuer, "audience": url, "ca_bundle": str(fed.ca_bundle),
           "server_cert": str(base / "server.pem"), "server_key": str(base / "server.key"),
           "port": port, "data_dir": str(base / "data")}
    (base / "config.json").write_text(json.dumps(cfg))
    with open(base / "node.log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests/trust/realnode.py"),
                                 str(base / "config.json")], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    node = NodeProcess(url, node_id, proc, base, fed.ca_bundle)
    node.wait(timeout=60)
    return node
