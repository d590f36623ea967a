"""The listing and aggregation index (node/index/) answers exactly as the SPARQL path.

A real node (with its data directory, so the index is a SQLite file) holds the assets of
three organisations in four licence areas, registered one by one and in a bulk upload,
changed (history versions), validated, de-registered and deleted. Every listing (paged to
the end), every aggregate (exact, and under disclosure control for the regulator) and the
reports' freshness run as each role through the index and through the SPARQL path of the
same process, and must be equal; then again after a simulated crash between the store's
commit and the index's, after the index file is lost, and after it is ahead of the store.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from common.errors import Denied
from common.vocab import ASSET_BASE, FMAR
from node import policy
from node.config import NodeSettings
from node.identity import Caller
from node.index.listing import INDEX_FILE, ListingIndex
from node.query.aggregates import AggregateSpec
from node.query.filters import AssetFilter
from node.store import GraphWrite
from tests.assets import bess, heat_pump
from tests.conftest import ALL, CALLERS, RunningNode, start_node

SQ = frozenset({"assets:read", "sparql:query"})
ROLES = {
    "neso": Caller("n", "NESO", frozenset({"NESO"}), SQ),
    "dno": Caller("d", "DNO-UKPN", frozenset({"DNO"}), SQ, frozenset({"UKPN_EPN", "ENWL"})),
    "fsp": Caller("f", "FSP-ACME", frozenset({"FSP"}), SQ),
    "fsp_and_idno": Caller("i", "FSP-OTHER", frozenset({"FSP", "IDNO"}), SQ,
                           frozenset({"SSEN_SEPD"})),
    "nobody": Caller("x", "DNO-NONE", frozenset({"DNO"}), SQ),  # a DNO with no areas
    "regulator": Caller("r", "OFGEM", frozenset({"Regulator"}), frozenset({"sparql:query"})),
}
WRITERS = {"fsp3": Caller("h", "FSP-THIRD", frozenset({"FSP"}), ALL)}
AREAS = ["UKPN_EPN", "ENWL", "SSEN_SEPD", "NGED_WMID"]
ORGS = {"fsp": "FSP-ACME", "fsp2": "FSP-OTHER", "fsp3": "FSP-THIRD"}
FILTERS: list[dict[str, Any]] = [
    {}, {"category": "BESS"}, {"dno": "ENWL"}, {"organisation": "FSP-OTHER"},
    {"validation_status": "Verified"}, {"registration_status": "Deregistered"},
    {"min_capacity": 300}, {"max_capacity": 400, "category": "BESS"},
    {"connection_type": "NON_FIRM", "min_capacity": 150, "max_capacity": 900},
    {"gsp_group": "_A"}, {"category": "NOPE"},
]
GROUPINGS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    ((), "rated", {}), (("category",), "rated", {}), (("category", "dno"), "rated", {}),
    (("organisation", "validation_status"), "rated", {}),
    (("category", "gsp_group", "dno", "connection_type", "validation_status"), "rated", {}),
    (("category", "gsp_group", "dno", "connection_type", "validation_status"), "import", {}),
    (("dno",), "export", {"connection_type": ("NON_FIRM", "DYNAMIC")}),
    (("created_month",), "rated", {}), (("effective_month", "registration_status"), "rated",
                                        {}),
    (("connection_status",), "installed", {"min_capacity": 200.0}),
    (("dno",), "storage", {}),
]


def _asset(i: int, org: str) -> dict[str, Any]:
    if i % 2:
        capacity = 100 + 37 * i
        return bess(dno=AREAS[i % 4], org=org, RatedCapacity=capacity,
                    DemandCapacity=capacity - 0.25 * (i % 3), GenCapacity=capacity,
                    InstalledCapacity=f"{capacity}.50",
                    ConnectionType=["NON_FIRM", "FIRM", "DYNAMIC"][i % 3])
    return heat_pump(dno=AREAS[i % 4], org=org)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(NodeSettings(data_dir=tmp_path_factory.mktemp("index"), workers=1),
                         {**CALLERS, **WRITERS})
    try:
        made = []
        for i in range(30):
            who = list(ORGS)[i % 3]
            with running.client(who) as c:
                r = c.post("/assets", json=_asset(i, ORGS[who]))
                assert r.status_code == 201, r.text
                made.append((who, r.json()["AssetId"], r.headers["etag"]))
        rows = [_asset(i, "FSP-ACME") for i in range(30, 70)]  # one upload (commit_upload)
        with running.client("fsp") as c:
            r = c.post("/assets/bulk", content="\n".join(json.dumps(a) for a in rows),
                       headers={"Content-Type": "application/x-ndjson"})
            assert r.status_code == 200, r.text
        for who, asset_id, etag in made[:8]:
            with running.client(who) as c:
                r = c.patch(f"/assets/{asset_id}", json={"AssetName": f"Renamed {asset_id}"},
                            headers={"If-Match": etag})
                assert r.status_code == 200, r.text
        with running.client("dno") as c:  # DNO-UKPN validates in its areas
            for _, asset_id, _ in made[8:20]:
                r = c.put(f"/assets/{asset_id}/validation-status", json={"status": "Verified"})
                assert r.status_code in (200, 404), r.text  # 404: not in its areas
        for who, asset_id, _ in made[20:23]:
            with running.client(who) as c:
                etag = c.get(f"/assets/{asset_id}").headers["etag"]
                assert c.delete(f"/assets/{asset_id}", headers={"If-Match": etag}
                                ).status_code in (200, 204)
        _remove(running, made[25][1])
        yield running
    finally:
        running.stop()


def _remove(node: RunningNode, asset_id: str) -> None:
    """A record leaves the node (as a switch hand-over removes it): its graph emptied on
    the one write path, audited."""
    unit = _services(node).register.unit
    iri = ASSET_BASE + asset_id
    version = int(next(t.object.value for t in unit.store.triples(iri)
                       if t.predicate.value == str(FMAR.version)))
    unit.write(CALLERS["neso"], "remove", [GraphWrite(iri, "", replace=True)],
               [(iri, version + 1)], events=[])


def _services(node: RunningNode) -> Any:
    return node.app.state.services  # type: ignore[attr-defined]


class Paths:
    """The same question through the index and through the SPARQL path (no index)."""

    def __init__(self, node: RunningNode):
        self.services = _services(node)
        self.assets = self.services.register.assets
        self.query = self.services.query
        self.index: ListingIndex = self.assets.index
        assert self.index is not None

    def listing(self, caller: Caller, filters: dict[str, Any], limit: int,
                indexed: bool) -> list[list[dict[str, Any]]]:
        """Every page, each item the asset's whole JSON (IDX-008: equal both ways)."""
        saved = self.assets.index
        self.assets.index = saved if indexed else None
        try:
            pages, after = [], None
            while True:
                records, after = self.assets.search(caller, filters, limit, after)
                pages.append(records)
                if not after:
                    return pages
        finally:
            self.assets.index = saved

    def aggregate(self, caller: Caller, spec: AggregateSpec, indexed: bool) -> Any:
        saved = self.query.index
        self.query.index = saved if indexed else None
        try:
            return self.query.aggregate(caller, spec)
        finally:
            self.query.index = saved


def _rounded(table: dict[str, Any]) -> dict[str, Any]:
    """Exact tables: sums as SQLite's float sum and SPARQL's decimal sum agree to 1e-6."""
    out = json.loads(json.dumps(table))
    for cell in out.get("cells", []):
        if cell.get("sum") is not None:
            cell["sum"] = round(cell["sum"], 6)
    return out


def _specs() -> Iterator[AggregateSpec]:
    for group_by, measure, filter_ in GROUPINGS:
        codes = {k: v if isinstance(v, tuple) else (v,) for k, v in filter_.items()
                 if k != "min_capacity"}
        yield AggregateSpec(group_by, AssetFilter(codes, min_capacity=filter_.get(
            "min_capacity")), measure)


def check_equivalence(paths: Paths) -> int:
    """Every listing and aggregate, as every role, both ways; returns the checks made."""
    checks = 0
    for name, caller in ROLES.items():
        for filters, limit in itertools.product(FILTERS, (7, 1000)):
            if name == "regulator":  # no assets:read: refused both ways
                for indexed in (True, False):
                    with pytest.raises(Denied):
                        paths.listing(caller, filters, limit, indexed)
                continue
            want = paths.listing(caller, filters, limit, indexed=False)
            assert paths.listing(caller, filters, limit, indexed=True) == want, \
                (name, filters, limit)
            checks += 1
        for spec in _specs():
            if name == "regulator" and spec.filter.min_capacity not in (None, 0.0):
                continue  # SDC-006: capacity filters on published bands only
            want = paths.aggregate(caller, spec, indexed=False)
            got = paths.aggregate(caller, spec, indexed=True)
            if name == "regulator":  # disclosure control: the very same published table
                assert got == want, (name, spec)
            else:
                assert _rounded(got) == _rounded(want), (name, spec)
            checks += 1
    return checks


def test_IDX_003_IDX_005_IDX_006_index_answers_equal_sparql_for_every_role(node):
    paths = Paths(node)
    assert paths.index.current()
    with paths.index.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM asset_rows").scalar()
    assert rows == 69  # 70 registered, one deleted
    neso = paths.listing(ROLES["neso"], {}, 1000, indexed=True)
    assert sum(len(p) for p in neso) == 69
    assert check_equivalence(paths) > 100


def test_IDX_003_an_asset_in_both_the_callers_organisation_and_area_counts_once(node):
    paths = Paths(node)
    caller = ROLES["fsp_and_idno"]
    listed = {a["AssetId"] for p in paths.listing(caller, {}, 1000, True) for a in p}
    assert listed == {a["AssetId"] for p in paths.listing(caller, {}, 1000, False) for a in p}
    rows = [r for a in listed if (r := paths.assets.get_record(ASSET_BASE + a)) is not None]
    both = [r for r in rows if r.facts.organisation == "FSP-OTHER"
            and r.facts.dno_area == "SSEN_SEPD"]
    assert both  # the corpus has such assets
    for indexed in (True, False):  # the SPARQL form's UNION counted such an asset twice
        table = paths.aggregate(caller, AggregateSpec(()), indexed=indexed)
        assert table["cells"][0]["count"] == len(rows)
        by_org = paths.aggregate(caller, AggregateSpec(("organisation", "dno")), indexed)
        assert sum(c["count"] for c in by_org["cells"]) == len(rows)


def test_IDX_003_the_regulator_table_is_under_disclosure_control_from_the_index(node):
    paths = Paths(node)
    table = paths.aggregate(ROLES["regulator"], AggregateSpec(("category",)), indexed=True)
    assert table["rule"] == "POL-013" and table["margins"]
    assert all("min" not in c and "max" not in c for c in table["cells"] + table["margins"])
    assert all(c.get("suppressed") or c["count"] % 5 == 0 for c in table["cells"])


def test_IDX_007_the_freshness_of_a_report_part_equals_sparql(node):
    from node.reports.node_side import freshness_query

    services = _services(node)
    for caller in ROLES.values():
        access = policy.aggregate_read_scope(caller)
        body = json.loads(services.query.run_generated(freshness_query(access.scope)).body)
        bindings = body["results"]["bindings"]
        want = bindings[0].get("newest", {}).get("value") if bindings else None
        assert services.query.index.newest_modified(access.scope) == want


def _register(node: RunningNode, who: str, n: int, start: int) -> list[str]:
    ids = []
    with node.client(who) as c:
        for i in range(start, start + n):
            r = c.post("/assets", json=_asset(i, ORGS[who]))
            assert r.status_code == 201, r.text
            ids.append(r.json()["AssetId"])
    return ids


def test_IDX_001_a_crash_between_store_commit_and_index_write_is_repaired(node):
    paths = Paths(node)
    unit = paths.services.register.unit
    index = paths.index
    hook = index.after_write
    unit.after_commit.remove(hook)  # the process "dies" after each store commit
    try:
        before = index.applied
        added = _register(node, "fsp2", 3, 100)
        with node.client("fsp2") as c:
            paths.assets.index = None  # (a read from the index would catch it up: IDX-011)
            try:
                etag = c.get(f"/assets/{added[0]}").headers["etag"]
            finally:
                paths.assets.index = index
            r = c.patch(f"/assets/{added[0]}", json={"AssetName": "after crash"},
                        headers={"If-Match": etag})
            assert r.status_code == 200
        assert index.applied == before < unit.audit.sequence  # the index missed 4 writes
        # a restart: a new index over the same file catches up from its last sequence
        reopened = ListingIndex(index.store, index.head, _index_file(node))
        assert reopened.applied == before
        reopened.catch_up()
        assert reopened.applied == unit.audit.sequence
        with reopened.engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT COUNT(*) FROM asset_rows").scalar()
        assert count == 72
        reopened.close()
        # in the same process, the next answer catches up before it answers
        assert check_equivalence(paths) > 100
        assert index.applied == unit.audit.sequence
    finally:
        unit.after_commit.append(hook)


def test_IDX_001_a_failing_catch_up_leaves_the_index_behind_never_wrong(node, monkeypatch):
    paths = Paths(node)
    index = paths.index

    def broken(_: Any) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(index, "_replace", lambda conn, iris: broken(iris))
        _register(node, "fsp3", 2, 200)  # the write stands; the index did not follow
        assert not index.current()
    assert check_equivalence(paths) > 100  # the first answer caught up
    assert index.current()


def _index_file(node: RunningNode) -> Any:
    return _services(node).settings.data_dir / INDEX_FILE


def test_IDX_002_a_lost_or_ahead_index_is_rebuilt_from_the_store(node):
    paths = Paths(node)
    index = paths.index
    with sqlite3.connect(_index_file(node)) as db:  # ahead of the store (a restored backup)
        db.execute("UPDATE index_meta SET value = '999999' WHERE key = 'audit_sequence'")
        db.execute("DELETE FROM asset_rows WHERE category = 'BESS'")
    ahead = ListingIndex(index.store, index.head, _index_file(node))
    assert ahead.applied == 999999
    ahead.catch_up()
    assert ahead.applied == index.head()
    ahead.close()
    index.applied = index._stored_sequence()
    assert check_equivalence(paths) > 100
    with sqlite3.connect(_index_file(node)) as db:  # an index of another schema version
        db.execute("UPDATE index_meta SET value = '0' WHERE key = 'schema'")
    other = ListingIndex(index.store, index.head, _index_file(node))
    assert other.applied is None  # dropped and made anew
    other.catch_up()
    assert other.applied == index.head()
    other.close()
    index.applied = index._stored_sequence()
    assert check_equivalence(paths) > 100
    lost = ListingIndex(index.store, index.head, None)  # no index at all: built from nothing
    assert lost.applied is None
    lost.catch_up()
    with lost.engine.connect() as a, index.engine.connect() as b:
        query = "SELECT * FROM asset_rows ORDER BY iri"
        assert a.exec_driver_sql(query).all() == b.exec_driver_sql(query).all()
    lost.close()


def test_IDX_004_REQ_IN_003_a_keyset_cursor_neither_repeats_nor_skips(node):
    """Records added and removed between pages: every record present throughout is listed
    exactly once, and no record appears twice."""
    paths = Paths(node)
    caller = ROLES["fsp"]
    first, after = paths.assets.search(caller, {}, 5, None)
    before = {a["AssetId"] for p in paths.listing(caller, {}, 1000, True) for a in p}
    seen = [r["AssetId"] for r in first]
    added = _register(node, "fsp", 3, 300)
    later = sorted(before - set(seen))[2]  # remove one not yet listed, one already listed
    for gone in (later, seen[0]):
        _remove(node, gone)
    while after:
        page, after = paths.assets.search(caller, {}, 5, after)
        seen += [r["AssetId"] for r in page]
    assert len(seen) == len(set(seen))  # nothing repeated
    assert before - {later} <= set(seen)  # nothing present throughout was skipped
    assert later not in seen
    assert {a for a in added if a > seen[4]} <= set(seen)  # new ones after the cursor: seen
    assert seen == sorted(seen)


def test_IDX_001_a_bulk_upload_is_listed_as_soon_as_it_returns(node):
    paths = Paths(node)
    rows = [_asset(i, "FSP-THIRD") for i in range(400, 420)]
    with node.client("fsp3") as c:
        r = c.post("/assets/bulk", content="\n".join(json.dumps(a) for a in rows),
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        stored = {a["AssetId"] for a in r.json()["assets"]}
        listed = c.get("/assets", params={"limit": 1000}).json()["items"]  # at once
    assert stored <= {a["AssetId"] for a in listed}
    assert paths.index.current()
    assert check_equivalence(paths) > 100


def test_IDX_003_hostile_codes_are_refused_before_any_index_query(node):
    """A caller's code from its token, or a filter value, that is not a plain code is
    refused as on the SPARQL path (FED-IN-001, ARM-IN-010): nothing is spliced anyway
    (bound parameters), and nothing is answered."""
    from common.errors import BadInput
    from common.http_errors import ApiError

    paths = Paths(node)
    hostile = Caller("h", "X' OR '1'='1", frozenset({"FSP"}), SQ)
    for indexed in (True, False):
        with pytest.raises(ApiError) as refused:
            paths.aggregate(hostile, AggregateSpec(("category",)), indexed)
        assert refused.value.code == "FED-IN-001"
        with pytest.raises((ApiError, BadInput)) as listing:
            paths.listing(hostile, {}, 10, indexed)
        assert listing.value.code == "FED-IN-001"
        with pytest.raises(BadInput) as bad_filter:
            paths.listing(ROLES["neso"], {"category": "BESS' OR 1=1 --"}, 10, indexed)
        assert bad_filter.value.code == "ARM-IN-010"
    with node.client("fsp") as c:
        r = c.get("/assets", params={"after": "' OR 1=1 --"})
        assert (r.status_code, r.json()["code"]) == (400, "ARM-IN-010")


def _cells_summed_anew(index: ListingIndex) -> dict[Any, Any]:
    from node.index import cells

    with index.engine.connect() as conn:
        kept, fresh = cells.stored_and_summed(conn)
    return {"kept": {k: (c.count, c.total.normalize(), c.top, c.low) for k, c in kept.items()},
            "fresh": {k: (c.count, c.total.normalize(), c.top, c.low) for k, c in fresh.items()}}


def test_IDX_020_IDX_021_capacity_cells_follow_every_change_of_the_rows(node):
    """The cells kept write by write (added, changed, validated, deleted, removed, and the
    largest asset of a group made smaller and then removed) equal the cells summed anew
    from the rows, and the regulator's tables from them equal the SPARQL path's."""
    paths = Paths(node)
    paths.index.ensure_current()
    sums = _cells_summed_anew(paths.index)
    assert sums["kept"] == sums["fresh"] and len(sums["kept"]) > 10
    # the largest BESS of one group: made the smallest (its cell's top two must be found
    # again from the rows), then removed
    big = _register(node, "fsp2", 1, 1001)[0]  # RatedCapacity 100 + 37 * 1001
    _register(node, "fsp2", 1, 1005)  # a second BESS in the same area, smaller (1005 % 4)
    with node.client("fsp2") as c:
        etag = c.get(f"/assets/{big}").headers["etag"]
        r = c.patch(f"/assets/{big}", json={"RatedCapacity": 150, "GenCapacity": 150,
                                            "DemandCapacity": 150, "InstalledCapacity": 150},
                    headers={"If-Match": etag})
        assert r.status_code == 200, r.text
    paths.index.ensure_current()
    sums = _cells_summed_anew(paths.index)
    assert sums["kept"] == sums["fresh"]
    _remove(node, big)
    paths.index.ensure_current()
    sums = _cells_summed_anew(paths.index)
    assert sums["kept"] == sums["fresh"]
    regulator = ROLES["regulator"]
    for spec in _specs():
        if spec.filter.min_capacity is None:
            assert paths.aggregate(regulator, spec, True) == paths.aggregate(
                regulator, spec, False), spec
def test_IDX_008_a_page_is_served_from_the_index_as_reads_give_each_record(node, monkeypatch):
    """A page of `GET /assets` reads no record from the store: each item is the JSON the
    index keeps, written from the same read as its columns; it equals what a read of the
    record gives, also just after a change (the change's catch-up rewrote it)."""
    paths = Paths(node)
    [asset_id] = _register(node, "fsp", 1, 500)
    with node.client("fsp") as c:
        etag = c.get(f"/assets/{asset_id}").headers["etag"]
        assert c.patch(f"/assets/{asset_id}", json={"AssetName": "IDX-008 renamed"},
                       headers={"If-Match": etag}).status_code == 200
        index, paths.assets.index = paths.assets.index, None  # the read from the store
        try:
            read = c.get(f"/assets/{asset_id}").json()
        finally:
            paths.assets.index = index
        store = paths.services.register.store
        with monkeypatch.context() as patched:
            patched.setattr(store, "triples", _no_store_read)
            patched.setattr(store, "select", _no_store_read)
            items = c.get("/assets", params={"limit": 1000}).json()["items"]
    [listed] = [item for item in items if item["AssetId"] == asset_id]
    assert listed == read
    assert listed["AssetName"] == "IDX-008 renamed" and listed["Version"] == 2


def test_IDX_009_an_export_is_served_from_the_index_page_by_page(node, monkeypatch):
    """CSV and JSON-LD exports read the index a keyset page at a time (no store reads,
    constant memory) and hold the same assets, byte for byte per row, as the export from
    the store; pages of any size give the same records."""
    paths = Paths(node)
    store = paths.services.register.store

    def exported(fmt: str, indexed: bool) -> str:
        saved = paths.assets.index
        paths.assets.index = saved if indexed else None
        try:
            with node.client("fsp") as c, monkeypatch.context() as patched:
                if indexed:
                    patched.setattr(store, "triples", _no_store_read)
                    patched.setattr(store, "select", _no_store_read)
                r = c.get("/assets/export", params={"format": fmt, "category": "BESS"})
                assert r.status_code == 200, r.text
                return r.text
        finally:
            paths.assets.index = saved

    want, got = exported("csv", False).splitlines(), exported("csv", True).splitlines()
    assert got[0] == want[0] and sorted(got[1:]) == sorted(want[1:]) and len(got) > 5
    assert got[1:] == sorted(got[1:])  # in ID order
    graphs = [sorted(json.loads(exported("jsonld", indexed))["@graph"],
                     key=lambda item: item["@id"]) for indexed in (False, True)]
    assert graphs[0] == graphs[1] and graphs[0]
    scope = policy.ReadScope(False, frozenset({"FSP-ACME"}), frozenset())
    whole = list(paths.index.every(scope, AssetFilter({})))
    assert list(paths.index.every(scope, AssetFilter({}), batch=3)) == whole
    assert {a["OrganisationId"] for a in whole} == {"FSP-ACME"}


def _no_store_read(*_: Any) -> Any:
    raise AssertionError("the record store was read")


def test_IDX_011_a_read_is_served_from_the_index_as_the_store_gives_it(node, monkeypatch):
    """`GET /assets/{id}` in JSON comes from the asset's row (IDX-011), without reading the
    store, and answers every asset for every caller as the store does: the same status,
    body and ETag (a read refused alike, an unknown asset 404 alike). If-None-Match gives
    304 from the row; another format reads the store."""
    paths = Paths(node)
    # this node's store is embedded, which reads from the index only when told to
    assert not paths.assets.index_reads
    monkeypatch.setattr(paths.assets, "index_reads", True)
    store = paths.services.register.store
    with paths.index.engine.connect() as conn:
        ids = sorted(json.loads(doc)["AssetId"] for (doc,) in conn.exec_driver_sql(
            "SELECT doc FROM asset_rows WHERE listed"))
    ids.append("00000000-0000-4000-8000-00000000dead")  # no such asset
    reads: list[str] = []
    original = store.triples
    monkeypatch.setattr(store, "triples", lambda graph: reads.append(graph) or original(graph))

    def get(who: str, asset_id: str, indexed: bool, **headers: str) -> tuple[Any, ...]:
        saved = paths.assets.index
        paths.assets.index = saved if indexed else None
        reads.clear()
        try:
            with node.client(who) as c:
                r = c.get(f"/assets/{asset_id}", headers=headers)
        finally:
            paths.assets.index = saved
        body = r.json() if "json" in r.headers.get("content-type", "") else r.content
        return r.status_code, body, r.headers.get("etag"), bool(reads)

    served = refused = 0
    for who in ("fsp", "fsp2", "fsp3", "dno", "neso", "regulator", "fsp_readonly"):
        for asset_id in ids:
            status, body, etag, read_store = get(who, asset_id, indexed=True)
            assert (status, body, etag) == get(who, asset_id, indexed=False)[:3], (who, asset_id)
            if status == 200:
                assert not read_store, (who, asset_id)
                served += 1
            else:
                refused += 1
    assert served > 100 and refused > 50
    asset_id = ids[0]
    with node.client("neso") as c:
        etag = c.get(f"/assets/{asset_id}").headers["etag"]
    status, _, again, read_store = get("neso", asset_id, True, **{"If-None-Match": etag})
    assert (status, again, read_store) == (304, etag, False)
    status, _, _, read_store = get("neso", asset_id, True, accept="text/turtle")
    assert status == 200 and read_store


def test_IDX_011_a_record_the_row_cannot_mirror_is_read_from_the_store(node):
    """A record with two organisations (no shape allows it; written behind the API) is
    not answered from its row, whose organisation column keeps one of them: the store,
    and the policy on the record itself, decide (IDX-010's irregular state)."""
    paths = Paths(node)
    unit = paths.services.register.unit
    with paths.index.engine.connect() as conn:
        iri = conn.exec_driver_sql("SELECT iri FROM asset_rows WHERE listed AND "
                                   "organisation = 'FSP-THIRD' ORDER BY iri").scalar()
    assert paths.index.record(iri) is not None
    triples = unit.store.triples(iri)
    version = int(next(t.object.value for t in triples if t.predicate.value == str(FMAR.version)))
    text = "".join(f"{t} .\n" for t in triples)
    odd = text + f"<{iri}> <{FMAR.organisation}> <https://id.fmar.uk/org/FSP-ACME> .\n"
    unit.write(CALLERS["neso"], "replace", [GraphWrite(iri, odd, replace=True)],
               [(iri, version + 1)], events=[])
    try:
        assert paths.index.record(iri) is None
    finally:
        unit.write(CALLERS["neso"], "replace", [GraphWrite(iri, text, replace=True)],
                   [(iri, version + 2)], events=[])
    assert paths.index.record(iri) is not None
