"""A whole federation on loopback, as real processes with real TLS: the trust framework
and N nodes, each node with its server certificate, its application's client
certificate (for token exchange) and data loaded with full validation before it
starts. Used by examples/federation_demo.py and tests/federation.

Everything goes through the trust service's public HTTP API (organisation
registration, operator approval, applications, nodes, CSRs), as a participant would.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from common import http_client as trust_http
from trust.server.keystore import write_secret

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_EMAIL = "operator@fmar.example"
OPERATOR_PASSWORD = "operator-password-1"
CODE = "https://id.fmar.uk/def/code/"
FMAR = "https://id.fmar.uk/def/fmar#"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _s256(verifier: str) -> str:
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()


@dataclass
class Member:
    name: str
    org_id: str
    roles: list[str]
    email: str
    password: str
    app_id: str = ""
    cert: Path = Path()
    key: Path = Path()
    dno_areas: list[str] = field(default_factory=list)


@dataclass
class NodeProc:
    name: str
    url: str
    port: int
    member: Member
    data_dir: Path
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def start(self) -> None:
        log = open(self.data_dir / "node.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def pause(self) -> None:
        assert self.proc
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc
        os.kill(self.proc.pid, signal.SIGCONT)


class LocalFederation:
    def __init__(self, base: Path, *, node_env: dict[str, str] | None = None,
                 trust_env: dict[str, str] | None = None, quiet: bool = True,
                 port: int | None = None):
        self.base = base
        self.trust_dir = base / "trust"
        self.port = port or free_port()
        self.issuer = f"https://127.0.0.1:{self.port}"
        self.trust_proc: subprocess.Popen | None = None
        self.members: dict[str, Member] = {}
        self.nodes: dict[str, NodeProc] = {}
        self.node_env = node_env or {}
        self.trust_env = trust_env or {}
        self._tokens: dict[str, str] = {}
        self.quiet = quiet

    @property
    def ca_bundle(self) -> Path:
        return self.trust_dir / "ca" / "chain.pem"

    def client(self, cert: Path | None = None, key: Path | None = None,
               token: str | None = None, base_url: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return trust_http.client(ca_bundle=self.ca_bundle, cert=cert, key=key,
                                 base_url=base_url or self.issuer, headers=headers, timeout=30)

    # ------------------------------------------------------------------ trust
    def start_trust(self, initialise: bool = True) -> None:
        """Start the trust service; `initialise` first makes its CA, keys and operator
        (False: a federation resumed from its directory)."""
        from trust.server.bootstrap import init
        from trust.server.config import TrustSettings

        self.trust_dir.mkdir(parents=True, exist_ok=True)
        if initialise:
            init(TrustSettings(data_dir=self.trust_dir, issuer=self.issuer,
                               database_url=f"sqlite:///{self.trust_dir / 'trust.db'}",
                               kek_file=self.base / "trust.kek"),  # apart from the data
                 admin_email=OPERATOR_EMAIL, admin_password=OPERATOR_PASSWORD)
        self.state = json.loads((self.trust_dir / "trust.json").read_text())
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("FMAR_")},
               **self.trust_env}
        with open(self.trust_dir / "serve.log", "wb") as log:
            self.trust_proc = subprocess.Popen(
                [sys.executable, "-m", "trust", "trust", "serve", "--data", str(self.trust_dir),
                 "--port", str(self.port)], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT)
        self._wait(f"{self.issuer}/.well-known/jwks.json", self.trust_proc)

    def _wait(self, url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        with trust_http.client(ca_bundle=self.ca_bundle, timeout=2) as c:
            while time.time() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"process exited ({proc.returncode}) before {url} "
                                       "answered")
                try:
                    c.get(url)
                    return
                except httpx.HTTPError:
                    time.sleep(0.1)
        raise RuntimeError(f"{url} did not start")

    def login(self, email: str, password: str, resource: str | None = None) -> str:
        """A user token: authorization code + PKCE through PAR and the login page (for the
        trust framework's API, or for the node `resource`)."""
        if email in self._tokens and resource is None:
            return self._tokens[email]
        cid = self.state["cli_client_id"]
        verifier = secrets.token_urlsafe(48)
        redirect = "http://127.0.0.1:53682/callback"
        with self.client() as c:
            pushed = c.post("/par", data={
                "client_id": cid, "response_type": "code", "redirect_uri": redirect,
                "code_challenge": _s256(verifier), "code_challenge_method": "S256",
                "state": "s", "scope": "", "nonce": "n",
                **({"resource": resource} if resource else {})})
            pushed.raise_for_status()
            request_uri = pushed.json()["request_uri"]
            done = c.post("/authorize", data={"client_id": cid, "request_uri": request_uri,
                                              "email": email, "password": password})
            assert done.status_code == 303, done.text
            code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
            token = c.post("/token", data={"grant_type": "authorization_code", "client_id": cid,
                                           "code": code, "redirect_uri": redirect,
                                           "code_verifier": verifier})
            token.raise_for_status()
        if resource:
            return str(token.json()["access_token"])
        self._tokens[email] = token.json()["access_token"]
        return self._tokens[email]

    def register_member(self, name: str, roles: list[str],
                        dno_areas: list[str] | None = None) -> Member:
        from trust.server.ca import make_key_and_csr

        email = f"admin@{name.lower()}.example"
        password = f"{name}-password-1"
        body: dict[str, Any] = {
            "legal_name": f"{name} Ltd", "registration_number": f"{secrets.randbelow(10**8):08d}",
            "organisation_type": "Private Limited Company (Ltd)", "roles": roles,
            "email": f"info@{name.lower()}.example", "address_line1": "1 High Street",
            "city": "Reading", "postcode": "RG1 1AA",
            "primary_contact": {"first_name": "Ada", "last_name": "Lovelace",
                                "email": f"ada@{name.lower()}.example",
                                "mobile": "+447700900123", "role": "Compliance Officer"},
            "admin_name": f"{name} admin", "admin_email": email, "admin_password": password}
        if dno_areas:
            body["dno_areas"] = dno_areas
        with self.client() as c:
            resp = c.post("/api/orgs", json=body)
            assert resp.status_code == 201, resp.text
            org_id = resp.json()["id"]
        with self.client(token=self.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)) as c:
            resp = c.post(f"/api/orgs/{org_id}/status", json={"status": "Active"})
            assert resp.status_code == 200, resp.text
        member = Member(name, org_id, roles, email, password, dno_areas=dno_areas or [])
        with self.client(token=self.login(email, password)) as c:
            resp = c.post(f"/api/orgs/{org_id}/apps", json={"name": f"{name} app", "roles": []})
            assert resp.status_code == 201, resp.text
            member.app_id = resp.json()["id"]
            key_pem, csr = make_key_and_csr()
            resp = c.post(f"/api/apps/{member.app_id}/certificates",
                          json={"csr_pem": csr.decode(), "kind": "client"})
            assert resp.status_code == 201, resp.text
        folder = self.base / "members" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "client.pem").write_text(resp.json()["pem"])
        write_secret(folder / "client.key", key_pem)
        member.cert, member.key = folder / "client.pem", folder / "client.key"
        self.members[name] = member
        return member

    def access_token(self, member: Member, audience: str, scope: str = "",
                     may_act: bool = False) -> str:
        """A member's token for one node; `may_act`: the caller asks that node to relay."""
        data = {"grant_type": "client_credentials", "client_id": member.app_id,
                "audience": audience}
        if scope:
            data["scope"] = scope
        if may_act:
            data["may_act"] = audience
        with self.client(member.cert, member.key) as c:
            resp = c.post("/token", data=data)
            assert resp.status_code == 200, resp.text
            return resp.json()["access_token"]

    # ------------------------------------------------------------------ nodes
    def add_node(self, name: str, member: Member, dataset_types: list[str] | None = None,
                 extra_env: dict[str, str] | None = None, port: int | None = None) -> NodeProc:
        from trust.server.ca import make_key_and_csr

        port = port or free_port()
        url = f"https://127.0.0.1:{port}"
        with self.client(token=self.login(member.email, member.password)) as c:
            resp = c.post(f"/api/orgs/{member.org_id}/nodes",
                          json={"url": url, "dataset_types": dataset_types or ["Asset"]})
            assert resp.status_code == 201, resp.text
            node_id = resp.json()["id"]
        self.approve_node(node_id)
        data_dir = self.base / "nodes" / name
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.client(token=self.login(member.email, member.password)) as c:
            for kind in ("server", "client"):  # its TLS server and its own mTLS identity
                key_pem, csr = make_key_and_csr()
                cert = c.post(f"/api/nodes/{node_id}/certificates",
                              json={"csr_pem": csr.decode(), "kind": kind})
                assert cert.status_code == 201, cert.text
                (data_dir / f"{kind}.pem").write_text(cert.json()["pem"])
                write_secret(data_dir / f"{kind}.key", key_pem)  # 0600 from the start
        return self.node_process(name, member, port, node_id, dataset_types, extra_env)

    def node_process(self, name: str, member: Member, port: int, node_id: str,
                     dataset_types: list[str] | None = None,
                     extra_env: dict[str, str] | None = None) -> NodeProc:
        """The process of a node already in the directory, with its certificate on disk."""
        url = f"https://127.0.0.1:{port}"
        data_dir = self.base / "nodes" / name
        env = {k: v for k, v in os.environ.items() if not k.startswith("FMAR_")}
        env.update({
            "FMAR_TRUST_ISSUER": self.issuer, "FMAR_NODE_URL": url,
            "FMAR_CA_BUNDLE": str(self.ca_bundle), "FMAR_CLIENT_ID": node_id,
            "FMAR_CLIENT_CERT": str(data_dir / "client.pem"),
            "FMAR_CLIENT_KEY": str(data_dir / "client.key"),
            "FMAR_DATASET_TYPES": ",".join(dataset_types or ["Asset"]),
            "FMAR_PUBLISHER": f"{self.issuer}/m/{member.org_id}",
            "FMAR_TRUST_STATUS_TTL": "5",
            **self.node_env, **(extra_env or {})})
        args = [sys.executable, "-m", "node", "serve", "--data-dir", str(data_dir / "data"),
                "--port", str(port), "--name", name, "--workers", "1",
                "--tls-cert", str(data_dir / "server.pem"),
                "--tls-key", str(data_dir / "server.key")]
        node = NodeProc(name, url, port, member, data_dir, env=env, args=args)
        self.nodes[name] = node
        return node

    def approve_node(self, node_id: str) -> None:
        """The trust framework's operator approves a registered node (pending until then)."""
        with self.client(token=self.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)) as c:
            resp = c.post(f"/api/nodes/{node_id}/status", json={"status": "active"})
            assert resp.status_code == 200, resp.text

    # ------------------------------------------------------------------ keep and resume
    def save(self, extra: dict[str, Any] | None = None) -> Path:
        """What `resume` needs to start this federation again: ports, members, nodes."""
        path = self.base / "federation.json"
        path.write_text(json.dumps({
            "trust": self.issuer, "trust_port": self.port, "ca_bundle": str(self.ca_bundle),
            "members": {k: {**asdict(m), "cert": str(m.cert), "key": str(m.key)}
                        for k, m in self.members.items()},
            "nodes": {k: {"url": n.url, "port": n.port, "member": n.member.name,
                          "node_id": n.env["FMAR_CLIENT_ID"],
                          "dataset_types": n.env.get("FMAR_DATASET_TYPES", "Asset").split(",")}
                      for k, n in self.nodes.items()},
            **(extra or {})}, indent=2))
        return path

    @classmethod
    def resume(cls, base: Path, *, node_env: dict[str, str] | None = None) -> LocalFederation:
        """The federation saved in `base` (not started: call start_trust(initialise=False)
        and start_nodes())."""
        state = json.loads((base / "federation.json").read_text())
        fed = cls(base, node_env=node_env, port=int(state["trust_port"]))
        for name, m in state["members"].items():
            fed.members[name] = Member(**{**m, "cert": Path(m["cert"]), "key": Path(m["key"])})
        for name, n in state["nodes"].items():
            fed.nodes[name] = fed.node_process(name, fed.members[n["member"]], int(n["port"]),
                                               n["node_id"], n["dataset_types"])
        return fed

    def ports(self) -> list[int]:
        return [self.port, *(n.port for n in self.nodes.values())]

    def load_assets(self, node: NodeProc, rows: Iterable[dict[str, Any]],
                    workers: int = 1) -> list[str]:
        """Register assets on a node's store (before it runs), with full validation, as its
        organisation. Returns the new asset IRIs."""
        from node.identity import Caller
        from node.inputs import Row
        from node.register import Register
        from node.store import open_store

        register = Register(open_store(node.data_dir / "data"), workers=workers)
        try:
            caller = Caller("loader", node.member.org_id, frozenset(node.member.roles),
                            frozenset({"assets:read", "assets:write"}))
            report = register.register_bulk(
                (Row(i, fields=dict(a)) for i, a in enumerate(rows, start=1)), caller,
                all_or_nothing=False)
            if report.rejected:
                raise RuntimeError(f"{report.rejected} rows rejected: {report.errors[:2]}")
            return [f"https://id.fmar.uk/asset/{a['AssetId']}" for a in report.assets]
        finally:
            register.close()
            del register  # releases the store's lock before the node process opens it
            import gc

            gc.collect()

    def load_connection_limits(self, node: NodeProc,
                               limits: list[tuple[str, str, str, float]]) -> list[str]:
        """Connection limits (asset IRI, asset holder org, DNO area, export limit kW) as
        records on the DNO's node (before it runs), set as the DNO through the connection
        limit kind: validated (LIM-*), authorised (POL-008), versioned and audited."""
        from node.identity import Caller
        from node.register import Register
        from node.store import open_store

        register = Register(open_store(node.data_dir / "data"), workers=1)
        try:
            dno = Caller("loader", node.member.org_id, frozenset(node.member.roles),
                         frozenset({"validation:write"}), frozenset(node.member.dno_areas))
            return [register.limits.create(
                {"AssetId": asset.rsplit("/", 1)[-1], "OrganisationId": holder,
                 "DNOConnection": area, "ExportLimit": round(export_kw, 1)}, dno).iri
                for asset, holder, area, export_kw in limits]
        finally:
            register.close()
            del register  # releases the store's lock before the node process opens it
            import gc

            gc.collect()

    def start_nodes(self) -> None:
        for node in self.nodes.values():
            if node.proc is None or node.proc.poll() is not None:
                node.start()
        for node in self.nodes.values():
            assert node.proc
            self._wait(f"{node.url}/health", node.proc)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        if self.trust_proc and self.trust_proc.poll() is None:
            self.trust_proc.terminate()
            try:
                self.trust_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.trust_proc.kill()
