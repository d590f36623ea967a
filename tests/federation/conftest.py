"""A real federation for the federation tests: the trust service and three nodes (two
FSPs and a DNO) as separate processes over TLS on loopback, with certificates and tokens
from the trust framework, plus NESO and regulator applications that only query."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from examples.generate import assets
from node.federation.client import FederationClient
from tests.harness.federation import LocalFederation, Member
from tests.harness.processes import RATE_LIMITS_OFF, clean_env

AREAS = ["UKPN_EPN", "UKPN_SPN", "ENWL", "NPG_NE"]
DNO_AREAS = ["UKPN_EPN", "UKPN_SPN"]
PER_FSP = 120


class Fed:
    def __init__(self, local: LocalFederation):
        self.local = local
        self.assets: dict[str, list[str]] = {}  # node name -> asset IRIs
        self.limits: list[str] = []
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self._federation_key: str | None = None

    @property
    def federation_key(self) -> str:
        """The key the trust framework hands to nodes (made on first use)."""
        if self._federation_key is None:
            from trust.server.config import TrustSettings
            from trust.server.federation_key import federation_key

            self._federation_key = federation_key(TrustSettings(data_dir=self.local.trust_dir))
        return self._federation_key

    def member(self, name: str) -> Member:
        return self.local.members[name]

    def cli_env(self, who: str, **extra: str) -> dict[str, str]:
        """What `source members/<who>/env.sh` sets, for `fmar` as a subprocess."""
        m = self.member(who)
        return clean_env(**{"FMAR_TRUST_URL": self.local.issuer,
                            "FMAR_CA_BUNDLE": str(self.local.ca_bundle),
                            "FMAR_CLIENT_ID": m.app_id, "FMAR_CLIENT_CERT": str(m.cert),
                            "FMAR_CLIENT_KEY": str(m.key), **extra})

    def client(self, who: str, **kw: Any) -> FederationClient:
        m = self.member(who)
        return FederationClient(self.local.issuer, ca_bundle=self.local.ca_bundle,
                                client_id=m.app_id, cert=m.cert, key=m.key,
                                deadline=kw.pop("deadline", 4.0), **kw)

    def token(self, who: str, node: str, may_act: bool = False) -> str:
        return self.local.access_token(self.member(who), self.local.nodes[node].url,
                                       may_act=may_act)

    def http(self, who: str | None = None):  # type: ignore[no-untyped-def]
        m = self.member(who) if who else None
        return self.local.client(m.cert if m else None, m.key if m else None)


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    # rate limits off: these tests compare answers, and one source (127.0.0.1) asks for every
    # member (RATE-001 is tested in tests/trust/test_trust_limits.py)
    local = LocalFederation(tmp_path_factory.mktemp("federation"),
                            node_env={"FMAR_SPARQL_TIMEOUT": "3", "FMAR_NODE_DEADLINE": "3",
                                      "FMAR_FEDERATION_KEY_TTL": "1", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        otherflex = local.register_member("Otherflex", ["FSP"])
        gridco = local.register_member("Gridco", ["DNO"], dno_areas=DNO_AREAS)
        local.register_member("Neso", ["NESO"])
        local.register_member("Ofgem", ["Regulator"])
        f = Fed(local)
        nodes = {"fsp_a": local.add_node("fsp_a", flexco),
                 "fsp_b": local.add_node("fsp_b", otherflex),
                 "dno": local.add_node("dno", gridco, ["Asset", "ConnectionLimit"])}
        rows_a = list(assets(PER_FSP, flexco.org_id, seed=11, dnos=AREAS))
        rows_b = list(assets(PER_FSP, otherflex.org_id, seed=22, dnos=AREAS))
        f.rows = {"fsp_a": rows_a, "fsp_b": rows_b}
        f.assets["fsp_a"] = local.load_assets(nodes["fsp_a"], rows_a)
        f.assets["fsp_b"] = local.load_assets(nodes["fsp_b"], rows_b)
        limits = []
        for name, rows, member in (("fsp_a", rows_a, flexco), ("fsp_b", rows_b, otherflex)):
            for iri, row in zip(f.assets[name], rows):
                if row["DNOConnection"] in DNO_AREAS and len(limits) % 2 == 0 or \
                        (row["DNOConnection"] in DNO_AREAS and len(limits) < 30
                         and hash(iri) % 3 == 0):
                    limits.append((iri, member.org_id, row["DNOConnection"],
                                   round(float(row["RatedCapacity"]) * 0.6, 1)))
                if len(limits) >= 24:
                    break
        f.limits = local.load_connection_limits(nodes["dno"], limits)
        local.start_nodes()
        yield f
    finally:
        local.stop()
