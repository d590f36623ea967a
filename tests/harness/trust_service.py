"""The trust framework as its own process: initialised (CA, keys, operator) and served
over TLS on loopback."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.processes import ROOT, clean_env, free_port, stop, wait_ready
from trust.server.bootstrap import init, load_state
from trust.server.config import TrustSettings


def new_password() -> str:
    """A password for a person the harness makes (printed or saved where it is needed)."""
    return secrets.token_urlsafe(12)


@dataclass
class TrustService:
    data: Path
    port: int
    state: dict[str, Any]  # trust.json: the CLI client id and the like
    proc: subprocess.Popen

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_bundle(self) -> Path:
        return self.data / "ca" / "chain.pem"

    @classmethod
    def start(cls, data: Path, *, port: int | None = None,
              operator: tuple[str, str] | None = None, database_url: str | None = None,
              kek_file: Path | None = None, env: dict[str, str] | None = None,
              log: Path | None = None, **settings: Any) -> TrustService:
        """Serve the trust framework kept in `data`; with `operator` (e-mail, password),
        first initialise it (a no-op for an initialised directory) with `settings` (more
        TrustSettings fields). The KEK file defaults to one beside `data` (apart from the
        data, as in production)."""
        port = port or free_port()
        if operator:
            init(TrustSettings(data_dir=data, issuer=f"https://127.0.0.1:{port}",
                               database_url=database_url,
                               kek_file=kek_file or data.with_suffix(".kek"), **settings),
                 admin_email=operator[0], admin_password=operator[1])
        log = log or data / "serve.log"
        with log.open("wb") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen([sys.executable, "-m", "trust", "trust", "serve", "--data",
                                     str(data), "--port", str(port)], cwd=ROOT,
                                    env=clean_env(**(env or {})), stdout=out,
                                    stderr=subprocess.STDOUT)
        service = cls(data, port, load_state(data), proc)
        try:
            wait_ready(f"{service.issuer}/.well-known/jwks.json", proc,
                       ca_bundle=service.ca_bundle, why=lambda: log.read_text()[-3000:])
        except BaseException:
            stop(proc)
            raise
        return service

    def stop(self) -> None:
        stop(self.proc)
