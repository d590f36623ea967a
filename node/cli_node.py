"""Calling a node from the `fmar` commands: one token (a static one, or one the trust
framework issues to your certificate) and one request, whose refusal becomes the one-line
CLI error with the rule's code (node/cli_errors.py). `fmar upload`, `unit`, `qual` and
`switch` use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

# The --token option of every command that calls a node.
StaticToken = Annotated[str | None, typer.Option(
    envvar="FMAR_TOKEN", help="A static token (a node without a trust framework); otherwise "
    "one is got from the trust framework")]


def node_token(node_url: str, token: str | None, trust_url: str | None,
               ca_bundle: Path | None, client_id: str | None, cert: Path | None,
               key: Path | None, relay: bool = False) -> str:
    """The bearer token for a call to a node: the static one given, or one the trust
    framework issues to the client (client credentials, certificate-bound). `relay`: read
    scopes and `may_act` naming the node, so that it may ask other nodes with the caller's
    rights (RFC 8693), as federated answers need."""
    from common import http_client as http
    from node.cli_errors import CliError, from_api_error
    from node.federation.tokens import RELAY_SCOPE

    if token:
        return token
    if not (trust_url and client_id and cert and key):
        raise CliError("CLI-001", "No credentials: give --token (FMAR_TOKEN), or "
                       "--trust-url, --client-id, --cert and --key.", "source your env.sh")
    with http.client(ca_bundle=ca_bundle, cert=cert, key=key, base_url=trust_url,
                     timeout=30) as c:
        form = {"grant_type": "client_credentials", "client_id": client_id,
                "audience": node_url}
        if relay:
            form.update({"scope": RELAY_SCOPE, "may_act": node_url})
        got = c.post("/token", data=form)
    if got.status_code != 200:
        body = got.json() if got.headers.get("content-type", "").startswith(
            "application/json") else {}
        raise from_api_error(str(body.get("code") or body.get("error") or "AUTH"),
                             str(body.get("error_description") or got.text[:200]), 403)
    return str(got.json()["access_token"])


@dataclass
class NodeCall:
    node_url: str
    token: str | None
    trust_url: str | None
    ca_bundle: Path | None
    client_id: str | None
    cert: Path | None
    key: Path | None

    def send(self, method: str, path: str, *, body: Any = None,
             params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             relay: bool = False) -> Any:
        from common import http_client as http
        from node.cli_errors import from_api_error

        url = self.node_url.rstrip("/")
        token = node_token(url, self.token, self.trust_url, self.ca_bundle, self.client_id,
                           self.cert, self.key, relay=relay)
        with http.client(ca_bundle=self.ca_bundle, cert=self.cert, key=self.key,
                         timeout=60) as c:
            response = c.request(method, url + path, json=body, params=params,
                                 headers={"Authorization": f"Bearer {token}", **(headers or {})})
        try:
            answer = response.json()
        except ValueError:
            answer = {"code": f"HTTP-{response.status_code}", "message": response.text[:200]}
        if response.status_code >= 400:
            raise from_api_error(str(answer.get("code")), str(answer.get("message")),
                                 response.status_code)
        return answer
