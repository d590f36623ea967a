"""Processes on loopback: ports, readiness, stopping, and `fmar` itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from common import http_client as trust_http
from tests.harness import HarnessError

ROOT = Path(__file__).resolve().parents[2]
FMAR_MODULE = [sys.executable, "-m", "node"]
FMAR_INSTALLED = [str(Path(sys.executable).parent / "fmar")]  # the console script

# Off where a test or benchmark measures queries, not the rate limits (RATE-001 has tests of
# its own in tests/trust/test_trust_limits.py): one source asks as fast as it can.
RATE_LIMITS_OFF = {f"FMAR_RATE_{kind}": "off"
                   for kind in ("TOKEN_SOURCE", "TOKEN_CLIENT", "API_SOURCE", "API_CLIENT")}


def _port_range() -> range:
    """This process's own ports, below the kernel's ephemeral range (32768 and up), so
    that a port handed to a child is never drawn by another pytest-xdist worker nor by
    an outgoing connection: gw0 20000–21999, gw1 22000–23999, …; one process 12000–19999."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit() and int(worker[2:]) < 6:
        start = 20000 + 2000 * int(worker[2:])
        return range(start, start + 2000)
    return range(12000, 20000)


_PORTS = _port_range()
_next_port = _PORTS.start + os.getpid() % len(_PORTS)


def free_port() -> int:
    """A loopback port nothing holds now, not even in TIME_WAIT (bound without
    SO_REUSEADDR), from this process's own range, never the same twice running until
    the range wraps round."""
    global _next_port
    for _ in range(len(_PORTS)):
        port, _next_port = _next_port, _next_port + 1
        if _next_port >= _PORTS.stop:
            _next_port = _PORTS.start
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise HarnessError(f"no free loopback port in {_PORTS.start}–{_PORTS.stop - 1}")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without FMAR_* settings, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FMAR_")}, **extra}


def wait_ready(url: str, proc: subprocess.Popen, *, ca_bundle: Path | None = None,
               timeout: float = 60, why: Callable[[], str] | None = None) -> None:
    """Poll `url` until it answers 200 (over TLS with `ca_bundle`); raise HarnessError,
    with `why()` (say, the process's log), if `proc` ends or the time runs out first."""
    deadline = time.monotonic() + timeout
    with trust_http.client(ca_bundle=ca_bundle, timeout=2) if ca_bundle else \
            httpx.Client(timeout=2) as client:
        while True:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise HarnessError(f"the process exited ({proc.returncode}) before {url} "
                                   f"answered. {why() if why else ''}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{url} did not answer within {timeout:.0f} s. "
                                   f"{why() if why else ''}")
            time.sleep(0.1)


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Send `sig` (a paused process is resumed first), wait, and kill if it does not end."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGCONT)
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def run_fmar(*args: str, command: list[str] = FMAR_MODULE,
             **kw) -> subprocess.CompletedProcess:
    """`fmar ARGS` as a subprocess, its output captured; the caller checks the outcome."""
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                          check=False, **kw)


def dev_token(tokens: Path, organisation: str = "FSP-ACME", role: str = "FSP") -> str:
    """A new static bearer token in `tokens` (`fmar dev-token add`)."""
    made = run_fmar("dev-token", "add", str(tokens), "--organisation", organisation,
                    "--role", role)
    if made.returncode != 0:
        raise HarnessError(f"fmar dev-token add failed: {made.stderr}")
    return made.stdout.strip().splitlines()[-1]


class ServedNode:
    """`fmar serve` as its own process on a free loopback port (plain HTTP, static tokens),
    ready once /health answers. Its output goes to `log` (default: <data_dir>.log).

    `data_dir` and `tokens` become --data-dir and --tokens-file (None: leave them to `env`,
    as an operator's unit file does); `new_session`: its own process group, so that
    `interrupt` is a terminal's Ctrl-C (reaching the workers too)."""

    def __init__(self, data_dir: Path | None, tokens: Path | None, *extra: str,
                 log: Path | None = None,
                 env: dict[str, str] | None = None, workers: int | None = 1,
                 command: list[str] = FMAR_MODULE, new_session: bool = False,
                 port: int | None = None, timeout: float = 60):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if log is None:
            if data_dir is None:
                raise HarnessError("a node without --data-dir needs a log file")
            log = data_dir.with_name(f"{data_dir.name}.log")
        self.log_path = log
        args = ["serve", "--port", str(self.port)]
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
        if tokens is not None:
            args += ["--tokens-file", str(tokens)]
        if workers is not None:
            args += ["--workers", str(workers)]
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen([*command, *args, *extra], cwd=ROOT,
                                            env=clean_env(**(env or {})), stdout=out,
                                            stderr=subprocess.STDOUT,
                                            start_new_session=new_session)
        self.pid = self.process.pid
        wait_ready(f"{self.url}/health", self.process, timeout=timeout, why=self.log_text)

    def log_text(self, tail: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self, sig: int = signal.SIGINT) -> None:
        stop(self.process, sig, timeout=60)

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C to its process group; its exit code and everything it printed."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(60)
        return self.process.returncode, self.log_text(100_000)
