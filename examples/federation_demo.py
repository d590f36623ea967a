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
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from examples.generate import assets
from examples.market_units import demo_units
from node.demo import demo_consent, pick_port, port_is_free, with_progress
from node.inputs import csv_text
from tests.harness.federation import OPERATOR_EMAIL, LocalFederation
from tests.harness.portal import PORTAL_NODE_ENV, PortalProc, register_portal_client

UKPN = ["UKPN_EPN", "UKPN_LPN", "UKPN_SPN"]
# Preferred ports of a new federation (any free port when one is taken).
TRUST_PORT = 8443
NODE_PORTS = {"neso": 8701, "dno": 8702, "facilitator": 8703, "flexco": 8704, "voltaflex": 8705}
OWN_NODES = {"Neso": "neso", "Ukpn": "dno", "Elexon": "facilitator", "Flexco": "flexco",
             "Voltaflex": "voltaflex"}
NODE_ENV = {"FMAR_NODE_DEADLINE": "5", **PORTAL_NODE_ENV}  # the portal calls every node
PORTAL_PORT = 8800
# The node each demo person works through in the portal (Ofgem runs none: NESO's).
PORTAL_NODES = {"Flexco": "flexco", "Voltaflex": "voltaflex", "Neso": "neso", "Ukpn": "dno",
                "Elexon": "facilitator", "Ofgem": "neso"}


def env_file(fed: LocalFederation, name: str, path: Path, node_url: str | None) -> None:
    m = fed.members[name]
    delegation = path.parent / "delegation.json"  # a platform acting for an FSP (UC-05.04)
    if delegation.exists():
        granted = json.loads(delegation.read_text())
        node_url = node_url or granted["nodes"][0]
        node_url += f"\nexport FMAR_DELEGATION={granted['id']}"
    own_node = f"export FMAR_NODE_URL={node_url}\n" if node_url else ""
    path.write_text(
        f"export FMAR_TRUST_URL={fed.issuer}\nexport FMAR_CA_BUNDLE={fed.ca_bundle.resolve()}\n"
        f"export FMAR_CLIENT_ID={m.app_id}\nexport FMAR_CLIENT_CERT={m.cert.resolve()}\n"
        f"export FMAR_CLIENT_KEY={m.key.resolve()}\n{own_node}")


def build(base: Path, asset_count: int, limit_count: int,
          console: Console) -> tuple[LocalFederation, list[dict[str, Any]]]:
    """A new federation: members, nodes, synthetic assets (nodes not started yet), and the
    connection limits the DNO will set once they run."""
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
    market = fed.register_member("Flexmarket", ["Platform"])  # acts for Flexco (UC-05.04)
    types = {"neso": ["Asset"], "dno": ["Asset", "ConnectionLimit"],
             "facilitator": ["Asset", "AssetCategory", "Product"], "flexco": ["Asset"],
             "voltaflex": ["Asset"]}
    owners = {"neso": neso, "dno": ukpn, "facilitator": mf, "flexco": fsp1, "voltaflex": fsp2}
    nodes = {name: fed.add_node(name, owners[name], types[name],
                                port=pick_port(NODE_PORTS[name])) for name in NODE_PORTS}
    delegation = fsp1.delegate(market.app_id, [nodes["flexco"].url],
                               ["assets:read", "assets:write"])
    (base / "members" / "Flexmarket" / "delegation.json").write_text(json.dumps(delegation))
    console.print(f"  Flexco delegated assets:read and assets:write on its node to the "
                  f"platform Flexmarket ({delegation['id']}, until {delegation['expires_at']})")
    half = asset_count // 2
    rows1 = list(assets(half, fsp1.org_id, seed=101, dnos=None))
    rows2 = list(assets(asset_count - half, fsp2.org_id, seed=202, dnos=None))
    iris1 = fed.load_assets(nodes["flexco"], with_progress(
        rows1, len(rows1), "Flexco's assets (full SHACL validation)", console), workers=2)
    iris2 = fed.load_assets(nodes["voltaflex"], with_progress(
        rows2, len(rows2), "Voltaflex's assets (full SHACL validation)", console), workers=2)
    limits: list[dict[str, Any]] = []
    for iris, rows, member in ((iris1, rows1, fsp1), (iris2, rows2, fsp2)):
        for iri, row in zip(iris, rows):
            if row["DNOConnection"] in UKPN and row["ConnectionType"] != "FIRM":
                limits.append(limit_of(iri, member.org_id, row, len(limits)))
            if len(limits) >= limit_count * (1 if iris is iris1 else 2):
                break
    products = fed.load_products(nodes["facilitator"])
    units = fed.load_market_units(nodes["flexco"], demo_units(iris1, rows1))
    console.print(f"  {len(iris1)} + {len(iris2)} assets, {len(products)} products, "
                  f"{len(units)} market units on Flexco's node; {len(limits)} connection "
                  "limits to set through the DNO's API once the nodes run")
    # a qualification of Flexco's first unit: its application (Flexco's node) and NESO's
    # outcome (NESO's node)
    application, outcome = fed.load_qualification(nodes["flexco"], nodes["neso"], units[0])
    console.print(f"  a qualification application ({application}, Flexco's node) and NESO's "
                  f"outcome ({outcome}, NESO's node)")
    # the operators hear of their units' material changes and switches by themselves:
    # NESO's and the DNO's nodes subscribe, on each FSP's node, to composition changes and
    # units switched in (their inboxes)
    for fsp in ("flexco", "voltaflex"):
        for operator in ("neso", "dno"):
            fed.subscribe_inbox(nodes[fsp], nodes[operator])
    console.print("  NESO's and the DNO's nodes subscribed to the FSP nodes' "
                  "market-unit.composition-changed and market-unit.switched-in events "
                  "(POST /inbox/events)")
    fed.save()
    return fed, limits


def limit_of(asset_iri: str, holder: str, row: dict[str, Any], n: int) -> dict[str, Any]:
    """A connection limit on a non-firm asset: most are plain (export at 70 % of its rating),
    every fifth one timed (a winter peak band) and every seventh one ANM."""
    export = round(float(row["RatedCapacity"]) * 0.7, 1)
    limit: dict[str, Any] = {"AssetId": asset_iri.rsplit("/", 1)[-1], "OrganisationId": holder,
                             "DNOConnection": row["DNOConnection"], "LimitType": "NON_FIRM",
                             "ExportLimit": export, "ValidFrom": "2026-04-01",
                             "Reason": "Thermal constraint at the primary substation"}
    if n % 5 == 0:
        limit.update(LimitType="TIMED", TimeProfile=json.dumps([
            {"Season": "WINTER", "From": "16:00", "To": "19:00",
             "ExportLimit": round(export / 2, 1)}]))
    elif n % 7 == 0:
        limit.update(LimitType="ANM", ANMScheme=f"{row['DNOConnection']}-ANM-1",
                     CurtailmentOrder=n // 7 + 1, ConstraintZone=f"{row['GSPGroup']} zone")
    return limit


LIMIT_COLUMNS = ["AssetId", "OrganisationId", "DNOConnection", "LimitType", "ExportLimit",
                 "ValidFrom", "Reason", "TimeProfile", "ANMScheme", "CurtailmentOrder",
                 "ConstraintZone"]


def set_limits(fed: LocalFederation, limits: list[dict[str, Any]], console: Console) -> None:
    """The DNO sets its limits through its node's API, as any DNO would: the first alone
    (POST /connection-limits), the rest as one CSV book (POST /connection-limits/bulk)."""
    if not limits:
        return
    ukpn, node = fed.members["Ukpn"], fed.nodes["dno"]
    token = ukpn.access_token(node.url, "assets:read validation:write")
    first = {**limits[0], "TimeProfile": json.loads(limits[0].get("TimeProfile") or "[]")}
    book = csv_text([LIMIT_COLUMNS, *([str(limit.get(c, "")) for c in LIMIT_COLUMNS]
                                      for limit in limits[1:])])
    with fed.client(ukpn.cert, ukpn.key, token=token, base_url=node.url) as c:
        one = c.post("/connection-limits", json={k: v for k, v in first.items() if v != []})
        if one.status_code != 201:
            raise SystemExit(f"the DNO's node refused a limit: {one.text}")
        if len(limits) > 1:
            bulk = c.post("/connection-limits/bulk", content=book.encode(), timeout=300,
                          headers={"Content-Type": "text/csv"})
            if bulk.status_code != 200:
                raise SystemExit(f"the DNO's node refused its book of limits: {bulk.text[:2000]}")
    console.print(f"  UKPN set {len(limits)} connection limits through its node's API")


def seed_consent(fed: LocalFederation, console: Console) -> None:
    """Flexco records a consumer's consent on its node and registers a home heat pump under
    it (UC-05.05), through its node's API; only Flexco ever reads the consent."""
    flexco, node = fed.members["Flexco"], fed.nodes["flexco"]
    consent, asset = demo_consent(flexco.org_id)
    token = flexco.access_token(node.url, "assets:read assets:write")
    with fed.client(flexco.cert, flexco.key, token=token, base_url=node.url) as c:
        made = c.post("/consents", json=consent)
        if made.status_code != 201:
            raise SystemExit(f"Flexco's node refused the demo consent: {made.text}")
        registered = c.post("/assets", json=asset)
        if registered.status_code != 201:
            raise SystemExit(f"Flexco's node refused the consented asset: {registered.text}")
    console.print(f"  Flexco recorded consent {consent['ConsentReference']} and registered "
                  "a heat pump under it")


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
    portal: PortalProc | None = None
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut it short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not stopping:
            stopping = True
            print("\nStopping the federation...", flush=True)
            if portal:
                portal.stop()
            if fed:
                fed.stop()
            print("All processes stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started with SIGINT ignored (in background)
    try:
        started = time.time()
        limits: list[dict[str, Any]] = []
        if kept:
            fed = resume(base, console)
        else:
            fed, limits = build(base, args.assets, args.limits, console)
        if fed is None:
            sys.exit(1)
        console.print("Starting five nodes over HTTPS...")
        fed.start_nodes()
        set_limits(fed, limits, console)
        if not kept:
            seed_consent(fed, console)
        creds = base / "members"
        for name in fed.members:
            node = fed.nodes.get(OWN_NODES.get(name, ""))
            env_file(fed, name, creds / name / "env.sh", node.url if node else None)
        portal = start_portal(fed, base)
        print_help(fed, fed.nodes, creds, time.time() - started)
        print_portal(fed, portal)
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
        if not stopping and portal:
            portal.stop()
        if not stopping and fed:
            fed.stop()


def start_portal(fed: LocalFederation, base: Path) -> PortalProc:
    """The web portal as its own process, registered once as a client of the trust
    framework (its port and client id kept in federation.json)."""
    import json

    saved = json.loads((base / "federation.json").read_text()).get("portal")
    if saved is None or not port_is_free(int(saved["port"])):
        port = pick_port(PORTAL_PORT)
        saved = {"port": port,
                 "client_id": register_portal_client(fed.trust, f"http://127.0.0.1:{port}")}
    if "session_key" not in saved:  # the shared session store's key (portal/session_db.py)
        from portal.session_db import new_key

        saved["session_key"] = new_key()
    fed.save(extra={"portal": saved})
    return PortalProc.start(fed.trust, saved["client_id"], base / "portal.log",
                            port=int(saved["port"]), entry_node=fed.nodes["neso"].url,
                            database_url=f"sqlite:///{base / 'portal-sessions.db'}",
                            session_key=saved["session_key"])


def print_portal(fed: LocalFederation, portal: PortalProc) -> None:
    rows = []
    for name, node in PORTAL_NODES.items():
        m = fed.members.get(name)
        if m is not None and node in fed.nodes:
            rows.append(f"  {', '.join(m.roles):<20} {m.email:<28} {m.password:<20} "
                        f"node: {fed.nodes[node].url}")
    print(f"""Web portal: {portal.url}   (docs/portal.md; sign in at the trust framework, whose
certificate comes from the demo CA: accept the browser's warning once, or import
{fed.ca_bundle})
Demo users (role, e-mail, password, node to choose on the sign-in page):
""" + "\n".join(rows) + "\n", flush=True)


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
  FSP Flexco:        {d['flexco']}/docs    an SPU and an SPG with members (/market-units)
  FSP Voltaflex:     {d['voltaflex']}/docs
  Catalogue (public, DCAT): curl --cacert {fed.ca_bundle} {d['dno']}/catalogue

Credentials of each member's application (client certificate + id) are in
{creds}/<member>/env.sh — members: Neso, Ukpn, Elexon, Flexco, Voltaflex, Ofgem, and
Flexmarket, a platform that Flexco lets act for it on Flexco's node (a delegation).

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

  # the platform Flexmarket reads (and could register) Flexco's assets under Flexco's
  # delegation (docs/trust.md "Third-party platforms"; the audit names both parties):
  source {creds}/Flexmarket/env.sh
  TOKEN=$(curl -s --cacert $FMAR_CA_BUNDLE --cert $FMAR_CLIENT_CERT --key $FMAR_CLIENT_KEY \\
       -d grant_type=client_credentials -d client_id=$FMAR_CLIENT_ID \\
       -d delegation=$FMAR_DELEGATION -d audience=$FMAR_NODE_URL $FMAR_TRUST_URL/token \\
       | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl --cacert $FMAR_CA_BUNDLE --cert $FMAR_CLIENT_CERT --key $FMAR_CLIENT_KEY \\
       -H "Authorization: Bearer $TOKEN" $FMAR_NODE_URL/assets

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

  # market units: Flexco's SPU and SPG, their members and capability on a date
  source {creds}/Flexco/env.sh
  .venv/bin/fmar unit list
  .venv/bin/fmar unit capability <UnitId> --on 2025-06-01
  source {creds}/Neso/env.sh     # NESO reads every unit on Flexco's node
  .venv/bin/fmar unit --node {d['flexco']} list --type SPG

What each role sees:
  source {creds}/Ukpn/env.sh    # the DNO: only assets in UKPN_EPN, UKPN_LPN, UKPN_SPN
  source {creds}/Flexco/env.sh  # an FSP: only its own assets, and limits on them
  source {creds}/Ofgem/env.sh   # the regulator: aggregates only, cells < 5 suppressed
  .venv/bin/fmar query --aggregate category,dno

Press Ctrl-C to stop everything.
""", flush=True)


if __name__ == "__main__":
    main()
