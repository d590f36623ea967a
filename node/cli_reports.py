"""`fmar report list|run|show`: the reports of node/reports from the consumer's side.

`run` fans the report out from here with the caller's own credentials (each node applies
the caller's rights; the regulator's numbers come under disclosure control), printing
each node's status as it answers; `show` reads a saved result (JSON) and prints its
summary or draws its charts, with no node asked again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from node.cli_errors import EXIT_OK, CliError, from_api_error
from trust.client.options import CaBundle, ClientCert, ClientId, ClientKey, TrustUrl

report_app = typer.Typer(help="Federated reports with charts (docs/reports.md).",
                         no_args_is_help=True)


def _definition(name: str) -> Any:
    """A built-in report by name, or a definition saved as JSON (`@file.json`)."""
    from common.http_errors import ApiError
    from node.reports.builtin import BUILTIN
    from node.reports.model import Definition

    if name.startswith("@"):
        try:
            return Definition.from_json(json.loads(Path(name[1:]).read_text()))
        except ValueError as exc:
            raise CliError("REP-VAL-001", f"{name[1:]} is not JSON: {exc}.",
                           "start from `fmar report definition capacity`") from None
        except ApiError as refused:
            raise CliError(refused.code, refused.message, "see docs/reports.md") from None
    if name not in BUILTIN:
        raise CliError("REP-001", f"No report named '{name}'.",
                       "see `fmar report list`: " + ", ".join(sorted(BUILTIN)))
    return BUILTIN[name]


def _write_charts(result: dict[str, Any], directory: Path, only: str | None = None) -> None:
    from node.reports import charts
    from node.reports.model import Definition

    definition = Definition.from_json(result["definition"])
    wanted = [c for c in definition.charts if only in (None, c.name)]
    if only and not wanted:
        raise CliError("REP-004", f"Report '{definition.name}' has no chart '{only}'.",
                       "charts: " + ", ".join(c.name for c in definition.charts))
    directory.mkdir(parents=True, exist_ok=True)
    for chart in wanted:
        for fmt in charts.FORMATS:
            path = directory / f"{definition.name}-{chart.name}.{fmt}"
            path.write_bytes(charts.render(result, chart, fmt))
            typer.echo(f"# chart: {path}", err=True)


def _summary(result: dict[str, Any]) -> None:
    from node.reports.run import grand_total

    typer.echo(f"{result['title']} (report {result['report']} v{result['version']}, ran "
               f"{result['ran_at']})")
    if result.get("disclosure_control"):
        typer.echo("  under disclosure control (POL-013): counts rounded to 5, capacity to "
                   "whole MW, small cells suppressed")
    for status in result["nodes"]:
        typer.echo(f"  node {status['node']}: {status['status']} in {status['ms']} ms"
                   + (f" [{status['code']}]" if status.get("code") else ""))
    for name, table in result["tables"].items():
        total = grand_total(table)
        shown = ("suppressed" if total is None or total["suppressed"] else
                 f"{total['count']} assets, {total['sum'] / 1000:,.1f} MW")
        hidden = sum(1 for c in table.get("cells", []) if c.get("suppressed"))
        typer.echo(f"  {name} ({table.get('measure', 'rated')} by "
                   f"{', '.join(table['group_by']) or '-'}): {shown}; "
                   f"{len(table.get('cells', []))} cells, {hidden} suppressed")
    for row in result.get("health", []):
        typer.echo(f"  {row['node']}: newest change {row.get('newest_modified') or 'unknown'}")
    if result.get("quality"):
        quality = result["quality"]
        typer.echo(f"  data quality score: {quality['score']} ({quality['formula']})")
    if result.get("market"):
        typer.echo(f"  {result['market']['rule']}: {result['market']['message']}")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


@report_app.command("list")
def list_reports() -> None:
    """The report definitions, with their versions and charts."""
    from node.reports.builtin import BUILTIN

    for definition in BUILTIN.values():
        charts = ", ".join(c.name for c in definition.charts) or "-"
        typer.echo(f"{definition.name} v{definition.version}: {definition.title} "
                   f"(charts: {charts})")


@report_app.command("definition")
def show_definition(
    name: Annotated[str, typer.Argument(help="A report: see `fmar report list`")],
) -> None:
    """A report's definition as JSON: save it, change it (and its version), run it with
    `fmar report run @file.json`."""
    typer.echo(json.dumps(_definition(name).as_json(), indent=2))


@report_app.command("run", epilog="Exit codes: 0 every node answered; 2 bad input; "
                    "3 partial answer; 4 no node answered; 5 unreachable.")
def run_report(
    name: Annotated[str, typer.Argument(help="A report (see `fmar report list`), or "
                                         "@file.json: a definition of your own")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or xlsx")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write the result here (xlsx: required)")
                   ] = None,
    charts: Annotated[Path | None, typer.Option(
        help="Also draw every chart of the report into this directory (SVG and PNG)")] = None,
    node: Annotated[list[str] | None, typer.Option(
        help="Node URL (default: found in the trust directory)")] = None,
    via: Annotated[str | None, typer.Option(
        help="Ask this node to run the report (also one saved on that node)")] = None,
    trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None,
    client_id: ClientId = None,
    cert: ClientCert = None,
    key: ClientKey = None,
    deadline: Annotated[float, typer.Option(help="Per-node deadline, seconds")] = 10.0,
) -> None:
    """Run a report across the federation; each node's status is printed as it answers."""
    from node.federation.cli import outcome_exit_code
    from node.federation.client import FederationClient
    from node.federation.engine import NodeStatus
    from node.reports import export
    from node.reports.run import assemble, request_body

    definition = _definition(name) if via is None or name.startswith("@") else None
    if fmt not in export.FORMATS:
        raise CliError("REP-002", f"Unknown --format '{fmt}'.", "use json, csv or xlsx")
    if fmt == "xlsx" and out is None:
        raise CliError("REP-002", "XLSX is binary: give --out FILE.xlsx.", "add --out")
    if not (trust_url and client_id and cert and key and ca_bundle):
        raise CliError("CLI-001", "No credentials: give --trust-url, --client-id, --cert, "
                       "--key and --ca-bundle (or the FMAR_* variables).",
                       "source a member's env.sh, e.g. var/federation-demo/members/Ofgem/env.sh")
    client = FederationClient(trust_url, ca_bundle=ca_bundle, client_id=client_id, cert=cert,
                              key=key, deadline=deadline, nodes=node)
    labels = client.node_names()

    def progress(status: NodeStatus) -> None:
        typer.echo(f"# {labels.get(status.node, status.node)}: {status.status} in "
                   f"{status.ms} ms" + (f" [{status.code}] {status.message}"
                                        if status.code else ""), err=True)

    if definition is None:  # the node runs it (a built-in report, or one saved there)
        assert via is not None
        typer.echo(f"# {name}: asking {via} to run it…", err=True)
        result = client.via(via).report(name)
        if "error" in result:
            error = result["error"]
            raise from_api_error(str(error.get("code", "REP-000")),
                                 str(error.get("message", error)),
                                 int(result.get("http_status", 400)))
        for status in result["nodes"]:
            progress(NodeStatus(**status))
    else:
        typer.echo(f"# {definition.title} v{definition.version}: asking the nodes…", err=True)
        answer = client.report({t.name: t.spec() for t in definition.tables},
                               request_body(definition), on_answer=progress)
        result = assemble(definition, answer)
    body = export.render(result, fmt)
    if out is None:
        typer.echo(body.decode(), nl=False)
    else:
        out.write_bytes(body)
        typer.echo(f"# result: {out}", err=True)
    if charts is not None:
        _write_charts(result, charts)
    code = outcome_exit_code(result)
    if code != EXIT_OK:
        raise typer.Exit(code)


@report_app.command("show")
def show_report(
    result_file: Annotated[Path, typer.Argument(help="A result saved by `fmar report run "
                                                     "--out FILE.json`")],
    charts: Annotated[Path | None, typer.Option(
        help="Draw the result's charts into this directory (SVG and PNG)")] = None,
    chart: Annotated[str | None, typer.Option(help="Only this chart")] = None,
) -> None:
    """A saved result's summary (definition version, when it ran, each node), and its
    charts if asked: no node is asked again."""
    try:
        result = json.loads(result_file.read_text())
        if not isinstance(result, dict) or not {"tables", "definition"} <= set(result):
            raise KeyError("tables")
    except (ValueError, KeyError, TypeError):
        raise CliError("REP-005", f"{result_file} is not a report result (JSON).",
                       "save one with `fmar report run NAME --out result.json`") from None
    _summary(result)
    if charts is not None or chart is not None:
        _write_charts(result, charts or Path("."), chart)
