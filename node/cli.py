"""The `fmar` command line. Each command imports what it runs when it runs (the app, the
store, the demo), so that `fmar --help` and the small commands start quickly."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from common.roles import ALL_SCOPES
from node.cli_node import StaticToken, node_token
from node.cli_reports import register as register_report_commands
from node.cli_units import register as register_unit_commands
from node.federation.cli import register as register_federation_commands
from node.qual_cli import register as register_qualification_commands
from node.switching.cli import switch_app
from trust.cli import register as register_trust_commands
from trust.client.options import CaBundle, ClientCert, ClientId, ClientKey, TrustUrl

app = typer.Typer(help="FMAR: Flexibility Market Asset Register.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
audit_app = typer.Typer(help="The node's hash-chained audit log.", no_args_is_help=True)
docs_app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
dev_token_app = typer.Typer(
    help="Static bearer tokens for a single node run without a trust framework.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
app.add_typer(docs_app, name="docs")
app.add_typer(dev_token_app, name="dev-token")
app.add_typer(switch_app, name="switch")
register_trust_commands(app)
register_federation_commands(app)
register_unit_commands(app)
register_qualification_commands(app)
register_report_commands(app)

DataDir = Annotated[Path, typer.Option(envvar="FMAR_DATA_DIR",
                                       help="Directory of the node's on-disk store")]
SparqlUrl = Annotated[str | None, typer.Option(envvar="FMAR_SPARQL_URL",
                                               help="External SPARQL server base URL")]
_verbose = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"fmar {version('fmar')}")
        raise typer.Exit()


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Show the full trace of an error.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """FMAR: Flexibility Market Asset Register. Every option also reads the FMAR_* variable
    named in its help; errors print one line with a code and a hint."""
    global _verbose
    _verbose = verbose


def main() -> None:
    """The `fmar` console script: one line per error, with its code, unless --verbose."""
    from node.cli_errors import report, to_cli_error

    try:
        code = app(standalone_mode=False)  # click returns the code of typer.Exit
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # every failure ends as one line and an exit code
        if isinstance(exc, TyperException) and hasattr(exc, "show"):  # a usage error
            exc.show()
            raise SystemExit(getattr(exc, "exit_code", 2)) from None
        if _verbose:
            raise
        error = to_cli_error(exc)
        report(error)
        raise SystemExit(error.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


@app.command("serve")
def serve(
    data_dir: DataDir = Path("var/node"),
    host: str = "127.0.0.1",
    port: int = 8700,
    tokens_file: Annotated[Path | None, typer.Option(
        envvar="FMAR_TOKENS_FILE", help="Static tokens (dev-token add)")] = None,
    sparql_url: SparqlUrl = None,
    name: Annotated[str, typer.Option(envvar="FMAR_NODE_NAME")] = "fmar-node",
    workers: Annotated[int, typer.Option(
        envvar="FMAR_WORKERS", help="Validation worker processes for bulk uploads")] = 2,
    trust_issuer: Annotated[str | None, typer.Option(
        help="Trust framework URL: verify its access tokens (also FMAR_TRUST_ISSUER)")] = None,
    node_url: Annotated[str | None, typer.Option(
        help="This node's public URL, the audience of its tokens (FMAR_NODE_URL)")] = None,
    ca_bundle: Annotated[Path | None, typer.Option(
        help="Federation CA chain (FMAR_CA_BUNDLE)")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM): serve HTTPS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server private key (PEM)")] = None,
    holds: Annotated[str | None, typer.Option(
        help="Static-token node: comma-separated organisations whose records it stores "
        "(FMAR_HOLDS; default: the asset-holding organisations of --tokens-file). With a "
        "trust framework the directory says (operator + hosted organisations).")] = None,
) -> None:
    """Run a node (the asset register API) with uvicorn."""

    import uvicorn

    from node.api.app import create_app
    from node.config import NodeSettings

    given: dict[str, Any] = {"trust_issuer": trust_issuer, "node_url": node_url, "ca_bundle": ca_bundle,
             "holds": holds}  # the options win over the environment
    settings = NodeSettings(data_dir=data_dir, sparql_url=sparql_url, tokens_file=tokens_file,
                            name=name, workers=workers,
                            **{k: v for k, v in given.items() if v is not None})
    tls: dict[str, Any] = {}
    if tls_cert and tls_key:
        from common.tls import uvicorn_tls_options

        bundle = settings.ca_bundle
        if not bundle:
            raise typer.BadParameter("HTTPS needs --ca-bundle to check client certificates")
        tls = uvicorn_tls_options(tls_cert, tls_key, bundle)
        _renew_server_certificate(settings, tls_cert, tls_key)
    # SIGTERM/SIGINT: stop accepting, give running requests (a query, a slow export)
    # SHUTDOWN_GRACE seconds, then cancel them; the query workers are killed on the way out.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=SHUTDOWN_GRACE, **tls)


SHUTDOWN_GRACE = 5  # seconds (docs/federation.md, "Stopping the node")


def _renew_server_certificate(settings: Any, cert: Path, key: Path) -> None:
    """A node of a trust framework, with its node client certificate, renews its 24-hour
    server certificate itself (trust.client.renewal) while it serves."""
    client_id = settings.client_id or ""
    if not (settings.trust_url or settings.trust_issuer) or not client_id.startswith("NODE-") \
            or not (settings.client_cert and settings.client_key and settings.ca_bundle):
        return
    from trust.client.renewal import ServerCertificateRenewer

    ServerCertificateRenewer(settings.trust_url or settings.trust_issuer, settings.ca_bundle,
                             client_id, settings.client_cert, settings.client_key, cert,
                             key).start()


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = Path("var/node"), sparql_url: SparqlUrl = None,
                 anchored: Annotated[bool, typer.Option(
                     "--anchored/--local-only",
                     help="Also check the chain against the head this node last published "
                     "to the trust framework (FMAR_TRUST_URL, FMAR_CLIENT_ID, "
                     "FMAR_CA_BUNDLE); the default when they are set")] = True) -> None:
    """Check the whole audit chain; exit 1 if any entry was edited or removed. Works while
    the node runs: the store is opened read-only (a snapshot as of now). With the trust
    framework set, the chain is also checked against the last published head, which is how
    removed newest entries are found (AUD-ANC-005, AUD-ANC-006)."""
    from node.audit import verify
    from node.config import NodeSettings
    from node.records.journal import applied
    from node.store import open_store

    settings = NodeSettings()
    store = open_store(data_dir, sparql_url, read_only=True)
    try:
        # the record store first, then the journal (JRN-002: entries past the applied
        # marker belong to a change still landing, not yet part of the chain)
        upto = applied(store)
        count, problems = verify(store, store.journal, upto)
        lines = [f"BROKEN {problem}" for problem in problems]
        anchor = None
        if anchored and settings.trust_url and settings.client_id:
            anchor, broken = _check_anchor(store.journal, settings)
            lines += [f"BROKEN {problem}" for problem in broken]
    finally:
        store.close()
    for line in lines:
        typer.echo(line, err=True)
    if lines:
        typer.echo(f"{len(lines)} problem(s) in {count} audit entries.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Audit chain intact: {count} entries verified" + (
        f"; it holds the head published at sequence {anchor}." if anchor is not None
        else " (not checked against a published head)."))


def _check_anchor(journal: Any, settings: Any) -> tuple[int | None, list[str]]:
    """(the last published sequence, problems) of the chain against every head the node
    published; a head that cannot be read or does not verify is a problem too
    (AUD-ANC-007, AUD-ANC-008)."""
    import httpx

    from node.audit_anchor import AnchorError, check_against, check_signed, published_heads
    from node.events.verify import load_anchors

    try:
        published = published_heads(settings.trust_url, settings.client_id, settings.ca_bundle)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        return None, [(f"AUD-ANC-008: the published heads cannot be read from "
                       f"{settings.trust_url}: {type(error).__name__}")]
    if not published:
        return None, []  # nothing published yet: only the chain itself is checked
    try:
        anchors = load_anchors(settings.ca_bundle) if settings.ca_bundle else []
        heads = [check_signed(head, settings.client_id, anchors) for head in published]
    except AnchorError as problem:
        return None, [str(problem)]
    return int(heads[-1]["sequence"]), check_against(journal, heads)


@docs_app.command("ontology")
def docs_ontology(out: Path = Path("docs/ontology.md")) -> None:
    """Write the ontology reference (classes, properties, code lists) from the Turtle."""
    from node.ontology_docs import render

    out.write_text(render())
    typer.echo(f"wrote {out}")


@dev_token_app.command("add")
def dev_token_add(
    tokens_file: Path,
    organisation: Annotated[str, typer.Option(help="Organisation ID")],
    role: Annotated[list[str], typer.Option(help="Role, e.g. FSP, DNO, NESO")],
    scope: Annotated[list[str] | None, typer.Option(help="Scope; default: all node scopes")] = None,
    dno_area: Annotated[list[str] | None, typer.Option(help="Licence area of a DNO")] = None,
    subject: str = "",
) -> None:
    """Make a bearer token, store only its hash, and print the token once."""
    from node.identity import StaticTokenAuthenticator

    token = secrets.token_urlsafe(32)
    entries = json.loads(tokens_file.read_text()) if tokens_file.exists() else []
    entries.append(
        {
            "token_sha256": StaticTokenAuthenticator.hash_token(token),
            "subject": subject or f"{organisation}-cli",
            "organisation_id": organisation,
            "roles": role,
            "scopes": scope or sorted(ALL_SCOPES),
            "dno_areas": dno_area or [],
        }
    )
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps(entries, indent=2))
    typer.echo(token)


@app.command("demo")
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its data, tokens and "
                                           "env.sh")] = Path("var/demo"),
    port: Annotated[int, typer.Option(help="Port (the last run's is kept while it is "
                                      "free)")] = 8700,
    assets: Annotated[int, typer.Option(help="Synthetic assets to load on first start")] = 2000,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete the demo's data and tokens "
                                        "first")] = False,
) -> None:
    """Start one node with example data and static tokens, and print what to try."""
    from node.demo import run_demo

    run_demo(data_dir, port, assets, fresh)


@app.command("backup")
def backup(
    out: Annotated[Path, typer.Argument(help="New file for the copy of the store (N-Quads)")],
    data_dir: DataDir = Path("var/node"),
) -> None:
    """Copy the node's embedded stores (records, and the journal: history, audit log) to
    a new file: consistent snapshots, safe while the node runs. Restore it with
    `fmar restore`."""
    from node.store import StoreError
    from node.store.embedded import EmbeddedStore

    if out.exists():
        raise StoreError(f"{out} exists: a backup goes to a new file.")
    store = EmbeddedStore(data_dir / "store", read_only=True)
    try:
        store.dump(out)
    finally:
        store.close()
    typer.echo(f"Backed up {data_dir / 'store'} and {data_dir / 'journal'} to {out}.")


@app.command("restore")
def restore(
    backup_file: Annotated[Path, typer.Argument(help="A file made by `fmar backup`")],
    data_dir: DataDir = Path("var/node"),
) -> None:
    """Load a backup as the stores of a new data directory (refused if it has a store or
    a journal); then start the node on it."""
    import shutil

    from node.records.journal import move
    from node.store import StoreError
    from node.store.embedded import JOURNAL_DIR, EmbeddedStore

    target = data_dir / "store"
    if not backup_file.is_file():
        raise StoreError(f"{backup_file} is not a backup made by `fmar backup`.")
    for existing in (target, data_dir / JOURNAL_DIR):
        if existing.exists():
            raise StoreError(f"{existing} exists: restore into a new --data-dir, or move it "
                             "away first (with the node stopped).")
    store = EmbeddedStore(target)
    try:
        store.load_dump(backup_file)
        move(store, store.journal)  # history and audit to the journal (JRN-005)
    except StoreError:
        store.close()
        shutil.rmtree(target)
        shutil.rmtree(data_dir / JOURNAL_DIR, ignore_errors=True)
        raise
    store.close()
    typer.echo(f"Restored {backup_file} to {target}; start the node with --data-dir {data_dir}.")


UPLOAD_TYPES = {".csv": "text/csv", ".ndjson": "application/x-ndjson",
                ".jsonl": "application/x-ndjson", ".ttl": "text/turtle"}


@app.command("upload", epilog="Exit codes: 0 every row stored; 2 rows refused (all-or-nothing: "
             "nothing stored); 3 some rows stored, some refused (store-valid); 4 the node "
             "refused the upload; 5 the node or trust framework cannot be reached.")
def upload(
    file: Annotated[Path, typer.Argument(help="Assets as CSV, NDJSON (.ndjson, .jsonl) or "
                                         "Turtle (.ttl), Elexon field names")],
    node_url: Annotated[str, typer.Option("--node", envvar="FMAR_NODE_URL",
                                          help="The node to register them on")],
    mode: Annotated[str, typer.Option(help="all-or-nothing or store-valid")] = "all-or-nothing",
    token: StaticToken = None,
    trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None,
    client_id: ClientId = None,
    cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """Bulk-register assets from a file, with a progress bar while it uploads; prints the
    node's report (stored rows, and every refused row with its rule IDs)."""
    from collections.abc import Iterator

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from common import http_client as http
    from node.cli_errors import EXIT_BAD_INPUT, EXIT_PARTIAL, CliError, from_api_error

    media = UPLOAD_TYPES.get(file.suffix.lower())
    if media is None:
        raise CliError("CLI-004", f"Cannot tell the format of {file.name}.",
                       "name it .csv, .ndjson, .jsonl or .ttl")
    if mode not in ("all-or-nothing", "store-valid"):
        raise CliError("CLI-004", f"Unknown --mode '{mode}'.", "use all-or-nothing or "
                       "store-valid")
    size = file.stat().st_size
    node_url = node_url.rstrip("/")
    token = node_token(node_url, token, trust_url, ca_bundle, client_id, cert, key)
    columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"Uploading {file.name}", total=size)

        def chunks() -> Iterator[bytes]:
            with file.open("rb") as f:
                while chunk := f.read(256 * 1024):
                    yield chunk
                    progress.advance(task, len(chunk))
            progress.update(task, description=f"Uploaded {file.name}; the node validates")

        with http.client(ca_bundle=ca_bundle, cert=cert, key=key, timeout=None) as c:
            response = c.post(f"{node_url}/assets/bulk", params={"mode": mode},
                              content=chunks(), headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": media})
    try:
        body = response.json()
    except ValueError:
        body = {"code": f"HTTP-{response.status_code}", "message": response.text[:200]}
    report = body.get("details", body) if response.status_code in (207, 422) else body
    if response.status_code >= 400 and "received" not in (report or {}):
        raise from_api_error(str(body.get("code")), str(body.get("message")),
                             response.status_code)
    typer.echo(json.dumps(report, indent=2))
    typer.echo(f"{report['stored']} of {report['received']} rows stored, "
               f"{report['rejected']} refused.", err=True)
    if response.status_code == 207:
        raise typer.Exit(EXIT_PARTIAL)
    if report["rejected"] or response.status_code >= 400:
        raise typer.Exit(EXIT_BAD_INPUT)
