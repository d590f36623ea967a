"""`fmar query`: a federated query from the consumer's side (or through a node)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer


def _print_table(answer: dict) -> None:
    for status in answer.get("nodes", []):
        line = f"# {status['node']}: {status['status']} in {status['ms']} ms"
        if status.get("rows") is not None:
            line += f", {status['rows']} rows"
        if status.get("code"):
            line += f" [{status['code']}] {status.get('message', '')}"
        typer.echo(line, err=True)
    if answer.get("partial"):
        typer.echo("# PARTIAL ANSWER: not every node answered", err=True)
    if "cells" in answer:
        dims = answer["group_by"]
        typer.echo("\t".join([*dims, "count", "sum_kW", "min_kW", "max_kW", "avg_kW"]))
        # margins ("*": all values) come with disclosure-controlled answers, which have no
        # min/max (docs/disclosure.md)
        for cell in answer["cells"] + answer.get("margins", []):
            group = [str(cell["group"].get(d)) for d in dims]
            if cell.get("suppressed"):
                typer.echo("\t".join([*group, "(suppressed)"]))
            else:
                typer.echo("\t".join([*group, *(str(cell.get(k, "-")) for k in
                                                 ("count", "sum", "min", "max", "avg"))]))
        return
    if "graph" in answer:
        typer.echo(answer["graph"])
        return
    if "boolean" in answer:
        typer.echo(str(answer["boolean"]).lower())
        return
    variables = answer.get("head", {}).get("vars", [])
    typer.echo("\t".join(variables))
    for binding in answer.get("results", {}).get("bindings", []):
        typer.echo("\t".join(binding.get(v, {}).get("value", "") for v in variables))


def register(app: typer.Typer) -> None:
    @app.command("query")
    def query(
        sparql: Annotated[str | None, typer.Argument(help="SPARQL SELECT/CONSTRUCT/ASK, or "
                                                     "@file.rq")] = None,
        filter_: Annotated[list[str] | None, typer.Option(
            "--filter", "-f", help="REST form: category=BESS, dno=UKPN_EPN, "
            "connection_type=NON_FIRM, min_capacity=1000 (kW), ...")] = None,
        aggregate: Annotated[str | None, typer.Option(
            help="Counts and capacity by these dimensions, e.g. category,dno")] = None,
        mode: Annotated[str, typer.Option(help="SPARQL: gather (joins) or distribute")] = "gather",
        via: Annotated[str | None, typer.Option(
            help="Ask this node's /federation endpoint instead of fanning out here")] = None,
        node: Annotated[list[str] | None, typer.Option(
            help="Node URL (default: found in the trust directory)")] = None,
        trust_url: Annotated[str | None, typer.Option(envvar="FMAR_TRUST_URL")] = None,
        ca_bundle: Annotated[Path | None, typer.Option(envvar="FMAR_CA_BUNDLE")] = None,
        client_id: Annotated[str | None, typer.Option(envvar="FMAR_CLIENT_ID",
                                                      help="Your application id")] = None,
        cert: Annotated[Path | None, typer.Option(envvar="FMAR_CLIENT_CERT")] = None,
        key: Annotated[Path | None, typer.Option(envvar="FMAR_CLIENT_KEY")] = None,
        token: Annotated[str | None, typer.Option(
            envvar="FMAR_TOKEN", help="Development only: one static token for every node")] = None,
        deadline: Annotated[float, typer.Option(help="Per-node deadline, seconds")] = 5.0,
        output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    ) -> None:
        """Federated query: the REST filter form, an aggregate report, or SPARQL."""
        from node.federation.client import FederationClient
        from node.federation.tokens import StaticTokens

        trust_url = trust_url or os.environ.get("FMAR_TRUST_ISSUER")
        tokens = StaticTokens(default=token) if token else None
        client = FederationClient(trust_url, ca_bundle=ca_bundle, client_id=client_id, cert=cert,
                                  key=key, deadline=deadline, nodes=node, tokens=tokens)
        target = client.via(via) if via else client
        filters = dict(f.split("=", 1) for f in (filter_ or []) if "=" in f)
        if sparql:
            text = Path(sparql[1:]).read_text() if sparql.startswith("@") else sparql
            answer = target.sparql(text, mode=mode)
        elif aggregate:
            answer = target.aggregate(group_by=aggregate, **filters)
        else:
            answer = target.assets(**filters)
        if output == "json":
            typer.echo(json.dumps(answer, indent=2))
        else:
            if "error" in answer:
                typer.echo(json.dumps(answer["error"]), err=True)
                raise typer.Exit(1)
            _print_table(answer)
