"""A whole FMAR federation on this machine: the trust framework and five nodes (NESO, a
DNO, the market facilitator and two FSPs) as separate processes on loopback with real
TLS and certificates from the trust framework, loaded with synthetic GB data.

    .venv/bin/python -m examples.federation_demo [--assets 20000] [--dir var/federation-demo]

Prints what to try, and stops every process on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

from examples.generate import assets
from node.federation.localfed import LocalFederation

UKPN = ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]


def env_file(fed: LocalFederation, name: str, path: Path, node_url: str | None) -> None:
    m = fed.members[name]
    own_node = f"export FMAR_NODE_URL={node_url}\n" if node_url else ""
    path.write_text(
        f"export FMAR_TRUST_URL={fed.issuer}\nexport FMAR_CA_BUNDLE={fed.ca_bundle.resolve()}\n"
        f"export FMAR_CLIENT_ID={m.app_id}\nexport FMAR_CLIENT_CERT={m.cert.resolve()}\n"
        f"export FMAR_CLIENT_KEY={m.key.resolve()}\n{own_node}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=20000, help="assets over the two FSPs")
    parser.add_argument("--limits", type=int, default=200, help="connection limits per FSP (DNO)")
    parser.add_argument("--dir", type=Path, default=Path("var/federation-demo"))
    args = parser.parse_args(argv)

    if args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True)
    fed = LocalFederation(args.dir.resolve(), node_env={"FMAR_NODE_DEADLINE": "5"})
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut it short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not stopping:
            stopping = True
            print("\nStopping the federation...", flush=True)
            fed.stop()
            print("All processes stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        started = time.time()
        print("Starting the trust framework (CA, directory, OAuth issuer)...", flush=True)
        fed.start_trust()
        print("Registering organisations, applications, certificates and nodes...", flush=True)
        neso = fed.register_member("Neso", ["NESO"])
        ukpn = fed.register_member("Ukpn", ["DNO"], dno_areas=UKPN)
        mf = fed.register_member("Elexon", ["MarketFacilitator"])
        fsp1 = fed.register_member("Flexco", ["FSP"])
        fsp2 = fed.register_member("Voltaflex", ["FSP", "Aggregator"])
        fed.register_member("Ofgem", ["Regulator"])
        nodes = {
            "neso": fed.add_node("neso", neso, ["Asset"]),
            "dno": fed.add_node("dno", ukpn, ["Asset", "ConnectionLimit"]),
            "facilitator": fed.add_node("facilitator", mf, ["Asset", "AssetCategory"]),
            "flexco": fed.add_node("flexco", fsp1, ["Asset"]),
            "voltaflex": fed.add_node("voltaflex", fsp2, ["Asset"]),
        }
        half = args.assets // 2
        print(f"Loading {args.assets} synthetic assets with full SHACL validation...",
              flush=True)
        rows1 = list(assets(half, fsp1.org_id, seed=101, dnos=None))
        rows2 = list(assets(args.assets - half, fsp2.org_id, seed=202, dnos=None))
        iris1 = fed.load_assets(nodes["flexco"], rows1, workers=2)
        iris2 = fed.load_assets(nodes["voltaflex"], rows2, workers=2)
        limits = []
        for iris, rows, member in ((iris1, rows1, fsp1), (iris2, rows2, fsp2)):
            for iri, row in zip(iris, rows):
                if row["DNOConnection"] in UKPN and row["ConnectionType"] != "FIRM":
                    limits.append((iri, member.org_id, row["DNOConnection"],
                                   round(float(row["RatedCapacity"]) * 0.7, 1)))
                if len(limits) >= args.limits * (1 if iris is iris1 else 2):
                    break
        fed.load_connection_limits(nodes["dno"], limits)
        print(f"  {len(iris1)} + {len(iris2)} assets, {len(limits)} connection limits",
              flush=True)
        print("Starting five nodes over HTTPS...", flush=True)
        fed.start_nodes()
        creds = args.dir / "members"
        own_nodes = {"Neso": "neso", "Ukpn": "dno", "Elexon": "facilitator",
                     "Flexco": "flexco", "Voltaflex": "voltaflex"}
        for name in fed.members:
            node = nodes.get(own_nodes.get(name, ""))
            env_file(fed, name, creds / name / "env.sh", node.url if node else None)
        (args.dir / "federation.json").write_text(json.dumps({
            "trust": fed.issuer, "ca_bundle": str(fed.ca_bundle),
            "nodes": {k: v.url for k, v in nodes.items()},
            "members": {k: {"org_id": m.org_id, "app_id": m.app_id, "roles": m.roles}
                        for k, m in fed.members.items()}}, indent=2))
        print_help(fed, nodes, creds, time.time() - started)
        while True:
            time.sleep(1)
            for node in nodes.values():
                if node.proc and node.proc.poll() is not None:
                    print(f"node {node.name} exited ({node.proc.returncode}); see "
                          f"{node.data_dir}/node.log", flush=True)
                    node.proc = None
    except KeyboardInterrupt:
        stop()
    finally:
        if not stopping:
            fed.stop()


def print_help(fed: LocalFederation, nodes: dict, creds: Path, took: float) -> None:
    d = {k: v.url for k, v in nodes.items()}
    print(f"""
FMAR federation running (ready in {took:.0f} s). Every process is on 127.0.0.1 with TLS
from the federation CA ({fed.ca_bundle}).

  Trust framework:   {fed.issuer}   (directory: {fed.issuer}/api/nodes?dataset_type=Asset)
  NESO node:         {d['neso']}/docs
  DNO node (UKPN):   {d['dno']}/docs       connection limits for UKPN_EPN/LPN/SPN
  Facilitator node:  {d['facilitator']}/docs
  FSP Flexco:        {d['flexco']}/docs
  FSP Voltaflex:     {d['voltaflex']}/docs
  Catalogue (public, DCAT): curl --cacert {fed.ca_bundle} {d['dno']}/catalogue

Credentials of each member's application (client certificate + id) are in
{creds}/<member>/env.sh — members: Neso, Ukpn, Elexon, Flexco, Voltaflex, Ofgem.

Try (in another shell):

  # register an asset on Flexco's node, as Flexco (mTLS + a token bound to its certificate):
  source {creds}/Flexco/env.sh
  TOKEN=$(.venv/bin/fmar token --app $FMAR_CLIENT_ID --cert $FMAR_CLIENT_CERT \\
          --key $FMAR_CLIENT_KEY --audience $FMAR_NODE_URL | .venv/bin/python -m examples.token)
  curl --cacert $FMAR_CA_BUNDLE --cert $FMAR_CLIENT_CERT --key $FMAR_CLIENT_KEY \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d @examples/asset.json $FMAR_NODE_URL/assets

  source {creds}/Neso/env.sh
  # all BESS in UKPN_EPN with a non-firm connection, >= 1 MW, from every node:
  .venv/bin/fmar query -f category=BESS -f dno=UKPN_EPN -f connection_type=NON_FIRM \\
      -f min_capacity=1000
  # a report computed at the nodes and merged (no rows move):
  .venv/bin/fmar query --aggregate category,dno
  # a join across nodes: FSP assets with the DNO's connection limits:
  .venv/bin/fmar query 'PREFIX fmar: <https://id.fmar.uk/def/fmar#>
    SELECT ?asset ?capacity ?limit WHERE {{ ?l fmar:limitsAsset ?asset ;
    fmar:exportLimit ?limit . ?asset fmar:ratedCapacity ?capacity FILTER (?limit < ?capacity) }}
    LIMIT 10'
  # the same through the DNO's node, which exchanges your token (your rights, not its own):
  .venv/bin/fmar query --via {d['dno']} -f category=BESS -f dno=UKPN_EPN

What each role sees:
  source {creds}/Ukpn/env.sh    # the DNO: only assets in UKPN_EPN, UKPN_LPN, UKPN_SPN
  source {creds}/Flexco/env.sh  # an FSP: only its own assets, and limits on them
  source {creds}/Ofgem/env.sh   # the regulator: aggregates only, cells < 5 suppressed
  .venv/bin/fmar query --aggregate category,dno

Press Ctrl-C to stop everything.
""", flush=True)


if __name__ == "__main__":
    main()
