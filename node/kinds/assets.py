"""Assets, the first record kind: its declaration and every write and read of asset
records. Writes go through the one write path (node/records/unit.py)."""

from __future__ import annotations

import heapq
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rdflib import Graph

from common.errors import BadInput, Conflict, DomainError, Invalid
from common.vocab import ASSET_BASE, DCTERMS, FMAR, ID_BASE, ORG_BASE, SHAPES_DIR, code_iri
from node import audit, policy
from node.asset_fields import ASSET_TABLE, STATE_FIELDS
from node.audit import now_iso
from node.bulk_commit import Upload
from node.events import UploadEvent
from node.events.changes import change_data
from node.events.types import event_type
from node.identity import Caller
from node.index import staged
from node.index.listing import ListingIndex
from node.inputs import Properties, Row, properties_from_json
from node.kinds.asset_records import (
    AssetRecord,
    Checked,
    check_rows,
    new_asset_iri,
    organisation_of,
    record_ntriples,
)
from node.kinds.categories import Categories
from node.merkle import digests_of, graph_quads
from node.query import filters as asset_filters
from node.records import tombstone
from node.records.kind import Facts, RecordKind
from node.records.reading import history as record_history
from node.records.reading import own_triples
from node.records.refusals import not_found, refusal
from node.records.status import Action, RegistrationStatus, ValidationStatus
from node.records.unit import UnitOfWork
from node.store import GraphWrite
from node.store.base import trig_text
from node.store.embedded import EmbeddedStore
from node.store.stream import on_one_thread
from node.validation import ShapeSet, Violation

ASSET = RecordKind(
    name="asset", label="asset", code="ARM", iri_base=ASSET_BASE, rdf_class=FMAR.Asset,
    table=ASSET_TABLE,
    shapes=(SHAPES_DIR / "asset.ttl", *sorted((SHAPES_DIR / "categories").glob("*.ttl"))),
    rules=("ARM-VAL-*", "ARM-CAT-*", "ARM-IN-*", "ARM-404", "ARM-409", "ARM-412", "ARM-428",
           "ARM-VS-001", "ARM-VS-002", "ARM-DUP-001"),
    held_by="the asset's organisation (or the node hosting it)",
    reader=AssetRecord.from_triples, facts=lambda record: record.facts,
)

# Changes of these alone are not material to other parties (events' `material` flag).
NOT_MATERIAL = frozenset({"AssetName", "Manufacturer", "AssetModel", "OtherDescription"})
_EVENT_DATA = change_data(AssetRecord.as_json, NOT_MATERIAL)

BULK_CHUNK = 2000
MAX_REPORTED_ROWS = 1_000  # failing rows listed in full in a bulk report


def _stored_row(checked: Checked) -> dict[str, Any]:
    return {"row": checked.index, "AssetId": checked.asset_iri[len(ASSET_BASE):]}


@dataclass
class BulkReport:
    mode: str
    received: int = 0
    stored: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)

    errors_truncated: bool = False
    aborted: DomainError | None = None  # store-valid upload stopped after storing some rows

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
    rows: list[Row],
    categories: dict[str, bool],
    caller: Caller,
    time: str | None = None,
    index_rows: bool = False,
) -> list[Checked]:
    """Validate a chunk in a worker, assigning the new IRIs there; with `time`, also
    build each valid record, its content digest and (`index_rows`) its index row (main-process
    work otherwise)."""
    shapes = _WORKER_SHAPES.get(shapes_key)
    if shapes is None:
        _WORKER_SHAPES.clear()
        shapes = ShapeSet(Graph().parse(data=shapes_turtle, format="turtle"), FMAR.Asset)
        _WORKER_SHAPES[shapes_key] = shapes
    checked = check_rows([(row, new_asset_iri()) for row in rows], shapes, categories, caller)
    return _built(checked, time, index_rows) if time else checked


def _built(checked: list[Checked], time: str, rows: bool = False) -> list[Checked]:
    """Set version 1 of each valid record (created and modified at `time`), the digest
    of its triples as the store will give them back and, with `rows`, its listing index
    row from those same triples (node/index/staged.py)."""
    for c in checked:
        if c.ok:
            c.record = record_ntriples(c.asset_iri, c.properties or [], version=1,
                                       created=time, modified=time)
    graphs = graph_quads(trig_text([GraphWrite(c.asset_iri, c.record)
                                    for c in checked if c.record is not None]))
    digests = digests_of(graphs)
    for c in checked:
        c.digest = digests.get(c.asset_iri)
        if rows and c.record is not None:
            c.row = staged.row_of_quads(c.asset_iri, graphs.get(c.asset_iri, []))
    return checked


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the node process, which stops them (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Assets:
    def __init__(self, unit: UnitOfWork, categories: Categories, workers: int = 2):
        self.unit = unit
        self.store = unit.store
        self.categories = categories
        # Called after each stored asset with (organisation ID, properties).
        self.commit_hooks: list[Callable[[str, Properties], None]] = []
        # Called under the write lock before a de-registration; raise to refuse it.
        self.deregister_guards: list[Callable[[AssetRecord], None]] = []
        # Called with (properties, organisation) before an asset is registered, one by one
        # or in bulk; raise a DomainError to refuse it (consent, node/kinds/consents.py).
        self.register_guards: list[Callable[[Properties, str], None]] = []
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._shapes_version = 0
        self._shapes_turtle: str | None = None
        # the listing index (node/index/), when the node keeps one: listings read it
        self.index: ListingIndex | None = None
        # single JSON reads from it too (IDX-011): where the store is a SPARQL server, whose
        # round trip it saves; the embedded store's own read is as fast (performance.md)
        self.index_reads = self.store.evaluates_queries

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def shapes_changed(self) -> None:
        self._shapes_version += 1
        self._shapes_turtle = None

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

    def _commit(self, checked: list[Checked], caller: Caller) -> None:
        if not checked:
            return
        self.unit.write(caller, Action.REGISTER, self._new_records(checked, now_iso()),
                        [(c.asset_iri, 1) for c in checked])
        for c in checked:
            self._notify(c.properties or [])

    def _notify(self, props: Properties) -> None:
        organisation = organisation_of(props) or ""
        for hook in self.commit_hooks:
            hook(organisation, props)

    def _checked(self, props: Properties, iri: str, caller: Caller, *, is_new: bool) -> Checked:
        [checked] = check_rows([(Row(1, properties=props), iri)], self.categories.catalogue.shapes,
                               self.categories.states(), caller, is_new=is_new)
        if not checked.ok:
            raise refusal(ASSET, checked.violations)
        return checked

    def _guarded(self, checked: Checked) -> Checked:
        """A checked row refused by a registration guard carries its refusal."""
        if checked.ok:
            try:
                for guard in self.register_guards:
                    guard(checked.properties or [], organisation_of(checked.properties or [])
                          or "")
            except DomainError as error:
                checked.violations.append(Violation(error.code, error.message,
                                                    details=error.details))
        return checked

    def register_one(self, props: Properties, caller: Caller) -> AssetRecord:
        iri = new_asset_iri()
        checked = self._checked(props, iri, caller, is_new=True)
        for guard in self.register_guards:
            guard(checked.properties or [], organisation_of(checked.properties or []) or "")
        self._commit([checked], caller)
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
            self._shapes_turtle = self.categories.catalogue.shapes_turtle()
        return str(self._shapes_version), self._shapes_turtle

    def check_chunks(self, rows: Iterable[Row], caller: Caller, time: str | None = None,
                     index_rows: bool = False) -> Iterator[list[Checked]]:
        """Validate rows in chunks, in worker processes when there are several cores;
        with `time`, the valid records (and, with `index_rows`, their index rows) are built
        there too (`_built`)."""
        categories = self.categories.states()
        pool = self._pool_or_none()
        chunks = _batched(rows, BULK_CHUNK)
        if pool is None:
            for chunk in chunks:
                checked = check_rows([(row, new_asset_iri()) for row in chunk],
                                     self.categories.catalogue.shapes, categories, caller)
                yield _built(checked, time, index_rows) if time else checked
            return
        key, turtle = self._shapes_payload()
        pending = []
        for chunk in chunks:
            pending.append(pool.submit(_check_in_worker, key, turtle, chunk, categories, caller,
                                       time, index_rows))
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
        of them only if no row failed (`all-or-nothing`: records built in the workers wait
        in a temporary TriG part file, not in memory, and a large upload's full parts are
        loaded while the rest is validated, BULK-020, node/bulk_commit.py)."""
        policy.require_scope(caller, "assets:write")
        report = BulkReport("all-or-nothing" if all_or_nothing else "store-valid")
        time = now_iso()
        with tempfile.TemporaryDirectory(prefix="fmar-bulk-") as spool_dir:
            upload = self.unit.upload(Path(spool_dir)) if all_or_nothing else None
            # the upload's index rows, built in the workers with its records (IDX-001) from
            # its triples as an Oxigraph store gives them back: so only when the record
            # store is one (another may give a literal back in another form)
            index_rows = (staged.StagedRows(Path(spool_dir))
                          if upload is not None and self.index is not None
                          and isinstance(self.store, EmbeddedStore) else None)
            spooled: list[tuple[str, int, str]] = []  # Merkle leaves
            try:
                for chunk in self.check_chunks(rows, caller, time if all_or_nothing else None,
                                               index_rows is not None):
                    if screen is not None:
                        screen(chunk)  # e.g. duplicates elsewhere in the federation
                    good = []
                    for checked in map(self._guarded, chunk):
                        report.received += 1
                        if checked.ok:
                            good.append(checked)
                        else:
                            report.rejected += 1
                            if len(report.errors) < MAX_REPORTED_ROWS:
                                report.errors.append(
                                    {"row": checked.index,
                                     "violations": [v.as_dict() for v in checked.violations]}
                                )
                    if upload is None:
                        # store-valid: an audit entry per record, not per chunk: a switch
                        # bundle (node/switching/) carries a record's own entries only
                        self._commit(good, caller)
                        report.stored += len(good)
                        report.assets.extend(_stored_row(c) for c in good)
                    elif report.rejected:
                        upload.abandon()  # what was loaded goes now; the rest is checked
                    else:
                        self._add(upload, good)
                        if index_rows is not None:
                            index_rows.add([c.row for c in good if c.row is not None])
                        spooled.extend(_leaves(good))
                        report.assets.extend(_stored_row(c) for c in good)
            except DomainError as error:
                if upload is not None:
                    upload.abandon()
                if all_or_nothing or not report.stored:
                    raise
                # Rows already stored stay stored: say which, and why the rest was not read.
                report.aborted = error
                return report
            except BaseException:
                if upload is not None:
                    upload.abandon()
                raise
            if upload is not None:
                if report.rejected:
                    report.assets = []
                else:
                    self.unit.commit_upload(caller, Action.REGISTER, upload, spooled,
                                            _REGISTERED, derived=index_rows)
                    report.stored = len(spooled)
        report.errors_truncated = report.rejected > len(report.errors)
        return report

    def _add(self, upload: Upload, good: list[Checked]) -> None:
        """Valid rows, built in the workers, into an upload."""
        self.unit.add_to_upload(upload, trig_text([GraphWrite(c.asset_iri, c.record or "")
                                                   for c in good]).encode(),
                                [c.asset_iri for c in good])

    # ------------------------------------------------------------ reading

    def get_record(self, iri: str) -> AssetRecord | None:
        return AssetRecord.from_triples(iri, self.store.triples(iri))

    def _existing(self, asset_id: str) -> AssetRecord:
        record = self.get_record(ASSET.iri_of(asset_id))
        if record is None:
            raise not_found(ASSET)
        return record

    def read(self, asset_id: str, caller: Caller) -> AssetRecord:
        record = self.get_record(ASSET.iri_of(asset_id))
        if record is None:  # 404, or 410 SWITCH-410 when it moved in a switch
            raise tombstone.absent(ASSET, self.store, ASSET.iri_of(asset_id), caller)
        policy.authorise(caller, "asset", "read", record.facts)
        return record

    def read_json(self, asset_id: str, caller: Caller) -> dict[str, Any] | None:
        """IDX-011: the asset's JSON from the listing index, which keeps what `read` gives
        (IDX-008), with the read decided by the same policy on the row's organisation and
        area; None when the index does not hold it (then `read`, from the store)."""
        if self.index is None or not self.index_reads:
            return None
        found = self.index.record(ASSET.iri_of(asset_id))
        if found is None:
            return None
        organisation, area, doc = found
        policy.authorise(caller, "asset", "read", Facts(organisation, area))
        body: dict[str, Any] = json.loads(doc)
        return body

    # ------------------------------------------------------------ changes

    def _change(
        self,
        asset_id: str,
        caller: Caller,
        if_match: str | None,
        action: Action,
        make: Callable[[AssetRecord], tuple[Properties, dict[str, Any]]],
    ) -> AssetRecord:
        """Apply `make(current) -> (props, state)` through the one write path."""
        iri = ASSET.iri_of(asset_id)
        changed: list[Properties] = []

        def authorise(current: AssetRecord) -> None:
            policy.authorise(caller, "asset", action, current.facts)
            if action not in (Action.SET_VALIDATION_STATUS, Action.DISPUTE_STATUS) and \
                    current.registration_status == RegistrationStatus.DEREGISTERED:
                raise Conflict("ARM-409", "A de-registered asset cannot be changed.")

        def build(current: AssetRecord, version: int) -> str:
            props, state = make(current)
            changed.append(props)
            time = now_iso()
            return record_ntriples(iri, props, version=version,
                                   created=current.first(DCTERMS.created) or time,
                                   modified=time, **state)

        record = self.unit.change(ASSET, iri, caller, if_match, action, authorise, build,
                                  _EVENT_DATA)
        self._notify(changed[0])
        return record

    @staticmethod
    def _state(current: AssetRecord) -> dict[str, Any]:
        return {
            "registration": current.registration_status,
            "validation": current.validation_status,
            "validation_reason": current.first(FMAR.validationReason),
            "dispute": current.first(FMAR.underDispute),
            "status_before_dispute": current.first(FMAR.statusBeforeDispute),
        }

    def _content_changed(self, current: AssetRecord, props: Properties,
                         caller: Caller) -> tuple[Properties, dict[str, Any]]:
        # A change of content needs checking again.
        checked = self._checked(props, current.iri, caller, is_new=False)
        if current.first(FMAR.underDispute):  # a correction: the dispute decides the status
            return checked.properties or [], self._state(current)
        return checked.properties or [], {**self._state(current),
                                          "validation": ValidationStatus.PENDING,
                                          "validation_reason": None}

    def replace(
        self, asset_id: str, props: Properties, caller: Caller, if_match: str | None
    ) -> AssetRecord:
        return self._change(asset_id, caller, if_match, Action.UPDATE,
                            lambda current: self._content_changed(current, props, caller))

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
            return self._content_changed(current, properties_from_json(body), caller)

        return self._change(asset_id, caller, if_match, Action.PATCH, make)

    def set_validation_status(
        self, asset_id: str, status: Any, reason: Any, caller: Caller, if_match: str | None
    ) -> AssetRecord:
        allowed = [s.value for s in ValidationStatus]
        if status not in allowed:
            raise Invalid("ARM-VS-001", "Validation status is Pending, Verified or Query.",
                          {"allowed": allowed})
        if reason is not None and not isinstance(reason, str):
            raise Invalid("ARM-VS-002", "The reason is a text.")
        if status == ValidationStatus.QUERY and not (reason and reason.strip()):
            raise Invalid("ARM-VS-002", "A Query status needs a reason.")

        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            return current.properties(), {
                **self._state(current),
                "validation": ValidationStatus(status),
                "validation_reason": reason.strip() if reason else None,
            }

        return self._change(asset_id, caller, if_match or "*", Action.SET_VALIDATION_STATUS, make)

    def dispute_status(self, asset_id: str, caller: Caller, dispute: str, state: str,
                       reason: str | None) -> AssetRecord:
        """A verified dispute notice (node/kinds/dispute_notices.py): while the dispute is
        active the asset shows Query naming it; resolved as corrected or withdrawn, the status
        it had comes back; upheld, it stays Query with the reason."""

        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            state_now = self._state(current)
            held = current.first(FMAR.underDispute)
            if state in ("open", "responded", "escalated"):
                before = state_now["status_before_dispute"] if held else \
                    current.validation_status
                return current.properties(), {
                    **state_now, "validation": ValidationStatus.QUERY,
                    "validation_reason": f"Disputed ({state}): {dispute}",
                    "dispute": dispute, "status_before_dispute": before}
            if held != dispute:  # another dispute holds the record, or none
                return current.properties(), state_now
            end = {**state_now, "dispute": None, "status_before_dispute": None}
            if state == "upheld":
                return current.properties(), {
                    **end, "validation": ValidationStatus.QUERY,
                    "validation_reason": f"Dispute upheld: {reason or dispute}"[:2000]}
            before = state_now["status_before_dispute"] or ValidationStatus.PENDING
            return current.properties(), {
                **end, "validation": ValidationStatus(before),
                "validation_reason": None if before != ValidationStatus.QUERY
                else f"Dispute {state}: {dispute}"}

        return self._change(asset_id, caller, "*", Action.DISPUTE_STATUS, make)

    def suspend(self, asset_id: str, caller: Caller) -> AssetRecord:
        """"Suspended – Consent Revoked": the consent the asset was registered under was
        revoked (node/kinds/consents.py). Content and history stay; an asset already
        suspended or de-registered is left as it is."""
        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            return current.properties(), {
                **self._state(current),
                "registration": RegistrationStatus.SUSPENDED_CONSENT_REVOKED}

        current = self._existing(asset_id)
        if current.registration_status != RegistrationStatus.ACTIVE:
            return current
        return self._change(asset_id, caller, "*", Action.SUSPEND, make)

    def deregister(self, asset_id: str, caller: Caller, if_match: str | None) -> AssetRecord:
        def make(current: AssetRecord) -> tuple[Properties, dict[str, Any]]:
            for guard in self.deregister_guards:
                guard(current)
            return current.properties(), {**self._state(current),
                                          "registration": RegistrationStatus.DEREGISTERED}

        return self._change(asset_id, caller, if_match or "*", Action.DEREGISTER, make)

    # ------------------------------------------------------------ history and audit

    def history(self, asset_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self.read(asset_id, caller)
        return record_history(ASSET, self.unit.journal, current, "asset", AssetRecord.as_json,
                              self.unit.audit.sequence)

    def audit_trail(self, asset_id: str, caller: Caller) -> list[dict[str, Any]]:
        current = self._existing(asset_id)
        policy.authorise(caller, "asset", "audit", current.facts)
        return audit.trail(self.unit.journal, current.iri, self.unit.audit.sequence)

    # ------------------------------------------------------------ search and export

    def search(
        self, caller: Caller, filters: dict[str, Any], limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the assets the caller may read, as their JSON (`AssetRecord.as_json`),
        and the cursor of the next page."""
        scope = policy.asset_read_scope(caller)
        where = _search_patterns(scope, filters)
        start = ASSET_BASE + _safe_id(after) if after else ""
        if self.index is not None:  # a keyset page of the index, served from it (IDX-008)
            docs, more = self.index.page(scope, _filter_spec(filters), limit, start)
            found = [json.loads(doc) for doc in docs]
            return found, (found[-1]["AssetId"] if more and found else None)
        # Oxigraph's ORDER BY decodes every term it compares (2 s for 20,000 IRIs on
        # disk); streaming the matches and keeping the smallest `limit + 1` after the
        # cursor costs one index scan (~3 µs a match) and constant memory.
        matches = (s["asset"].value for s in self.store.select(
            f"SELECT DISTINCT ?asset WHERE {{ GRAPH ?asset {{ {' '.join(where)} }} }}"))
        iris = heapq.nsmallest(limit + 1, (iri for iri in matches if iri > start))
        triples = own_triples(self.store, iris[:limit])  # the page's records: one query
        records = [r for r in (AssetRecord.from_triples(i, triples.get(i, []))
                               for i in iris[:limit]) if r is not None]
        next_cursor = records[-1].asset_id if len(iris) > limit and records else None
        return [r.as_json() for r in records], next_cursor

    def active_records(self, organisation_id: str, caller: Caller) -> dict[str, int]:
        """How many active assets (and market units) an organisation still has here."""
        policy.check_deregistration_enquiry(caller)
        org = f"{ORG_BASE}{_safe_id(organisation_id)}"
        active = code_iri("RegistrationStatus", RegistrationStatus.ACTIVE)
        query = (
            f"SELECT (COUNT(?a) AS ?n) WHERE {{ GRAPH ?a {{ ?a a <{FMAR.Asset}> ; "
            f"<{FMAR.organisation}> <{org}> ; <{FMAR.registrationStatus}> <{active}> }} }}"
        )
        [row] = list(self.store.select(query))
        # a market unit is active until it is deleted (it has no registration status)
        units = (f"SELECT (COUNT(?u) AS ?n) WHERE {{ GRAPH ?u {{ ?u a <{FMAR.MarketUnit}> ; "
                 f"<{FMAR.organisation}> <{org}> }} "
                 f'FILTER (STRSTARTS(STR(?u), "{ID_BASE}market-unit/")) }}')
        [unit_row] = list(self.store.select(units))
        return {"active_assets": int(row["n"].value),
                "active_market_units": int(unit_row["n"].value)}

    def iter_export(self, caller: Caller, filters: dict[str, Any]) -> Iterator[AssetRecord]:
        """The caller's own assets, one at a time (constant memory). Permission and
        filters are checked now, before the first byte of the response. The store is read
        on one thread of its own (node/store/stream.py): a streamed response is pulled on
        any server thread."""
        query = (f"SELECT ?asset WHERE {{ GRAPH ?asset "
                 f"{{ {' '.join(_search_patterns(_export_scope(caller), filters))} }} }}")

        def records() -> Iterator[AssetRecord]:
            # The IRIs first: Oxigraph's result iterator must not outlive the thread that
            # made it (a client that stops reading would leave it to be dropped elsewhere).
            iris = [solution["asset"].value for solution in self.store.select(query)]
            for iri in iris:
                record = self.get_record(iri)
                if record is not None:
                    yield record

        return on_one_thread(records)

    def iter_export_json(self, caller: Caller,
                         filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """As `iter_export`, each asset as its JSON (`AssetRecord.as_json`): from the
        listing index when the node keeps one (IDX-009: a page of 1,000 at a time, in ID
        order, no store reads), else from the records."""
        scope = _export_scope(caller)
        if self.index is None:
            return (record.as_json() for record in self.iter_export(caller, filters))
        return self.index.every(scope, _filter_spec(filters))


def _export_scope(caller: Caller) -> policy.ReadScope:
    """An export is of the caller's own assets (checked before the first byte)."""
    policy.require_scope(caller, "assets:read")
    return policy.ReadScope(False, frozenset({caller.organisation_id}), frozenset())


# What a merge patch starts from leaves out what the node keeps (and the IRI, `id`).
_READ_ONLY = frozenset({"id", *STATE_FIELDS})

def _safe_id(value: str) -> str:
    """ARM-IN-010: a filter value (or cursor, organisation ID) is a code."""
    if not asset_filters.CODE_RE.match(value):
        raise BadInput("ARM-IN-010", "Filter values are codes of letters, digits, - _ or .",
                       {"value": value[:100]})
    return value


def _filter_spec(filters: dict[str, Any]) -> asset_filters.AssetFilter:
    """A search's filters, checked (ARM-IN-010)."""
    codes: dict[str, tuple[str, ...]] = {
        key: (_safe_id(str(filters[key])),)
        for key in asset_filters.CODE_FILTERS
        if filters.get(key)
    }
    organisation = filters.get("organisation")
    return asset_filters.AssetFilter(
        codes,
        _safe_id(organisation) if organisation else None,
        filters.get("min_capacity"),
        filters.get("max_capacity"),
    )


def _search_patterns(scope: policy.ReadScope, filters: dict[str, Any]) -> list[str]:
    """SPARQL patterns (inside `GRAPH ?asset`) for a search: the values are checked here
    (ARM-IN-010), the patterns come from the one builder the federation uses too
    (node/federation/filters.py), the caller's read scope first."""
    spec = _filter_spec(filters)
    return [
        *asset_filters.scope_patterns(scope),
        *asset_filters.restriction_patterns(spec),
        f"?asset a <{FMAR.Asset}> ; <{FMAR.assetId}> ?id .",
    ]


# the event of each asset a bulk upload registers (one events graph per upload)
_REGISTERED = UploadEvent(event_type(ASSET.name, Action.REGISTER), ASSET.name, 1)


def _leaves(good: list[Checked]) -> list[tuple[str, int, str]]:
    """The Merkle leaves of new records: (IRI, version 1, content digest)."""
    return [(c.asset_iri, 1, c.digest or "") for c in good]


def _batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk

