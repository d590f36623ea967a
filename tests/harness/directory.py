"""The trust framework's API as its participants use it: an organisation registers and is
approved by the operator, makes applications and certificates, registers nodes, and asks
for tokens. Also a test node (tests/trust/nodeapp.py, realnode.py) of a member."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from common import http_client as http
from tests.harness import HarnessError
from tests.harness.login import access_token_of, login
from tests.harness.processes import ROOT, clean_env, free_port, stop, wait_ready
from tests.harness.trust_service import TrustService, new_password
from trust.client.credentials import make_key_and_csr, write_secret
from trust.server import keys
from trust.server.bootstrap import settings_for
from trust.server.db import make_engine


def expect(resp: httpx.Response, status: int) -> httpx.Response:
    """`resp` when it has `status`, else HarnessError with what the server said."""
    if resp.status_code != status:
        raise HarnessError(f"{resp.request.method} {resp.request.url.path}: expected "
                           f"{status}, got {resp.status_code}: {resp.text[:1000]}")
    return resp


def org_body(name: str, roles: list[str], admin_email: str, admin_password: str,
             **extra: Any) -> dict[str, Any]:
    """A registration of organisation `name` (POST /api/orgs)."""
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


def save_certificate(issued: dict[str, Any], key_pem: bytes, folder: Path,
                     name: str) -> tuple[Path, Path]:
    """An issued certificate and its key as folder/{name}.pem and {name}.key (0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pem").write_text(issued["pem"])
    write_secret(folder / f"{name}.key", key_pem)
    return folder / f"{name}.pem", folder / f"{name}.key"


@dataclass
class Federation:
    """The trust framework at `issuer`, as its operator and members reach it."""

    issuer: str
    data: Path
    state: dict[str, Any]
    operator_email: str
    operator_password: str
    work: Path  # where members' certificates and test nodes are written
    proc: subprocess.Popen | None = None  # the trust service process
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token, expiry

    @classmethod
    def of(cls, service: TrustService, operator: tuple[str, str], work: Path) -> Federation:
        """The running `service`, its operator signing in as `operator` (e-mail, password)."""
        return cls(service.issuer, service.data, service.state, *operator, work=work,
                   proc=service.proc)

    @property
    def ca_bundle(self) -> Path:
        return self.data / "ca" / "chain.pem"

    def client(self, cert: Path | None = None, key: Path | None = None,
               token: str | None = None, source: str | None = None,
               base_url: str | None = None) -> httpx.Client:
        """A client of the trust service (or of `base_url`); `source` is the loopback
        address it connects from (127.0.0.2, ...: another caller, as far as the service can
        tell)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if source is None:
            return http.client(ca_bundle=self.ca_bundle, cert=cert, key=key,
                               base_url=base_url or self.issuer, headers=headers, timeout=30)
        transport = httpx.HTTPTransport(verify=http.ssl_context(self.ca_bundle, cert, key),
                                        local_address=source)
        return httpx.Client(transport=transport, base_url=base_url or self.issuer,
                            headers=headers, timeout=30)

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
              scope: str = "", nonce: str | None = None, verifier: str | None = None,
              may_act: str | None = None, source: str | None = None) -> httpx.Response:
        """A person's sign-in (tests.harness.login): the token endpoint's answer."""
        with self.client(source=source) as c:
            return login(c, self.state["cli_client_id"], self.issuer, email, password,
                         resource=resource, scope=scope, nonce=nonce or "n-0S6",
                         verifier=verifier, may_act=may_act)

    def user_token(self, email: str, password: str) -> str:
        """A person's token for the trust framework's API, kept for later calls until a
        minute before it expires (a session's fixtures can outlive a token)."""
        token, expires = self._tokens.get(email, ("", 0.0))
        if time.monotonic() > expires - 60:
            answer = self.login(email, password)
            token = access_token_of(answer)
            expires = time.monotonic() + float(answer.json().get("expires_in", 0))
            self._tokens[email] = (token, expires)
        return token

    def operator_token(self) -> str:
        return self.user_token(self.operator_email, self.operator_password)

    # directory ------------------------------------------------------------
    def register_member(self, name: str, roles: list[str], *, folder: Path | None = None,
                        **extra: Any) -> Member:
        """Organisation `name` registered, approved by the operator, with an application
        and its client certificate (in `folder`, by default a new one under `work`); its
        admin's password is new."""
        email, password = f"admin@{name.lower()}.example", new_password()
        with self.client() as c:
            resp = expect(c.post("/api/orgs", json=org_body(name, roles, email, password,
                                                            **extra)), 201)
            org_id = resp.json()["id"]
        self.set_status(f"/api/orgs/{org_id}/status", "Active")
        member = Member(name, org_id, email, password, roles=roles,
                        dno_areas=extra.get("dno_areas", []), fed=self)
        member.app_id = member.create_app(f"{name} app")["id"]
        member.cert, member.key = member.certificate(member.app_id, folder=folder)
        return member

    def set_status(self, path: str, status: str) -> None:
        """The operator sets a status (an organisation's, a node's)."""
        with self.client(token=self.operator_token()) as c:
            expect(c.post(path, json={"status": status}), 200)

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
    """An organisation in the directory: its admin, application and client certificate."""

    name: str
    org_id: str
    email: str  # its admin's sign-in
    password: str
    roles: list[str] = field(default_factory=list)
    dno_areas: list[str] = field(default_factory=list)
    app_id: str = ""
    cert: Path = Path()
    key: Path = Path()
    fed: Federation | None = field(default=None, repr=False, compare=False)

    SAVED = ("name", "org_id", "email", "password", "roles", "dno_areas", "app_id")

    def saved(self) -> dict[str, Any]:
        """What a saved federation keeps of it (federation.json)."""
        return {**{k: getattr(self, k) for k in self.SAVED},
                "cert": str(self.cert), "key": str(self.key)}

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> Member:
        return cls(**{k: saved[k] for k in cls.SAVED}, cert=Path(saved["cert"]),
                   key=Path(saved["key"]))

    @property
    def trust(self) -> Federation:
        if self.fed is None:
            raise HarnessError(f"{self.name} is not connected to a running trust framework")
        return self.fed

    def token(self) -> str:
        return self.trust.user_token(self.email, self.password)

    def api(self) -> httpx.Client:
        return self.trust.client(token=self.token())

    def create_app(self, name: str, roles: list[str] | None = None) -> dict[str, Any]:
        with self.api() as c:
            return expect(c.post(f"/api/orgs/{self.org_id}/apps",
                                 json={"name": name, "roles": roles or []}), 201).json()

    def certificate(self, app_id: str, kind: str = "client",
                    folder: Path | None = None) -> tuple[Path, Path]:
        """A new certificate of application `app_id`: folder/client.pem, client.key and
        its serial (by default in a new folder under `work`)."""
        key_pem, csr = make_key_and_csr()
        with self.api() as c:
            issued = expect(c.post(f"/api/apps/{app_id}/certificates",
                                   json={"csr_pem": csr.decode(), "kind": kind}), 201).json()
        folder = folder or self.trust.work / self.name / secrets.token_hex(4)
        cert, key = save_certificate(issued, key_pem, folder, "client")
        (folder / "serial").write_text(issued["serial"])
        return cert, key

    def access_token(self, audience: str, scope: str = "", cert: Path | None = None,
                     key: Path | None = None, may_act: str | None = None) -> str:
        """Its application's token for `audience`; `may_act`: a node that may relay."""
        return access_token_of(self.trust.client_credentials(
            self.app_id, cert or self.cert, key or self.key, audience, scope, may_act))

    def delegate(self, platform_app_id: str, nodes: list[str], scopes: list[str],
                 days: int = 180) -> dict[str, Any]:
        """Its admin lets a platform's application act for it (UC-05.04)."""
        expires = (datetime.now(UTC) + timedelta(days=days)).isoformat()
        with self.api() as c:
            return expect(c.post(f"/api/orgs/{self.org_id}/delegations", json={
                "platform_app_id": platform_app_id, "scopes": scopes, "nodes": nodes,
                "expires_at": expires}), 201).json()

    def register_node(self, url: str, dataset_types: list[str] | None = None,
                      approve: bool = True) -> str:
        """Register a node (pending), and have the operator approve it."""
        with self.api() as c:
            resp = expect(c.post(f"/api/orgs/{self.org_id}/nodes",
                                 json={"url": url, "dataset_types": dataset_types or ["Asset"]}),
                          201)
        if resp.json()["status"] != "pending":
            raise HarnessError(f"a new node is {resp.json()['status']}, not pending")
        node_id = str(resp.json()["id"])
        if approve:
            self.trust.set_status(f"/api/nodes/{node_id}/status", "active")
        return node_id

    def node_certificate(self, node_id: str, kind: str, base: Path) -> tuple[Path, Path]:
        """A node's server, client or signing certificate (kind), written to
        base/{kind}.pem|key."""
        key_pem, csr = make_key_and_csr()
        with self.api() as c:
            issued = expect(c.post(f"/api/nodes/{node_id}/certificates",
                                   json={"csr_pem": csr.decode(), "kind": kind}), 201).json()
        return save_certificate(issued, key_pem, base, kind)

    def start_node(self, port: int, *, dataset_types: list[str] | None = None,
                   trusted_proxies: list[str] | None = None, **verifier: Any) -> TrustTestNode:
        """A test node (tests/trust/nodeapp.py); `verifier` overrides VerifierConfig fields."""
        url = f"https://127.0.0.1:{port}"
        node_id = self.register_node(url, dataset_types)
        base = self.trust.work / f"node-{port}"
        self.node_certificate(node_id, "server", base)
        client_cert, client_key = self.node_certificate(node_id, "client", base)
        cfg = {"issuer": self.trust.issuer, "audience": url,
               "ca_bundle": str(self.trust.ca_bundle),
               "server_cert": str(base / "server.pem"), "server_key": str(base / "server.key"),
               "port": port, "active_records": str(base / "active.json"),
               "trusted_proxies": trusted_proxies or [], "verifier": verifier}
        return TrustTestNode.start("tests/trust/nodeapp.py", cfg, url, node_id, base,
                              self.trust.ca_bundle, client_cert, client_key)


@dataclass
class TrustTestNode:
    """A node of the trust tests (nodeapp.py, realnode.py) as its own process over TLS."""

    url: str
    node_id: str
    proc: subprocess.Popen
    base: Path
    ca_bundle: Path
    # The node's own client certificate (its identity when it relays or asks other nodes).
    client_cert: Path | None = None
    client_key: Path | None = None

    @classmethod
    def start(cls, script: str, cfg: dict[str, Any], url: str, node_id: str, base: Path,
              ca_bundle: Path, client_cert: Path | None = None,
              client_key: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 20) -> TrustTestNode:
        """Run `script` (relative to the repository) with `cfg` as its config.json."""
        (base / "config.json").write_text(json.dumps(cfg))
        with open(base / "node.log", "w") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([sys.executable, str(ROOT / script),
                                     str(base / "config.json")], cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, env=clean_env(**(env or {})))
        node = cls(url, node_id, proc, base, ca_bundle, client_cert, client_key)
        try:
            wait_ready(f"{url}/docs", proc, ca_bundle=ca_bundle, timeout=timeout,
                       why=lambda: (base / "node.log").read_text()[-3000:])
        except BaseException:
            node.stop()
            raise
        return node

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
        stop(self.proc)


@dataclass
class Members:
    """Two FSPs and a DNO, each with a test node (the trust tests' `members` fixture)."""

    fed: Federation
    fsp: Member
    fsp2: Member
    dno: Member
    fsp_node: TrustTestNode
    dno_node: TrustTestNode

    @classmethod
    def create(cls, fed: Federation) -> Members:
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
                    env: dict[str, str] | None = None) -> TrustTestNode:
    """The real node (tests/trust/realnode.py) of `member`, over TLS, with `env` added to
    its environment."""
    url = f"https://127.0.0.1:{port}"
    node_id = member.register_node(url)
    base = fed.work / f"realnode-{port}"
    member.node_certificate(node_id, "server", base)
    cfg = {"issuer": fed.issuer, "audience": url, "ca_bundle": str(fed.ca_bundle),
           "server_cert": str(base / "server.pem"), "server_key": str(base / "server.key"),
           "port": port, "data_dir": str(base / "data")}
    return TrustTestNode.start("tests/trust/realnode.py", cfg, url, node_id, base, fed.ca_bundle,
                          env=env, timeout=60)
