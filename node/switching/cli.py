"""`fmar switch …`: request, read, object to and withdraw switch requests on the node that
holds the records (A's), as the caller's own application (or a static token)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from node.cli_node import NodeCall, StaticToken
from trust.client.options import CaBundle, ClientCert, ClientId, ClientKey, TrustUrl

switch_app = typer.Typer(help="Switch requests: FSP B takes over records of FSP A "
                         "(docs/api.md \"Switching\").", no_args_is_help=True)

HolderNode = Annotated[str, typer.Option(
    "--node", envvar="FMAR_NODE_URL",
    help="The node holding the records (FSP A's); for `request`, give A's node explicitly")]
Token = StaticToken


def _call(method: str, node_url: str, path: str, body: Any, token: str | None,
          trust_url: str | None, ca_bundle: Any, client_id: str | None, cert: Any,
          key: Any) -> dict[str, Any]:
    answer: dict[str, Any] = NodeCall(node_url, token, trust_url, ca_bundle, client_id, cert,
                                      key).send(method, path, body=body)
    return answer


def _show(answer: dict[str, Any]) -> None:
    typer.echo(json.dumps(answer, indent=2))


@switch_app.command("request")
def request(
    records: Annotated[list[str], typer.Argument(help="The records' IRIs or IDs")],
    node_url: Annotated[str, typer.Option("--node", help="The node holding the records "
                                          "(FSP A's)")],
    holder: Annotated[str, typer.Option("--from", help="The organisation holding them (A)")],
    consent: Annotated[str, typer.Option("--consent", help="The consumer's consent "
                                         "reference")],
    kind: Annotated[str, typer.Option(help="The records' kind")] = "asset",
    token: Token = None, trust_url: TrustUrl = None, ca_bundle: CaBundle = None,
    client_id: ClientId = None, cert: ClientCert = None, key: ClientKey = None,
) -> None:
    """As FSP B: ask to take over records of FSP A; prints the request (and its NoticeEnds)."""
    _show(_call("POST", node_url, "/switch-requests",
                {"From": holder, "Records": records, "ConsentReference": consent,
                 "RecordKind": kind}, token, trust_url, ca_bundle, client_id, cert, key))


@switch_app.command("list")
def list_requests(
    node_url: HolderNode, token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """The switch requests on that node that you are a party to."""
    _show(_call("GET", node_url, "/switch-requests", None, token, trust_url, ca_bundle,
                client_id, cert, key))


@switch_app.command("show")
def show(
    switch_id: Annotated[str, typer.Argument(help="The request's SwitchId")],
    node_url: HolderNode, token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """One switch request, with its state."""
    _show(_call("GET", node_url, f"/switch-requests/{switch_id}", None, token, trust_url,
                ca_bundle, client_id, cert, key))


@switch_app.command("object")
def object_to(
    switch_id: Annotated[str, typer.Argument(help="The request's SwitchId")],
    reason: Annotated[str, typer.Option(help="Why you object")],
    node_url: HolderNode, token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """As FSP A, within the notice period: object, and the records stay."""
    _show(_call("POST", node_url, f"/switch-requests/{switch_id}/objection",
                {"Reason": reason}, token, trust_url, ca_bundle, client_id, cert, key))


@switch_app.command("withdraw")
def withdraw(
    switch_id: Annotated[str, typer.Argument(help="The request's SwitchId")],
    node_url: HolderNode, token: Token = None, trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None, client_id: ClientId = None, cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """As FSP B, while the request is still `requested`: withdraw it."""
    _show(_call("POST", node_url, f"/switch-requests/{switch_id}/withdrawal", None, token,
                trust_url, ca_bundle, client_id, cert, key))
