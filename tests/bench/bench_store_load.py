"""Micro-benchmark: writing N validated asset records to the embedded Oxigraph store.

    .venv/bin/python -m tests.bench.bench_store_load --mode load --count 10000
    .venv/bin/python -m tests.bench.bench_store_load --mode bulk_load --count 10000
    .venv/bin/python -m tests.bench.bench_store_load --mode chunks --count 10000

The same TriG the node writes for an all-or-nothing bulk upload (each record via
node.kinds.asset_records.record_ntriples plus one audit entry per record, node.audit), written to
a fresh on-disk store:

* load:      one `Store.load` call — what node.store.embedded.EmbeddedStore.write
             does today (one transaction, atomic);
* bulk_load: one `Store.bulk_load` call (faster, but not transactional);
* chunks:    `Store.load` per 10,000 assets (several transactions, not atomic as a whole).

Run one mode per process so each VmHWM figure is its own.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pyoxigraph as ox

from tests.bench.bench_register import ORG, assets, csv_rows, csv_text, proc_status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["load", "bulk_load", "chunks"], default="load")
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args(argv)

    from node.audit import GENESIS_HASH, AuditEntry
    from node.inputs import properties_from_json
    from node.kinds.asset_records import new_asset_iri, record_ntriples
    from node.store.base import GraphWrite, trig_text

    stamp = "2026-01-01T00:00:00Z"
    writes, previous = [], GENESIS_HASH
    for i, row in enumerate(csv_rows(csv_text(list(assets(args.count, ORG, seed=5,
                                                          start=7_000_000))))):
        iri = new_asset_iri()
        writes.append(GraphWrite(iri, record_ntriples(iri, properties_from_json(row), version=1,
                                                      created=stamp, modified=stamp), replace=False))
        entry = AuditEntry(i + 1, stamp, "bench", ORG, None, "register", iri, 1, previous)
        previous = entry.digest()
        writes.append(GraphWrite("urn:fmar:audit", entry.ntriples(), replace=False))
    text = trig_text(writes).encode()
    with tempfile.TemporaryDirectory(prefix="fmar-store-") as path:
        store = ox.Store(path)
        before = proc_status("self", "VmHWM") or 0
        t0 = time.perf_counter()
        if args.mode == "load":
            store.load(text, format=ox.RdfFormat.TRIG)
        elif args.mode == "bulk_load":
            store.bulk_load(text, format=ox.RdfFormat.TRIG)
        else:
            step = 2 * 10000  # two writes (record + audit entry) per asset
            for i in range(0, len(writes), step):
                store.load(trig_text(writes[i:i + step]).encode(), format=ox.RdfFormat.TRIG)
        elapsed = time.perf_counter() - t0
        quads = sum(1 for _ in store.quads_for_pattern(None, None, None))
        after = proc_status("self", "VmHWM") or 0
        del store
    print(f"{args.mode:<9} {args.count:>8,} assets  {quads:>10,} quads  {elapsed:7.2f} s  "
          f"{args.count / elapsed:>8,.0f} assets/s  {quads / elapsed:>9,.0f} quads/s  "
          f"TriG {len(text) / 1e6:,.0f} MB  VmHWM {before / 1024:,.0f} -> {after / 1024:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
