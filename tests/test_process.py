"""The node as a real `fmar serve` process: persistence across restarts and the audit chain."""

from __future__ import annotations

from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from node.audit import AUDIT_GRAPH
from tests.assets import bess
from tests.harness.processes import ServedNode, dev_token
from tests.harness.processes import run_fmar as fmar


@pytest.fixture
def token_file(tmp_path) -> tuple[Path, str]:
    tokens = tmp_path / "tokens.json"
    return tokens, dev_token(tokens)


def test_records_history_and_audit_survive_a_restart(tmp_path, token_file):
    tokens, token = token_file
    data = tmp_path / "data"
    headers = {"Authorization": f"Bearer {token}"}
    node = ServedNode(data, tokens)
    try:
        created = httpx.post(f"{node.url}/assets", json=bess(), headers=headers)
        assert created.status_code == 201, created.text
        path = f"/assets/{created.json()['AssetId']}"
        patched = httpx.patch(f"{node.url}{path}", json={"AssetName": "after restart?"},
                              headers={**headers, "If-Match": created.headers["etag"]})
        assert patched.status_code == 200
    finally:
        node.stop()
    node = ServedNode(data, tokens)
    try:
        again = httpx.get(f"{node.url}{path}", headers=headers)
        assert again.status_code == 200
        assert again.json()["AssetName"] == "after restart?" and again.json()["Version"] == 2
        history = httpx.get(f"{node.url}{path}/history", headers=headers).json()["versions"]
        assert [v["version"] for v in history] == [1, 2]
        # the audit chain continues where it stopped
        third = httpx.patch(f"{node.url}{path}", json={"AssetName": "v3"},
                            headers={**headers, "If-Match": again.headers["etag"]})
        assert third.status_code == 200
    finally:
        node.stop()
    verified = fmar("audit", "verify", "--data-dir", str(data))
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout


def _audit_entries(store: ox.Store) -> dict[int, ox.NamedNode]:
    seq = ox.NamedNode("https://id.fmar.uk/def/fmar#sequence")
    return {
        int(q.object.value): q.subject
        for q in store.quads_for_pattern(None, seq, None, ox.NamedNode(AUDIT_GRAPH))
    }


def test_audit_verify_detects_an_edited_and_a_removed_entry(tmp_path, token_file):
    tokens, token = token_file
    data = tmp_path / "data"
    node = ServedNode(data, tokens)
    try:
        for _ in range(3):
            r = httpx.post(f"{node.url}/assets", json=bess(), headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201
    finally:
        node.stop()
    assert fmar("audit", "verify", "--data-dir", str(data)).returncode == 0

    store = ox.Store(str(data / "journal"))  # the audit log is in the journal
    entries = _audit_entries(store)
    action = ox.NamedNode("https://id.fmar.uk/def/fmar#action")
    graph = ox.NamedNode(AUDIT_GRAPH)
    target = entries[max(entries) - 1]
    [old] = list(store.quads_for_pattern(target, action, None, graph))
    store.remove(old)
    store.add(ox.Quad(target, action, ox.Literal("deregister"), graph))
    del store
    edited = fmar("audit", "verify", "--data-dir", str(data))
    assert edited.returncode == 1
    assert f"entry {max(entries) - 1}: content does not match its hash (edited)" in edited.stderr

    store = ox.Store(str(data / "journal"))  # the audit log is in the journal
    for quad in list(store.quads_for_pattern(entries[2], None, None, graph)):
        store.remove(quad)
    del store
    removed = fmar("audit", "verify", "--data-dir", str(data))
    assert removed.returncode == 1
    assert "entry 3: sequence gap" in removed.stderr


def test_POL_030_fmar_serve_holds_the_organisations_it_is_told(tmp_path, token_file):
    """`fmar serve --holds`: a static-token node stores records only for those organisations
    (default: the asset-holding organisations of its tokens file)."""
    tokens, token = token_file
    other = dev_token(tokens, "FSP-OTHER")
    node = ServedNode(tmp_path / "data", tokens, "--holds", "FSP-ACME")
    try:
        refused = httpx.post(f"{node.url}/assets", json=bess(org="FSP-OTHER"),
                             headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 403 and refused.json()["code"] == "POL-030"
        mine = httpx.post(f"{node.url}/assets", json=bess(),
                          headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 201, mine.text  # control
    finally:
        node.stop()
