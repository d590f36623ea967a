"""`make demo`: one node with synthetic GB assets, and what to try on it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from rich.console import Console

from node.config import NodeSettings
from node.identity import StaticTokenAuthenticator

DEMO_PARTIES = {
    # name: (organisation, roles, scopes, DNO areas)
    "fsp": ("FSP-ACME", ["FSP"], ["assets:read", "assets:write", "audit:read"], []),
    "dno": ("DNO-UKPN", ["DNO"], ["assets:read", "validation:write", "audit:read"],
            ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]),
    "neso": ("NESO", ["NESO"], ["assets:read", "validation:write", "audit:read"], []),
    "facilitator": ("MF-ELEXON", ["MarketFacilitator"],
                    ["categories:write", "validation:write"], []),
}


def write_demo_tokens(path: Path) -> dict[str, str]:
    tokens = {name: secrets.token_urlsafe(24) for name in DEMO_PARTIES}
    entries = [
        {
            "token_sha256": StaticTokenAuthenticator.hash_token(tokens[name]),
            "subject": f"demo-{name}",
            "organisation_id": org,
            "roles": roles,
            "scopes": scopes,
            "dno_areas": areas,
        }
        for name, (org, roles, scopes, areas) in DEMO_PARTIES.items()
    ]
    path.write_text(json.dumps(entries, indent=2))
    return tokens


def run_demo(data_dir: Path, port: int, asset_count: int) -> None:
    import uvicorn

    from examples.generate import assets
    from node.api.app import create_app
    from node.identity import Caller
    from node.inputs import Row

    console = Console()
    data_dir.mkdir(parents=True, exist_ok=True)
    tokens_file = data_dir / "tokens.json"
    tokens = write_demo_tokens(tokens_file)
    settings = NodeSettings(data_dir=data_dir, tokens_file=tokens_file, name="demo-fsp-node")
    app = create_app(settings)
    register = app.state.register
    fsp = Caller("demo-loader", "FSP-ACME", frozenset({"FSP"}),
                 frozenset({"assets:read", "assets:write"}))
    existing, _ = register.search(fsp, {}, 1, None)
    if not existing and asset_count:
        console.print(f"Loading {asset_count} synthetic assets (full SHACL validation)...")
        rows = (Row(i, fields={k: v for k, v in a.items()})
                for i, a in enumerate(assets(asset_count, "FSP-ACME"), start=1))
        report = register.register_bulk(rows, fsp, all_or_nothing=False)
        console.print(f"  stored {report.stored}, rejected {report.rejected}")
    base = f"http://127.0.0.1:{port}"
    print(f"""
FMAR demo node — data in {data_dir}/ (kept between runs)

  API docs (OpenAPI):  {base}/docs
  Ontology:            {base}/ontology      Shapes: {base}/shapes

Bearer tokens for this run (made fresh at every start):
  FSP  (FSP-ACME, writes its own assets):           {tokens['fsp']}
  DNO  (DNO-UKPN, reads assets in UKPN areas):      {tokens['dno']}
  NESO (reads every asset):                         {tokens['neso']}
  Market facilitator (manages asset categories):   {tokens['facilitator']}

Try:
  export FSP={tokens['fsp']}
  curl -s -H "Authorization: Bearer $FSP" '{base}/assets?category=BESS&limit=2'
  curl -s -H "Authorization: Bearer $FSP" -H 'Content-Type: application/json' \\
       -d @examples/asset.json {base}/assets
  curl -s -H "Authorization: Bearer $FSP" '{base}/assets/export?format=csv' | head

Press Ctrl-C to stop.
""", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
