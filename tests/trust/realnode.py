"""The real FMAR node (node.api.app) secured by TrustAuthenticator, over TLS.

Run: python tests/trust/realnode.py CONFIG.json  (written by the test).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn

from common.tls import uvicorn_tls_options
from node.api.app import create_app
from node.config import NodeSettings
from node.trust_auth import TrustAuthenticator, verifier_config

if __name__ == "__main__":
    cfg = json.loads(Path(sys.argv[1]).read_text())
    # The node's own FMAR_* settings (FMAR_UNBOUND_USER_TOKENS, ...) from the environment.
    settings = NodeSettings(**{"FMAR_TRUST_STATUS_TTL": "2", **os.environ,
                               "FMAR_TRUST_ISSUER": cfg["issuer"],
                               "FMAR_NODE_URL": cfg["audience"],
                               "FMAR_CA_BUNDLE": cfg["ca_bundle"]},
                            data_dir=Path(cfg["data_dir"]), workers=1)
    authenticator = TrustAuthenticator(dataclasses.replace(verifier_config(settings), crl_ttl=2))
    app = create_app(settings, authenticator)
    tls = uvicorn_tls_options(cfg["server_cert"], cfg["server_key"], cfg["ca_bundle"])
    uvicorn.run(app, host="127.0.0.1", port=cfg["port"], log_level="warning", **tls)
