"""The `fmar` command line."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated

import typer

from node.federation.cli import register as register_federation_commands
from trust.cli import register as register_trust_commands

app = typer.Typer(help="FMAR: Flexibility Market Asset Register.", no_args_is_help=True)
audit_app = typer.Typer(help="The node's hash-chained audit log.", no_args_is_help=True)
docs_app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
dev_token_app = typer.Typer(
    help="Static bearer tokens for a single node run without a trust framework.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
app.add_typer(docs_app, name="docs")
app.add_typer(dev_token_app, name="dev-token")
register_trust_commands(app)
register_federation_commands(app)

DataDir = Annotated[Path, typer.Option(help="Directory of the node's on-disk store")]


@app.command("serve")
def serve(
    data_dir: DataDir = Path("var/node"),
    host: str = "127.0.0.1",
    port: int = 8700,
    tokens_file: Annotated[Path | None, typer.Option(help="Static tokens (dev-token add)")] = None,
    sparql_url: Annotated[str | None, typer.Option(help="External SPARQL server base URL")] = None,
    name: str = "fmar-node",
    workers: int = 2,
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
    import os

    import uvicorn

    from node.api.app import create_app
    from node.config import NodeSettings

    for variable, value in (("FMAR_TRUST_ISSUER", trust_issuer), ("FMAR_NODE_URL", node_url),
                            ("FMAR_CA_BUNDLE", ca_bundle)):
        if value:
            os.environ[variable] = str(value)
    from node.placement import static_holds

    settings = NodeSettings.from_env(data_dir=data_dir, sparql_url=sparql_url,
                                     tokens_file=tokens_file, name=name, workers=workers,
                                     holds=static_holds({"FMAR_HOLDS": holds or ""}))
    tls: dict[str, object] = {}
    if tls_cert and tls_key:
        from trust.tls import uvicorn_tls_options

        bundle = ca_bundle or os.environ.get("FMAR_CA_BUNDLE")
        if not bundle:
            raise typer.BadParameter("HTTPS needs --ca-bundle to check client certificates")
        tls = uvicorn_tls_options(tls_cert, tls_key, bundle)
    # SIGTERM/SIGINT: stop accepting, give running requests (a query, a slow export)
    # SHUTDOWN_GRACE seconds, then cancel them; the query workers are killed on the way out.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=SHUTDOWN_GRACE, **tls)


SHUTDOWN_GRACE = 5  # seconds (docs/federation.md, "Stopping the node")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = Path("var/node"),
                 sparql_url: Annotated[str | None, typer.Option()] = None) -> None:
    """Check the whole audit chain; exit 1 if any entry was edited or removed."""
    from node.audit import verify
    from node.store import open_store

    store = open_store(data_dir, sparql_url)
    count, problems = verify(store)
    store.close()
    for problem in problems:
        typer.echo(f"BROKEN {problem}", err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {count} audit entries.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Audit chain intact: {count} entries verified.")


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
            "scopes": scope or list(ALL_SCOPES),
            "dno_areas": dno_area or [],
        }
    )
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps(entries, indent=2))
    typer.echo(token)


ALL_SCOPES = ("assets:read", "assets:write", "categories:write", "validation:write",
              "audit:read", "sparql:query", "federation:query")


@app.command("demo")
def demo(
    data_dir: DataDir = Path("var/demo"),
    port: int = 8700,
    assets: Annotated[int, typer.Option(help="Synthetic assets to load on first start")] = 2000,
) -> None:
    """Start one node with example data and print what to try."""
    from node.demo import run_demo

    run_demo(data_dir, port, assets)
