"""`fmar query`: a federated query from the consumer's side (or through a node).

The answer goes to standard output as a table, CSV or JSON; what each node did goes to
standard error. Every format marks what is incomplete: rows of a node that stopped at its
row cap (`_truncated`) and aggregate cells that miss suppressed parts (`complete`). The
exit code says how many nodes answered (see node/cli_errors.py).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from node.cli_errors import (
    EXIT_NO_ANSWER,
    EXIT_OK,
    EXIT_PARTIAL,
    CliError,
    from_api_error,
    hint,
)
from trust.client.options import CaBundle, ClientCert, ClientId, ClientKey, TrustUrl

MODES = ("gather", "distribute")
OUTPUTS = ("table", "csv", "json")


def parse_filters(items: list[str]) -> dict[str, str]:
    """`-f name=value` options; a value for the same name twice means any of them."""
    filters: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise CliError("CLI-004", f"Filter '{item}' is not name=value.",
                           "write -f category=BESS, -f min_capacity=1000, …")
        name = name.strip()
        filters[name] = f"{filters[name]},{value.strip()}" if name in filters else value.strip()
    return filters


def outcome_exit_code(answer: dict[str, Any]) -> int:
    nodes = answer.get("nodes", [])
    answered = sum(1 for n in nodes if n.get("status") == "answered")
    if nodes and answered == 0:
        return EXIT_NO_ANSWER
    return EXIT_PARTIAL if answered < len(nodes) else EXIT_OK


def summary(answer: dict[str, Any]) -> str:
    code = outcome_exit_code(answer)
    if code == EXIT_NO_ANSWER:
        return "NO NODE ANSWERED"
    if code == EXIT_PARTIAL:
        return "PARTIAL ANSWER: not every node answered"
    return "every node answered"


def table_of(answer: dict[str, Any], labels: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of any answer form, with the marks of what is incomplete."""
    if "cells" in answer:
        dims = list(answer.get("group_by", []))
        columns = [*dims, "count", "sum_kW", "min_kW", "max_kW", "avg_kW", "complete"]
        rows = []
        # margins ("*": all values) come with disclosure-controlled answers, which have no
        # min/max (docs/disclosure.md)
        for cell in answer["cells"] + answer.get("margins", []):
            group = [str(cell["group"].get(d, "")) for d in dims]
            if cell.get("suppressed"):
                rows.append([*group, "", "", "", "", "", "no: suppressed"])
                continue
            measures = ["" if cell.get(k) is None else str(cell[k])
                        for k in ("count", "sum", "min", "max", "avg")]
            parts = cell.get("suppressed_parts") or 0
            complete = "yes" if cell.get("complete", True) else (
                f"no: {parts} node part(s) suppressed" if parts else "no")
            rows.append([*group, *measures, complete])
        return columns, rows
    if "boolean" in answer:
        return ["boolean"], [[str(answer["boolean"]).lower()]]
    variables = [v for v in answer.get("head", {}).get("vars", []) if v != "_node"]
    if "_nodes" in variables:  # gather mode: a joined row names every node it drew on
        rows = [[*(b.get(v, {}).get("value", "") for v in variables[:-1]),
                 ", ".join(labels.get(u, u) for u in b.get("_nodes", {}).get("value", "").split())]
                for b in answer.get("results", {}).get("bindings", [])]
        return variables, rows
    truncated = set(answer.get("truncated") or [])
    columns = [*variables, "_node", "_node_url", "_truncated"]
    rows = []
    for binding in answer.get("results", {}).get("bindings", []):
        url = binding.get("_node", {}).get("value", "")
        rows.append([*(binding.get(v, {}).get("value", "") for v in variables),
                     labels.get(url, url), url, "yes" if url in truncated else ""])
    return columns, rows


def print_statuses(answer: dict[str, Any], labels: dict[str, str]) -> None:
    for status in answer.get("nodes", []):
        url = status["node"]
        name = labels.get(url, url)
        line = f"# {name}" + (f" ({url})" if name != url else "")
        line += f": {status['status']} in {status['ms']} ms"
        if status.get("rows") is not None:
            line += f", {status['rows']} rows"
        if url in (answer.get("truncated") or []):
            line += " (TRUNCATED at the node's row cap: more rows exist)"
        if status.get("code"):
            line += f" [{status['code']}] {status.get('message', '')}"
        typer.echo(line, err=True)
    incomplete = [c for c in answer.get("cells", []) if not c.get("complete", True)
                  or c.get("suppressed")]
    if incomplete:
        typer.echo(f"# {len(incomplete)} cell(s) incomplete: small counts suppressed "
                   f"(below {answer.get('suppressed_below') or 'the threshold'})", err=True)
    for code in sorted({n["code"] for n in answer.get("nodes", []) if n.get("code")}):
        if hint(code):
            typer.echo(f"# {code}: {hint(code)}", err=True)
    if answer.get("nodes"):
        typer.echo(f"# {summary(answer)}", err=True)


def write_output(answer: dict[str, Any], labels: dict[str, str], output: str) -> None:
    if output == "json":
        marked = {**answer, "outcome": summary(answer),
                  "node_names": {u: labels[u] for u in labels}}
        typer.echo(json.dumps(marked, indent=2))
        return
    print_statuses(answer, labels)
    if "graph" in answer:  # CONSTRUCT / DESCRIBE: N-Triples in every text format
        typer.echo(answer["graph"])
        return
    columns, rows = table_of(answer, labels)
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")  # wrap long IRIs, never cut them
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(200, sum(len(c) + 3 for c in columns)))
    console.print(table)


EXIT_PROVENANCE = 6


def check_provenance(answer: dict[str, Any], ca_bundle: Path | None, cert: Path | None,
                     nodes: dict[str, str], via: str | None, trust_url: str) -> None:
    """Verify the answer's provenance records (node/provenance/show.py) against the trust
    framework's Signing hierarchy and CRL, and show the chain on standard error; a record
    that does not verify stops here (exit 6), nothing shown."""
    from cryptography import x509

    from node.events.verify import load_anchors
    from node.provenance.node import SigningCrl
    from node.provenance.show import ProvenanceRejected, lines, names_of, verify_answer

    if ca_bundle is None or cert is None:
        raise CliError("CLI-001", "--provenance needs --ca-bundle and --cert (the trust "
                       "framework's CA and your certificate).", "source a member's env.sh")
    me = names_of(x509.load_pem_x509_certificates(Path(cert).read_bytes())[0])
    anchors = load_anchors(Path(ca_bundle))
    try:
        revoked = SigningCrl(trust_url, Path(ca_bundle), tuple(anchors)).serials()
        checked = verify_answer(answer, anchors, me, nodes, via, revoked)
    except ProvenanceRejected as problem:
        typer.echo(f"error [{problem.code}] provenance NOT verified: {problem.message}",
                   err=True)
        raise typer.Exit(EXIT_PROVENANCE) from None
    for line in lines(checked):
        typer.echo(f"# {line}", err=True)


def register(app: typer.Typer) -> None:
    @app.command("query", epilog="Exit codes: 0 every node answered; 2 bad input; "
                 "3 partial answer; 4 no node answered; 5 the trust framework or node "
                 "cannot be reached.")
    def query(
        sparql: Annotated[str | None, typer.Argument(help="SPARQL SELECT/CONSTRUCT/ASK, or "
                                                     "@file.rq")] = None,
        filter_: Annotated[list[str] | None, typer.Option(
            "--filter", "-f", help="REST form, name=value: category=BESS, dno=UKPN_EPN, "
            "connection_type=NON_FIRM, min_capacity=1000 (kW), …")] = None,
        aggregate: Annotated[str | None, typer.Option(
            help="Counts and capacity by these dimensions, e.g. category,dno")] = None,
        mode: Annotated[str, typer.Option(help="SPARQL: gather (joins) or distribute")] = "gather",
        via: Annotated[str | None, typer.Option(
            help="Ask this node's /federation endpoint instead of fanning out here")] = None,
        node: Annotated[list[str] | None, typer.Option(
            help="Node URL (default: found in the trust directory)")] = None,
        trust_url: TrustUrl = None,
        ca_bundle: CaBundle = None,
        client_id: ClientId = None,
        cert: ClientCert = None,
        key: ClientKey = None,
        token: Annotated[str | None, typer.Option(
            envvar="FMAR_TOKEN", help="Development only: one static token for every node")] = None,
        deadline: Annotated[float, typer.Option(help="Per-node deadline, seconds")] = 5.0,
        output: Annotated[str, typer.Option("--output", "-o",
                                            help="table, csv or json")] = "table",
        provenance: Annotated[bool, typer.Option(
            "--provenance", help="Ask for signed provenance records (REST and aggregate "
            "forms), verify them against the trust framework's CA and show the chain; "
            "exit 6 if they do not verify")] = False,
    ) -> None:
        """Federated query: the REST filter form, an aggregate report, or SPARQL."""
        from rich.console import Console

        from node.federation.client import FederationClient
        from node.federation.tokens import StaticTokens
        from node.query.aggregates import AggregateSpec
        from node.query.execute import check_query
        from node.query.filters import AssetFilter

        if mode not in MODES:
            raise CliError("CLI-004", f"Unknown --mode '{mode}'.", "use gather or distribute")
        if output not in OUTPUTS:
            raise CliError("CLI-004", f"Unknown --output '{output}'.", "use table, csv or json")
        filters = parse_filters(filter_ or [])
        if aggregate:  # FED-IN-* checked here, before any node is asked
            AggregateSpec.parse({"group_by": aggregate, **filters})
        else:
            AssetFilter.parse(filters)
        text = None
        if sparql:
            text = Path(sparql[1:]).read_text() if sparql.startswith("@") else sparql
            check_query(text)  # SPARQL-001…004 before any node is asked
        if not token and not (trust_url and client_id and cert and key):
            raise CliError("CLI-001", "No credentials: give --trust-url, --client-id, --cert "
                           "and --key (or FMAR_TRUST_URL, FMAR_CLIENT_ID, FMAR_CLIENT_CERT, "
                           "FMAR_CLIENT_KEY).", "source a member's env.sh, e.g. "
                           "var/federation-demo/members/Neso/env.sh")
        if not token and not ca_bundle:
            raise CliError("CLI-001", "No CA bundle: give --ca-bundle (or FMAR_CA_BUNDLE).",
                           "source a member's env.sh")
        tokens = StaticTokens(default=token) if token else None
        from node.config import NodeSettings

        client = FederationClient(trust_url, ca_bundle=ca_bundle, client_id=client_id, cert=cert,
                                  key=key, deadline=deadline, nodes=node, tokens=tokens,
                                  max_quads=NodeSettings().federation_max_quads)
        if provenance and text is not None:
            raise CliError("CLI-004", "--provenance is for the REST filter and aggregate "
                           "forms.", "drop the SPARQL query or --provenance")
        client.provenance = provenance
        target = client.via(via) if via else client
        where = f"through {via}" if via else "the nodes"
        with Console(stderr=True).status(f"Asking {where} (deadline {deadline:g} s per node)…"):
            if text is not None:
                answer = target.sparql(text, mode=mode)
            elif aggregate:
                answer = target.aggregate(group_by=aggregate, **filters)
            else:
                answer = target.assets(**filters)
        if "error" in answer:  # refused by the relaying node (--via)
            error = answer["error"]
            raise from_api_error(str(error.get("code", "FED-000")),
                                 str(error.get("message", error)),
                                 int(answer.get("http_status", 400)))
        labels = client.node_names() if trust_url and not token else {}
        if provenance:
            nodes = {t.url: f"{client.trust_url}/n/{t.name}" for t in client.nodes() if t.name}
            check_provenance(answer, ca_bundle, cert, nodes, via.rstrip("/") if via else None,
                             str(client.trust_url))
        write_output(answer, labels, output)
        code = outcome_exit_code(answer)
        if code != EXIT_OK:
            raise typer.Exit(code)

