"""The newcomer walkthrough of docs/trust.md, command by command, against a real service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import typer
from test_trust_refusals import claims_of
from typer.testing import CliRunner, Result

from tests.harness.directory import org_body
from tests.harness.processes import ROOT, free_port
from tests.harness.trust_service import TrustService
from common import http_client as http
from trust.cli import register

PASSWORD = "operator-password-1"


CLI = typer.Typer()
register(CLI)


def fmar(*args: str, home: Path, check: bool = True) -> Result:
    """One `fmar` command, in this process (the logins run as real processes)."""
    done = CliRunner().invoke(CLI, list(args), env={"FMAR_HOME": str(home)})
    if check:
        assert done.exit_code == 0, done.output
    return done


def output(done: Result) -> dict:
    return json.loads(done.stdout[done.stdout.index("{"):])


def login(url: str, ca: Path, home: Path, email: str, password: str) -> None:
    """`fmar login` (device grant); the person approves in the browser page."""
    env = {**os.environ, "FMAR_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "trust", "login", "--trust", url, "--ca",
                             str(ca)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    first = proc.stdout.readline()
    code = re.search(r"enter the code (\S+)", first).group(1)
    with http.client(ca_bundle=ca, base_url=url) as c:
        page = c.post("/device", data={"user_code": code, "email": email, "password": password})
        assert page.status_code == 200, page.text
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, first + out
    assert (home / "session.json").exists()


def browser_login(url: str, ca: Path, home: Path, email: str, password: str) -> None:
    """`fmar login --browser`: this test plays the browser, the CLI listens on loopback."""
    env = {**os.environ, "FMAR_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "trust", "login", "--browser",
                             "--no-open-browser", "--trust", url, "--ca", str(ca)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = proc.stdout.readline()
    authorize = re.search(r"Open (\S+)", first).group(1)
    query = dict(parse_qsl(urlsplit(authorize).query))
    with http.client(ca_bundle=ca, base_url=url) as c:
        assert "<form" in c.get(authorize).text
        done = c.post("/authorize", data={**query, "email": email, "password": password})
        assert done.status_code == 303, done.text
    with httpx.Client() as plain:  # the browser follows the redirect to the CLI
        assert plain.get(done.headers["location"]).status_code == 200
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, first + out
    assert json.loads((home / "session.json").read_text())["id_token"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli-trust")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    home = tmp_path_factory.mktemp("operator-home")
    kek = tmp_path_factory.mktemp("cli-kek") / "trust.kek"
    fmar("trust", "init", "--data", str(data), "--issuer", url, "--admin-email",
         "op@trust.example", "--admin-password", PASSWORD, "--kek-file", str(kek), home=home)
    trust = TrustService.start(data, port=port)
    yield url, trust.ca_bundle, home
    trust.stop()


def test_walkthrough(service, tmp_path):
    url, ca, operator = service
    login(url, ca, operator, "op@trust.example", PASSWORD)
    ids = {}
    for name, roles, extra in (("Flexco", ["FSP"], {}),
                               ("Gridco", ["DNO"], {"dno_areas": ["UKPN_EPN"]})):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(org_body(name, roles, f"admin@{name.lower()}.example",
                                            f"{name}-password-1", **extra)))
        org = output(fmar("org", "register", str(path), "--trust", url, "--ca", str(ca),
                          home=tmp_path))
        assert org["status"] == "Pending Approval"
        approved = output(fmar("org", "status", org["id"], "Active", home=operator))
        assert approved["status"] == "Active"
        ids[name] = org["id"]
    fsp_home = tmp_path / "fsp-home"
    browser_login(url, ca, fsp_home, "admin@flexco.example", "Flexco-password-1")
    user = output(fmar("user", "add", "--org", ids["Flexco"], "--email", "ed@flexco.example",
                       "--name", "Ed", "--role", "editor", "--password", "editor-password-1",
                       home=fsp_home))
    assert user["role"] == "editor"
    app = output(fmar("app", "create", "--org", ids["Flexco"], "--name", "flexco-node-client",
                      home=fsp_home))
    node = output(fmar("node", "add", "--org", ids["Flexco"], "--url",
                       "https://127.0.0.1:9001", "--dataset-type", "Asset", home=fsp_home))
    assert node["status"] == "pending"
    refused = fmar("cert", "request", "--node", node["id"], "--out", str(tmp_path / "no"),
                   home=fsp_home, check=False)
    assert refused.exit_code == 1 and "DIR-021" in refused.stdout
    assert output(fmar("node", "status", node["id"], "active", home=operator))["status"] == \
        "active"
    certs = tmp_path / "certs"
    issued = output(fmar("cert", "request", "--app", app["id"], "--out", str(certs),
                         home=fsp_home))
    assert (certs / "client.key").stat().st_mode & 0o777 == 0o600
    server = output(fmar("cert", "request", "--node", node["id"], "--out", str(certs),
                         home=fsp_home))
    assert server["certificate"].endswith("server.pem")
    own = output(fmar("cert", "request", "--node", node["id"], "--kind", "client", "--out",
                      str(certs / "node"), home=fsp_home))
    assert own["certificate"].endswith("client.pem")
    assert (certs / "server.key").stat().st_mode & 0o777 == 0o600
    assert (fsp_home / "session.json").stat().st_mode & 0o777 == 0o600
    token = output(fmar("token", "--app", app["id"], "--cert", str(certs / "client.pem"),
                        "--key", str(certs / "client.key"), "--audience", node["url"],
                        "--trust", url, "--ca", str(ca), home=fsp_home))
    claims = claims_of(token["access_token"])
    assert claims["org_id"] == ids["Flexco"] and claims["aud"] == "https://127.0.0.1:9001"
    assert claims["cnf"]["x5t#S256"] == issued["x5t#S256"]
    revoked = output(fmar("cert", "revoke", issued["serial"], home=fsp_home))
    assert revoked["status"] == "revoked"
    refused = fmar("token", "--app", app["id"], "--cert", str(certs / "client.pem"),
                   "--key", str(certs / "client.key"), "--audience", node["url"],
                   "--trust", url, "--ca", str(ca), home=fsp_home, check=False)
    assert refused.exit_code == 1 and "AUTH-021" in refused.stdout
    # a member cannot approve organisations
    refused = fmar("org", "status", ids["Gridco"], "Suspended", home=fsp_home, check=False)
    assert refused.exit_code == 1 and "POL-102" in refused.stdout
