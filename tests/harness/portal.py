"""The web portal (portal/) as its own process, registered at the trust framework as a
client: a public application of the operator's organisation (authorization code + PKCE,
through PAR) whose only redirect is the portal's own /callback. The nodes it talks to
accept a person's unbound token on the routes the portal needs (PORTAL_NODE_ENV)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness.directory import Federation, expect
from tests.harness.processes import ROOT, clean_env, free_port, stop, wait_ready

# The writes of the facilitator's, system operators' and everyone's pages (issue 16):
# a category's check and save, a product's proposal, approval and retirement, webhook
# subscriptions. Each names its route exactly (`*` one segment), nothing broader.
PORTAL_PAGE_ROUTES = ("POST /categories/*/check", "PUT /categories/*", "POST /products",
                      "POST /products/*/approve", "POST /products/*/retire",
                      "POST /subscriptions", "DELETE /subscriptions/*")
# What a node needs to serve the portal: a person's own token without a certificate
# binding (the browser holds none), on the reads and on the asset writes the portal makes.
PORTAL_NODE_ENV = {
    "FMAR_UNBOUND_USER_TOKENS": "1",
    "FMAR_UNBOUND_ROUTES": "read, POST /assets, POST /assets/bulk, PUT /assets/*, "
                           "PATCH /assets/*, "
                           # market units and members, applications, outcomes and their
                           # transitions, a DNO's book of limits (the issue 16 pages)
                           "POST /market-units, POST /market-units/*, "
                           "POST /qualification-applications, POST /qualifications, "
                           "POST /qualifications/*, POST /connection-limits/bulk, "
                           + ", ".join(PORTAL_PAGE_ROUTES),
}


def register_portal_client(trust: Federation, portal_url: str) -> str:
    """The portal's application id: registered by the operator, redirect = /callback."""
    org_id = trust.state["operator_org_id"]
    with trust.client(token=trust.operator_token()) as c:
        app = expect(c.post(f"/api/orgs/{org_id}/apps", json={
            "name": "FMAR portal", "kind": "public",
            "redirect_uris": [f"{portal_url}/callback"]}), 201).json()
    return str(app["id"])


@dataclass
class PortalProc:
    url: str
    proc: subprocess.Popen
    log: Path

    env: dict[str, str] | None = None

    @classmethod
    def start(cls, trust: Federation, client_id: str, log: Path, port: int | None = None,
              entry_node: str = "", database_url: str = "",
              session_key: str = "", env: dict[str, str] | None = None) -> PortalProc:
        """`database_url` and `session_key`: the shared session store (portal/session_db.py);
        without them sessions live in the process's memory; `env`: more settings."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        env = clean_env(FMAR_PORTAL_TRUST_URL=trust.issuer,
                        FMAR_PORTAL_CA_BUNDLE=str(trust.ca_bundle),
                        FMAR_PORTAL_CLIENT_ID=client_id, FMAR_PORTAL_URL=url,
                        FMAR_PORTAL_ENTRY_NODE=entry_node,
                        FMAR_PORTAL_DATABASE_URL=database_url,
                        FMAR_PORTAL_SESSION_KEY=session_key, **(env or {}))
        return cls(url, cls._run(env, port, url, log), log, env)

    @staticmethod
    def _run(env: dict[str, str], port: int, url: str, log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen([sys.executable, "-m", "portal", "--port", str(port)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_ready(f"{url}/health", proc, timeout=60,
                   why=lambda: log.read_text(errors="replace")[-3000:])
        return proc

    def restart(self) -> None:
        """Stopped and started again on the same port and settings (a deployment)."""
        stop(self.proc)
        assert self.env is not None
        self.proc = self._run(self.env, int(self.url.rsplit(":", 1)[1]), self.url, self.log)

    def stop(self) -> None:
        stop(self.proc)
