"""The real FMAR node (node.api.app) secured by TrustAuthenticator, over TLS.

Run: python tests/trust/realnode.py CONFIG.json  (written by the test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn

from node.api.app import create_app
from node.config import NodeSettings
from node.trust_auth import TrustAuthenticator
from trust.tls import uvicorn_tls_options
from trust.verifier import VerifierConfig

if __name__ == "__main__":
    cfg = json.loads(Path(sys.argv[1]).read_text())
    authenticator = TrustAuthenticator(VerifierConfig(
        issuer=cfg["issuer"], audience=cfg["audience"], ca_bundle=Path(cfg["ca_bundle"]),
        status_ttl=2, crl_ttl=2))
    app = create_app(NodeSettings(data_dir=Path(cfg["data_dir"]), workers=1), authenticator)
    tls = uvicorn_tls_options(cfg["server_cert"], cfg["server_key"], cfg["ca_bundle"])
    uvicorn.run(app, host="127.0.0.1", port=cfg["port"], log_level="warning", **tls)
