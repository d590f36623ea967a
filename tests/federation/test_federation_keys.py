"""Keys at rest in the demo federation (tests/harness/federation.py), and the rotation of
the federation's duplicate-detection key across real node processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import ROOT

from node.federation.duplicates import tokens_for


def test_KEY_demo_harness_writes_private_keys_0600(fed):
    keys = sorted(fed.local.base.rglob("*.key")) + [fed.local.base / "trust.kek"]
    names = {p.name for p in keys}
    assert {"server.key", "client.key", "trust.kek", "issuer.key"} <= names
    assert len([p for p in keys if p.name == "server.key"]) >= len(fed.local.nodes) + 1
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in keys} == {
        str(p): "0o600" for p in keys}


def _holders(fed, hashes: list[str]) -> set[str]:
    """The hashes fsp_a's node (which holds the asset) matches. Other nodes may be down:
    the partial-answer test of test_federation.py stops one for good."""
    holder = fed.local.nodes["fsp_a"].url
    answer = fed.client("Otherflex").duplicates(hashes)
    status = {s["node"]: s["status"] for s in answer["nodes"]}
    assert status[holder] == "answered", answer
    return {m["token"] for m in answer["matches"] if m["node"] == holder}


def test_KEY_duplicate_hashes_of_the_old_federation_key_match_until_the_overlap_ends(fed):
    row = next(r for r in fed.rows["fsp_a"] if r.get("SerialNumber") and r.get("ImportMPAN"))
    fields = (row.get("ImportMPAN"), row.get("ExportMPAN"), row["SerialNumber"])
    old = tokens_for([bytes.fromhex(fed.federation_key)], *fields)
    assert _holders(fed, old) == set(old)  # control: before the rotation
    overlap = 6
    done = subprocess.run([sys.executable, "-m", "trust", "trust", "keys", "rotate",
                           "federation", "--overlap", str(overlap), "--data",
                           str(fed.local.trust_dir)], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    ends = time.time() + overlap
    assert json.loads(done.stdout)["federation_key"]
    fed._federation_key = None
    new = tokens_for([bytes.fromhex(fed.federation_key)], *fields)
    assert set(new).isdisjoint(old)
    time.sleep(1.5)  # nodes refetch their keys every second here (FMAR_FEDERATION_KEY_TTL)
    assert _holders(fed, old) == set(old)  # inside the overlap both keys match
    assert _holders(fed, new) == set(new)
    time.sleep(max(0.0, ends - time.time()) + 1.5)
    assert _holders(fed, old) == set()  # after it, only the new key's hashes
    assert _holders(fed, new) == set(new)
