"""A real Virtuoso Open Source server for tests and benchmarks (Debian package
`virtuoso-opensource`, binary `virtuoso-t`): its own database directory, free ports, a
generated virtuoso.ini, a node user allowed to update; never the system service.

`start_virtuoso` raises VirtuosoUnavailable (tests skip with its reason) when the binary is
missing or the server does not come up."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.harness.processes import free_port

NODE_USER = "fmar"

# The settings that matter to a node (docs/operator.md, "Running a node on Virtuoso"):
# no result-row cap and no "anytime" partial answers, which Virtuoso would return as
# complete (HTTP 200); modest memory for a shared test machine.
INI = """\
[Database]
DatabaseFile    = {dir}/virtuoso.db
ErrorLogFile    = {dir}/virtuoso.log
LockFile        = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
MaxCheckpointRemap = 2000
Striping        = 0
TempStorage     = TempDatabase

[TempDatabase]
DatabaseFile    = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping        = 0

[Parameters]
ServerPort          = 127.0.0.1:{sql_port}
DisableUnixSocket   = 1
CheckpointInterval  = 60
NumberOfBuffers     = {buffers}
MaxDirtyBuffers     = {dirty}
MaxQueryMem         = 1G
ThreadsPerQuery     = 2
CaseMode            = 2
DirsAllowed         = ., {dir}
VADInstallDir       = /usr/share/virtuoso-opensource-7/vad/

[HTTPServer]
ServerPort          = 127.0.0.1:{http_port}
ServerRoot          = {dir}
ServerThreads       = 10
MaxClientConnections = 10
MaxKeepAlives       = 10
KeepAliveTimeout    = 10
EnabledDavVSP       = 0
Charset             = UTF-8

[SPARQL]
ResultSetMaxRows           = 0
MaxSortedTopRows           = 1000000
MaxConstructTriples        = 0
MaxQueryCostEstimationTime = 0
MaxQueryExecutionTime      = 0
"""


class VirtuosoUnavailable(RuntimeError):
    """Virtuoso cannot run here (the reason says why)."""


@dataclass
class VirtuosoServer:
    directory: Path
    http_port: int
    sql_port: int
    password: str  # of the node user and of dba
    process: subprocess.Popen
    system_graphs: frozenset[str] = field(default=frozenset())

    @property
    def url(self) -> str:
        """FMAR_SPARQL_URL for a node on this server (see node/store/factory.py)."""
        return f"http://{NODE_USER}:{self.password}@127.0.0.1:{self.http_port}/?layout=virtuoso"

    @property
    def public_sparql(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/sparql"

    def isql(self, sql: str, timeout: float = 120) -> str:
        """Run SQL as dba through `isql-vt`; its output (raises on an error)."""
        done = subprocess.run(self._isql_command(sql), check=False, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode or "*** Error" in done.stdout + done.stderr:
            raise VirtuosoUnavailable(f"isql failed: {(done.stdout + done.stderr)[-500:]}")
        return done.stdout

    def _isql_command(self, sql: str) -> list[str]:
        return [_binary("isql-vt", "isql"), f"127.0.0.1:{self.sql_port}", "dba", self.password,
                "VERBOSE=OFF", f"EXEC={sql}"]

    def bulk_load(self, directory: Path, loaders: int = 2, timeout: float = 7200) -> None:
        """Virtuoso's bulk loader on the N-Quads files (`*.nq`) of `directory`, which must
        be under the database directory (`DirsAllowed`): `ld_dir` lists them, `loaders`
        parallel `rdf_loader_run()` load them (a file at a time each, without the
        transaction log), then a checkpoint makes the load durable. Raises if any file
        failed (`DB.DBA.LOAD_LIST.ll_error`)."""
        self.isql(f"ld_dir('{directory}', '*.nq', 'urn:fmar:bulk-load');")
        runs = [subprocess.Popen(self._isql_command("rdf_loader_run();"), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for _ in range(loaders)]
        outputs = [run.communicate(timeout=timeout)[0] for run in runs]
        where = "FROM DB.DBA.LOAD_LIST WHERE ll_state <> 2 OR ll_error IS NOT NULL"
        failed = int(self.isql(f"SELECT COUNT(*) {where};").split()[-1])
        if failed or any("*** Error" in out for out in outputs):
            details = self.isql(f"SELECT TOP 5 ll_file, ll_error {where};")
            raise VirtuosoUnavailable(f"bulk load: {failed} file(s) failed: {details[-800:]} "
                                      f"{outputs}"[:1500])
        self.isql("checkpoint;", timeout=timeout)

    def graphs(self) -> set[str]:
        # GROUP BY: as SELECT DISTINCT, over a minute at 2,000 graphs (RemoteStore.graph_names)
        answer = httpx.post(self.public_sparql, data={"query": "SELECT ?g WHERE "
                                                      "{ GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"},
                            headers={"accept": "application/sparql-results+json"}, timeout=60)
        answer.raise_for_status()
        return {b["g"]["value"] for b in answer.json()["results"]["bindings"]}

    def clear(self) -> None:
        """Drop every graph but Virtuoso's own (a `CLEAR ALL` would drop those too)."""
        for graph in self.graphs() - self.system_graphs:
            self.isql(f"SPARQL CLEAR GRAPH <{graph}>;")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # Virtuoso checkpoints and exits on SIGTERM
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise VirtuosoUnavailable(f"{names[0]} not found: install the Debian package "
                              "virtuoso-opensource (.ci/run does)")


PASSWORD_FILE = "fmar-password"  # the node user's and dba's, kept to start the database again


def start_virtuoso(directory: Path, buffers: int = 20000) -> VirtuosoServer:
    """A fresh Virtuoso in `directory`, up and with the node user made; or, when `directory`
    holds a database this function made, that database started again (on new ports, with
    its passwords). `buffers` are 8 KB pages of cache (20000: about 160 MB)."""
    binary = _binary("virtuoso-t")
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / PASSWORD_FILE
    again = kept.exists() and (directory / "virtuoso.db").exists()
    http_port, sql_port = free_port(), free_port()
    ini = directory / "virtuoso.ini"
    ini.write_text(INI.format(dir=directory, sql_port=sql_port, http_port=http_port,
                              buffers=buffers, dirty=buffers * 3 // 4))
    password = secrets.token_hex(12)
    # +foreground: our child, stopped by us; +wait: not before the database is ready.
    process = subprocess.Popen([binary, "+configfile", str(ini), "+foreground", "+wait"],
                               cwd=directory, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    server = VirtuosoServer(directory, http_port, sql_port, "dba", process)
    try:
        _wait_for_http(server)
        if again:
            server.password = kept.read_text().strip()
            return server  # (its system graphs are not told apart: `clear` is for tests)
        server.isql(f"USER_SET_PASSWORD('dba', '{password}');")
        server.password = password
        kept.write_text(password)
        kept.chmod(0o600)
        server.isql(f"DB.DBA.USER_CREATE('{NODE_USER}', '{password}');")
        server.isql(f"GRANT SPARQL_UPDATE TO \"{NODE_USER}\";")
        server.system_graphs = frozenset(server.graphs())
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_http(server: VirtuosoServer, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.process.poll() is not None:
            log = server.directory / "virtuoso.log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise VirtuosoUnavailable(f"virtuoso-t exited ({server.process.returncode}): {tail}")
        try:
            if httpx.get(server.public_sparql, params={"query": "ASK {}"},
                         timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise VirtuosoUnavailable(f"virtuoso-t did not answer on :{server.http_port} in {seconds} s")


def virtuoso_or_skip(directory: Path) -> VirtuosoServer:
    """For fixtures: a running server, or the test skipped with the reason."""
    import pytest

    try:
        return start_virtuoso(directory)
    except VirtuosoUnavailable as reason:
        pytest.skip(f"Virtuoso unavailable: {reason}")
