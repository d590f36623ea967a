"""`fmar unit …`: market units on a node, through its API (the node decides everything;
these commands send, print the JSON answer, and turn a refusal into one error line)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from node.cli_node import NodeCall, StaticToken
from trust.client.options import CaBundle, ClientCert, ClientId, ClientKey, TrustUrl

unit_app = typer.Typer(help="Market units (SPU, SPG) and their members on a node.",
                       no_args_is_help=True)
UnitId = Annotated[str, typer.Argument(help="The unit's ID (UnitId)")]
OnDate = Annotated[str | None, typer.Option("--on", help="A date, YYYY-MM-DD (default: today)")]


def _call(ctx: typer.Context) -> NodeCall:
    call: NodeCall = ctx.obj
    return call


def _print(answer: Any) -> None:
    typer.echo(json.dumps(answer, indent=2))


@unit_app.callback()
def _node(
    ctx: typer.Context,
    node_url: Annotated[str, typer.Option("--node", envvar="FMAR_NODE_URL",
                                          help="The FSP's node")],
    token: StaticToken = None,
    trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None,
    client_id: ClientId = None,
    cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    ctx.obj = NodeCall(node_url, token, trust_url, ca_bundle, client_id, cert, key)


@unit_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The unit's name")],
    organisation: Annotated[str, typer.Option(help="Your organisation ID (the FSP)")],
    unit_type: Annotated[str, typer.Option("--type", help="SPU or SPG")],
    mpan: Annotated[str | None, typer.Option(help="SPU: the connection MPAN")] = None,
    site_postcode: Annotated[str | None, typer.Option(help="SPU: the site's postcode")] = None,
    scope: Annotated[str | None, typer.Option(
        help="SPG: GSPGroup, DNOArea or ConstraintZone")] = None,
    gsp_group: Annotated[str | None, typer.Option(help="SPG: the GSP group (_A.._P)")] = None,
    dno_area: Annotated[str | None, typer.Option(help="SPG: the licence area")] = None,
    constraint_zone: Annotated[str | None, typer.Option(help="SPG: the zone")] = None,
) -> None:
    """Create a market unit on your node; prints it (its UnitId among the fields)."""
    body = {"Name": name, "OrganisationId": organisation, "UnitType": unit_type,
            "ConnectionMPAN": mpan, "SitePostcode": site_postcode, "LocationScope": scope,
            "GSPGroup": gsp_group, "DNOArea": dno_area, "ConstraintZone": constraint_zone}
    _print(_call(ctx).send("POST", "/market-units",
                           body={k: v for k, v in body.items() if v is not None}))


@unit_app.command("show")
def show(ctx: typer.Context, unit_id: UnitId) -> None:
    """One unit, with its kept capability summary."""
    _print(_call(ctx).send("GET", f"/market-units/{unit_id}"))


@unit_app.command("list")
def list_units(
    ctx: typer.Context,
    unit_type: Annotated[str | None, typer.Option("--type", help="SPU or SPG")] = None,
) -> None:
    """The units you may read (yours; NESO all; a DNO those spanning its areas)."""
    params = {"type": unit_type} if unit_type else None
    _print(_call(ctx).send("GET", "/market-units", params=params))


@unit_app.command("add-member")
def add_member(
    ctx: typer.Context, unit_id: UnitId,
    asset_id: Annotated[str, typer.Argument(help="The asset's ID")],
    valid_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD")],
    valid_to: Annotated[str | None, typer.Option("--to", help="Day it ends, if known")] = None,
) -> None:
    """The asset joins the unit from a date."""
    body = {"AssetId": asset_id, "ValidFrom": valid_from}
    if valid_to:
        body["ValidTo"] = valid_to
    _print(_call(ctx).send("POST", f"/market-units/{unit_id}/members", body=body))


@unit_app.command("remove-member")
def remove_member(
    ctx: typer.Context, unit_id: UnitId,
    membership_id: Annotated[str, typer.Argument(help="The membership's ID")],
    on: OnDate = None,
) -> None:
    """End a membership on a date: the asset is not in the unit from that day."""
    params = {"on": on} if on else None
    _print(_call(ctx).send("DELETE", f"/market-units/{unit_id}/members/{membership_id}",
                           params=params))


@unit_app.command("members")
def members(ctx: typer.Context, unit_id: UnitId, on: OnDate = None) -> None:
    """The members in force on a date."""
    _print(_call(ctx).send("GET", f"/market-units/{unit_id}/members",
                           params={"on": on} if on else None))


@unit_app.command("capability")
def capability(ctx: typer.Context, unit_id: UnitId, on: OnDate = None) -> None:
    """The unit's capability on a date, computed from its members."""
    _print(_call(ctx).send("GET", f"/market-units/{unit_id}/capability",
                           params={"on": on} if on else None))


def register(app: typer.Typer) -> None:
    app.add_typer(unit_app, name="unit")
    app.command("eligibility", epilog=ELIGIBILITY_EPILOG)(eligibility_command)


ELIGIBILITY_EPILOG = ("Exit codes: 0 answered (whatever the outcomes); 1 refused; 5 the "
                      "node cannot be reached.")
EligibleUnit = Annotated[str | None, typer.Argument(
    help="One unit (default: every unit of yours on the node, as a matrix)")]
Output = Annotated[str, typer.Option("-o", "--output", help="table or json")]


@unit_app.command("eligibility", epilog=ELIGIBILITY_EPILOG)
def eligibility(ctx: typer.Context, unit_id: EligibleUnit = None, on: OnDate = None,
                output: Output = "table") -> None:
    """Which products your units can enter on a day, and what stops them from entering the
    others (also `fmar eligibility`)."""
    show_eligibility(_call(ctx), unit_id, on, output)


def show_eligibility(call: NodeCall, unit_id: str | None, on: str | None,
                     output: str) -> None:
    """ELIG-001..007 per unit and product; products, equivalences, qualifications and
    limits come from the federation, asked with your rights through your node."""
    path = f"/market-units/{unit_id}/eligibility" if unit_id else "/market-units/eligibility"
    answer = call.send("GET", path, params={"on": on} if on else None, relay=True)
    if output == "json":
        _print(answer)
        return
    units = [answer] if unit_id else answer["units"]
    for unit in units:
        typer.echo(f"# unit {unit['unit_id']} on {unit['on']}: "
                   f"{unit['capability']['up_mw']:g} MW up, "
                   f"{unit['capability']['down_mw']:g} MW down, "
                   f"{unit['capability']['assets']} assets")
        for product in unit["products"]:
            stops = [r for r in product["requirements"] if r["answer"] != "met"]
            via = product.get("via")
            reason = (f"via equivalence from {via['from']}" if via else
                      "; ".join(f"{r['rule']} {r.get('message', '')}" for r in stops))
            typer.echo(f"{product['product_code']:<16} {product['outcome']:<14} {reason}")


def eligibility_command(
    unit_id: EligibleUnit = None,
    on: OnDate = None,
    output: Output = "table",
    node_url: Annotated[str, typer.Option("--node", envvar="FMAR_NODE_URL",
                                          help="Your node (the FSP's)")] = "",
    token: StaticToken = None,
    trust_url: TrustUrl = None,
    ca_bundle: CaBundle = None,
    client_id: ClientId = None,
    cert: ClientCert = None,
    key: ClientKey = None,
) -> None:
    """Which products your market units can enter on a day, and what stops them from
    entering the others: each product in force, eligible / not eligible / cannot tell, with
    the rule (ELIG-001..007) and the value needed, or the attribute to add."""
    show_eligibility(NodeCall(node_url, token, trust_url, ca_bundle, client_id, cert, key),
                     unit_id, on, output)
