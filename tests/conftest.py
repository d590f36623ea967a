"""Shared fixtures: a real node served over HTTP on loopback, and callers with tokens."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from node.api.app import create_app
from node.config import NodeSettings
from node.identity import Caller, StaticTokenAuthenticator
from tests.harness import HarnessError
from tests.harness.processes import free_port, wait_ready
from tests.virtuoso import VirtuosoServer, virtuoso_or_skip

ALL = frozenset({"assets:read", "assets:write", "audit:read", "validation:write",
                 "categories:write", "products:write"})

CALLERS = {
    "fsp": Caller("alice@acme", "FSP-ACME", frozenset({"FSP"}), ALL),
    "fsp2": Caller("bob@other", "FSP-OTHER", frozenset({"FSP"}), ALL),
    "dno": Caller("carol@ukpn", "DNO-UKPN", frozenset({"DNO"}), ALL,
                  frozenset({"UKPN_EPN", "UKPN_LPN", "UKPN_SPN"})),
    "neso": Caller("dan@neso", "NESO", frozenset({"NESO"}), ALL),
    "facilitator": Caller("erin@mf", "MF", frozenset({"MarketFacilitator"}), ALL),
    "regulator": Caller("fay@ofgem", "OFGEM", frozenset({"Regulator"}), ALL),
    "fsp_readonly": Caller("gus@acme", "FSP-ACME", frozenset({"FSP"}), frozenset({"assets:read"})),
    "trust_operator": Caller("trust", "OPERATOR", frozenset(), frozenset({"trust:deregistration"})),
}


def token_for(name: str) -> str:
    return f"test-token-{name}"


def authenticator(callers: dict[str, Caller] | None = None) -> StaticTokenAuthenticator:
    return StaticTokenAuthenticator(
        {StaticTokenAuthenticator.hash_token(token_for(n)): c
         for n, c in (callers or CALLERS).items()}
    )


def start_oxigraph_server(location: Path) -> tuple[str, subprocess.Popen]:
    """A real `oxigraph serve` (PyPI package oxigraph) on a free loopback port."""
    binary = shutil.which("oxigraph", path=str(Path(__file__).resolve().parents[1] / ".venv/bin")) \
        or shutil.which("oxigraph")
    if not binary:
        raise HarnessError("the oxigraph server CLI (PyPI package oxigraph) is a test "
                           "dependency")
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--location", str(location),
                                "--bind", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/query?query=ASK%20%7B%7D", process, timeout=30)
    except HarnessError:
        process.kill()
        raise
    return url, process


# External SPARQL servers, one per test module (real processes): `oxigraph serve` and
# Virtuoso Open Source (skipped, with the reason, where `virtuoso-t` is missing).
REMOTE_SERVERS = ["oxigraph-server", "virtuoso"]


@pytest.fixture(scope="module")
def oxigraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, process = start_oxigraph_server(tmp_path_factory.mktemp("oxigraph"))
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtuosoServer]:
    server = virtuoso_or_skip(tmp_path_factory.mktemp("virtuoso"))
    yield server
    server.stop()


def emptied_server(request: pytest.FixtureRequest, kind: str) -> str:
    """FMAR_SPARQL_URL of a running external server of `kind` (one of REMOTE_SERVERS),
    emptied of records."""
    if kind == "virtuoso":
        server: VirtuosoServer = request.getfixturevalue("virtuoso")
        server.clear()
        return server.url
    url = request.getfixturevalue("oxigraph_server")
    httpx.post(f"{url}/update", content="CLEAR ALL",
               headers={"content-type": "application/sparql-update"}).raise_for_status()
    return url


@pytest.fixture(params=REMOTE_SERVERS)
def server_url(request: pytest.FixtureRequest) -> str:
    """Each external server in turn, emptied."""
    return emptied_server(request, request.param)


@dataclass
class RunningNode:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: object

    def client(self, who: str | None = "fsp", **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token_for(who)}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def reconfigure(monkeypatch: pytest.MonkeyPatch, app: Any, **changes: Any) -> NodeSettings:
    """Change some settings of a running node for one test (a node reads them once, when
    it starts; monkeypatch puts them back)."""
    services = app.state.services
    changed = services.settings.model_copy(update=changes)
    for holder in (services, services.duplicates.keys, services.federation):
        monkeypatch.setattr(holder, "settings", changed)
    return changed


def start_node(settings: NodeSettings, callers: dict[str, Caller] | None = None) -> RunningNode:
    app = create_app(settings, authenticator(callers))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("node did not start")
        time.sleep(0.02)
    return RunningNode(f"http://127.0.0.1:{port}", server, thread, app)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    data_dir: Path = tmp_path_factory.mktemp("node")
    running = start_node(NodeSettings(data_dir=data_dir, workers=1, max_body_bytes=200_000,
                                      max_bulk_bytes=5_000_000))
    yield running
    running.stop()
