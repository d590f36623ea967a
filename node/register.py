"""The asset register: every write and read of asset and category records.

All writes go through one lock, so a record's version check, its new version,
its history copy and its audit entries are decided and stored together in one
store transaction.
"""

from __future__ import annotations

import heapq
import itertools
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rdflib import Graph, Literal, URIRef

from common.http_errors import ApiError
from common.vocab import ASSET_BASE, CATEGORY_BASE, FMAR, VERSION_BASE, code_iri
from node import audit, bulk_commit, policy
from node.audit import AuditLog, now_iso
from node.categories import (
    Catalogue,
    Category,
    category_from_graph,
    load_core_shapes,
    seed_categories,
    set_deprecated,
)
from node.identity import Caller
from node.inputs import Properties, Row, properties_from_json
from node.query import filters as asset_filters
from node.records import (
    VALIDATOR,
    AssetRecord,
    Checked,
    check_rows,
    new_asset_iri,
    organisation_of,
    rdflib_graph,
    record_ntriples,
)
from node.store import GraphWrite, RecordStore, StoreError
from node.store.base import trig_text
from node.store.stream import on_one_thread
from node.validation import ShapeSet

BULK_CHUNK = 2000
MAX_REPORTED_ROWS = 1_000
# Uploads up to this size are committed in one store transaction; larger ones
# through a pending marker (node/bulk_commit.py) to keep memory flat.
SINGLE_TRANSACTION_LIMIT = 5_000  # failing rows listed in full in a bulk report


def _stored_row(checked: Checked) -> dict[str, Any]:
    return {"row": checked.index, "AssetId": checked.asset_iri[len(ASSET_BASE):]}

VALIDATION_STATUSES = ("Pending", "Verified", "Query")


def store_unavailable(exc: StoreError) -> ApiError:
    return ApiError(503, "STORE-001", "The node's store could not complete the write; "
                    "nothing of this write was stored.", {"error": str(exc)[:300]})


def not_found() -> ApiError:
    return ApiError(404, "ARM-404", "No such asset.")


def precondition_failed(current: AssetRecord) -> ApiError:
    return ApiError(
        412,
        "ARM-412",
        "The asset changed since you read it: If-Match does not match the current ETag. "
        "Read it again and re-apply your change.",
        {"current_etag": current.etag, "current_version": current.version},
    )


def validation_failed(violations: list[dict[str, Any]]) -> ApiError:
    return ApiError(
        422, "ARM-VAL", "The asset does not conform to the FMAR shapes.", {"violations": violations}
    )


@dataclass
class BulkReport:
    mode: str
    received: int = 0
    stored: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)

    errors_truncated: bool = False
    aborted: ApiError | None = None  # store-valid upload stopped after storing some rows

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errors_truncated": self.errors_truncated,
            "received": self.received,
            "stored": self.stored,
            "rejected": self.rejected,
            "errors": self.errors,
            "assets": self.assets,
        }


# ---------------------------------------------------------------- worker processes

_WORKER_SHAPES: dict[str, ShapeSet] = {}


def _check_in_worker(
    shapes_key: str,
    shapes_turtle: str,
    rows: list[tuple[Row, str]],
    categories: dict[str, bool],
    caller: Caller,
) -> list[Checked]:
    shapes = _WORKER_SHAPES.get(shapes_key)
    if shapes is None:
        _WORKER_SHAPES.clear()
        shapes = ShapeSet(Graph().parse(data=shapes_turtle, format="turtle"), FMAR.Asset)
        _WORKER_SHAPES[shapes_key] = shapes
    return check_rows(rows, shapes, categories, caller)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the node process, which stops them (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Register:
    def __init__(self, store: RecordStore, workers: int = 2):
        self.store = store
        self._lock = threading.RLock()
        # Called after each stored asset with (organisation ID, properties).
        self.commit_hooks: list[Callable[[str, Properties], None]] = []
        bulk_commit.recover(store)
        self._audit = AuditLog(store)
        self.catalogue = Catalogue(load_core_shapes())
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._shapes_version = 0
        self._shapes_turtle: str | None = None
        self._load_categories()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self.store.close()

    # ------------------------------------------------------------ categories

    def _load_categories(self) -> None:
        names = [
            s["g"].value
            for s in self.store.select(
                f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?c a <{FMAR.AssetCategory}> }} "
                f'FILTER STRSTARTS(STR(?g), "{CATEGORY_BASE}") }}'
            )
        ]
        if not names:
            seeded = seed_categories()
            system = Caller("node", "node", frozenset({"Node"}))
            writes = [self._category_write(c) for c in seeded]
            audit_write, _, head = self._audit.prepare(
                agent=system.subject,
                organisation=system.organisation_id,
                on_behalf_of=None,
                action="create-category",
                records=[(c.record_iri, 1) for c in seeded],
            )
            self.store.write([*writes, audit_write])
            self._audit.commit(head)
            self.catalogue.replace_all(seeded)
        else:
            self.catalogue.replace_all([self._read_category(name) for name in names])
        self._shapes_changed()

    def _shapes_changed(self) -> None:
        self._shapes_version += 1
        self._shapes_turtle = None

    def _read_category(self, record_iri: str) -> Category:
        graph = rdflib_graph(self.store.triples(record_iri))
        stored_version = graph.value(URIRef(record_iri), FMAR.version)
        graph.remove((URIRef(record_iri), None, None))  # the node's bookkeeping, not the definition
        return category_from_graph(graph, int(stored_version) if stored_version is not None else 1)

    @staticmethod
    def _category_write(category: Category) -> GraphWrite:
        lines = [f"{s.n3()} {p.n3()} {o.n3()} ." for s, p, o in category.graph]
        lines.append(
            f"<{category.record_iri}> {FMAR.version.n3()} "
            f"{Literal(category.version).n3()} ."
        )
        return GraphWrite(category.record_iri, "\n".join(lines), replace=True)

    def save_category(self, graph: Graph, caller: Caller, *, expected_code: str | None) -> Category:
        policy.check_manage_categories(caller)
        category = category_from_graph(graph)
        if expected_code is not None and category.code != expected_code:
            raise ApiError(
                422, "CAT-DEF-002", "The category code in the body differs from the URL.",
                {"url": expected_code, "body": category.code},
            )
        self._check_shape_compiles(category)
        with self._lock:
            existing = self.catalogue.get(category.code)
            if expected_code is None and existing is not None:
                raise ApiError(409, "CAT-409", f"Category {category.code} exists; use PUT to change it.")
            if expected_code is not None and existing is None:
                raise ApiError(404, "CAT-404", f"No category {expected_code}.")
            version = existing.version + 1 if existing else 1
            category = category_from_graph(graph, version)
            action = "update-category" if existing else "create-category"
            self._write_category(category, caller, action)
        return category

    def deprecate_category(self, code: str, caller: Caller) -> Category:
        policy.check_manage_categories(caller)
        with self._lock:
            existing = self.catalogue.get(code)
            if existing is None:
                raise ApiError(404, "CAT-404", f"No category {code}.")
            category = category_from_graph(set_deprecated(existing, True), existing.version + 1)
            self._write_category(category, caller, "deprecate-category")
        return category

    def _write_category(self, category: Category, caller: Caller, action: str) -> None:
        audit_write, _, head = self._audit.prepare(
            agent=caller.subject,
            organisation=caller.organisation_id,
            on_behalf_of=caller.actor,
            action=action,
            records=[(category.record_iri, category.version)],
        )
        self.store.write([self._category_write(category), audit_write])
        self._audit.commit(head)
        self.catalogue.put(category)
        self._shapes_changed()

    def _check_shape_compiles(self, category: Category) -> None:
        try:
            candidate = Graph()
            for triple in self.catalogue.shapes.full:
                candidate.add(triple)
            for triple in category.graph:
                candidate.add(triple)
            # Compiling and running every rule once on no data surfaces malformed shapes.
            VALIDATOR.validate("", ShapeSet(candidate), [])
        except ApiError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever pyshacl raises: not valid SHACL
            raise ApiError(
                422, "CAT-DEF-005", "The category shape is not valid SHACL.", {"error": str(exc)[:500]}
            ) from None

    def category_states(self) -> dict[str, bool]:
        return {c.code: c.deprecated for c in self.catalogue.all()}

    # ------------------------------------------------------------ registration

    @staticmethod
    def _new_records(checked: list[Checked], time: str) -> list[GraphWrite]:
        return [
            GraphWrite(
                c.asset_iri,
                record_ntriples(c.asset_iri, c.properties or [], version=1, created=time, modified=time),
                replace=False,
            )
            for c in checked
        ]

    def _commit_assets(
        self, checked: list[Checked], caller: Caller, action: str = "register"
    ) -> None:
        if not checked:
            return
        writes = self._new_records(checked, now_iso())
        with self._lock:
            audit_write, _, head = self._audit.prepare(
                agent=caller.subject,
                organisation=caller.organisation_id,
                on_behalf_of=caller.actor,
                action=action,
                records=[(c.asset_iri, 1) for c in checked],
            )
            self.store.write([*writes, audit_write])
            self._audit.commit(head)
        for c in checked:
            self._notify(c.properties or [])

    def _notify(self, props: Properties) -> None:
        organisation = organisation_of(props) or ""
        for hook in self.commit_hooks:
            hook(organisation, props)

    def register_one(self, props: Properties, caller: Caller) -> AssetRecord:
        iri = new_asset_iri()
        [checked] = check_rows(
            [(Row(1, properties=props), iri)],
            self.catalogue.shapes,
            self.category_states(),
            caller,
        )
        if not checked.ok:
            first = checked.violations[0]
            if len(checked.violations) == 1 and first["rule"].startswith("POL-"):
                raise ApiError(403, first["rule"], first["message"])
            if first["rule"].startswith("ARM-IN-"):
                raise ApiError(400, first["rule"], first["message"], first.get("details"))
            raise validation_failed(checked.violations)
        self._commit_assets([checked], caller)
        record = self.get_record(iri)
        assert record is not None
        return record

    def _pool_or_none(self) -> ProcessPoolExecutor | None:
        if self._workers <= 1:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self._workers, mp_context=get_context("spawn"),
                                             initializer=_ignore_interrupts)
        return self._pool

    def _shapes_payload(self) -> tuple[str, str]:
        if self._shapes_turtle is None:
            self._shapes_turtle = self.catalogue.shapes_turtle()
        return str(self._shapes_version), self._shapes_turtle

    def check_chunks(self, rows: Iterable[Row], caller: Caller) -> Iterator[list[Checked]]:
        """Validate rows in chunks, in worker processes when there are several cores."""
        categories = self.category_states()
        pool = self._pool_or_none()
        chunks = (
            [(row, new_asset_iri()) for row in chunk]
            for chunk in _batched(rows, BULK_CHUNK)
        )
        if pool is None:
            for chunk in chunks:
                yield check_rows(chunk, self.catalogue.shapes, categories, caller)
            return
        key, turtle = self._shapes_payload()
        pending = []
        for chunk in chunks:
            pending.append(pool.submit(_check_in_worker, key, turtle, chunk, categories, caller))
            while len(pending) > self._workers * 2:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()

    def register_bulk(
        self,
        rows: Iterable[Row],
        caller: Caller,
        all_or_nothing: bool,
        screen: Callable[[list[Checked]], None] | None = None,
    ) -> BulkReport:
        """Validate every row; store the valid ones chunk by chunk (`store-valid`), or all
        of them in one transaction only if no row failed (`all-or-nothing`). Valid records
        of an all-or-nothing upload wait in a temporary TriG file, not in memory."""
        policy.require_scope(caller, "assets:write")
        report = BulkReport("all-or-nothing" if all_or_nothing else "store-valid")
        time = now_iso()
        with tempfile.TemporaryDirectory(prefix="fmar-bulk-") as spool_dir:
            spool_path = Path(spool_dir) / "records.trig"
            with spool_path.open("wb") as spool:
                spooled: list[str] = []
                try:
                    for chunk in self.check_chunks(rows, caller):
                        if screen is not None:
                            screen(chunk)  # e.g. duplicates elsewhere in the federation
                        good = []
                        for checked in chunk:
                            report.received += 1
                            if checked.ok:
                                good.append(checked)
                            else:
                                report.rejected += 1
                                if len(report.errors) < MAX_REPORTED_ROWS:
                                    report.errors.append(
                                        {"row": checked.index, "violations": checked.violations}
                                    )
                        if not all_or_nothing:
                            self._commit_assets(good, caller)
                            report.stored += len(good)
                            report.assets.extend(_stored_row(c) for c in good)
                        elif not report.rejected:
                            spool.write(trig_text(self._new_records(good, time)).encode())
                            spooled.extend(c.asset_iri for c in good)
                            report.assets.extend(_stored_row(c) for c in good)
                except (ApiError, StoreError) as exc:
                    error = exc if isinstance(exc, ApiError) else store_unavailable(exc)
                    if all_or_nothing or not report.stored:
                        raise error from None
                    # Rows already stored stay stored: say which, and why the rest was not read.
                    report.aborted = error
                    return report
            if all_or_nothing:
                if report.rejected:
                    report.assets = []
                else:
                    self._commit_spool(spool_path, spooled, caller)
                    report.stored = len(spooled)
        report.errors_truncated = report.rejected > len(report.errors)
        return report

    def _commit_spool(self, path: Path, iris: list[str], caller: Caller) -> None:
        if not iris:
            return
        with self._lock:
            audit_write, _, head = self._audit.prepare(
                agent=caller.subject,
                organisation=caller.organisation_id,
                on_behalf_of=caller.actor,
                action="register",
                records=[(iri, 1) for iri in iris],
            )
            with path.open("ab") as spool:
                spool.write(trig_text([audit_write]).encode())
            if len(iris) <= SINGLE_TRANSACTION_LIMIT:
                self.store.load_file(path)
            else:
                bulk_commit.commit(self.store, path, iris, self._audit.sequence + 1)
            self._audit.commit(head)

    # ------------------------------------------------------------ reading

    def get_record(self, iri: str) -> AssetRecord | None:
        return AssetRecord.from_triples(iri, self.store.triples(iri))

    def read(self, asset_id: str, caller: Caller) -> AssetRecord:
        record = self.get_record(ASSET_BASE + _safe_asset_id(asset_id))
        if record is None:
            raise not_found()
        policy.check_read_asset(caller, record.organisation_id, record.dno_area)
        return record

    # ------------------------------------------------------------ changes

    def _change(
        self,
        asset_id: str,
        caller: Caller,
        if_match: str | None,
        action: str,
        authorise: Callable[[AssetRecord], None],
        make: Callable[[AssetRecord], tuple[Properties, dict[str, Any]]],
    ) -> AssetRecord:
        """Apply `make(current) -> (props, state)` under the lock: authorised first (so a
        caller learns nothing of a record it may not touch), then guarded by If-Match."""
        iri = ASSET_BASE + _safe_asset_id(asset_id)
        with self._lock:
            current = self.get_record(iri)
            if current is None:
                raise not_found()
            authorise(current)
            if if_match is None:
                raise ApiError(
                    428, "ARM-428", "Changes need an If-Match header with the asset's current ETag."
                )
            if if_match.strip() != "*" and current.etag not in [t.strip() for t in if_match.split(",")]:
                raise precondition_failed(current)
            props, state = make(current)
            version = current.version + 1
            time = now_iso()
            new = record_ntriples(
                iri,
                props,
                version=version,
                created=current.first(URIRef("http://purl.org/dc/terms/created")) or time,
                modified=time,
                **state,
            )
            history = GraphWrite(
                f"{VERSION_BASE}{asset_id}:{current.version}",
                "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in current.triples),
                replace=True,
            )
            audit_write, _, head = self._audit.prepare(
                agent=caller.subject,
                organisation=caller.organisation_id,
                on_behalf_of=caller.actor,
                action=action,
                records=[(iri, version)],
            )
            self.store.write([GraphWrite(iri, new, replace=True), history, audit_write])
            self._audit.commit(head)
            self._notify(props)
        record = self.get_record(iri)
        assert record is not None
        return record

    @staticmethod
    def _state(current: AssetRecord) -> dict[str, Any]:
        return {
            "registration": current.registration_status,
            "validation": current.validation_status,
            "validation_reason": current.first(FMAR.validationReason),
        }

    def _may_change(self, caller: Caller) -> Callable[[AssetRecord], None]:
        def authorise(current: AssetRecord) -> None:
            policy.check_change_asset(caller, current.organisation_id, current.dno_area)
            if current.registration_status == "Deregistered":
                raise ApiError(409, "ARM-409", "A de-registered asset cannot be changed.")

        return authorise

    def _revalidated(self, props: Properties, current: AssetRecord, caller: Caller) -> Properties:
        [checked] = check_rows(
            [(Row(1, properties=props), current.iri)],
            self.catalogue.shapes,
            self.category_states(),
            caller,
            is_new=False,
        )
        if not checked.ok:
            first = checked.violations[0]
            if first["rule"].startswith("POL-"):
                raise ApiError(403, first["rule"], first["message"])
            if first["rule"].startswith("ARM-IN-"):
                raise ApiError(400, first["rule"], first["message"], first.get("details"))
            raise validation_failed(checked.violations)
        return checked.properties or []

    def _content_changed(self, current: AssetRecord, props: Properties) -> tuple[Properties, dict[str, Any]]:
        # A change of content needs checking again.
        return props, {**self._state(current), "validation": "Pending", "validation_reason": None}

    def replace(
        self, asset_id: str, props: Properties, caller: Caller, if_match: str | None
    ) -> AssetRecord:
        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            return self._content_changed(current, self._revalidated(props, current, caller))

        return self._change(asset_id, caller, if_match, "update", self._may_change(caller), make)

    def patch(
        self, asset_id: str, changes: dict[str, Any], caller: Caller, if_match: str | None
    ) -> AssetRecord:
        """JSON merge patch (RFC 7396) over the Elexon fields, applied to the version
        the If-Match names, under the write lock."""

        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            body = {k: v for k, v in current.as_json().items() if k not in _READ_ONLY}
            for name, value in changes.items():
                if value is None:
                    body.pop(name, None)
                else:
                    body[name] = value
            props = properties_from_json(body)
            return self._content_changed(current, self._revalidated(props, current, caller))

        return self._change(asset_id, caller, if_match, "patch", self._may_change(caller), make)

    def set_validation_status(
        self, asset_id: str, status: str, reason: Any, caller: Caller, if_match: str | None
    ) -> AssetRecord:
        if status not in VALIDATION_STATUSES:
            raise ApiError(
                422, "ARM-VS-001", "Validation status is Pending, Verified or Query.",
                {"allowed": list(VALIDATION_STATUSES)},
            )
        if reason is not None and not isinstance(reason, str):
            raise ApiError(422, "ARM-VS-002", "The reason is a text.")
        if status == "Query" and not (reason and reason.strip()):
            raise ApiError(422, "ARM-VS-002", "A Query status needs a reason.")

        def authorise(current: AssetRecord) -> None:
            policy.check_set_validation_status(caller, current.organisation_id, current.dno_area)

        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            return current.properties(), {
                **self._state(current),
                "validation": status,
                "validation_reason": reason.strip() if reason else None,
            }

        return self._change(asset_id, caller, if_match or "*", "set-validation-status",
                            authorise, make)

    def deregister(self, asset_id: str, caller: Caller, if_match: str | None) -> AssetRecord:
        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            return current.properties(), {**self._state(current), "registration": "Deregistered"}

        return self._change(asset_id, caller, if_match or "*", "deregister",
                            self._may_change(caller), make)

    # ------------------------------------------------------------ history and audit

    def history(self, asset_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self.read(asset_id, caller)
        by_version = {
            entry.version: entry
            for entry, _ in audit.entries(self.store, current.iri)
        }
        versions = []
        for n in range(1, current.version + 1):
            if n == current.version:
                record: AssetRecord | None = current
            else:
                record = AssetRecord.from_triples(
                    current.iri, self.store.triples(f"{VERSION_BASE}{asset_id}:{n}")
                )
            entry = by_version.get(n)
            versions.append(
                {
                    "version": n,
                    "action": entry.action if entry else None,
                    "by": entry.agent if entry else None,
                    "organisation": entry.organisation if entry else None,
                    "on_behalf_of": entry.on_behalf_of if entry else None,
                    "at": entry.time if entry else None,
                    "asset": record.as_json() if record else None,
                }
            )
        return versions

    def audit_trail(self, asset_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self.get_record(ASSET_BASE + _safe_asset_id(asset_id))
        if current is None:
            raise not_found()
        policy.check_read_audit(caller, current.organisation_id, current.dno_area)
        return [entry.as_dict() for entry, _ in audit.entries(self.store, current.iri)]

    # ------------------------------------------------------------ search and export

    def search(
        self, caller: Caller, filters: dict[str, Any], limit: int, after: str | None
    ) -> tuple[list[AssetRecord], str | None]:
        scope = policy.asset_read_scope(caller)
        where = _search_patterns(scope, filters)
        start = ASSET_BASE + _safe_id(after) if after else ""
        # Oxigraph's ORDER BY decodes every term it compares (2 s for 20,000 IRIs on
        # disk); streaming the matches and keeping the smallest `limit + 1` after the
        # cursor costs one index scan (~3 µs a match) and constant memory.
        matches = (s["asset"].value for s in self.store.select(
            f"SELECT ?asset WHERE {{ GRAPH ?asset {{ {' '.join(where)} }} }}"))
        iris = heapq.nsmallest(limit + 1, (iri for iri in matches if iri > start))
        records = [r for r in (self.get_record(i) for i in iris[:limit]) if r is not None]
        next_cursor = records[-1].asset_id if len(iris) > limit and records else None
        return records, next_cursor

    def active_records(self, organisation_id: str, caller: Caller) -> dict[str, int]:
        """How many active assets (and market units) an organisation still has here."""
        policy.check_deregistration_enquiry(caller)
        org = f"https://id.fmar.uk/org/{_safe_id(organisation_id)}"
        active = code_iri("RegistrationStatus", "Active")
        query = (
            f"SELECT (COUNT(?a) AS ?n) WHERE {{ GRAPH ?a {{ ?a a <{FMAR.Asset}> ; "
            f"<{FMAR.organisation}> <{org}> ; <{FMAR.registrationStatus}> <{active}> }} }}"
        )
        [row] = list(self.store.select(query))
        # Market units arrive with their own issue; none can exist on a node yet.
        return {"active_assets": int(row["n"].value), "active_market_units": 0}

    def iter_export(self, caller: Caller, filters: dict[str, Any]) -> Iterator[AssetRecord]:
        """The caller's own assets, one at a time (constant memory). Permission and
        filters are checked now, before the first byte of the response. The store is read
        on one thread of its own (node/store/stream.py): a streamed response is pulled on
        any server thread."""
        policy.require_scope(caller, "assets:read")
        scope = policy.ReadScope(False, frozenset({caller.organisation_id}), frozenset())
        query = (f"SELECT ?asset WHERE {{ GRAPH ?asset "
                 f"{{ {' '.join(_search_patterns(scope, filters))} }} }}")

        def records() -> Iterator[AssetRecord]:
            # The IRIs first: Oxigraph's result iterator must not outlive the thread that
            # made it (a client that stops reading would leave it to be dropped elsewhere).
            iris = [solution["asset"].value for solution in self.store.select(query)]
            for iri in iris:
                record = self.get_record(iri)
                if record is not None:
                    yield record

        return on_one_thread(records)


_READ_ONLY = {"AssetId", "id", "RegistrationStatus", "ValidationStatus", "ValidationReason",
              "Version", "Created", "Modified"}



_ASSET_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _safe_asset_id(asset_id: str) -> str:
    """Asset IDs are UUIDs; anything else names no asset (404, never a store error)."""
    if not _ASSET_ID.match(asset_id):
        raise not_found()
    return asset_id


def _safe_id(value: str) -> str:
    if not asset_filters.CODE_RE.match(value):
        raise ApiError(400, "ARM-IN-010", "Filter values are codes of letters, digits, - _ or .",
                       {"value": value[:100]})
    return value


def _search_patterns(scope: policy.ReadScope, filters: dict[str, Any]) -> list[str]:
    """SPARQL patterns (inside `GRAPH ?asset`) for a search: the values are checked here
    (ARM-IN-010), the patterns come from the one builder the federation uses too
    (node/query/filters.py), the caller's read scope first."""
    codes = {
        key: (_safe_id(str(filters[key])),)
        for key in asset_filters.CODE_FILTERS
        if filters.get(key)
    }
    organisation = filters.get("organisation")
    spec = asset_filters.AssetFilter(
        codes,
        _safe_id(organisation) if organisation else None,
        filters.get("min_capacity"),
        filters.get("max_capacity"),
    )
    return [
        *asset_filters.scope_patterns(scope),
        *asset_filters.restriction_patterns(spec),
        f"?asset a <{FMAR.Asset}> ; <{FMAR.assetId}> ?id .",
    ]


def _batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk

