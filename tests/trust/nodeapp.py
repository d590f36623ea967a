"""A tiny node for the trust tests: real uvicorn over TLS, secured by TrustAuthenticator.

Run: python tests/trust/nodeapp.py CONFIG.json  (written by the test fixtures).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn
from fastapi import Depends, FastAPI

from common.http_errors import install_error_handlers
from common.tls import uvicorn_tls_options
from node import policy
from node.identity import Caller, current_caller
from node.trust_auth import TrustAuthenticator
from trust.client.renewal import ServerCertificateRenewer
from trust.client.verifier import VerifierConfig


def caller_json(caller: Caller) -> dict:
    return {"subject": caller.subject, "organisation_id": caller.organisation_id,
            "roles": sorted(caller.roles), "scopes": sorted(caller.scopes),
            "dno_areas": sorted(caller.dno_areas), "actor": caller.actor}


def build(cfg: dict) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.authenticator = TrustAuthenticator(VerifierConfig(
        issuer=cfg["issuer"], audience=cfg["audience"], ca_bundle=Path(cfg["ca_bundle"]),
        client_cert=cfg.get("client_cert"), client_key=cfg.get("client_key"),
        **{"status_ttl": 2, "crl_ttl": 2, "revocation_ttl": 2, "jwks_min_refresh": 0.5,
           **cfg.get("verifier", {})},
        trusted_proxies=frozenset(cfg.get("trusted_proxies", []))))
    active = Path(cfg["active_records"])

    @app.get("/whoami")
    def whoami(caller: Annotated[Caller, Depends(current_caller)]) -> dict:
        return caller_json(caller)

    @app.get("/assets")
    def read(caller: Annotated[Caller, Depends(current_caller)]) -> dict:
        policy.require_scope(caller, "assets:read")
        return caller_json(caller)

    @app.post("/assets")
    def write(caller: Annotated[Caller, Depends(current_caller)]) -> dict:
        policy.require_scope(caller, "assets:write")
        return caller_json(caller)

    @app.patch("/assets/{asset_id}")
    def change(asset_id: str, caller: Annotated[Caller, Depends(current_caller)]) -> dict:
        policy.require_scope(caller, "assets:write")
        return caller_json(caller)

    @app.post("/sparql")
    def query(caller: Annotated[Caller, Depends(current_caller)]) -> dict:
        policy.require_scope(caller, "sparql:query")
        return caller_json(caller)

    @app.get("/admin/active-records")
    def active_records(
        org_id: str,
        caller: Annotated[Caller, Depends(current_caller)],
    ) -> dict:
        policy.check_deregistration_enquiry(caller)
        counts = json.loads(active.read_text()) if active.exists() else {}
        return {"org_id": org_id, **counts.get(org_id, {"active_assets": 0,
                                                         "active_market_units": 0})}

    return app


if __name__ == "__main__":
    cfg = json.loads(Path(sys.argv[1]).read_text())
    tls = uvicorn_tls_options(cfg["server_cert"], cfg["server_key"], cfg["ca_bundle"])
    if cfg.get("renew"):  # automated server-certificate renewal (SIGHUP: renew now)
        ServerCertificateRenewer(cfg["issuer"], Path(cfg["ca_bundle"]), cfg["renew"]["node_id"],
                                 Path(cfg["renew"]["client_cert"]),
                                 Path(cfg["renew"]["client_key"]), Path(cfg["server_cert"]),
                                 Path(cfg["server_key"])).start(check_every=3600)
    uvicorn.run(build(cfg), host="127.0.0.1", port=cfg["port"], log_level="warning", **tls)
