"""A whole federation on loopback, as real processes with real TLS: the trust framework
and N nodes (`fmar serve`), each node with its server certificate, its own client
certificate (for token exchange) and data loaded with full validation before it starts.
Kept in a folder (federation.json) and resumed from it. Used by the federation tests,
benchmarks and `make demo` (examples/federation_demo.py).

Everything goes through the trust service's public HTTP API (organisation
registration, operator approval, applications, nodes, CSRs), as a participant would.
People's passwords (the operator's, each member admin's) are new for each federation and
kept in its federation.json (0600).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.harness import HarnessError
from tests.harness.directory import Federation, Member
from tests.harness.login import access_token_of
from tests.harness.processes import ROOT, clean_env, free_port, stop, wait_ready
from tests.harness.trust_service import TrustService, new_password
from trust.client.credentials import write_secret

OPERATOR_EMAIL = "operator@fmar.example"
CODE = "https://id.fmar.uk/def/code/"
FMAR = "https://id.fmar.uk/def/fmar#"


@dataclass
class NodeProc:
    name: str
    url: str
    port: int
    member: Member
    data_dir: Path
    node_id: str
    dataset_types: list[str]
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def start(self) -> None:
        with open(self.data_dir / "node.log", "ab") as log:  # the child keeps its own
            self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        return (self.data_dir / "node.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        stop(self.proc)

    def kill(self) -> None:
        stop(self.proc, signal.SIGKILL)

    def pause(self) -> None:
        os.kill(self.running().pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.running().pid, signal.SIGCONT)

    def running(self) -> subprocess.Popen:
        if self.proc is None:
            raise HarnessError(f"node {self.name} was never started")
        return self.proc


class LocalFederation:
    def __init__(self, base: Path, *, node_env: dict[str, str] | None = None,
                 trust_env: dict[str, str] | None = None, port: int | None = None,
                 operator_password: str | None = None):
        self.base = base
        self.trust_dir = base / "trust"
        self.port = port or free_port()
        self.issuer = f"https://127.0.0.1:{self.port}"
        # None: a new one; "": not known (a federation saved before passwords were kept)
        self.operator_password = new_password() if operator_password is None \
            else operator_password
        self.service: TrustService | None = None
        self._trust: Federation | None = None
        self.members: dict[str, Member] = {}
        self.nodes: dict[str, NodeProc] = {}
        self.node_env = node_env or {}
        self.trust_env = trust_env or {}

    @property
    def ca_bundle(self) -> Path:
        return self.trust_dir / "ca" / "chain.pem"

    @property
    def trust(self) -> Federation:
        """The running trust framework, as its operator and members reach it."""
        if self._trust is None:
            raise HarnessError("the trust framework is not started (start_trust)")
        return self._trust

    @property
    def trust_proc(self) -> subprocess.Popen | None:
        return self.service.proc if self.service else None

    def client(self, cert: Path | None = None, key: Path | None = None,
               token: str | None = None, base_url: str | None = None) -> httpx.Client:
        return self.trust.client(cert, key, token=token, base_url=base_url)

    # ------------------------------------------------------------------ trust
    def start_trust(self, initialise: bool = True) -> None:
        """Start the trust service; `initialise` first makes its CA, keys and operator
        (False: a federation resumed from its folder)."""
        operator = (OPERATOR_EMAIL, self.operator_password) if initialise else None
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        self.service = TrustService.start(self.trust_dir, port=self.port, operator=operator,
                                          kek_file=self.base / "trust.kek",  # apart from data
                                          env=self.trust_env)
        self._trust = Federation.of(self.service, (OPERATOR_EMAIL, self.operator_password),
                                    self.base / "members")
        for member in self.members.values():
            member.fed = self._trust

    def login(self, email: str, password: str, resource: str | None = None) -> str:
        """A person's token: for the trust framework's API, or for the node `resource`."""
        if resource is None:
            return self.trust.user_token(email, password)
        return access_token_of(self.trust.login(email, password, resource=resource))

    def operator_token(self) -> str:
        return self.trust.operator_token()

    def register_member(self, name: str, roles: list[str],
                        dno_areas: list[str] | None = None) -> Member:
        """Organisation `name`, approved, with an application whose certificate is in
        members/<name>/."""
        extra: dict[str, Any] = {"dno_areas": dno_areas} if dno_areas else {}
        member = self.trust.register_member(name, roles, folder=self.base / "members" / name,
                                            **extra)
        self.members[name] = member
        return member

    def access_token(self, member: Member, audience: str, scope: str = "",
                     may_act: bool = False) -> str:
        """A member's token for one node; `may_act`: the caller asks that node to relay."""
        return member.access_token(audience, scope, may_act=audience if may_act else None)

    # ------------------------------------------------------------------ nodes
    def add_node(self, name: str, member: Member, dataset_types: list[str] | None = None,
                 extra_env: dict[str, str] | None = None, port: int | None = None) -> NodeProc:
        """A node of `member`, registered and approved, with its certificates (its TLS
        server, its own mTLS identity, its provenance signing certificate); not started."""
        port = port or free_port()
        node_id = member.register_node(f"https://127.0.0.1:{port}", dataset_types)
        for kind in ("server", "client", "signing"):
            member.node_certificate(node_id, kind, self.base / "nodes" / name)
        return self.node_process(name, member, port, node_id, dataset_types, extra_env)

    def node_process(self, name: str, member: Member, port: int, node_id: str,
                     dataset_types: list[str] | None = None,
                     extra_env: dict[str, str] | None = None) -> NodeProc:
        """The process of a node already in the directory, with its certificate on disk."""
        url = f"https://127.0.0.1:{port}"
        data_dir = self.base / "nodes" / name
        types = dataset_types or ["Asset"]
        env = clean_env(
            FMAR_TRUST_ISSUER=self.issuer, FMAR_NODE_URL=url,
            FMAR_CA_BUNDLE=str(self.ca_bundle), FMAR_CLIENT_ID=node_id,
            FMAR_CLIENT_CERT=str(data_dir / "client.pem"),
            FMAR_CLIENT_KEY=str(data_dir / "client.key"),
            **({"FMAR_SIGNING_CERT": str(data_dir / "signing.pem"),
                "FMAR_SIGNING_KEY": str(data_dir / "signing.key")}
               if (data_dir / "signing.pem").exists() else {}),
            FMAR_DATASET_TYPES=",".join(types),
            FMAR_PUBLISHER=f"{self.issuer}/m/{member.org_id}",
            FMAR_TRUST_STATUS_TTL="5", **self.node_env, **(extra_env or {}))
        args = [sys.executable, "-m", "node", "serve", "--data-dir", str(data_dir / "data"),
                "--port", str(port), "--name", name, "--workers", "1",
                "--tls-cert", str(data_dir / "server.pem"),
                "--tls-key", str(data_dir / "server.key")]
        node = NodeProc(name, url, port, member, data_dir, node_id, types, env=env, args=args)
        self.nodes[name] = node
        return node

    # ------------------------------------------------------------------ keep and resume
    def save(self, extra: dict[str, Any] | None = None) -> Path:
        """What `resume` needs to start this federation again: ports, people (with their
        passwords: the file is 0600), members, nodes."""
        path = self.base / "federation.json"
        write_secret(path, json.dumps({
            "trust": self.issuer, "trust_port": self.port, "ca_bundle": str(self.ca_bundle),
            "operator": {"email": OPERATOR_EMAIL, "password": self.operator_password},
            "members": {k: m.saved() for k, m in self.members.items()},
            "nodes": {k: {"url": n.url, "port": n.port, "member": n.member.name,
                          "node_id": n.node_id, "dataset_types": n.dataset_types}
                      for k, n in self.nodes.items()},
            **(extra or {})}, indent=2).encode())
        return path

    @classmethod
    def resume(cls, base: Path, *, node_env: dict[str, str] | None = None) -> LocalFederation:
        """The federation saved in `base` (not started: call start_trust(initialise=False)
        and start_nodes())."""
        state = json.loads((base / "federation.json").read_text())
        fed = cls(base, node_env=node_env, port=int(state["trust_port"]),
                  operator_password=state.get("operator", {}).get("password", ""))
        for name, saved in state["members"].items():
            fed.members[name] = Member.from_saved(saved)
        for name, n in state["nodes"].items():
            fed.node_process(name, fed.members[n["member"]], int(n["port"]), n["node_id"],
                             n["dataset_types"])
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
                raise HarnessError(f"{report.rejected} rows rejected: {report.errors[:2]}")
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
        limit kind: validated (GICM-VAL-*), authorised (POL-008), versioned and audited."""
        from node.identity import Caller

        dno = Caller("loader", node.member.org_id, frozenset(node.member.roles),
                     frozenset({"validation:write"}), frozenset(node.member.dno_areas))
        return self._on_store(node, lambda register: [register.limits.create(
            {"AssetId": asset.rsplit("/", 1)[-1], "OrganisationId": holder,
             "DNOConnection": area, "LimitType": "FIRM", "ValidFrom": "2026-01-01",
             "ExportLimit": round(export_kw, 1)}, dno).iri
            for asset, holder, area, export_kw in limits])

    def load_products(self, node: NodeProc) -> list[str]:
        """The GB reference products (reference/gb-flexibility-products.csv) as product
        records on the market facilitator's node (before it runs), written as the
        facilitator through the product kind: validated (PROD-*), authorised (POL-009,
        POL-010), versioned and audited."""
        from node.identity import Caller
        from node.kinds.product_import import reference_products, with_seed_procurers

        facilitator = Caller("loader", node.member.org_id, frozenset(node.member.roles),
                             frozenset({"products:write"}))
        return self._on_store(node, lambda register: [
            register.products.create(with_seed_procurers(body), facilitator).iri
            for body in reference_products()])

    def load_market_units(self, node: NodeProc,
                          units: list[tuple[dict[str, Any], list[tuple[str, str]]]]) -> list[str]:
        """Market units (the unit's fields, [(asset ID, ValidFrom)]) on an FSP's node
        (before it runs), made as its organisation through the market unit kinds:
        validated (MU-VAL-*), authorised (POL-041), versioned and audited. Returns the
        unit IDs."""
        from node.identity import Caller

        fsp = Caller("loader", node.member.org_id, frozenset(node.member.roles),
                     frozenset({"assets:read", "assets:write"}))

        def make(register: Any) -> list[str]:
            made = []
            for fields, members in units:
                unit = register.units.create({**fields, "OrganisationId": fsp.organisation_id},
                                             fsp)
                for asset_id, valid_from in members:
                    register.members.add(unit.record_id, {"AssetId": asset_id,
                                                          "ValidFrom": valid_from}, fsp)
                made.append(unit.record_id)
            return made

        return self._on_store(node, make)

    def load_qualification(self, fsp_node: NodeProc, operator_node: NodeProc, unit_id: str,
                           product: str = "DC") -> tuple[str, str]:
        """An application of the FSP for `product` for the unit `unit_id` on its node, and
        the operator's outcome on its node (in progress, then prequalified), both through
        the qualification kinds (shapes, POL-060/041, history, audit), before the nodes
        run. The product is checked against the reference products as `load_products` puts
        them in the register (the nodes do not run yet, so they cannot read the
        facilitator's node). Returns (application IRI, qualification IRI)."""
        from node.identity import Caller
        from node.kinds.product_import import reference_products, with_seed_procurers

        versions = [with_seed_procurers(body) for body in reference_products()]

        def offline(register: Any) -> Any:
            register.product_register.use(lambda: versions, 0, "the reference products")
            return register

        fsp, operator = fsp_node.member, operator_node.member
        applicant = Caller("loader", fsp.org_id, frozenset(fsp.roles),
                           frozenset({"assets:read", "assets:write"}))
        application = self._on_store(fsp_node, lambda register: offline(
            register).applications.create({
            "UnitId": unit_id, "Product": product, "OrganisationId": fsp.org_id,
            "ClaimedUpKW": 2000, "ClaimedDownKW": 1500,
            "Evidence": "https://docs.example/demo/unit-test-report.pdf"}, applicant).iri)
        decider = Caller("loader", operator.org_id, frozenset(operator.roles),
                         frozenset({"assets:read", "validation:write"}),
                         frozenset(operator.dno_areas))

        def decide(register: Any) -> str:
            outcome = offline(register).qualifications.create({
                "UnitId": unit_id, "Product": product, "OrganisationId": fsp.org_id,
                "ApplicationId": application.rsplit("/", 1)[-1], "State": "in_progress",
                "ValidFrom": "2027-01-01", "ValidTo": "2028-12-31",
                "Conditions": "Re-test after any change of inverter firmware."}, decider)
            register.qualifications.transition(outcome.record_id, decider, None,
                                               "prequalified", "Test report accepted.")
            return str(outcome.iri)

        return application, self._on_store(operator_node, decide)

    def load_grid_prequalification(self, dno_node: NodeProc, unit_id: str,
                                   organisation: str, area: str) -> str:
        """The DNO's grid prequalification of the unit `unit_id` (of FSP `organisation`)
        for its licence area `area`, on its node before it runs, through the
        grid-prequalification kind (shapes, POL-062, history, audit): approved. Returns
        its IRI."""
        from node.identity import Caller

        dno = dno_node.member
        caller = Caller("loader", dno.org_id, frozenset(dno.roles),
                        frozenset({"assets:read", "validation:write"}),
                        frozenset(dno.dno_areas))

        def decide(register: Any) -> str:
            grid = register.grid_prequalifications
            made = grid.create({"UnitId": unit_id, "OrganisationId": organisation,
                                "DNOConnection": area, "State": "in_progress"}, caller)
            grid.transition(made.record_id, caller, None, "approved")
            return str(made.iri)

        return str(self._on_store(dno_node, decide))

    def subscribe_inbox(self, fsp_node: NodeProc, operator_node: NodeProc,
                        types: tuple[str, ...] = ("market-unit.composition-changed",
                                                  "market-unit.switched-in")) -> str:
        """The operator's subscription, on the FSP's node (before it runs), to `types`,
        delivered to the operator node's inbox (`/inbox/events`), made as the operator with
        its rights (POL-040 judges each event with them). Returns the subscription ID."""
        from node.events.subscriptions import Subscriptions
        from node.identity import Caller

        operator = operator_node.member
        caller = Caller("loader", operator.org_id, frozenset(operator.roles),
                        frozenset({"assets:read"}), frozenset(operator.dno_areas))
        return str(self._on_store(fsp_node, lambda register: Subscriptions(
            register.unit).create(caller, {"url": f"{operator_node.url}/inbox/events",
                                           "types": list(types)}).id))

    def webhook_signer(self, node: NodeProc) -> Any:
        """A signer with `node`'s own client key and certificate, as its webhooks are
        signed (tests forge or replay what a node, honest or hostile, could send)."""
        from node.events.signing import WebhookSigner

        return WebhookSigner.from_files(node.data_dir / "client.key",
                                        node.data_dir / "client.pem", self.ca_bundle)

    def post_webhook(self, node: NodeProc, body: bytes,
                     headers: dict[str, str]) -> httpx.Response:
        """POST `body` to `node`'s inbox with `headers`, without a token (the signature is
        the credential)."""
        with self.client() as c:
            return c.post(f"{node.url}/inbox/events", content=body, timeout=60,
                          headers={"Content-Type": "application/json", **headers})

    @staticmethod
    def _on_store(node: NodeProc, work: Any) -> Any:
        """`work(register)` on a node's store before it runs; the store is closed and its
        lock released after."""
        from node.register import Register
        from node.store import open_store

        register = Register(open_store(node.data_dir / "data"), workers=1)
        try:
            return work(register)
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
            wait_ready(f"{node.url}/health", node.running(), ca_bundle=self.ca_bundle,
                       why=node.log_text)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        if self.service:
            self.service.stop()
