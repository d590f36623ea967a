"""`fmar qual`: qualification from the command line, against your own node
(FMAR_NODE_URL): apply for a product, record an outcome, read, list, move a record through
its state machine, and (a system operator) read your queue across the federation.

Every command gets a token bound to your certificate from the trust framework (or takes a
static development token, FMAR_TOKEN), prints the node's JSON answer, and turns a refusal
into one line with its rule ID (node/cli_errors.py).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from node.cli_node import NodeCall, StaticToken
from trust.client.options import CaBundle, ClientCert, ClientId, ClientKey, TrustUrl

qual_app = typer.Typer(help="Qualification: applications, outcomes, transitions, the queue.",
                       no_args_is_help=True)
PATHS = {"application": "/qualification-applications", "qualification": "/qualifications",
         "grid": "/grid-prequalifications"}
NodeUrl = Annotated[str, typer.Option("--node", envvar="FMAR_NODE_URL",
                                      help="Your node (the one holding the records)")]
Token = StaticToken
Kind = Annotated[str, typer.Option("--kind", help="application, qualification or grid")]


class Credentials(NodeCall):
    def call(self, method: str, path: str, relay: bool = False, **kw: Any) -> Any:
        """Ask the node, print its JSON answer (a refusal: one error line)."""
        body = self.send(method, path, body=kw.get("json"), params=kw.get("params"),
                         relay=relay)
        typer.echo(json.dumps(body, indent=2))
        return body


def _credentials(node: str, token: str | None, trust_url: str | None, ca_bundle: Any,
                 client_id: str | None, cert: Any, key: Any) -> Credentials:
    return Credentials(node, token, trust_url, ca_bundle, client_id, cert, key)


def _path(kind: str) -> str:
    from node.cli_errors import CliError

    if kind not in PATHS:
        raise CliError("CLI-004", f"Unknown --kind '{kind}'.",
                       "use application, qualification or grid")
    return PATHS[kind]


def _sent(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@qual_app.command("apply")
def apply(
    unit: Annotated[str, typer.Option(help="The market unit's ID or IRI")],
    product: Annotated[str, typer.Option(help="A product code (fmar qual products)")],
    evidence: Annotated[str, typer.Option(help="A URL or document reference")],
    up: Annotated[float | None, typer.Option(help="Upward capability claimed, kW")] = None,
    down: Annotated[float | None, typer.Option(help="Downward capability claimed, kW")] = None,
    node: NodeUrl = "", token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """Apply, as an FSP on its own node, for a product for one of your units."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "POST", PATHS["application"], json=_sent(UnitId=unit, Product=product,
                                                 Evidence=evidence, ClaimedUpKW=up,
                                                 ClaimedDownKW=down))


@qual_app.command("record")
def record(
    application: Annotated[str, typer.Option(help="The application's ID")],
    unit: Annotated[str, typer.Option(help="The market unit's ID or IRI")],
    product: Annotated[str, typer.Option(help="The product code")],
    organisation: Annotated[str, typer.Option(help="The unit's FSP")],
    state: Annotated[str, typer.Option(help="requested or in_progress")] = "in_progress",
    valid_from: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    valid_to: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    conditions: Annotated[str | None, typer.Option(help="Conditions")] = None,
    node: NodeUrl = "", token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """Record, as the system operator that runs the product, its outcome on your node."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "POST", PATHS["qualification"], json=_sent(
            ApplicationId=application, UnitId=unit, Product=product,
            OrganisationId=organisation, State=state, ValidFrom=valid_from,
            ValidTo=valid_to, Conditions=conditions))


@qual_app.command("show")
def show(
    record_id: Annotated[str, typer.Argument(help="The record's ID")],
    kind: Kind = "application", node: NodeUrl = "", token: Token = None,
    trust_url: TrustUrl = None, ca_bundle: CaBundle = None, client_id: ClientId = None,
    cert: ClientCert = None, key: ClientKey = None,
) -> None:
    """One application, qualification or grid prequalification."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "GET", f"{_path(kind)}/{record_id}")


@qual_app.command("list")
def list_(
    kind: Kind = "application",
    unit: Annotated[str | None, typer.Option(help="Only this unit's")] = None,
    state: Annotated[str | None, typer.Option(help="Only in this state")] = None,
    node: NodeUrl = "", token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """The records of a kind you may read on the node."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "GET", _path(kind), params=_sent(unit=unit, state=state))


@qual_app.command("transition")
def transition(
    record_id: Annotated[str, typer.Argument(help="The record's ID")],
    to: Annotated[str, typer.Argument(help="The state to move to")],
    reason: Annotated[str | None, typer.Option(help="Why (needed for some moves)")] = None,
    kind: Kind = "application", node: NodeUrl = "", token: Token = None,
    trust_url: TrustUrl = None, ca_bundle: CaBundle = None, client_id: ClientId = None,
    cert: ClientCert = None, key: ClientKey = None,
) -> None:
    """Move a record to another state (the table in node/kinds/qualifications.py)."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "POST", f"{_path(kind)}/{record_id}/transitions", json=_sent(to=to, reason=reason))


@qual_app.command("queue")
def queue(
    node: NodeUrl = "", token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """A system operator's queue: the open applications for the products it runs, from
    every node, through its own node (which asks them with your rights)."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "GET", "/qualification-queue", relay=True)


@qual_app.command("products")
def products(
    node: NodeUrl = "", token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """The products qualifications name, and who records each one's outcomes."""
    _credentials(node, token, trust_url, ca_bundle, client_id, cert, key).call(
        "GET", "/qualification-products")


def register(app: typer.Typer) -> None:
    app.add_typer(qual_app, name="qual")
