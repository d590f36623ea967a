"""Keys at rest (KEY-001, KEY-002): secret files 0600, signing and CA keys encrypted with
the KEK, rotation with an overlap window; checked on the running trust service and a node
over TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlmodel import Session, select
from test_trust_refusals import assert_refused

from tests.harness.processes import ROOT, free_port
from trust.client.verifier import unverified_header
from trust.server import keystore
from trust.server.bootstrap import load_state
from trust.server.keystore import KeyStoreError
from trust.server.models import SigningKey

WRONG_KEK = b"not-the-key-encryption-key"


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_KEY_secret_files_are_created_0600(federation):
    data = federation.data
    state = load_state(data)
    secrets = [data / "trust.json", *sorted((data / "ca").glob("*/*.key")),
               data / "tls" / "server.key", data / "operator" / "client.key",
               data / "federation-keys.json", Path(state["kek_file"])]
    if state["database_url"].startswith("sqlite"):
        db = Path(state["database_url"].split("///", 1)[1])
        secrets += [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
                    if p.exists()]
    assert secrets and all(p.exists() for p in secrets)
    assert {str(p): oct(_mode(p)) for p in secrets} == {str(p): "0o600" for p in secrets}
    assert _mode(data) == 0o700
    assert _mode(data / "ca" / "chain.pem") & 0o044  # control: public files stay readable


def test_KEY_002_stored_keys_are_encrypted_and_useless_without_the_kek(federation):
    kek = keystore.read_kek(kek_file=Path(load_state(federation.data)["kek_file"]))
    engine = federation.engine()
    with Session(engine) as session:
        stored = [row.private_pem.encode() for row in session.exec(select(SigningKey))]
    engine.dispose()
    stored += [p.read_bytes() for p in sorted((federation.data / "ca").glob("*/*.key"))]
    with federation.client() as c:
        published = {(k["x"], k["y"]) for k in c.get("/.well-known/jwks.json").json()["keys"]}
    for pem in stored:
        assert pem.startswith(keystore.ENCRYPTED_PEM)
        assert b"BEGIN PRIVATE KEY" not in pem and b"BEGIN EC PRIVATE KEY" not in pem
        with pytest.raises(TypeError):  # a PEM loader without a password cannot read it
            load_pem_private_key(pem, None)
        with pytest.raises(KeyStoreError) as err:
            keystore.unseal(pem, WRONG_KEK)
        assert err.value.code == "KEY-001"
        assert keystore.unseal(pem, kek)  # control: the KEK opens it
    signer = keystore.FileSigner("k", keystore.unseal(stored[0], kek))
    assert (signer.public_jwk()["x"], signer.public_jwk()["y"]) in published
    with pytest.raises(KeyStoreError) as err:  # a key stored in the clear is refused
        keystore.unseal(b"-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n",
                        kek)
    assert err.value.code == "KEY-002"


def test_KEY_init_without_a_kek_makes_one_beside_the_data_directory(tmp_path, monkeypatch):
    from trust.server.bootstrap import init, settings_for
    from trust.server.config import TrustSettings

    monkeypatch.delenv("FMAR_TRUST_KEK", raising=False)
    monkeypatch.delenv("FMAR_TRUST_KEK_FILE", raising=False)
    data = tmp_path / "trust"
    state = init(TrustSettings(data_dir=data), admin_email="op@keys.example",
                 admin_password="operator-password-1")
    kek_file = tmp_path / "trust.kek"
    assert state["kek_file"] == str(kek_file) and _mode(kek_file) == 0o600
    assert len(kek_file.read_text()) >= keystore.MIN_KEK_LENGTH
    issuer = (data / "ca" / "client" / "issuer.key").read_bytes()
    assert keystore.unseal(issuer, settings_for(data).key_encryption_key())  # remembered


def _serve(federation, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FMAR_TRUST_KEK")}
    return subprocess.run([sys.executable, "-m", "trust", "trust", "serve", "--data",
                           str(federation.data), "--port", str(free_port())], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_KEY_001_the_service_does_not_start_without_its_kek(federation, tmp_path):
    wrong = _serve(federation, {"FMAR_TRUST_KEK": WRONG_KEK.decode()})
    assert wrong.returncode == 2 and "KEY-001" in wrong.stderr, wrong.stderr
    missing = _serve(federation, {"FMAR_TRUST_KEK_FILE": str(tmp_path / "no-such-file")})
    assert missing.returncode == 2 and "KEY-001" in missing.stderr, missing.stderr
    rotate = subprocess.run([sys.executable, "-m", "trust", "trust", "keys", "rotate", "signing",
                             "--data", str(federation.data)], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "FMAR_TRUST_KEK": WRONG_KEK.decode()},
                            check=False)
    assert rotate.returncode == 2 and "KEY-001" in rotate.stderr
    with federation.client() as c:  # control: the service started with its KEK file serves
        assert c.get("/.well-known/jwks.json").status_code == 200


def _rotate(federation, which: str, overlap: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "trust", "trust", "keys", "rotate", which,
                           "--overlap", str(overlap), "--data", str(federation.data)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_KEY_after_rotation_old_tokens_verify_until_the_overlap_ends(federation, members):
    fsp, node = members.fsp, members.fsp_node
    old_machine = fsp.access_token(node.url)
    old_user = federation.login(fsp.email, fsp.password).json()["access_token"]
    old_kid = unverified_header(old_machine)["kid"]
    overlap = 4
    new_kid = _rotate(federation, "signing", overlap)["signing_key"]
    ends = time.time() + overlap
    new_machine = fsp.access_token(node.url)
    assert unverified_header(new_machine)["kid"] == new_kid != old_kid
    # inside the window: the JWKS has both, the old key with the end of its window
    with federation.client() as c:
        published = {k["kid"]: k for k in c.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= set(published)
    assert abs(published[old_kid]["exp"] - ends) < 3 and "exp" not in published[new_kid]
    time.sleep(1.1)  # the node refetches the JWKS for an unknown kid at most every second
    for token in (new_machine, old_machine):
        seen = node.call("GET", "/whoami", token, fsp.cert, fsp.key)
        assert seen.status_code == 200, seen.text
    with federation.client(token=old_user) as c:
        assert c.get("/userinfo").status_code == 200
    # after the window: the old key is gone everywhere, tokens it signed fail
    time.sleep(max(0.0, ends - time.time()) + 1.5)
    with federation.client() as c:
        kids = {k["kid"] for k in c.get("/.well-known/jwks.json").json()["keys"]}
    assert old_kid not in kids and new_kid in kids
    assert_refused(node.call("GET", "/whoami", old_machine, fsp.cert, fsp.key), 401, "AUTH-002")
    with federation.client(token=old_user) as c:
        assert c.get("/userinfo").status_code == 401
    with federation.client(node.client_cert, node.client_key) as c:  # nodes introspect
        seen = c.post("/introspect", data={"token": old_machine, "client_id": node.node_id})
        assert seen.json() == {"active": False}
    # control: tokens of the new key keep working
    assert node.call("GET", "/whoami", new_machine, fsp.cert, fsp.key).status_code == 200
    federation._tokens.clear()  # cached user tokens of other tests were signed by the old key


def test_KEY_federation_key_rotation_hands_out_both_keys_until_the_overlap_ends(federation,
                                                                                 members):
    fsp = members.fsp  # runs a node: gets the key over mTLS

    def given() -> dict:
        with federation.client(fsp.cert, fsp.key) as c:
            resp = c.post("/api/federation-key", data={"client_id": fsp.app_id})
        assert resp.status_code == 200, resp.text
        return resp.json()

    before = given()
    _rotate(federation, "federation", 3)
    during = given()
    assert [k["key"] for k in during["keys"]][1:] == [before["key"]]
    assert during["key"] == during["keys"][0]["key"] != before["key"]
    assert during["keys"][0]["expires_at"] is None and during["keys"][1]["expires_at"]
    time.sleep(3.5)
    after = given()
    assert [k["key"] for k in after["keys"]] == [during["key"]]
    assert (federation.data / "federation-keys.json").stat().st_mode & 0o777 == 0o600
