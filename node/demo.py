"""`make demo-node`: one node with synthetic GB assets, and what to try on it.

The data, the tokens and the port are kept in the data directory between runs, so
`source var/demo/env.sh` from yesterday still works; `--fresh` starts again.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

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
# the shell variable env.sh sets for each party's token
ENV_NAMES = {"fsp": "FSP", "dno": "DNO", "neso": "NESO", "facilitator": "MF"}


def demo_consent(organisation: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A consumer's consent (UC-05.05) and a heat pump registered under it at the same
    connection point: what both demos seed on an FSP's node."""
    from common.mpan import make_mpan

    mpan = make_mpan("UKPN_EPN", 987_654)
    reference = f"CCS-DEMO-{organisation}"
    consent = {"ConsentReference": reference, "OrganisationId": organisation,
               "ConsumerReference": "DEMO-ACC-0001", "MPAN": mpan, "ScopeRegistration": True,
               "ScopeDataSharing": True, "ScopeSwitching": False, "ValidFrom": "2026-01-01",
               "ValidTo": "2028-12-31", "EvidenceReference": "ccs://evidence/demo-0001",
               "ConsentPlatform": "CCS-PLATFORM"}
    asset = {"AssetName": "Home heat pump (consent CCS-DEMO)", "OrganisationId": organisation,
             "AssetCategory": "HEAT_PUMP", "RatedCapacity": 9, "DemandCapacity": 9,
             "EffectiveDate": "2026-01-15", "ConnectionStatus": "CONNECTED",
             "ConnectionType": "FIRM", "DNOConnection": "UKPN_EPN", "GSPGroup": "_A",
             "FuelType_DemandTechType": "HEAT_PUMP", "ImportMPAN": mpan,
             "ConsentReference": reference}
    return consent, asset


def seed_consent(register: Any, caller: Any) -> bool:
    """The demo consent and its heat pump on this node, once (False: already there)."""
    from node.inputs import properties_from_json

    consent, asset = demo_consent(caller.organisation_id)
    if register.consents.by_reference(consent["ConsentReference"]):
        return False
    register.consents.create(consent, caller)
    register.assets.register_one(properties_from_json(asset), caller)
    return True


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


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(wanted: int) -> int:
    """The wanted port when it is free, else any free one."""
    if wanted and port_is_free(wanted):
        return wanted
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_progress(rows: Iterable[Any], total: int, label: str,
                  console: Console) -> Iterator[Any]:
    """Pass rows through while a progress bar counts them."""
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=total)
        for row in rows:
            yield row
            progress.advance(task)
        progress.update(task, description=f"{label}: validated, now storing")


def demo_state(data_dir: Path, port: int, fresh: bool) -> tuple[dict[str, str], int]:
    """The tokens and port of the last run (kept in env.sh), or new ones."""
    env_file = data_dir / "env.sh"
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    tokens_file = data_dir / "tokens.json"
    kept: dict[str, str] = {}
    if env_file.exists() and tokens_file.exists():
        for line in env_file.read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            kept[name] = value
    tokens = {party: kept.get(var, "") for party, var in ENV_NAMES.items()}
    if not all(tokens.values()):
        tokens = write_demo_tokens(tokens_file)
    last_port = int(kept["NODE"].rsplit(":", 1)[1]) if "NODE" in kept else port
    return tokens, pick_port(last_port if port == 8700 else port)


def write_env(data_dir: Path, base: str, tokens: dict[str, str]) -> Path:
    env_file = data_dir / "env.sh"
    lines = [f"export NODE={base}"] + [f"export {var}={tokens[party]}"
                                       for party, var in ENV_NAMES.items()]
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return env_file


def seed_dispute(register: Any, base: str) -> None:
    """One dispute (issue 17, UC-05.03): the DNO queries the capacity of an FSP-ACME asset
    in its area. On this one node the opener's node and the holder's are the same, so the
    notice is applied directly: the asset shows Query naming the dispute."""
    from node.identity import Caller
    from node.kinds.disputes import Found

    dno = Caller("demo-loader", "DNO-UKPN", frozenset({"DNO"}),
                 frozenset({"assets:read"}), frozenset(DEMO_PARTIES["dno"][3]))
    if register.disputes.search(dno, {}, 1, None)[0]:
        return
    found, _ = register.assets.search(dno, {}, 1, None)
    if not found:
        return
    asset = found[0]
    dispute = register.disputes.open(
        {"Record": asset["id"], "Grounds": "Rated capacity is above what the connection "
         "agreement allows; please check the nameplate."}, dno,
        Found(asset["id"], "asset", asset["OrganisationId"], base))
    node = Caller("demo-loader", "DNO-UKPN", frozenset(), frozenset({"disputes:notify"}))
    register.assets.dispute_status(asset["AssetId"], node, dispute.iri, "open", None)


def run_demo(data_dir: Path, port: int, asset_count: int, fresh: bool = False) -> None:
    import uvicorn

    from examples.generate import assets
    from node.api.app import create_app
    from node.api.services import Services
    from node.identity import Caller
    from node.inputs import Row

    console = Console(stderr=True)
    tokens, port = demo_state(data_dir, port, fresh)
    settings = NodeSettings(data_dir=data_dir, tokens_file=data_dir / "tokens.json",
                            name="demo-fsp-node")
    services = Services.open(settings)
    app = create_app(services=services)
    register = services.register
    fsp = Caller("demo-loader", "FSP-ACME", frozenset({"FSP"}),
                 frozenset({"assets:read", "assets:write"}))
    existing, _ = register.assets.search(fsp, {}, 1, None)
    if not existing and asset_count:
        rows = (Row(i, fields=dict(a))
                for i, a in enumerate(assets(asset_count, "FSP-ACME"), start=1))
        report = register.register_bulk(
            with_progress(rows, asset_count, "Loading synthetic assets (full SHACL validation)",
                          console), fsp, all_or_nothing=False)
        console.print(f"  stored {report.stored}, rejected {report.rejected}")
    if seed_consent(register, fsp):
        console.print("  recorded consent CCS-DEMO-FSP-ACME and a heat pump registered under it")
    base = f"http://127.0.0.1:{port}"
    seed_dispute(register, base)
    env_file = write_env(data_dir, base, tokens)
    print(f"""
FMAR demo node at {base} — data in {data_dir}/ (kept between runs; --fresh starts again)

  API docs (OpenAPI):  {base}/docs
  Ontology:            {base}/ontology      Shapes: {base}/shapes

Bearer tokens (kept between runs) are in {env_file}:
  $FSP   FSP-ACME, writes its own assets
  $DNO   DNO-UKPN, reads assets in UKPN areas
  $NESO  reads every asset
  $MF    the market facilitator, manages asset categories

A dispute is seeded (the DNO queries an asset's capacity): curl -s -H "Authorization:
Bearer $FSP" $NODE/disputes; its asset shows ValidationStatus Query naming it.

Try, in another shell:
  source {env_file}
  curl -s -H "Authorization: Bearer $FSP" "$NODE/assets?category=BESS&limit=2"
  curl -s -H "Authorization: Bearer $FSP" -H 'Content-Type: application/json' \\
       -d @examples/asset.json $NODE/assets
  # the consumer consent a home heat pump was registered under (only $FSP reads it)
  curl -s -H "Authorization: Bearer $FSP" "$NODE/consents?reference=CCS-DEMO-FSP-ACME"

Press Ctrl-C to stop.
""", flush=True)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    except KeyboardInterrupt:
        pass
