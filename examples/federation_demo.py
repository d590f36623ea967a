"""A whole FMAR federation on this machine: the trust framework and five nodes (NESO, a
DNO, the market facilitator and two FSPs) as separate processes on loopback with real
TLS and certificates from the trust framework, loaded with synthetic GB data.

    .venv/bin/python -m examples.federation_demo [--assets 20000] [--dir var/federation-demo]
                                                 [--fresh]

The first run builds everything; later runs start the same federation again from its
directory (same data, credentials and ports, so yesterday's env.sh still works);
`--fresh` builds it anew. People's passwords (the operator's, each member admin's) are new
for each federation, printed, and kept in <dir>/federation.json. Prints what to try, and
stops every process on Ctrl-C. Built with the test harness (tests/harness/), so it runs
from the repository's root.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from rich.console import Console

from examples.generate import assets
from node.demo import pick_port, port_is_free, with_progress
from tests.harness.federation import OPERATOR_EMAIL, LocalFederation

UKPN = ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]
# Preferred ports of a new federation (any free port when one is taken).
TRUST_PORT = 8443
NODE_PORTS = {"neso": 8701, "dno": 8702, "facilitator": 8703, "flexco": 8704, "voltaflex": 8705}
OWN_NODES = {"Neso": "neso", "Ukpn": "dno", "Elexon": "facilitator", "Flexco": "flexco",
             "Voltaflex": "voltaflex"}
NODE_ENV = {"FMAR_NODE_DEADLINE": "5"}
DEMO_UNIT = "5f0c8e2a-6b1d-4c3e-9a7f-2d4b6c8e0a1b"  # a market unit of Flexco's, by its UUID


def env_file(fed: LocalFederation, name: str, path: Path, node_url: str | None) -> None:
    m = fed.members[name]
    own_node = f"export FMAR_NODE_URL={node_url}\n" if node_url else ""
    path.write_text(
        f"export FMAR_TRUST_URL={fed.issuer}\nexport FMAR_CA_BUNDLE={fed.ca_bundle.resolve()}\n"
        f"export FMAR_CLIENT_ID={m.app_id}\nexport FMAR_CLIENT_CERT={m.cert.resolve()}\n"
        f"export FMAR_CLIENT_KEY={m.key.resolve()}\n{own_node}")


def build(base: Path, asset_count: int, limit_count: int, console: Console) -> LocalFederation:
    """A new federation: members, nodes, synthetic data (nodes not started yet)."""
    fed = LocalFederation(base, node_env=NODE_ENV, port=pick_port(TRUST_PORT))
    console.print("Starting the trust framework (CA, directory, OAuth issuer)...")
    fed.start_trust()
    console.print("Registering organisations, applications, certificates and nodes...")
    neso = fed.register_member("Neso", ["NESO"])
    ukpn = fed.register_member("Ukpn", ["DNO"], dno_areas=UKPN)
    mf = fed.register_member("Elexon", ["MarketFacilitator"])
    fsp1 = fed.register_member("Flexco", ["FSP"])
    fsp2 = fed.register_member("Voltaflex", ["FSP", "Aggregator"])
    fed.register_member("Ofgem", ["Regulator"])
    types = {"neso": ["Asset"], "dno": ["Asset", "ConnectionLimit"],
             "facilitator": ["Asset", "AssetCategory"], "flexco": ["Asset"],
             "voltaflex": ["Asset"]}
    owners = {"neso": neso, "dno": ukpn, "facilitator": mf, "flexco": fsp1, "voltaflex": fsp2}
    nodes = {name: fed.add_node(name, owners[name], types[name],
                                port=pick_port(NODE_PORTS[name])) for name in NODE_PORTS}
    half = asset_count // 2
    rows1 = list(assets(half, fsp1.org_id, seed=101, dnos=None))
    rows2 = list(assets(asset_count - half, fsp2.org_id, seed=202, dnos=None))
    iris1 = fed.load_assets(nodes["flexco"], with_progress(
        rows1, len(rows1), "Flexco's assets (full SHACL validation)", console), workers=2)
    iris2 = fed.load_assets(nodes["voltaflex"], with_progress(
        rows2, len(rows2), "Voltaflex's assets (full SHACL validation)", console), workers=2)
    limits = []
    for iris, rows, member in ((iris1, rows1, fsp1), (iris2, rows2, fsp2)):
        for iri, row in zip(iris, rows):
            if row["DNOConnection"] in UKPN and row["ConnectionType"] != "FIRM":
                limits.append((iri, member.org_id, row["DNOConnection"],
                               round(float(row["RatedCapacity"]) * 0.7, 1)))
            if len(limits) >= limit_count * (1 if iris is iris1 else 2):
                break
    fed.load_connection_limits(nodes["dno"], limits)
    console.print(f"  {len(iris1)} + {len(iris2)} assets, {len(limits)} connection limits")
    # a market unit of Flexco's (its IRI; the unit record is the market-unit kind's)
    application, outcome = fed.load_qualification(nodes["flexco"], nodes["neso"], DEMO_UNIT)
    console.print(f"  a qualification application ({application}, Flexco's node) and NESO's "
                  f"outcome ({outcome}, NESO's node)")
    fed.save()
    return fed


def resume(base: Path, console: Console) -> LocalFederation | None:
    """The federation kept in `base`, or None when one of its ports is taken."""
    fed = LocalFederation.resume(base, node_env=NODE_ENV)
    busy = [p for p in fed.ports() if not port_is_free(p)]
    if busy:
        console.print(f"[red]Port(s) {', '.join(map(str, busy))} of the kept federation are in "
                      "use[/red] (is it running already?). Stop what uses them, or start a new "
                      "federation on other ports with --fresh.")
        return None
    console.print(f"Starting the federation kept in {base} (--fresh builds a new one)...")
    fed.start_trust(initialise=False)
    return fed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=20000, help="assets over the two FSPs")
    parser.add_argument("--limits", type=int, default=200, help="connection limits per FSP (DNO)")
    parser.add_argument("--dir", type=Path, default=Path("var/federation-demo"))
    parser.add_argument("--fresh", action="store_true", help="delete the kept federation and "
                        "build a new one")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    base = args.dir.resolve()
    kept = (base / "federation.json").exists() and not args.fresh
    if not kept and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    fed: LocalFederation | None = None
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut it short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not stopping:
            stopping = True
            print("\nStopping the federation...", flush=True)
            if fed:
                fed.stop()
            print("All processes stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started with SIGINT ignored (in background)
    try:
        started = time.time()
        fed = resume(base, console) if kept else build(base, args.assets, args.limits, console)
        if fed is None:
            sys.exit(1)
        console.print("Starting five nodes over HTTPS...")
        fed.start_nodes()
        creds = base / "members"
        for name in fed.members:
            node = fed.nodes.get(OWN_NODES.get(name, ""))
            env_file(fed, name, creds / name / "env.sh", node.url if node else None)
        print_help(fed, fed.nodes, creds, time.time() - started)
        while True:
            time.sleep(1)
            for node in fed.nodes.values():
                if node.proc and node.proc.poll() is not None:
                    print(f"node {node.name} exited ({node.proc.returncode}); see "
                          f"{node.data_dir}/node.log", flush=True)
                    node.proc = None
    except KeyboardInterrupt:
        stop()
    finally:
        if not stopping and fed:
            fed.stop()


def people(fed: LocalFederation) -> str:
    """The sign-ins of the operator and of each member's admin, one a line."""
    rows = [("the operator", OPERATOR_EMAIL, fed.operator_password)] if fed.operator_password \
        else []
    rows += [(f"{name} admin", m.email, m.password) for name, m in fed.members.items()]
    return "\n".join(f"  {who:<17} {email:<28} {password}" for who, email, password in rows)


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

People who sign in (`.venv/bin/fmar login`, the trust framework's pages); the passwords are
new for this federation and kept in {fed.base}/federation.json:
{people(fed)}

Try (in another shell):

  # register an asset on Flexco's node, as Flexco (mTLS + a token bound to its certificate):
  source {creds}/Flexco/env.sh
  TOKEN=$(.venv/bin/fmar token --bare)
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
