"""The harness's loopback ports: each pytest-xdist worker draws from its own range,
below the kernel's ephemeral ports, and never hands out a port something holds."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.harness import processes
from tests.harness.processes import free_port

EPHEMERAL_START = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def _range_of(worker: str | None) -> range:
    env = {"PYTHONPATH": str(processes.ROOT)}
    if worker:
        env["PYTEST_XDIST_WORKER"] = worker
    out = subprocess.run(
        [sys.executable, "-c",
         "from tests.harness.processes import _PORTS as r; print(r.start, r.stop)"],
        env=env, cwd=processes.ROOT, capture_output=True, text=True, check=True).stdout
    start, stop = map(int, out.split())
    return range(start, stop)


def test_workers_draw_ports_from_disjoint_ranges_below_the_ephemeral_ones() -> None:
    ranges = [_range_of(None)] + [_range_of(f"gw{n}") for n in range(4)]
    for i, first in enumerate(ranges):
        assert first.stop <= EPHEMERAL_START, first
        for second in ranges[i + 1:]:
            assert first.stop <= second.start or second.stop <= first.start, (first, second)


def test_a_held_port_is_skipped_and_none_is_handed_out_twice() -> None:
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", processes._next_port))
        held.listen()
        taken = held.getsockname()[1]
        drawn = [free_port() for _ in range(50)]
    finally:
        held.close()
    assert taken not in drawn
    assert len(set(drawn)) == len(drawn)
    assert all(port in processes._PORTS for port in drawn)
