"""Profile the bulk registration path in one process, to see where the node's time goes.

    .venv/bin/python -m tests.bench.profile_bulk --count 20000 [--workers 2]

Runs `Register.register_bulk` (the function behind POST /assets/bulk) on an
on-disk Oxigraph store in a temporary directory, with the node's listing index
attached (unless --no-index), with rows read by
`node.inputs.rows_from_csv` from the same CSV the benchmark sends. The main
process is profiled with cProfile; validation runs in the node's worker
processes (their time shows up as waiting on futures), unless --workers 1, in
which case everything runs in the profiled process. Wall time is also split into
the phases the node goes through: reading + validating (check_chunks) and
writing the batch (the store transaction), by timing them separately.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path

from tests.bench.bench_register import ORG, assets, csv_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--whole-only", action="store_true",
                        help="skip timing validation and the one-by-one store write apart")
    parser.add_argument("--no-index", action="store_true",
                        help="without the listing index (a served node keeps one)")
    args = parser.parse_args(argv)

    from node.identity import Caller
    from node.index.listing import open_index as open_listing_index
    from node.inputs import rows_from_csv
    from node.register import Register
    from node.store import open_store

    caller = Caller(subject="bench", organisation_id=ORG, roles=frozenset({"FSP"}),
                    scopes=frozenset({"assets:write", "assets:read"}))
    body = csv_text(list(assets(args.count, ORG, seed=11, start=5_000_000))).encode()
    workdir = Path(tempfile.mkdtemp(prefix="fmar-profile-"))
    try:
        register = Register(open_store(workdir / "data", None), workers=args.workers)
        if not args.no_index:  # as node/api/services.py attaches it
            index = open_listing_index(workdir / "data", register.store,
                                       lambda: register.unit.audit.sequence)
            register.unit.after_commit.append(index.after_write)
            register.assets.index = index
        # warm the worker pool, as the benchmark does
        register.register_bulk(rows_from_csv([csv_text(list(assets(1000, ORG, seed=3))).encode()]),
                               caller, True)

        def chunks():
            for i in range(0, len(body), 65536):
                yield body[i:i + 65536]

        validate_s = write_s = float("nan")
        if not args.whole_only:
            # 1. validation only (the phase that runs in the workers)
            t0 = time.perf_counter()
            checked = [c for chunk in register.assets.check_chunks(rows_from_csv(chunks()),
                                                                  caller) for c in chunk]
            validate_s = time.perf_counter() - t0
            assert all(c.ok for c in checked), "generated assets should all be valid"
            # 2. the store write alone, of the same checked records
            t0 = time.perf_counter()
            register.assets._commit(checked, caller)
            write_s = time.perf_counter() - t0
            del checked
        # 3. the whole path under cProfile (a fresh set of assets)
        body = csv_text(list(assets(args.count, ORG, seed=12, start=6_000_000))).encode()
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        cpu0 = time.process_time()
        report = register.register_bulk(rows_from_csv(chunks()), caller, True)
        profiler.disable()
        total_s = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0
        assert report.stored == args.count, report.as_json()["errors"][:3]
        register.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    n = args.count
    index = "without" if args.no_index else "with"
    print(f"register_bulk of {n:,} assets, {args.workers} worker(s), in-process (no HTTP), "
          f"{index} the listing index; load average {os.getloadavg()[0]:.1f}")
    print(f"  read + validate (check_chunks): {validate_s:6.1f} s  {n / validate_s:8,.0f} assets/s")
    print(f"  store write (Assets._commit):  {write_s:6.1f} s  {n / write_s:8,.0f} assets/s")
    print(f"  whole register_bulk (profiled): {total_s:6.1f} s  {n / total_s:8,.0f} assets/s "
          f"(cProfile overhead included)")
    print(f"  main-process CPU of it:         {cpu_s:6.1f} s  {cpu_s / n * 1e6:8,.0f} µs/asset")
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(args.top)
        print(f"\n--- main process, top {args.top} by {sort} ---")
        print(out.getvalue().split("\n", 6)[-1] if "ncalls" in out.getvalue() else out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
