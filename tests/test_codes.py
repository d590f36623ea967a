"""Error codes of the query, aggregate and federation endpoints, each asserted exactly,
each with a control that succeeds (docs/federation.md lists them).

A node of its own, served over HTTP on loopback, with callers whose scopes these routes
need (sparql:query, federation:query, a regulator with aggregate-only access). Failing
peers are real servers too: a closed port, and a loopback server answering garbage or 500.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from common.http_errors import ApiError
from node.config import NodeSettings
from node.federation import engine as engine_module
from node.federation.engine import Engine, NodeTarget
from node.federation.tokens import StaticTokens
from node.identity import Caller
from node.query.aggregates import AggregateSpec
from node.query.execute import MAX_QUERY_CHARS, Executor, Limits
from node.query.filters import AssetFilter
from node.query.service import QueryService
from node.store.remote import RemoteStore
from tests.assets import bess, heat_pump
from tests.conftest import RunningNode, reconfigure, start_node, token_for
from tests.harness.processes import free_port

READ = frozenset({"assets:read", "sparql:query"})
CALLERS = {
    "fsp": Caller("alice@acme", "FSP-ACME", frozenset({"FSP"}),
                  READ | {"assets:write", "federation:query"}),
    "querier": Caller("quinn@acme", "FSP-ACME", frozenset({"FSP"}), READ),  # no federation:query
    "sparql_only": Caller("sam@acme", "FSP-ACME", frozenset({"FSP"}), frozenset({"sparql:query"})),
    "regulator": Caller("fay@ofgem", "OFGEM", frozenset({"Regulator"}),
                        frozenset({"sparql:query", "federation:query"})),
}
FEDERATION_KEY = "33" * 32


@pytest.fixture(scope="module")
def codes_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(NodeSettings(data_dir=tmp_path_factory.mktemp("codes"), workers=1),
                         CALLERS)
    with running.client() as c:
        for _ in range(6):
            assert c.post("/assets", json=bess(dno="ENWL")).status_code == 201
        for _ in range(2):
            assert c.post("/assets", json=heat_pump(dno="NPG_NE")).status_code == 201
    yield running
    running.stop()


class _Garbage(http.server.BaseHTTPRequestHandler):
    """A peer that answers every request with 200 and a body that is not JSON, or 500."""

    status = 200

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.send_response(self.status)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"this is not JSON")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class _Failing(_Garbage):
    status = 500


class _HugeHeaders(_Garbage):
    """A server whose answer's headers pass the HTTP client's limit (Virtuoso echoes every
    default-graph-uri of a query as a header)."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        for i in range(3000):
            self.send_header(f"x-graph-{i}", "https://id.fmar.uk/asset/" + "x" * 60)
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer


def _serve(handler: type) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def garbage_peer() -> Iterator[str]:
    yield from _serve(_Garbage)


@pytest.fixture(scope="module")
def failing_sparql_server() -> Iterator[str]:
    yield from _serve(_Failing)


@pytest.fixture(scope="module")
def huge_headers_server() -> Iterator[str]:
    yield from _serve(_HugeHeaders)


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# ---------------------------------------------------------------- SPARQL protocol


def test_SPARQL_001_no_query(codes_node) -> None:
    with codes_node.client() as c:
        assert code_of(c.get("/sparql")) == (400, "SPARQL-001")
        assert code_of(c.post("/sparql", content="ASK {}", headers={"content-type": "text/plain"})) \
            == (415, "SPARQL-001")
        control = c.post("/sparql", content="ASK {}",
                         headers={"content-type": "application/sparql-query"})
    assert control.status_code == 200 and control.json()["boolean"] is True


def test_SPARQL_007_no_acceptable_format(codes_node) -> None:
    with codes_node.client() as c:
        refused = c.get("/sparql", params={"query": "ASK { ?s ?p ?o }"},
                        headers={"accept": "text/turtle"})
        control = c.get("/sparql", params={"query": "ASK { ?s ?p ?o }"},
                        headers={"accept": "application/sparql-results+json"})
    assert code_of(refused) == (406, "SPARQL-007")
    assert "application/sparql-results+json" in refused.json()["details"]["available"]
    assert control.status_code == 200 and control.json()["boolean"] is True


def test_SPARQL_009_query_or_body_too_long(codes_node) -> None:
    long_query = "ASK {}" + " " * MAX_QUERY_CHARS
    with codes_node.client() as c:
        too_long = c.post("/sparql", content=long_query,
                          headers={"content-type": "application/sparql-query"})
        too_big = c.post("/sparql", content="#" * 1_000_001,
                         headers={"content-type": "application/sparql-query"})
        control = c.post("/sparql", content=long_query[:MAX_QUERY_CHARS],
                         headers={"content-type": "application/sparql-query"})
    assert code_of(too_long) == (413, "SPARQL-009")
    assert code_of(too_big) == (413, "SPARQL-009")
    assert control.status_code == 200


def test_SPARQL_008_busy_when_every_worker_is_taken() -> None:
    executor = Executor(Limits(timeout=0.5, max_rows=10, concurrent=1))
    store = ox.Store()
    try:
        held = executor._workers.acquire(timeout=60)  # another query holds the only worker
        assert held is not None
        with pytest.raises(ApiError) as busy:
            executor.run(store, "ASK {}", None, "json", "application/sparql-results+json")
        assert (busy.value.status, busy.value.code) == (503, "SPARQL-008")
        assert busy.value.headers == {"Retry-After": "2"}
        executor._workers.release(held)
        answer = executor.run(store, "ASK {}", None, "json", "application/sparql-results+json")
        assert b'"boolean": true' in answer.body
    finally:
        executor.close()


def test_SPARQL_011_external_server_fails_a_generated_query(failing_sparql_server) -> None:
    service = QueryService(RemoteStore(failing_sparql_server), Limits(timeout=5))
    with pytest.raises(ApiError) as failed:
        service.aggregate(CALLERS["fsp"], AggregateSpec.parse({"group_by": "category"}))
    assert (failed.value.status, failed.value.code) == (502, "SPARQL-011")
    assert failed.value.details == {"server": "this is not JSON"}


def test_SPARQL_011_an_answer_the_node_cannot_read_is_a_clear_error(huge_headers_server
                                                                    ) -> None:
    """Not a bare 500: the caller's own query to a server whose answer cannot be read."""
    service = QueryService(RemoteStore(huge_headers_server), Limits(timeout=5))
    with pytest.raises(ApiError) as failed:
        service.sparql(CALLERS["fsp"], "SELECT * WHERE { ?s ?p ?o }", None)
    assert (failed.value.status, failed.value.code) == (502, "SPARQL-011")
    assert "could not be read" in failed.value.details["server"]


def test_SPARQL_011_a_server_that_does_not_answer_is_a_clear_error() -> None:
    """Not a bare 500: the listing of a caller's graphs (for what the rewrite does not
    cover, here DESCRIBE) and the query itself, to a server that is not there."""
    from tests.harness.processes import free_port

    store = RemoteStore(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    service = QueryService(store, Limits(timeout=5))
    try:
        for query in ("DESCRIBE <https://id.fmar.uk/asset/x>", "ASK { ?s ?p ?o }"):
            with pytest.raises(ApiError) as failed:
                service.sparql(CALLERS["fsp"], query, None)
            assert (failed.value.status, failed.value.code) == (502, "SPARQL-011")
            assert "did not answer" in failed.value.details["server"]
    finally:
        service.close()
        store.close()


# ---------------------------------------------------------------- filters and aggregates


@pytest.mark.parametrize("path, params, code", [
    ("/query/assets", {"category": "BESS> }"}, "FED-IN-001"),
    ("/query/assets", {"min_capacity": "abc"}, "FED-IN-002"),
    ("/query/assets", {"max_capacity": "inf"}, "FED-IN-002"),
    ("/query/assets", {"limit": "many"}, "FED-IN-003"),
    ("/query/assets", {"limit": "0"}, "FED-IN-003"),
    ("/query/assets", {"colour": "blue"}, "FED-IN-004"),
    ("/query/aggregate", {"group_by": "colour"}, "FED-IN-005"),
    ("/query/aggregate", {"group_by": "category,category"}, "FED-IN-005"),
    ("/federation/sparql", {"query": "ASK {}", "mode": "scatter"}, "FED-IN-006"),
])
def test_FED_IN_bad_filter_values(codes_node, path, params, code) -> None:
    with codes_node.client() as c:
        assert code_of(c.get(path, params=params)) == (400, code)


def test_FED_IN_008_a_federated_listing_names_a_record_kind(codes_node) -> None:
    with codes_node.client() as c:
        unknown = c.get("/federation/records/nosuch")
        bad_filter = c.get("/federation/records/products", params={"colour": "red"})
    assert code_of(unknown) == (404, "FED-IN-008")
    assert "products" in unknown.json()["details"]["kinds"]
    assert code_of(bad_filter) == (400, "REQ-IN-001")  # refused before any node is asked


def test_FED_IN_controls_succeed(codes_node) -> None:
    with codes_node.client() as c:
        rows = c.get("/query/assets", params={"category": "BESS", "min_capacity": "1",
                                              "limit": "100"})
        cells = c.get("/query/aggregate", params={"group_by": "category,dno"})
    assert rows.status_code == 200 and len(rows.json()["results"]["bindings"]) == 6
    assert cells.status_code == 200 and sum(x["count"] for x in cells.json()["cells"]) == 8


def test_POL_012_aggregates_need_read_rights_or_regulator_access(codes_node) -> None:
    with codes_node.client("sparql_only") as c:
        refused = c.get("/query/aggregate", params={"group_by": "category"})
    assert code_of(refused) == (403, "POL-012")
    with codes_node.client("querier") as c:
        assert c.get("/query/aggregate", params={"group_by": "category"}).status_code == 200


def test_POL_013_regulator_cells_are_suppressed_below_the_threshold(codes_node) -> None:
    with codes_node.client("regulator") as c:
        report = c.get("/query/aggregate", params={"group_by": "category,dno"}).json()
    assert (report["rule"], report["suppressed_below"]) == ("POL-013", 5)
    by_group = {(x["group"]["category"], x["group"]["dno"]): x for x in report["cells"]}
    assert by_group[("HEAT_PUMP", "NPG_NE")] == {"group": {"category": "HEAT_PUMP",
                                                           "dno": "NPG_NE"}, "suppressed": True}
    published = [x for x in report["cells"] + report.get("margins", [])
                 if not x.get("suppressed")]
    assert published  # the grand total at least is published (rounded, SDC-004)
    for cell in published:
        assert "min" not in cell and "max" not in cell  # SDC-005
        assert cell["count"] % 5 == 0
    with codes_node.client() as c:  # control: a reader of its own records sees every cell
        own = c.get("/query/aggregate", params={"group_by": "category,dno"}).json()
    assert own["rule"] is None and all("count" in x for x in own["cells"])


# ---------------------------------------------------------------- federation


@pytest.fixture()
def federation_settings(codes_node, monkeypatch) -> Iterator[callable]:
    """Set the node's federation settings for one test (a node reads them once)."""
    def configure(**kw: object) -> None:
        reconfigure(monkeypatch, codes_node.app, **{
            "node_deadline": 3.0, "trust_url": None, "client_id": None, "federation_nodes": (),
            "federation_passthrough": False, "federation_key": None, **kw})

    configure()
    yield configure


def test_POL_014_a_federated_query_needs_federation_query(codes_node, federation_settings) -> None:
    with codes_node.client("querier") as c:
        refused = c.get("/federation/aggregate", params={"group_by": "category"})
    assert code_of(refused) == (403, "POL-014")
    assert refused.json()["details"] == {"missing_scopes": ["federation:query"]}


def test_FED_006_node_not_configured_for_federation(codes_node, federation_settings) -> None:
    with codes_node.client() as c:
        assert code_of(c.get("/federation/aggregate")) == (503, "FED-006")
        assert code_of(c.get("/federation/nodes")) == (503, "FED-006")


def test_FED_007_directory_unreachable(codes_node, federation_settings) -> None:
    federation_settings(trust_url=f"http://127.0.0.1:{free_port()}", client_id="node-app")
    with codes_node.client() as c:
        assert code_of(c.get("/federation/assets")) == (503, "FED-007")


def _node_statuses(response: httpx.Response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {s["node"]: s for s in response.json()["nodes"]}


def test_FED_003_trust_framework_unreachable_for_the_token_exchange(
        codes_node, federation_settings, monkeypatch) -> None:
    federation_settings(trust_url=f"http://127.0.0.1:{free_port()}", client_id="node-app",
                        federation_nodes=(codes_node.url,))
    with codes_node.client() as c:
        statuses = _node_statuses(c.get("/federation/assets"))
    assert (statuses[codes_node.url]["status"], statuses[codes_node.url]["code"]) == \
        ("error", "FED-003")


def test_FED_002_FED_005_unreachable_and_unreadable_nodes_control_answered(
        codes_node, federation_settings, garbage_peer, monkeypatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    federation_settings(federation_passthrough=True,
                        federation_nodes=(codes_node.url, dead, garbage_peer))
    with codes_node.client() as c:
        response = c.get("/federation/assets", params={"category": "BESS"})
    statuses = _node_statuses(response)
    assert response.json()["partial"] is True
    assert statuses[codes_node.url]["status"] == "answered"  # the control
    assert (statuses[dead]["status"], statuses[dead]["code"]) == ("error", "FED-002")
    assert (statuses[garbage_peer]["status"], statuses[garbage_peer]["code"]) == ("error", "FED-005")
    assert len(response.json()["results"]["bindings"]) == 6


def test_a_nodes_answer_is_read_off_the_event_loop(codes_node, monkeypatch) -> None:
    """The engine reads a large answer of a node in a thread (a gather fragment is hundreds
    of thousands of rows): while it is read, the loop goes on serving. Every answer counts
    as large here; the reader takes 0.5 s, and a task ticking every 10 ms on the same loop
    ticks while it reads (it could not tick at all if the reading held the loop)."""
    monkeypatch.setattr(engine_module, "LARGE_ANSWER", 0)
    ticks: list[float] = []
    reading: list[float] = []
    read_on: list[int] = []

    def slow_read(response: httpx.Response) -> tuple[object, int]:
        read_on.append(threading.get_ident())
        reading.append(time.perf_counter())
        time.sleep(0.5)
        reading.append(time.perf_counter())
        return response.json(), 1

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    async def ask() -> tuple[object, int]:
        tick = asyncio.create_task(ticker())
        async with httpx.AsyncClient() as http:
            engine = Engine(http, StaticTokens(default=token_for("fsp")), 5)
            outcome = await engine.fan_out([NodeTarget(codes_node.url)], "GET",
                                           "/query/assets", slow_read)
        tick.cancel()
        return outcome, threading.get_ident()

    outcome, loop_thread = asyncio.run(ask())
    assert outcome.statuses[0].status == "answered", outcome.statuses  # the control
    assert read_on and read_on[0] != loop_thread
    started, ended = reading
    during = [t for t in ticks if started + 0.05 < t < ended]
    assert len(during) >= 3, f"the loop ticked {len(during)} times while the answer was read"


def test_FED_004_no_token_for_a_node(codes_node) -> None:
    async def ask(tokens: StaticTokens) -> dict:
        async with httpx.AsyncClient() as http:
            return await Engine(http, tokens, 5).assets([NodeTarget(codes_node.url)], AssetFilter())

    refused = asyncio.run(ask(StaticTokens()))
    [status] = refused["nodes"]
    assert (status["status"], status["code"]) == ("refused", "FED-004")
    answered = asyncio.run(ask(StaticTokens(per_node={codes_node.url: token_for("fsp")})))
    assert answered["nodes"][0]["status"] == "answered" and not answered["partial"]


def test_FED_008_no_federation_key_to_answer_a_duplicate_enquiry(
        codes_node, federation_settings, monkeypatch) -> None:
    with codes_node.client() as c:
        refused = c.post("/federation/duplicates", json={"tokens": ["0" * 64]})
        federation_settings(federation_key=FEDERATION_KEY)
        control = c.post("/federation/duplicates", json={"tokens": ["0" * 64]})
    assert code_of(refused) == (503, "FED-008")
    assert control.status_code == 200 and control.json() == {"matches": []}


@pytest.mark.parametrize("body", [{"token": []}, ["0" * 64], {"tokens": ["short"]},
                                  {"tokens": ["0" * 64] * 1001}],
                         ids=["no-tokens-key", "not-an-object", "not-a-hash", "too-many"])
def test_FED_IN_007_duplicate_enquiry_body(codes_node, federation_settings, monkeypatch,
                                           body) -> None:
    federation_settings(federation_key=FEDERATION_KEY)
    with codes_node.client() as c:
        assert code_of(c.post("/federation/duplicates", json=body)) == (400, "FED-IN-007")


def test_codes_module_lists_its_codes_in_the_docs() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "federation.md").read_text()
    for code in ("SPARQL-001", "SPARQL-007", "SPARQL-008", "SPARQL-009", "SPARQL-011",
                 "POL-012", "POL-013", "POL-014", *(f"FED-00{n}" for n in range(1, 9)),
                 *(f"FED-IN-00{n}" for n in range(1, 8))):
        assert f"| {code} |" in text, code
